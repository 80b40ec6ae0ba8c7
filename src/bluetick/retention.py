"""The retention purge: batches of `bluetick_retention_batch` until nothing past its retention is left."""

from __future__ import annotations

import logging

from bluetick import metrics
from bluetick.customers import RetentionResult
from bluetick.store import Store

log = logging.getLogger("bluetick.retention")


async def run_retention(store: Store, default_days: int | None, batch: int) -> RetentionResult:
    """Erase, one short transaction per batch of `batch` rows, what is older than each organisation's retention
    (org_settings.retention_days, else `default_days`; None keeps for ever); return the totals."""
    total = RetentionResult()
    while True:
        result = await store.retention_batch(default_days, batch)
        metrics.RETENTION.labels("message_logs").inc(result.rows)
        metrics.RETENTION.labels("inbox").inc(result.inbox)
        metrics.RETENTION.labels("parked").inc(result.parked)
        total += result
        if result != RetentionResult():
            log.info("retention batch rows=%d inbox=%d parked=%d", result.rows, result.inbox, result.parked)
        if not result.full(batch):
            return total
