"""Profile: py-spy samples of the server under closed-loop load, in each ack mode (skipped without py-spy)."""

from __future__ import annotations

import asyncio
from typing import Any

from bench import ROOT, profile
from bench.harness import DURABLE, IMMEDIATE, Bench, log, stamp
from bench.measure import load_run


async def run(b: Bench) -> dict[str, Any]:
    if not profile.available():
        return {"skipped": "py-spy is not installed (pip install py-spy)"}
    results: dict[str, Any] = {}
    b.opts.out.mkdir(parents=True, exist_ok=True)
    for target in (DURABLE, IMMEDIATE):
        log(f"profile: {target.name}, py-spy for {b.opts.profile_seconds}s under load")
        seconds = b.opts.profile_seconds + 2
        traffic = await b.traffic(target, b.expected_rate(target) * seconds * 1.3)
        raw = b.opts.out / f"pyspy-{target.ack_mode}-{stamp()}.txt"
        async with b.server(target) as server:
            loaded = asyncio.create_task(load_run(b, target, [server], traffic, seconds))
            await asyncio.sleep(1.0)
            said = await profile.record(server.pid, b.opts.profile_seconds, raw)
            record = await loaded
        summary = profile.summarize(raw) if raw.exists() else {}
        results[target.name] = {
            "py_spy": said,
            "raw": str(raw.relative_to(ROOT) if raw.is_relative_to(ROOT) else raw) if raw.exists() else None,
            "rate": record["rate"],
            "cpu_cores": record["cpu_cores"],
            **summary,
        }
    return results
