"""Durable ingest against an earlier revision, in one run: `python -m bench --sections baseline --baseline REV`.

The revision is checked out beside the bench's work (`git worktree add --detach`), gets a database of its own on the
bench's Postgres, migrated by its own code, and serves from its checkout (its package first on PYTHONPATH); this
tree serves as the ingest section's durable target does. Each repeat runs both, in alternating order, on fresh plans
of the same size, their messages logged beforehand the same way; the ratio is this tree's rate over the revision's
within each repeat, then the median: a change on the ingest path shows its cost here against the code before it.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from typing import Any

import asyncpg

from bench import ROOT
from bench.analytics import database_dsn
from bench.harness import DURABLE, Baseline, Bench, Target, log, median
from bench.measure import load_run
from bench.sections.ingest import summarize_runs
from bluetick.store.postgres import PostgresStore

MIGRATE = "import asyncio, sys; from bluetick.store.migrations import migrate; asyncio.run(migrate(sys.argv[1]))"


async def run(b: Bench) -> dict[str, Any]:
    if not b.opts.baseline:
        log("baseline: no --baseline revision given, skipped")
        return {"skipped": "no --baseline revision given"}
    revision = _git("rev-parse", "--short", b.opts.baseline)
    root = b.work / f"baseline-{revision}"
    _git("worktree", "add", "--detach", "--quiet", str(root), revision)
    try:
        dsn = await _database(b.dsn, "bench_baseline")
        await asyncio.to_thread(subprocess.run, [sys.executable, "-c", MIGRATE, dsn], cwd=root, check=True,
                                capture_output=True, env={**os.environ, "PYTHONPATH": str(root / "src")})  # fmt: skip
        store = await PostgresStore.connect(dsn, pool_size=4, timeout_s=60)
        b.baseline = Baseline(revision=revision, root=root, dsn=dsn, store=store)
        try:
            return await _measure(b, revision)
        finally:
            b.baseline = None
            await store.close()
    finally:
        _git("worktree", "remove", "--force", str(root))
        shutil.rmtree(root, ignore_errors=True)


async def _measure(b: Bench, revision: str) -> dict[str, Any]:
    theirs = Target(f"bluetick durable at {revision}", "durable", baseline=True)
    runs: dict[str, list[dict[str, Any]]] = {DURABLE.name: [], theirs.name: []}
    for r in range(b.opts.repeat):
        order = (DURABLE, theirs) if r % 2 == 0 else (theirs, DURABLE)
        posts = max(b.expected_rate(DURABLE), b.expected_rate(theirs)) * b.opts.seconds * 1.3
        for target in order:
            log(f"baseline {r + 1}/{b.opts.repeat}: {target.name}")
            traffic = await b.traffic(target, posts)
            async with b.server(target) as server:
                record = await load_run(b, target, [server], traffic, b.opts.seconds)
            runs[target.name].append(record)
            b.rates.setdefault(target.name, []).append(record["rate"])
    ratios = [ours["rate"] / old["rate"] for ours, old in zip(runs[DURABLE.name], runs[theirs.name], strict=True)
              if old["rate"]]  # fmt: skip
    return {
        "revision": revision,
        "head": {"name": DURABLE.name, **summarize_runs(runs[DURABLE.name], runs[theirs.name])},
        "baseline": {"name": theirs.name, **summarize_runs(runs[theirs.name], runs[theirs.name])},
        "ratio": median(ratios),
        "ratios": ratios,
        "runs": runs,
    }


async def _database(dsn: str, name: str) -> str:
    """A fresh empty database `name` (a fixed bench name, not input) on the bench's server; its DSN."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(f'drop database if exists "{name}"')
        await conn.execute(f'create database "{name}"')
    finally:
        await conn.close()
    return database_dsn(dsn, name)


def _git(*args: str) -> str:
    done = subprocess.run(["git", *args], cwd=ROOT, check=True, capture_output=True, text=True)
    return done.stdout.strip()
