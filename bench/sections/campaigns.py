"""Campaigns (issue 25): `bluetick_campaign_funnel` over 30 days for one organisation holding every row of a
`--rows` table, and a campaign's recipients CSV streamed with flat memory.

The table is the analytics section's (bench/sql/generate.sql, 30 days, one organisation), every outbound message
then put in one of 8 campaigns and one of 4 templates, and 100,000 of them (or all, if fewer) in one campaign of
their own, `bench-csv`. The funnel is timed three ways, each the median of `--analytics-runs` calls: with the campaign
rollups up to date (the service refreshes them every REPORT_REFRESH_S), with every hour noted as changed (the
function then reads every message: what it cost before the rollups), and right after a `read` was merged into 1,000
messages (their hours are read from the messages). Each answer is compared with a direct aggregation over
`campaign_messages`. The CSV is written by `python main.py campaign-recipients` in a child process, for the 100,000
and for a tenth of them: its peak RSS (ru_maxrss) for each, which flat memory keeps about equal.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg

from bench import analytics
from bench.harness import Bench, log
from bluetick.report import fetch_report, render, window_of
from bluetick.store.postgres import PostgresStore

CAMPAIGNS, TEMPLATES = 8, 4
CSV_ROWS = 100_000
CHANGED = 1000
TARGET_MS = 100  # issue 25: the funnel over 30 days of a 1M-row organisation, rollups up to date
REFERENCE = """
select campaign_id, template_name, template_language, count(*), count(sent_at), count(delivered_at), count(read_at),
       count(replied_at), count(clicked_at), count(failed_at),
       round((percentile_cont(0.5) within group (order by seconds_sent_to_read))::numeric, 1),
       mode() within group (order by error_code)
from campaign_messages
where org_id = $1 and created_at >= $2 and created_at < $3
group by 1, 2, 3
order by 1 nulls last, 2 nulls last, 3 nulls last
"""
FUNNEL = """
select campaign_id, template_name, template_language, outbound, sent, delivered, read, replied, clicked, failed,
       median_seconds_sent_to_read, top_error_code
from bluetick_campaign_funnel($1, $2, $3)
"""


async def run(b: Bench) -> dict[str, Any]:
    anchor = datetime.now(UTC).replace(microsecond=0)
    log(f"campaigns: generating {b.opts.rows} rows, one organisation")
    dsn = await analytics._fresh_database(b.dsn, "bench_campaigns")
    [org] = analytics.org_ids(1)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("select setseed($1)", analytics.SEED)
        await conn.execute((analytics.SQL / "generate.sql").read_text(), b.opts.rows, 1, anchor, analytics.DAYS)
        await conn.execute(
            """update message_logs
               set campaign_id = 'camp-' || (abs(hashtext(bsp_msg_id)) % $1), campaign_name = 'Campaign',
                   template_name = 'tpl-' || (abs(hashtext(bsp_msg_id || 't')) % $2), template_language = 'en',
                   whatsapp_status = case
                     when abs(hashtext(bsp_msg_id || 'r')) % 10 = 0 and whatsapp_status ? 'read'
                     then whatsapp_status || jsonb_build_object('replied', whatsapp_status -> 'read')
                     else whatsapp_status end
               where direction = 'OUTBOUND'""",
            CAMPAIGNS,
            TEMPLATES,
        )
        for campaign, lines, skip in (("bench-csv", CSV_ROWS, 0), ("bench-csv-tenth", CSV_ROWS // 10, CSV_ROWS)):
            await conn.execute(
                """update message_logs set campaign_id = $1
                   where bsp_msg_id in (select bsp_msg_id from message_logs where direction = 'OUTBOUND'
                                        order by bsp_msg_id limit $2 offset $3)""",
                campaign,
                lines,
                skip,
            )
        await conn.execute("vacuum analyze message_logs")
        campaign_rows = await conn.fetchval("select count(*) from campaign_messages where org_id = $1", org)
        log("campaigns: building the rollups")
        started = time.perf_counter()
        while json.loads(await conn.fetchval("select bluetick_report_refresh_some(20, null)"))["orgs"]:
            pass
        build_s = time.perf_counter() - started
        await conn.execute("vacuum analyze")
        window = (anchor - timedelta(days=30), anchor)
        runs = b.opts.analytics_runs
        out: dict[str, Any] = {"rows": b.opts.rows, "campaign_rows": campaign_rows, "rollups_build_s": build_s,
                               "target_ms": TARGET_MS}  # fmt: skip
        out["rollups"] = await _timed(conn, org, window, runs, b)
        out["page"] = await _page(dsn, org, anchor, runs)
        noted = conn.transaction()  # every hour noted: the function reads the messages, as before the rollups
        await noted.start()
        await conn.execute(
            "insert into report_dirty (org_id, hour) select distinct org_id, date_trunc('hour', created_at at"
            " time zone 'UTC') from message_logs"
        )
        out["messages"] = await _timed(conn, org, window, max(3, runs // 5), b)
        await noted.rollback()
        await conn.execute(
            """update message_logs
               set whatsapp_status = whatsapp_status || jsonb_build_object('read', whatsapp_status -> 'sent')
               where bsp_msg_id in (select bsp_msg_id from campaign_messages where org_id = $1 and read_at is null
                                    order by created_at desc limit $2)""",
            org,
            CHANGED,
        )
        out["after_change"] = await _timed(conn, org, window, runs, b)
        out["dirty_hours_after_change"] = await conn.fetchval(
            "select count(*) from report_dirty where org_id = $1", org
        )
    finally:
        await conn.close()
    out["csv"] = _csv_memory(dsn, org, b)
    return out


async def _timed(
    conn: asyncpg.Connection, org: Any, window: tuple[datetime, datetime], runs: int, b: Bench
) -> dict[str, Any]:
    """The funnel's median ms over `runs` calls, and whether its answer equals the direct aggregation."""
    times = []
    got: list[Any] = []
    for _ in range(runs):
        started = time.perf_counter()
        got = await conn.fetch(FUNNEL, org, *window)
        times.append((time.perf_counter() - started) * 1000)
    expected = await conn.fetch(REFERENCE, org, *window)
    same = [tuple(r) for r in got] == [tuple(r) for r in expected]
    if not same:
        b.failures.append("campaigns: the funnel differs from the direct aggregation")
    return {"median_ms": statistics.median(times), "runs": runs, "rows": len(got), "same_as_messages": same}


async def _page(dsn: str, org: Any, anchor: datetime, runs: int) -> dict[str, Any]:
    """The report page of the organisation over 30 days (its Campaigns and Templates sections included): median ms."""
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=None)
    try:
        window = window_of(org, 30, "UTC", today=anchor.date())
        times = []
        for _ in range(max(3, runs // 3)):
            started = time.perf_counter()
            page = render(await fetch_report(store, window))
            times.append((time.perf_counter() - started) * 1000)
    finally:
        await store.close()
    return {"median_ms": statistics.median(times), "runs": len(times), "kb": len(page) / 1024}


def _csv_memory(dsn: str, org: Any, b: Bench) -> dict[str, Any]:
    """`campaign-recipients` writing a tenth of the lines, then all of them: lines, seconds and peak RSS of each."""
    return {
        label: _run_cli(dsn, org, campaign, b)
        for label, campaign in (("tenth", "bench-csv-tenth"), ("all", "bench-csv"))
    }


def _run_cli(dsn: str, org: Any, campaign: str, b: Bench) -> dict[str, Any]:
    """Run the command in a child process, reading its peak resident size (VmHWM) until it exits."""
    target = b.work / f"recipients-{campaign}.csv"
    env = {**os.environ, "DATABASE_URL": dsn}
    command = [sys.executable, "main.py", "campaign-recipients", "--org", str(org), "--campaign", campaign, "--out",
               str(target)]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(command, cwd=Path(__file__).resolve().parents[2], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)  # fmt: skip
    peak_kb = 0
    while proc.poll() is None:
        peak_kb = max(peak_kb, _hwm_kb(proc.pid))
        time.sleep(0.02)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        error = proc.stderr.read()[-500:] if proc.stderr is not None else b""
        raise RuntimeError(f"campaign-recipients exited {proc.returncode}: {error!r}")
    with target.open() as lines:
        count = sum(1 for _ in lines) - 1
    return {"lines": count, "seconds": seconds, "peak_rss_mb": peak_kb / 1024}


def _hwm_kb(pid: int) -> int:
    """The process's peak resident set so far (kB), 0 once it is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0
