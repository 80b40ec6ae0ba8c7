"""One measured load run: drive a server, watch its CPU and memory, then check every row it wrote."""

from __future__ import annotations

import asyncio
import contextlib
import re
import shutil
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg

from bench import load, procs, waits
from bench.harness import Bench, Target, Traffic
from simulator.check import Mismatch, check
from simulator.expected import Expected, Key
from simulator.plan import Plan, Step
from simulator.send import RunResult, Secrets, run

SETTLE_TIMEOUT_S = 60.0
Settle = Callable[[procs.Server, set[int], set[int]], Awaitable[dict[str, Any]]]


async def load_run(
    b: Bench,
    target: Target,
    servers: Sequence[procs.Server],
    traffic: Traffic,
    seconds: int,
    *,
    rate: float | None = None,
    rss_every: float | None = None,
    settle: Settle | None = None,
) -> dict[str, Any]:
    """Load `servers` (replicas of one server, the connections split evenly over them, one generator each) for
    `seconds`, closed loop, or open loop at `rate` (one server); bluetick's rows are checked after, or `settle`,
    given the posts issued and those left unacknowledged, checks them."""
    posts = traffic.plan.posts
    one_lane = rate is not None and b.wrk is None  # the Python open loop sends one lane
    lanes = [list(range(len(posts)))] if one_lane else load.lanes_of(range(len(posts)), b.opts.connections)
    groups = split(len(lanes), len(servers))
    lane_dirs = [
        load.write_lanes(b.work / f"lanes-{next(b.runs)}", posts, lanes[group.start : group.stop]) for group in groups
    ]
    pids = [s.pid for s in servers]
    watch = procs.CpuWatch({"server": pids, "postgres": [procs.postmaster_pid(b.pgdata)]})
    rss_idle = procs.rss_mb(procs.trees(pids))
    samples: list[tuple[float, float, int]] = []  # (seconds, RSS MiB, events queued)
    sampler = asyncio.create_task(_sample_rss(target, servers, rss_every, samples)) if rss_every else None
    pg_waits: Counter[str] = Counter()
    watch.start()
    try:
        async with waits.sampled(b.dsn_for(target), pg_waits) if target.ack_mode else contextlib.nullcontext():
            result = await _drive(b, servers, lane_dirs, [len(g) for g in groups], seconds, rate)
    finally:
        cpu = watch.stop()
        if sampler is not None:
            sampler.cancel()
        for lane_dir in lane_dirs:
            shutil.rmtree(lane_dir, ignore_errors=True)
    record = _record(b, target, pids, traffic, result, lanes, cpu, rss_idle)
    if samples:
        record["rss_samples"] = samples
    if pg_waits:
        record["pg_waits"] = dict(pg_waits)
    if settle is not None:
        record["check"] = await settle(servers[0], result.issued_posts(lanes), result.unacked_posts(lanes))
    elif target.ack_mode is not None:
        record["check"] = await settle_and_check(b, target, servers[0], traffic, result, lanes)
        record["server_metrics"] = await replica_metrics(servers)
        await empty_tables(b.dsn_for(target))
    return record


def split(count: int, parts: int) -> list[range]:
    """`range(count)` cut into `parts` consecutive pieces whose sizes differ by at most one."""
    return [range(count * k // parts, count * (k + 1) // parts) for k in range(parts)]


async def _sample_rss(
    target: Target, servers: Sequence[procs.Server], every: float, samples: list[tuple[float, float, int]]
) -> None:
    started = time.perf_counter()
    while True:
        await asyncio.sleep(every)
        rss = procs.rss_mb(procs.trees([s.pid for s in servers]))
        depth = sum([await queue_depth(s.url) for s in servers]) if target.ack_mode else 0
        samples.append((round(time.perf_counter() - started, 1), rss, depth))


async def _drive(
    b: Bench,
    servers: Sequence[procs.Server],
    lane_dirs: Sequence[Path],
    connections: Sequence[int],
    seconds: int,
    rate: float | None,
) -> load.LoadResult:
    use_wrk = b.wrk is not None
    if len(servers) > 1:
        if rate is not None:
            raise ValueError("replicas are only driven in a closed loop")
        return await load.closed_loop_split([s.url for s in servers], lane_dirs, connections, seconds, use_wrk)
    if rate is None:
        return await load.closed_loop(servers[0].url, lane_dirs[0], b.opts.connections, seconds, use_wrk=use_wrk)
    return await load.open_loop(servers[0].url, lane_dirs[0], b.opts.connections, seconds, rate, use_wrk=use_wrk)


def _record(
    b: Bench,
    target: Target,
    pids: list[int],
    traffic: Traffic,
    result: load.LoadResult,
    lanes: list[list[int]],
    cpu: dict[str, float],
    rss_idle: float,
) -> dict[str, Any]:
    """What one run measured: rates, latency, answers, the CPU each party used and the server's memory."""
    cpu["loadgen"] = result.loadgen_cpu_s / max(result.seconds, 1e-9)
    # what neither the server, Postgres nor the load generator used: the bench itself and anything else running
    cpu["other"] = max(0.0, cpu["machine"] - cpu["server"] - cpu["postgres"] - cpu["loadgen"])
    issued = result.issued_posts(lanes)
    return {
        "target": target.name, "tool": result.tool, "connections": b.opts.connections, "seconds": result.seconds,
        "requests": result.requests, "rate": result.rate, "answers_per_s": result.answer_rate,
        "events_per_s": result.rate * _events_per_post(traffic.plan, issued),
        "latency_ms": result.latency_ms, "errors": result.errors, "non_2xx": result.non_2xx,
        "cpu_cores": {k: round(v, 2) for k, v in cpu.items()}, "rss_idle_mb": rss_idle,
        "rss_end_mb": procs.rss_mb(procs.trees(pids)), **result.extra,
    }  # fmt: skip


def _events_per_post(the_plan: Plan, issued: set[int]) -> float:
    if not issued:
        return 0.0
    return sum(len(the_plan.posts[p].events) for p in issued) / len(issued)


async def empty_tables(dsn: str) -> None:
    """Every run starts from empty tables (plus its own logged messages), whatever ran before it."""
    conn = await asyncpg.connect(dsn)
    try:
        for attempt in range(5):
            try:
                await conn.execute("truncate message_logs, message_status_parked, webhook_receipts")
                return
            except asyncpg.DeadlockDetectedError:
                # The deadlocks seen here were the report refresh round's lock order, fixed in 3621876; a batch
                # still committing takes webhook_receipts before message_logs, the truncate the other way round.
                if attempt == 4:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await conn.close()


async def settle_and_check(
    b: Bench,
    target: Target,
    server: procs.Server,
    traffic: Traffic,
    result: load.LoadResult,
    lanes: list[list[int]],
) -> dict[str, Any]:
    """Resend what got no 2xx (as a BSP retries), log the late messages, then compare every row."""
    the_plan = traffic.plan
    issued = result.issued_posts(lanes)
    unacked = result.unacked_posts(lanes)
    retry = await resend(b, server, traffic, unacked)
    expected = the_plan.expected(issued)
    mismatches = await _settled_check(b.dsn_for(target), the_plan, expected)
    wrong = len({m.key for m in mismatches})
    ok = not mismatches and retry.ok
    if not ok:
        b.failures.append(
            f"{target.name}: {wrong} of {len(expected)} rows differ from the merge rules"
            f"{'' if retry.ok else ', and some posts were never acknowledged'}"
        )
    return {
        "ok": ok, "messages": len(expected), "posts_issued": len(issued),
        "events_issued": sum(len(the_plan.posts[p].events) for p in issued),
        "resent_after_run": len(unacked), "logged_after_run": len(traffic.early), "rows_wrong": wrong,
        "examples": [str(m) for m in mismatches[:3]], "resend_ok": retry.ok,
    }  # fmt: skip


async def resend(b: Bench, server: procs.Server, traffic: Traffic, unacked: set[int]) -> RunResult:
    """Post again what got no 2xx (as a BSP retries), then log the messages logged only after the run."""
    steps = [Step("post", p) for p in sorted(unacked)] + [Step("log", m) for m in traffic.early]
    return await run(
        traffic.plan,
        server.url,
        concurrency=16,
        steps=steps,
        max_seconds=SETTLE_TIMEOUT_S,
        secrets=Secrets(api_token=b.api_token),
    )


async def _settled_check(dsn: str, the_plan: Plan, expected: dict[Key, Expected]) -> list[Mismatch]:
    """The rows' differences from `expected`, once they stop changing or SETTLE_TIMEOUT_S has passed."""
    deadline = time.monotonic() + SETTLE_TIMEOUT_S
    while True:  # immediate mode commits after answering: give the queue time to drain
        mismatches = await check(dsn, the_plan, expected)
        if not mismatches or time.monotonic() > deadline:
            return mismatches
        await asyncio.sleep(0.5)


async def queue_depth(url: str) -> int:
    """Events the service holds in memory (queued or in flight), from /readyz; -1 if it did not answer."""
    try:
        async with aiohttp.ClientSession() as session, session.get(url + "/readyz") as resp:
            depth: int = (await resp.json())["queue_depth"]
            return depth
    except (aiohttp.ClientError, ValueError, KeyError):
        return -1


async def replica_metrics(servers: Sequence[procs.Server]) -> dict[str, float]:
    """`scrape_metrics` of each replica, each figure averaged over the replicas that report it."""
    scraped = [await scrape_metrics(s.url) for s in servers]
    names = {name for values in scraped for name in values}
    return {name: statistics.fmean(v[name] for v in scraped if name in v) for name in sorted(names)}


async def scrape_metrics(url: str) -> dict[str, float]:
    """Mean batch size, flush time and ack time (from the handler's start to its answer) from /metrics."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        text = await resp.text()
    values: dict[str, float] = {}
    for name in ("bluetick_batch_size", "bluetick_flush_seconds", "bluetick_ack_seconds"):
        total = re.search(rf"^{name}_sum(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
        count = re.search(rf"^{name}_count(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
        if total and count and float(count.group(1)):
            values[f"{name.removeprefix('bluetick_')}_mean"] = float(total.group(1)) / float(count.group(1))
    for what in ("flush", "ack"):
        if f"{what}_seconds_mean" in values:
            values[f"{what}_ms_mean"] = values.pop(f"{what}_seconds_mean") * 1000
    return values
