"""Report: the analyst's page of one organisation, built end to end, on two generated tables of `--rows` rows each:
the analytics section's (100 organisations) and one where a single organisation holds every row.

For each: how long the rollups take to build from nothing (what an upgraded database's first refreshes do), the
page with its rollups up to date (the service refreshes every REPORT_REFRESH_S), and the page right after a `read`
was merged into 1,000 of the organisation's messages (the page's own refresh recomputes the hours they lie in).
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import UTC, datetime
from typing import Any
from uuid import UUID

import asyncpg

from bench import analytics
from bench.harness import Bench, log
from bench.sections.analytics import ANALYTICS_ORGS
from bluetick.report import fetch_report, render, window_of
from bluetick.store import Store
from bluetick.store.postgres import PostgresStore

DAYS = 30  # the page's default window, over the table's 30 days of history
TZ = "Asia/Kolkata"
CHANGED = 1000  # statuses merged into one day of the organisation before each "after a change" run


async def run(b: Bench) -> dict[str, Any]:
    anchor = datetime.now(UTC).replace(microsecond=0)
    out = {}
    for name, orgs in (("100 organisations", ANALYTICS_ORGS), ("one organisation", 1)):
        out[name] = await _table(b, anchor, orgs)
    return {"rows": b.opts.rows, "days": DAYS, "tz": TZ, "tables": out}


async def _table(b: Bench, anchor: datetime, org_count: int) -> dict[str, Any]:
    log(f"report: generating {b.opts.rows} rows, {org_count} organisation(s)")
    dsn = await analytics._fresh_database(b.dsn, "bench_report")
    orgs = analytics.org_ids(org_count)
    conn = await asyncpg.connect(dsn)
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=None)
    try:
        await conn.execute("select setseed($1)", analytics.SEED)
        await conn.execute((analytics.SQL / "generate.sql").read_text(), b.opts.rows, org_count, anchor, analytics.DAYS)
        await conn.execute("vacuum analyze message_logs")
        org_rows = await conn.fetchval("select count(*) from message_logs where org_id = $1", orgs[0])
        log("report: building the rollups from nothing")
        started = time.perf_counter()
        built_hours = 0
        while True:
            doc = json.loads(await conn.fetchval("select bluetick_report_refresh_some(20, null)"))
            built_hours += int(doc["hours"])
            if int(doc["orgs"]) == 0:
                break
        build_s = time.perf_counter() - started
        await conn.execute("vacuum analyze")
        log("report: timing the page")
        await fetch_report(store, window_of(orgs[-1], DAYS, TZ, today=anchor.date()))  # warm-up
        fresh = [await _page(store, orgs[n % len(orgs)], anchor) for n in range(b.opts.analytics_runs)]
        changed, changed_hours = [], []
        for n in range(b.opts.analytics_runs):  # another day each run
            org = orgs[n % len(orgs)]
            await _merge_reads(conn, org, n)
            changed_hours.append(
                await conn.fetchval("select count(distinct hour) from report_dirty where org_id = $1", org)
            )
            changed.append(await _page(store, org, anchor))
    finally:
        await store.close()
        await conn.close()
    return {
        "orgs": org_count, "org_rows": org_rows, "runs": len(fresh),
        "build_s": build_s, "build_hours": built_hours,
        "median_ms": statistics.median(r["total_ms"] for r in fresh),
        "max_ms": max(r["total_ms"] for r in fresh),
        "fetch_median_ms": statistics.median(r["fetch_ms"] for r in fresh),
        "render_median_ms": statistics.median(r["render_ms"] for r in fresh),
        "changed_median_ms": statistics.median(r["total_ms"] for r in changed),
        "changed_max_ms": max(r["total_ms"] for r in changed),
        "changed_hours": statistics.median(changed_hours),
        "page_bytes": fresh[-1]["bytes"],
    }  # fmt: skip


async def _page(store: Store, org: UUID, anchor: datetime) -> dict[str, float]:
    window = window_of(org, DAYS, TZ, today=anchor.date())
    started = time.perf_counter()
    report = await fetch_report(store, window)
    fetched = time.perf_counter()
    page = render(report)
    done = time.perf_counter()
    return {
        "fetch_ms": (fetched - started) * 1000, "render_ms": (done - fetched) * 1000,
        "total_ms": (done - started) * 1000, "bytes": len(page.encode()),
    }  # fmt: skip


async def _merge_reads(conn: asyncpg.Connection, org: UUID, n: int) -> None:
    """A `read` merged into CHANGED outbound messages of one day, as the merge writes it: the day is noted."""
    await conn.execute(
        """
        update message_logs m
        set whatsapp_status = m.whatsapp_status || jsonb_build_object('read', bluetick_ts_text(m.created_at
              + interval '1 hour')), updated_at = now()
        where m.id in (select id from message_logs
                       where org_id = $1 and direction = 'OUTBOUND'
                         and created_at >= $2::timestamptz - ($3::int + 1) * interval '1 day'
                       order by created_at limit $4)
        """,
        org, datetime.now(UTC), n, CHANGED,
    )  # fmt: skip
