"""The store's operations for the event feed and message lookup (docs/design.md, "Events"), mixed into `Store`."""

from __future__ import annotations

from bluetick.store.transport import Transport


class FeedOps:
    """Event feed and lookup operations: each one SQL function call over `transport`."""

    transport: Transport
