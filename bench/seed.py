"""The seed design's apply step, to compare with: for each event, read the row, merge in Python, write it back.

Two round trips per event, each its own transaction, as the seed did through Supabase's REST API. Here they go
over a local socket with asyncpg, which flatters the seed (no HTTP, no network). The merge itself follows
bluetick's rules, so both algorithms must end in the same rows; only the way of applying differs.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

import asyncpg

from bluetick.events import StatusEvent

SELECT_ROW = "select whatsapp_status::text, failed_reason from message_logs where org_id = $1 and bsp_msg_id = $2"
WRITE_ROW = (
    "update message_logs set whatsapp_status = $3::jsonb, failed_reason = $4, updated_at = now()"
    " where org_id = $1 and bsp_msg_id = $2"
)
IMPLIED = (("read", "delivered"), ("delivered", "sent"))  # a later stage fills the earlier one


def merge(status: dict[str, str], reason: str | None, event: StatusEvent) -> tuple[dict[str, str], str | None]:
    """`status` (whatsapp_status) and failed_reason with `event` merged in (docs/design.md, merge rules 1 to 5)."""
    ts = event.ts.strftime("%Y-%m-%dT%H:%M:%SZ")  # same width everywhere, so text order is time order
    merged = dict(status)
    if event.status == "failed":
        current = merged.get("failed")
        if current is None or ts < current:
            reason = event.failed_reason
        elif ts == current:
            reason = min((r for r in (reason, event.failed_reason) if r is not None), default=None)
    if event.status not in merged or ts < merged[event.status]:
        merged[event.status] = ts
    for later, earlier in IMPLIED:
        if later in merged and (earlier not in merged or merged[later] < merged[earlier]):
            merged[earlier] = merged[later]
    return merged, reason


async def apply_one(db: asyncpg.Connection | asyncpg.Pool, event: StatusEvent) -> bool:
    """Read `event`'s row, merge it in Python and write it back; False when it has no row (the seed dropped it)."""
    row = await db.fetchrow(SELECT_ROW, event.org_id, event.bsp_msg_id)
    if row is None:
        return False
    status, reason = merge(json.loads(row[0]), row[1], event)
    await db.execute(WRITE_ROW, event.org_id, event.bsp_msg_id, json.dumps(status), reason)
    return True


async def apply(conn: asyncpg.Connection, events: Sequence[StatusEvent]) -> int:
    """Apply `events` one by one; returns how many found their row."""
    applied = 0
    for event in events:
        applied += await apply_one(conn, event)
    return applied
