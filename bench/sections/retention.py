"""Retention: webhook ingest (durable) alone, and while the retention purge erases a large table of old rows."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from bench import ROOT
from bench.harness import DURABLE, Bench, log, median
from bench.measure import empty_tables, load_run
from bluetick.config import Settings
from bluetick.retention import run_retention

ORGS = 10  # generate.sql's organisations 1..ORGS, each with its own retention
RETENTION_DAYS = 30
AGE_DAYS = 60  # the generated rows end this long ago, so every one is past its retention
HISTORY_DAYS = 90
DEFAULTS = Settings()  # RETENTION_BATCH and RETENTION_PAUSE_MS as a deployment has them
SEED = 0.11
SQL = ROOT / "bench" / "sql"


async def run(b: Bench) -> dict[str, Any]:
    alone = await purge_alone(b)
    runs: dict[str, list[dict[str, Any]]] = {"ingest alone": [], "ingest during the purge": []}
    for r in range(b.opts.repeat):
        for name, purging in (("ingest alone", False), ("ingest during the purge", True)):
            log(f"retention {r + 1}/{b.opts.repeat}: {name} ({b.opts.rows} old rows in the table)")
            await fill(b)
            traffic = await b.traffic(DURABLE, b.expected_rate(DURABLE) * b.opts.seconds * 1.3)
            async with b.server(DURABLE) as server:
                deadline = time.monotonic() + b.opts.seconds
                pause = DEFAULTS.retention_pause_ms / 1000
                purge = asyncio.create_task(purge_until(b, deadline, pause)) if purging else None
                record = await load_run(b, DURABLE, [server], traffic, b.opts.seconds)
                if purge is not None:
                    record["purge"] = await purge
            runs[name].append(record)
    rates = {name: median([x["rate"] for x in records]) for name, records in runs.items()}
    during = runs["ingest during the purge"]
    return {
        "rows": b.opts.rows, "orgs": ORGS, "batch": DEFAULTS.retention_batch,
        "pause_ms": DEFAULTS.retention_pause_ms, "purge_alone": alone, "rates": rates,
        "latency_ms": {name: median([x["latency_ms"]["p99"] for x in records]) for name, records in runs.items()},
        "ratio": rates["ingest during the purge"] / rates["ingest alone"] if rates["ingest alone"] else None,
        "purge_during_rows_per_s": median([x["purge"]["rows"] / x["purge"]["seconds"] for x in during]),
        "rows_wrong": sum(x["check"]["rows_wrong"] for records in runs.values() for x in records),
        "runs": runs,
    }  # fmt: skip


async def fill(b: Bench) -> float:
    """message_logs holds `rows` generated rows, all past their organisation's retention; returns seconds taken."""
    started = time.perf_counter()
    await empty_tables(b.dsn)
    conn = await asyncpg.connect(b.dsn)
    try:
        await conn.execute("select setseed($1)", SEED)
        anchor = datetime.now(UTC) - timedelta(days=AGE_DAYS)
        await conn.execute((SQL / "generate.sql").read_text(), b.opts.rows, ORGS, anchor, HISTORY_DAYS)
        await conn.execute(
            "insert into org_settings (org_id, retention_days)"
            " select ('00000000-0000-4000-8000-' || lpad(to_hex(n), 12, '0'))::uuid, $2"
            " from generate_series(1, $1::int) n"
            " on conflict (org_id) do update set retention_days = excluded.retention_days",
            ORGS,
            RETENTION_DAYS,
        )
        await conn.execute("analyze message_logs")
        return time.perf_counter() - started
    finally:
        await conn.close()


async def purge_until(b: Bench, deadline: float, pause_s: float) -> dict[str, Any]:
    """The service's retention loop (bluetick.retention), stopped at `deadline` or when nothing is left."""
    started = time.monotonic()
    total, batches = await run_retention(b.store, None, DEFAULTS.retention_batch, pause_s, until=deadline)
    return {"rows": total.rows, "batches": batches, "seconds": time.monotonic() - started}


async def purge_alone(b: Bench) -> dict[str, Any]:
    log(f"retention: generating {b.opts.rows} old rows, then purging them with no load and no pause")
    fill_s = await fill(b)
    purged = await purge_until(b, time.monotonic() + 600, 0)
    conn = await asyncpg.connect(b.dsn)
    try:
        left = await conn.fetchval("select count(*) from message_logs where erased_at is null")
    finally:
        await conn.close()
    return {"fill_s": fill_s, **purged, "rows_per_s": purged["rows"] / purged["seconds"], "left": left}
