"""The store's operations for campaigns (sql/analytics/0112_campaigns.sql), mixed into `Store`."""

from __future__ import annotations

from datetime import datetime
from typing import Any
from uuid import UUID

from bluetick.store.transport import Transport


class CampaignOps:
    """Campaign operations: each one SQL function call over `transport`."""

    transport: Transport

    async def campaign_recipients(
        self, org_id: UUID, campaign: str, after: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        """Up to `limit` of the campaign's outbound messages after the position `after` (a row's `created_at` and
        `bsp_msg_id` as given), from the start when None, in (created_at, bsp_msg_id) order: each a dict of
        customer, bsp_msg_id, status, created_at, sent, delivered, read, failed, replied, clicked (UTC text or None)
        and failed_reason (bluetick_campaign_recipients)."""
        params = {
            "p_org": org_id,
            "p_campaign": campaign,
            "p_after_created": None if after is None else datetime.fromisoformat(after[0]),
            "p_after_id": None if after is None else after[1],
            "p_limit": limit,
        }
        rows: list[dict[str, Any]] = await self.transport.call("bluetick_campaign_recipients", params)
        return rows
