"""Scale: 1, 2 and 4 bluetick processes side by side, each with its own port and pool, on the one Postgres."""

from __future__ import annotations

import os
from typing import Any

from bench.harness import DURABLE, IMMEDIATE, Bench, log
from bench.measure import load_run
from bench.sections.ingest import summarize_runs

REPLICAS = (1, 2, 4)
CORES = os.cpu_count() or 1


async def run(b: Bench) -> dict[str, Any]:
    """The ingest load (same connections, same bodies) split evenly over N replicas, one generator per replica."""
    runs: dict[str, list[dict[str, Any]]] = {}
    shape: dict[str, dict[str, Any]] = {}
    for r in range(b.opts.repeat):
        for target in (DURABLE, IMMEDIATE):
            for n in REPLICAS:
                name = f"{target.name}, {n} {'replica' if n == 1 else 'replicas'}"
                log(f"scale {r + 1}/{b.opts.repeat}: {name}")
                # sized for at most one process per core; a short plan only wraps around
                traffic = await b.traffic(target, b.expected_rate(target) * min(n, CORES) * b.opts.seconds * 1.3)
                async with b.replicas(target, n) as servers:
                    record = await load_run(b, target, servers, traffic, b.opts.seconds)
                runs.setdefault(name, []).append(record)
                shape[name] = {"mode": target.ack_mode, "replicas": n, "one": f"{target.name}, 1 replica"}
    summary = {name: {**shape[name], **summarize_runs(records, [])} for name, records in runs.items()}
    for s in summary.values():
        s["vs_one"] = s["rate"] / summary[s["one"]]["rate"] if summary[s["one"]]["rate"] else float("nan")
    return {"replicas": list(REPLICAS), "summary": summary, "runs": runs}
