"""What every section shares: the bench's database and state, the servers it measures and the traffic it sends."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
import secrets
import socket
import statistics
import sys
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from bench import procs
from bench.options import Options
from bluetick.events import Message
from bluetick.store.postgres import PostgresStore
from simulator.plan import Plan, SimConfig, make_plan

ORGS = 20  # organisations per simulated run
MAX_PLAN_MESSAGES = 60_000  # bounds what one run can send
POSTS_PER_MESSAGE = 2.2  # about what make_plan makes; only used to size plans
PRELOG_CHUNK = 1000


@dataclass(frozen=True)
class Target:
    """A server to measure: the bare handler (ack_mode None) or bluetick in one ack mode."""

    name: str
    ack_mode: str | None
    workers: int = 1
    env: tuple[tuple[str, str], ...] = ()  # settings of this variant, e.g. (("EVENT_LOOP", "asyncio"),)
    baseline: bool = False  # the code of the bench's --baseline revision, on its own database (bench/baseline.py)


@dataclass(frozen=True)
class Baseline:
    """An earlier revision to measure beside the working tree: its checkout, and its database, migrated by its code."""

    revision: str
    root: Path
    dsn: str
    store: PostgresStore  # this tree's store on that database, to log the plans' messages beforehand


BARE = Target("bare aiohttp", None)
DURABLE = Target("bluetick durable", "durable")
IMMEDIATE = Target("bluetick immediate", "immediate")
# the same on the standard library's event loop (EVENT_LOOP=asyncio), to show what uvloop, the default, pays
PLAIN_LOOP = (("EVENT_LOOP", "asyncio"),)
DURABLE_ASYNCIO = Target("bluetick durable, asyncio loop", "durable", env=PLAIN_LOOP)
IMMEDIATE_ASYNCIO = Target("bluetick immediate, asyncio loop", "immediate", env=PLAIN_LOOP)


@dataclass
class Traffic:
    plan: Plan
    early: list[int]  # messages logged only after the load run (their statuses arrive first)


@dataclass
class Bench:
    """The bench's Postgres and what the sections learn from each other (rates, batch sizes, failures)."""

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
    baseline: Baseline | None = None  # set up by the baseline section for its run

    def _baseline_of(self, target: Target) -> Baseline | None:
        return self.baseline if target.baseline else None

    def dsn_for(self, target: Target) -> str:
        """The database `target` writes: the baseline's own for the baseline revision, else the bench's."""
        baseline = self._baseline_of(target)
        return baseline.dsn if baseline else self.dsn

    def store_for(self, target: Target) -> PostgresStore:
        baseline = self._baseline_of(target)
        return baseline.store if baseline else self.store

    @contextlib.asynccontextmanager
    async def server(self, target: Target) -> AsyncIterator[procs.Server]:
        """`target` started on a free port and ready; stopped with SIGTERM on exit (a bad exit is a failure)."""
        port = free_port()
        log = self.work / f"server-{next(self.runs)}.log"
        if target.ack_mode is None:
            server = procs.Server(target.name, [sys.executable, "-m", "bench.bare", str(port)], port, log)
        else:
            server = self._bluetick(target, target.ack_mode, port, log)
        async with self.serve(server, "/healthz" if target.ack_mode is None else "/readyz"):
            yield server

    @contextlib.asynccontextmanager
    async def serve(self, server: procs.Server, ready_path: str) -> AsyncIterator[procs.Server]:
        """`server` started and answering 200 at `ready_path`; SIGTERM on exit (a bad exit is a failure)."""
        server.start()
        try:
            await server.wait_ready(ready_path)
            yield server
        finally:
            code = server.stop()
            if code not in (0, None):
                self.failures.append(f"{server.name}: exited with {code} on SIGTERM (log {server.log})")

    @contextlib.asynccontextmanager
    async def replicas(self, target: Target, count: int) -> AsyncIterator[list[procs.Server]]:
        """`count` processes of `target`, each on its own port with its own pool, all on the bench's Postgres."""
        async with contextlib.AsyncExitStack() as stack:
            yield [await stack.enter_async_context(self.server(target)) for _ in range(count)]

    def _bluetick(self, target: Target, ack_mode: str, port: int, log: Path) -> procs.Server:
        main_py = "main.py"
        code: dict[str, str] = {}
        if target.baseline:  # the baseline revision's checkout: its main.py, its package first on the path
            baseline = self._baseline_of(target)
            assert baseline is not None, "a baseline target needs the baseline section's set-up"
            main_py = str(baseline.root / "main.py")
            code = {"PYTHONPATH": str(baseline.root / "src")}
        argv = [sys.executable, main_py, "serve"] + (["--workers", str(target.workers)] if target.workers > 1 else [])
        env = {
            **code,
            "DATABASE_URL": self.dsn_for(target),
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "ALLOW_UNSIGNED_WEBHOOKS": "true",
            "LOG_LEVEL": "warning",
            "ACK_MODE": ack_mode,
            "API_TOKEN": self.api_token,
            **dict(target.env),
        }
        return procs.Server(target.name, argv, port, log, env)

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
        return await self.logged_traffic(posts, store=self.store_for(target))

    async def logged_traffic(self, posts: float, *, parked: bool = True, store: PostgresStore | None = None) -> Traffic:
        """A fresh plan of about `posts` posts, its messages logged beforehand (through `store`, else the bench's),
        but the early ones if `parked`."""
        messages = min(MAX_PLAN_MESSAGES, max(200, math.ceil(posts / POSTS_PER_MESSAGE)))
        the_plan = await self.new_plan(messages)
        early = the_plan.early() if parked else []
        await self.prelog(the_plan, skip=set(early), store=store)
        return Traffic(the_plan, early)

    async def new_plan(self, messages: int) -> Plan:
        """A plan of `messages` with a seed no earlier plan of this bench used."""
        return await asyncio.to_thread(make_plan, SimConfig(messages=messages, orgs=ORGS, seed=next(self.seeds)))

    async def prelog(self, the_plan: Plan, skip: set[int] | None = None, store: PostgresStore | None = None) -> None:
        """Log the plan's messages straight through `store`, else the bench's (set-up, not measured)."""
        skip = skip or set()
        rows = [
            Message(org_id=m.org_id, bsp_msg_id=m.bsp_msg_id, to_phone=m.to_phone, msg_kind=m.msg_kind, body=m.body,
                    sent_at=m.sent_at)
            for m in the_plan.messages if m.index not in skip
        ]  # fmt: skip
        for start in range(0, len(rows), PRELOG_CHUNK):
            await (store or self.store).apply_batch(rows[start : start + PRELOG_CHUNK], [])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def stamp() -> str:
    return datetime.now(UTC).strftime("%Y%m%d-%H%M%S")


def log(message: str) -> None:
    print(f"[bench {datetime.now(UTC).strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
