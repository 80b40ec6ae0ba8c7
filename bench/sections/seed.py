"""Seed: the seed design as a running peer (`bench/seed_peer.py`) beside bluetick durable, under the same load.

The peer answers at once and applies later, so its rows can be wrong (lost updates between concurrent
read-merge-writes of one row): that is what is measured here, not a failure of the bench.
"""

from __future__ import annotations

import asyncio
import math
import sys
import time
from typing import Any

import aiohttp

from bench import procs
from bench.harness import DURABLE, Bench, Target, free_port, log
from bench.measure import empty_tables, load_run, resend
from simulator.check import check

PEER = Target("seed peer", None)
RSS_EVERY_S = 0.5
DRAIN_TIMEOUT_S = 300.0  # the peer's backlog gets this long to drain after the load stops


async def run(b: Bench) -> dict[str, Any]:
    seconds = b.opts.seconds
    log(f"seed: {DURABLE.name}, {seconds}s")
    traffic = await b.traffic(DURABLE, b.expected_rate(DURABLE) * seconds * 1.3)
    async with b.server(DURABLE) as server:
        durable = await load_run(b, DURABLE, [server], traffic, seconds, rss_every=RSS_EVERY_S)
    log(f"seed: the seed peer, {seconds}s, then its backlog drains")
    peer = await _peer_run(b, seconds)
    return {"bluetick": bluetick_row(durable), "seed": seed_row(peer), "runs": {DURABLE.name: durable, PEER.name: peer}}


async def _peer_run(b: Bench, seconds: int) -> dict[str, Any]:
    """The peer under closed-loop load; every message is logged beforehand (the seed parked nothing)."""
    traffic = await b.logged_traffic(b.expected_rate(PEER) * seconds * 1.3, parked=False)
    the_plan = traffic.plan
    port = free_port()
    argv = [sys.executable, "-m", "bench.seed_peer", str(port)]
    server = procs.Server(PEER.name, argv, port, b.work / f"server-{next(b.runs)}.log", {"SEED_PEER_DSN": b.dsn})

    async def settle(server: procs.Server, issued: set[int], unacked: set[int]) -> dict[str, Any]:
        stopped = time.perf_counter()
        at_end = await peer_stats(server.url)
        retry = await resend(b, server, traffic, unacked)
        drained = await _drain(server.url)
        expected = the_plan.expected(issued)
        wrong = len({m.key for m in await check(b.dsn, the_plan, expected)})
        await empty_tables(b.dsn)
        return {
            "messages": len(expected), "posts_issued": len(issued),
            "events_issued": sum(len(the_plan.posts[p].events) for p in issued), "resent_after_run": len(unacked),
            "logged_after_run": 0, "rows_wrong": wrong, "resend_ok": retry.ok, "at_load_end": at_end,
            "drained": drained, "drain_s": time.perf_counter() - stopped if drained["pending"] == 0 else None,
        }  # fmt: skip

    async with b.serve(server, "/healthz"):
        return await load_run(b, PEER, [server], traffic, seconds, rss_every=RSS_EVERY_S, settle=settle)


async def _drain(url: str) -> dict[str, Any]:
    """The peer's stats once nothing is pending, or when DRAIN_TIMEOUT_S has passed."""
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while True:
        stats = await peer_stats(url)
        if stats["pending"] == 0 or time.monotonic() > deadline:
            return stats
        await asyncio.sleep(0.1)


async def peer_stats(url: str) -> dict[str, Any]:
    async with aiohttp.ClientSession() as session, session.get(url + "/stats") as resp:
        stats: dict[str, Any] = await resp.json()
        return stats


def bluetick_row(record: dict[str, Any]) -> dict[str, Any]:
    """bluetick durable answers once the row is committed: applied is acknowledged, and nothing lags."""
    lat = record["latency_ms"]
    return {
        "rate": record["rate"], "events_acked_per_s": record["events_per_s"],
        "applied_per_s_load": record["events_per_s"], "applied_per_s_total": record["events_per_s"],
        "pending_at_end": 0, "drain_s": 0.0, "apply_ms": {"p50": lat["p50"], "p99": lat["p99"], "max": lat["max"]},
        "peak_rss_mb": max((mb for _, mb, _ in record.get("rss_samples", [])), default=record["rss_end_mb"]),
        "cpu_cores": record["cpu_cores"], "rows_wrong": record["check"]["rows_wrong"], "errors": 0,
    }  # fmt: skip


def seed_row(record: dict[str, Any]) -> dict[str, Any]:
    """The peer's own counts: applied during the load, and over the load plus the drain after it."""
    c = record["check"]
    at_end, drained = c["at_load_end"], c["drained"]
    total_s = record["seconds"] + (c["drain_s"] or math.nan)
    return {
        "rate": record["rate"], "events_acked_per_s": record["events_per_s"],
        "applied_per_s_load": at_end["applied"] / record["seconds"],
        "applied_per_s_total": drained["applied"] / total_s, "pending_at_end": at_end["pending"],
        "drain_s": c["drain_s"], "apply_ms": drained["apply_ms"], "peak_rss_mb": drained["peak_rss_mb"],
        "cpu_cores": record["cpu_cores"], "rows_wrong": c["rows_wrong"],
        "errors": drained["errors"] + drained["missing"],
    }  # fmt: skip
