"""Ingest: webhooks/s and ack latency of the bare handler and of bluetick in each ack mode, then the open loop."""

from __future__ import annotations

import math
import os
import subprocess
import sys
from typing import Any

from bench import ROOT
from bench.harness import BARE, DURABLE, DURABLE_ASYNCIO, IMMEDIATE, IMMEDIATE_ASYNCIO, Bench, Target, log, median
from bench.measure import load_run


async def run(b: Bench) -> dict[str, Any]:
    targets = [BARE, DURABLE, IMMEDIATE, DURABLE_ASYNCIO, IMMEDIATE_ASYNCIO]
    if workers_supported():
        targets += [
            Target("bluetick durable, 2 workers", "durable", 2),
            Target("bluetick immediate, 2 workers", "immediate", 2),
        ]
    runs: dict[str, list[dict[str, Any]]] = {t.name: [] for t in targets}
    for r in range(b.opts.repeat):
        for target in targets:
            log(f"ingest {r + 1}/{b.opts.repeat}: {target.name}")
            traffic = await b.traffic(target, b.expected_rate(target) * b.opts.seconds * 1.3)
            async with b.server(target) as server:
                record = await load_run(b, target, [server], traffic, b.opts.seconds)
            runs[target.name].append(record)
            b.rates.setdefault(target.name, []).append(record["rate"])
            if target == DURABLE and record["server_metrics"].get("batch_size_mean"):
                b.batch_sizes.append(record["server_metrics"]["batch_size_mean"])
    summary = {name: summarize_runs(records, runs[BARE.name]) for name, records in runs.items()}
    return {"summary": summary, "runs": runs, "open_loop": await open_loop(b)}


async def open_loop(b: Bench) -> dict[str, Any]:
    """Ack latency at half of each mode's measured maximum, on a fixed schedule, median of the repeats; the
    bare handler at the same rate gives the floor the machine and the load generator add by themselves."""
    results: dict[str, Any] = {}
    for target in (DURABLE, IMMEDIATE):
        rate = round(median(b.rates.get(target.name, [0.0])) / 2)
        if rate < 1:
            continue
        runs, floors = [], []
        for r in range(b.opts.repeat):
            log(f"open loop {r + 1}/{b.opts.repeat}: {target.name} at {rate}/s, then the bare handler")
            traffic = await b.traffic(target, rate * b.opts.seconds * 1.1)
            async with b.server(target) as server:
                runs.append(await load_run(b, target, [server], traffic, b.opts.seconds, rate=rate))
            bare_traffic = await b.traffic(BARE, 0)
            async with b.server(BARE) as server:
                floors.append(await load_run(b, BARE, [server], bare_traffic, b.opts.seconds, rate=rate))
        results[target.name] = {
            "rate": rate, "achieved": median([x["rate"] for x in runs]),
            **{k: median([x["latency_ms"][k] for x in runs]) for k in ("p50", "p99", "max")},
            "floor_p99": median([x["latency_ms"]["p99"] for x in floors]),
            "p99_runs": [x["latency_ms"]["p99"] for x in runs], "runs": runs, "bare_floor": floors,
        }  # fmt: skip
    return results


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


def workers_supported() -> bool:
    """Whether `python main.py serve` takes --workers (SO_REUSEPORT processes)."""
    out = subprocess.run(
        [sys.executable, "main.py", "serve", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, "DATABASE_URL": "", "SUPABASE_URL": "", "PYTHONPATH": str(ROOT / "src")},
    )
    return "--workers" in out.stdout
