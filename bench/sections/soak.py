"""Soak: each ack mode under sustained closed-loop load, its RSS and queue depth sampled throughout."""

from __future__ import annotations

import asyncio
import statistics
from collections.abc import Sequence
from typing import Any

from bench.harness import DURABLE, IMMEDIATE, Bench, log
from bench.measure import load_run, split

SAMPLES = 120  # about this many samples per run, one per second at the least
WARMUP_SHARE = 0.10  # the first tenth of a run is warm-up: buffers and pools grow to their working size
WINDOWS = 10  # the samples after warm-up are judged as medians of this many consecutive windows,
MIN_WINDOW = 3  # each of at least this many samples
TOLERANCE = 0.10


async def run(b: Bench) -> dict[str, Any]:
    seconds = b.opts.soak_seconds
    every = max(1.0, seconds / SAMPLES)
    results = {}
    for target in (DURABLE, IMMEDIATE):
        log(f"soak: {target.name}, {seconds}s of sustained load, a sample every {every:.0f}s")
        traffic = await b.traffic(target, b.expected_rate(target) * seconds * 1.3)
        async with b.server(target) as server:
            await asyncio.sleep(1.0)
            record = await load_run(b, target, [server], traffic, seconds, rss_every=every)
        results[target.name] = soak_summary(record, seconds * WARMUP_SHARE, b.opts.connections)
    return results


def soak_summary(record: dict[str, Any], warmup_s: float, connections: int) -> dict[str, Any]:
    """RSS and queue depth after `warmup_s`: first and last window, the maximum, and whether they held (the
    queue also when within `connections` events of its first window: what the requests in flight swing by)."""
    # the sampler runs a little past the load's end (the generator's exit): those samples are of an idle server
    after = [s for s in record.get("rss_samples", []) if warmup_s <= s[0] <= record["seconds"]]
    return {
        "rate": record["rate"], "warmup_s": warmup_s, "samples": len(after), "rss_idle_mb": record["rss_idle_mb"],
        "rss": drift([mb for _, mb, _ in after]), "queue": drift([depth for _, _, depth in after], connections),
        "run": record,
    }  # fmt: skip


def drift(values: Sequence[float], slack: float = 0.0) -> dict[str, Any]:
    """Median of the first and of the last window, the largest value, and whether every window's median stayed
    within TOLERANCE (or `slack`) of the first's (medians, so one burst of the queue is not taken for growth)."""
    if not values:
        return {"first": None, "end": None, "max": None, "end_vs_first_pct": None, "within": False}
    windows = split(len(values), max(1, min(WINDOWS, len(values) // MIN_WINDOW)))
    medians = [statistics.median(values[w.start : w.stop]) for w in windows]
    first = medians[0]
    return {
        "first": first, "end": medians[-1], "max": max(values),
        "end_vs_first_pct": 100 * (medians[-1] - first) / first if first else None,
        "within": all(m <= max(first * (1 + TOLERANCE), first + slack) for m in medians),
    }  # fmt: skip
