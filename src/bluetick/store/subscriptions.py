"""The store's operations for signed webhook subscriptions (docs/design.md, "Events"), mixed into `Store`."""

from __future__ import annotations

from bluetick.store.transport import Transport


class SubscriptionOps:
    """Subscription and delivery operations: each one SQL function call over `transport`."""

    transport: Transport
