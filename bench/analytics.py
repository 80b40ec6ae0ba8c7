"""Analytics: the org-scoped 7-day funnel and the seeds' delivery-rate query on a generated message_logs.

Two databases on the bench's Postgres, both migrated with every file of sql/ and filled by the same
deterministic INSERT ... SELECT generate_series: one keeps bluetick's indexes, the other only the seeds'
(bsp_msg_id and a GIN on whatsapp_status). Every query must give the same answer on both.
"""

from __future__ import annotations

import json
import statistics
import time
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit
from uuid import UUID

import asyncpg

from bench import ROOT
from bluetick.store.migrations import migrate

SQL = ROOT / "bench" / "sql"
DAYS = 30
SEED = 0.42
SCAN_NODES = ("Seq Scan", "Index Scan", "Index Only Scan", "Bitmap Index Scan", "Function Scan")


def database_dsn(dsn: str, name: str) -> str:
    """`dsn` pointing at database `name` on the same server."""
    parts = urlsplit(dsn)
    return urlunsplit(parts._replace(path=f"/{name}"))


def org_ids(count: int) -> list[UUID]:
    """The organisations generate.sql writes: 1 .. count in the last 12 hex digits."""
    return [UUID(f"00000000-0000-4000-8000-{k:012x}") for k in range(1, count + 1)]


async def _fresh_database(admin_dsn: str, name: str) -> str:
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'drop database if exists "{name}"')  # a fixed bench name, not input
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    dsn = database_dsn(admin_dsn, name)
    await migrate(dsn)
    return dsn


async def prepare(admin_dsn: str, rows: int, orgs: int, anchor: datetime) -> dict[str, Any]:
    """Both databases, filled and analysed; returns their DSNs, load times and index lists."""
    variants: dict[str, Any] = {}
    for variant in ("bluetick", "seed"):
        dsn = await _fresh_database(admin_dsn, f"bench_{variant}")
        conn = await asyncpg.connect(dsn)
        try:
            if variant == "seed":
                await conn.execute((SQL / "drop_indexes.sql").read_text())
            started = time.perf_counter()
            await conn.execute("select setseed($1)", SEED)
            await conn.execute((SQL / "generate.sql").read_text(), rows, orgs, anchor, DAYS)
            loaded = time.perf_counter() - started
            if variant == "seed":
                await conn.execute((SQL / "seed_indexes.sql").read_text())
            await conn.execute("vacuum analyze message_logs")
            indexes = await conn.fetch(
                "select indexname, indexdef from pg_indexes where tablename = 'message_logs' order by indexname"
            )
            funnel_fn = await conn.fetchval(
                "select to_regprocedure('bluetick_funnel(uuid, timestamptz, timestamptz)') is not null"
            )
            size = await conn.fetchval("select pg_size_pretty(pg_total_relation_size('message_logs'))")
        finally:
            await conn.close()
        variants[variant] = {
            "dsn": dsn, "load_s": loaded, "funnel_function": funnel_fn, "table_size": size,
            "indexes": {r["indexname"]: r["indexdef"] for r in indexes},
        }  # fmt: skip
    return variants


def _plan_summary(node: dict[str, Any]) -> list[str]:
    found = []
    if node.get("Node Type") in SCAN_NODES:
        label = node["Node Type"]
        if node.get("Parallel Aware"):
            label = "Parallel " + label
        target = node.get("Index Name") or node.get("Relation Name") or node.get("Function Name")
        found.append(f"{label} on {target}")
    for child in node.get("Plans", []):
        found.extend(_plan_summary(child))
    return found


async def _time_query(conn: asyncpg.Connection, sql: str, args_of: list[tuple[Any, ...]]) -> dict[str, Any]:
    await conn.fetch(sql, *args_of[0])  # warm-up: plan cached, pages in memory
    times, answers = [], []
    for args in args_of:
        started = time.perf_counter()
        rows = await conn.fetch(sql, *args)
        times.append((time.perf_counter() - started) * 1000)
        answers.append([tuple(r) for r in rows])
    explained = await conn.fetchval(f"explain (format json) {sql}", *args_of[0])  # the bench's own SQL files
    plan = json.loads(explained)[0]["Plan"]
    return {
        "median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "runs": len(times),
        "plan": sorted(set(_plan_summary(plan))), "answers": answers,
    }  # fmt: skip


async def measure(variants: dict[str, Any], orgs: int, anchor: datetime, repeat: int) -> dict[str, Any]:
    """Median time of each query on both index sets; each run asks for another organisation."""
    use_function = all(v["funnel_function"] for v in variants.values())
    funnel_sql = (SQL / ("funnel.sql" if use_function else "funnel_inline.sql")).read_text()
    since, until = anchor - timedelta(days=7), anchor
    chosen = org_ids(orgs)[:repeat] if repeat <= orgs else [org_ids(orgs)[k % orgs] for k in range(repeat)]
    queries: dict[str, tuple[str, list[tuple[Any, ...]]]] = {
        "funnel, one org, 7 days": (funnel_sql, [(org, since, until) for org in chosen]),
        "delivery rate 24 h (seed #1, all orgs)": ((SQL / "seed_delivery_rate.sql").read_text(),
                                                   [(anchor,) for _ in chosen]),
        "delivery rate 24 h (seed #1, one org)": ((SQL / "seed_delivery_rate_org.sql").read_text(),
                                                  [(anchor, org) for org in chosen]),
    }  # fmt: skip
    results: dict[str, Any] = {"funnel_source": "bluetick_funnel()" if use_function else "inline (bench/sql)"}
    for name, (sql, args) in queries.items():
        per_variant = {}
        for variant, info in variants.items():
            conn = await asyncpg.connect(info["dsn"])
            try:
                per_variant[variant] = await _time_query(conn, sql, args)
            finally:
                await conn.close()
        same = per_variant["bluetick"].pop("answers") == per_variant["seed"].pop("answers")
        results[name] = {**per_variant, "same_answers": same}
    return results
