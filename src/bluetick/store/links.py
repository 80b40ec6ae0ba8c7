"""The store's operations for tracked links (docs/formats.md, "Tracked links"), mixed into `Store`."""

from __future__ import annotations

from typing import Any
from uuid import UUID

from bluetick.store.transport import Transport


class LinkOps:
    """Tracked link operations: each one SQL function call over `transport`."""

    transport: Transport

    async def link_create(self, org_id: UUID, token: str, bsp_msg_id: str, url: str) -> dict[str, Any]:
        """Store link `token` of `org_id` to `url`, in message `bsp_msg_id`: {"token", "created_at"}."""
        params = {"p_org": org_id, "p_token": token, "p_bsp_msg_id": bsp_msg_id, "p_url": url}
        doc: dict[str, Any] = await self.transport.call("bluetick_link_create", params)
        return doc

    async def link_follow(self, token: str, count: bool) -> dict[str, Any] | None:
        """Link `token`, one more click counted when `count`: {"org_id", "bsp_msg_id", "url", "clicks",
        "first_click_at", "last_click_at"}, or None for an unknown token."""
        doc: dict[str, Any] | None = await self.transport.call(
            "bluetick_link_follow", {"p_token": token, "p_count": count}
        )
        return doc
