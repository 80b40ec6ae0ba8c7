"""Analytics: the funnel and the delivery-rate queries on bluetick's indexes and on the seeds' indexes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from bench import analytics
from bench.harness import Bench, log

ANALYTICS_ORGS = 100


async def run(b: Bench) -> dict[str, Any]:
    anchor = datetime.now(UTC).replace(microsecond=0)
    log(f"analytics: generating {b.opts.rows} rows twice (bluetick's indexes, the seeds' indexes)")
    variants = await analytics.prepare(b.dsn, b.opts.rows, ANALYTICS_ORGS, anchor)
    log("analytics: timing the queries")
    measured = await analytics.measure(variants, ANALYTICS_ORGS, anchor, b.opts.analytics_runs)
    for name, value in measured.items():
        if isinstance(value, dict) and not value["same_answers"]:
            b.failures.append(f"analytics {name}: the two index sets gave different answers")
    info = {k: {x: y for x, y in v.items() if x != "dsn"} for k, v in variants.items()}
    return {
        "rows": b.opts.rows,
        "orgs": ANALYTICS_ORGS,
        "days": analytics.DAYS,
        "tables": info,
        "queries": measured,
    }
