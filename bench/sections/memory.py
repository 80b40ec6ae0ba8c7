"""Memory: the server's resident memory at idle and during sustained load, in each ack mode."""

from __future__ import annotations

import asyncio
from typing import Any

from bench.harness import DURABLE, IMMEDIATE, Bench, log
from bench.measure import load_run


async def run(b: Bench) -> dict[str, Any]:
    results = {}
    for target in (DURABLE, IMMEDIATE):
        log(f"memory: {target.name}, {b.opts.memory_seconds}s of sustained load")
        traffic = await b.traffic(target, b.expected_rate(target) * b.opts.memory_seconds * 1.3)
        async with b.server(target) as server:
            await asyncio.sleep(1.0)
            record = await load_run(b, target, [server], traffic, b.opts.memory_seconds, rss_every=b.opts.memory_step)
        results[target.name] = growth(record)
    return results


def growth(record: dict[str, Any]) -> dict[str, Any]:
    """How the run's RSS samples and queue depths moved from the first loaded sample to the end."""
    samples = [mb for _, mb, _ in record.get("rss_samples", [])]
    depths = [depth for _, _, depth in record.get("rss_samples", [])]
    first = samples[0] if samples else float("nan")
    return {
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
