"""The retention purge: batches of `bluetick_retention_batch` until nothing past its retention is left."""

from __future__ import annotations

import asyncio
import logging
import time

from bluetick import metrics
from bluetick.store import Store
from bluetick.store.records import RetentionResult

log = logging.getLogger("bluetick.retention")


async def run_retention(
    store: Store, default_days: int | None, batch: int, pause_s: float, until: float | None = None
) -> tuple[RetentionResult, int]:
    """Erase what is older than each organisation's retention (org_settings.retention_days, else `default_days`;
    None keeps for ever), one short transaction of `batch` rows at a time with `pause_s` between two, until nothing
    is left or time.monotonic() passes `until`; return the totals and the number of batches."""
    total, batches = RetentionResult(), 0
    while until is None or time.monotonic() < until:
        result = await store.retention_batch(default_days, batch)
        batches += 1
        metrics.RETENTION.labels("message_logs").inc(result.rows)
        metrics.RETENTION.labels("inbox").inc(result.inbox)
        metrics.RETENTION.labels("parked").inc(result.parked)
        metrics.RETENTION.labels("customer_preferences").inc(result.preferences)
        metrics.RETENTION.labels("group_receipts").inc(result.group_receipts)
        metrics.RETENTION.labels("customer_links").inc(result.links)
        metrics.RETENTION.labels("tracked_links").inc(result.tracked_links)
        total += result
        if result != RetentionResult():
            log.info(
                "retention batch rows=%d inbox=%d parked=%d preferences=%d group_receipts=%d links=%d tracked_links=%d",
                result.rows,
                result.inbox,
                result.parked,
                result.preferences,
                result.group_receipts,
                result.links,
                result.tracked_links,
            )
        if not result.full(batch):
            break
        await asyncio.sleep(pause_s)  # leaves the database to ingest between two batches
    return total, batches
