"""Report: the analyst's page of one organisation, built end to end on the analytics section's generated table."""

from __future__ import annotations

import statistics
import time
from datetime import UTC, datetime
from typing import Any

import asyncpg

from bench import analytics
from bench.harness import Bench, log
from bench.sections.analytics import ANALYTICS_ORGS
from bluetick.report import fetch_report, render, window_of

DAYS = 30  # the page's default window, over the table's 30 days of history
TZ = "Asia/Kolkata"


async def run(b: Bench) -> dict[str, Any]:
    anchor = datetime.now(UTC).replace(microsecond=0)
    log(f"report: generating {b.opts.rows} rows, {ANALYTICS_ORGS} organisations")
    dsn = await analytics._fresh_database(b.dsn, "bench_report")
    orgs = analytics.org_ids(ANALYTICS_ORGS)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("select setseed($1)", analytics.SEED)
        await conn.execute(
            (analytics.SQL / "generate.sql").read_text(), b.opts.rows, ANALYTICS_ORGS, anchor, analytics.DAYS
        )
        await conn.execute("vacuum analyze message_logs")
        org_rows = await conn.fetchval("select count(*) from message_logs where org_id = $1", orgs[0])
        log("report: timing the page")
        await fetch_report(conn, window_of(orgs[-1], DAYS, TZ, today=anchor.date()))  # warm-up
        fetch_ms, render_ms, total_ms = [], [], []
        for n in range(b.opts.analytics_runs):  # another organisation each run
            window = window_of(orgs[n % len(orgs)], DAYS, TZ, today=anchor.date())
            started = time.perf_counter()
            report = await fetch_report(conn, window)
            fetched = time.perf_counter()
            page = render(report)
            done = time.perf_counter()
            fetch_ms.append((fetched - started) * 1000)
            render_ms.append((done - fetched) * 1000)
            total_ms.append((done - started) * 1000)
    finally:
        await conn.close()
    return {
        "rows": b.opts.rows, "orgs": ANALYTICS_ORGS, "org_rows": org_rows, "days": DAYS, "tz": TZ,
        "runs": len(total_ms),
        "median_ms": statistics.median(total_ms), "max_ms": max(total_ms),
        "fetch_median_ms": statistics.median(fetch_ms), "render_median_ms": statistics.median(render_ms),
        "page_bytes": len(page.encode()),
    }  # fmt: skip
