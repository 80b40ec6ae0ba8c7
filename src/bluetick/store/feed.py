"""The store's operations for the event feed and message lookup (docs/design.md, "Events"), mixed into `Store`."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any
from uuid import UUID

from bluetick.store.pooler import pooler_options
from bluetick.store.transport import Transport


class FeedOps:
    """Event feed and lookup operations: each one SQL function call over `transport`."""

    transport: Transport

    async def message(self, org_id: UUID, bsp_msg_id: str) -> dict[str, Any] | None:
        """`org_id`'s stored row of `bsp_msg_id`, as the log call answers it, or None."""
        params = {"p_org": org_id, "p_bsp_msg_id": bsp_msg_id}
        row: dict[str, Any] | None = await self.transport.call("bluetick_message", params)
        return row

    async def events_feed(self, org_id: UUID, enabled: bool) -> bool:
        """Turn `org_id`'s event feed on or off; whether it is on."""
        return bool(await self.transport.call("bluetick_events_feed", {"p_org": org_id, "p_enabled": enabled}))

    async def feed_page(
        self, org_id: UUID, after: tuple[str, int] | None, limit: int, types: Sequence[str] | None
    ) -> dict[str, Any]:
        """One page of `org_id`'s feed after the cursor `after` (xid, id), or after the stream's head when None:
        {"enabled": false} while the feed is off, else {"enabled": true, "events": [...], "next": [xid, id],
        "waiting": bool} (bluetick_events_page)."""
        params = {
            "p_org": org_id,
            "p_after_xid": None if after is None else after[0],
            "p_after_id": None if after is None else after[1],
            "p_limit": limit,
            "p_types": None if types is None else list(types),
        }
        page: dict[str, Any] = await self.transport.call("bluetick_feed_page", params)
        return page

    def listen_dsn(self) -> str | None:
        """Where a session of its own can LISTEN for the feed's notifications: a Postgres store's DSN, unless it
        goes through a transaction-mode pooler (PgBouncer, Supabase's port 6543), which keeps no session's LISTEN;
        None there and for the REST backend (the feed then polls)."""
        dsn = getattr(self, "_dsn", None)
        if not isinstance(dsn, str):
            return None
        url, statement_cache = pooler_options(dsn, getattr(self, "_pooled", None))
        return None if statement_cache == 0 else url
