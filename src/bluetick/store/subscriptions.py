"""The store's operations for signed webhook subscriptions (docs/design.md, "Events"), mixed into `Store`."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from typing import Any
from uuid import UUID

from bluetick.store.transport import Transport


class SubscriptionOps:
    """Subscription and delivery operations: each one SQL function call over `transport` (subscriptions.sql)."""

    transport: Transport

    async def subscription_create(self, org_id: UUID, url: str, events: Sequence[str], secret: str) -> dict[str, Any]:
        """A new subscription of `org_id`, starting at the head of the stream: {"id", "url", "events"}."""
        params = {"p_org": org_id, "p_url": url, "p_events": list(events), "p_secret": secret}
        created: dict[str, Any] = await self.transport.call("bluetick_subscription_create", params)
        return created

    async def subscriptions(self, org_id: UUID, backlog_cap: int) -> list[dict[str, Any]]:
        """`org_id`'s subscriptions with their delivery state and backlog (at most `backlog_cap`), never a secret."""
        params = {"p_org": org_id, "p_backlog_cap": backlog_cap}
        rows: list[dict[str, Any]] = await self.transport.call("bluetick_subscriptions_list", params)
        return rows

    async def subscription_delete(self, org_id: UUID, subscription_id: UUID) -> bool:
        params = {"p_org": org_id, "p_id": subscription_id}
        return bool(await self.transport.call("bluetick_subscription_delete", params))

    async def subscription_rotate(self, org_id: UUID, subscription_id: UUID, secret: str, overlap: timedelta) -> bool:
        """Sign with `secret` from now on, and with the one it replaces too for `overlap`; whether it exists."""
        params = {"p_org": org_id, "p_id": subscription_id, "p_secret": secret, "p_overlap": overlap}
        return bool(await self.transport.call("bluetick_subscription_rotate", params))

    async def subscription_resume(
        self, org_id: UUID, subscription_id: UUID, after: tuple[str, int] | None, backlog_cap: int
    ) -> dict[str, Any] | None:
        """Enable it again, due now, from its cursor or `after` (xid, id); its state, or None when it does not exist."""
        params = {
            "p_org": org_id,
            "p_id": subscription_id,
            "p_after_xid": None if after is None else after[0],
            "p_after_id": None if after is None else after[1],
            "p_backlog_cap": backlog_cap,
        }
        state: dict[str, Any] | None = await self.transport.call("bluetick_subscription_resume", params)
        return state

    async def delivery_claim(self, lease: timedelta, limit: int) -> dict[str, Any] | None:
        """One due subscription leased for `lease`, with up to `limit` of its events in order; {"waiting": true}
        when only events held back by an older open transaction are due; None when nothing is."""
        claim: dict[str, Any] | None = await self.transport.call(
            "bluetick_delivery_claim", {"p_lease": lease, "p_limit": limit}
        )
        return claim

    async def delivery_done(self, subscription_id: UUID, lease: str, xid: str, event_id: int) -> bool:
        """Move the cursor past the event answered 2xx; False when the lease is lost (stop the batch)."""
        params = {"p_id": subscription_id, "p_lease": lease, "p_xid": xid, "p_event": event_id}
        return bool(await self.transport.call("bluetick_delivery_done", params))

    async def delivery_failed(
        self,
        subscription_id: UUID,
        lease: str,
        error: str,
        gone: bool,
        delay_s: float,
        retry_for: timedelta,
    ) -> dict[str, Any]:
        """Record a failed delivery (retried in `delay_s`, disabled when `gone` or failing longer than
        `retry_for`) and release the lease: {"recorded", "attempts", "disabled_reason"}."""
        params = {
            "p_id": subscription_id,
            "p_lease": lease,
            "p_error": error,
            "p_gone": gone,
            "p_delay_s": delay_s,
            "p_retry_for": retry_for,
        }
        result: dict[str, Any] = await self.transport.call("bluetick_delivery_failed", params)
        return result

    async def delivery_release(self, subscription_id: UUID, lease: str) -> bool:
        return bool(await self.transport.call("bluetick_delivery_release", {"p_id": subscription_id, "p_lease": lease}))

    async def subscriptions_health(self) -> dict[str, int]:
        """Every organisation's subscriptions by delivery state: ok, retrying, failing, gone."""
        counts: dict[str, Any] = await self.transport.call("bluetick_subscriptions_health", {})
        return {state: int(n) for state, n in counts.items()}
