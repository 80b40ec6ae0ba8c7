"""A load generator in Python: the fallback when wrk is not installed, and the open-loop (fixed rate) runs.

    python -m bench.loadgen URL LANE_DIR CONNECTIONS SECONDS [RATE]

Without RATE, closed loop like wrk: one connection per lane file (`0.txt`, `1.txt`, ...), each posting its
lines in order, the next as soon as the last is answered. With RATE, open loop: the lines of `0.txt` are
sent at RATE per second on a fixed schedule, on up to CONNECTIONS connections, and each latency is measured
from the request's scheduled time, so a slow answer delays nothing and hides nothing. Prints one line,
`BENCH_JSON {...}`, in the shape bench/wrk.lua prints. Only ever connects to 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import json
import math
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp

from simulator.send import loopback_url

REQUEST_TIMEOUT_S = 30.0


def read_lane(path: Path) -> list[tuple[str, bytes]]:
    lines = []
    for line in path.read_bytes().splitlines():
        route, _, body = line.partition(b"\t")
        lines.append((route.decode(), body))
    return lines


def percentile(ordered: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of an ascending list."""
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q / 100 * len(ordered)) - 1))]


class Tally:
    """Latencies and unacknowledged requests of one run."""

    def __init__(self, lanes: int) -> None:
        self.latencies: list[float] = []
        self.issued = [0] * lanes
        self.failed: list[list[int]] = [[] for _ in range(lanes)]
        self.errors = 0
        self.non_2xx = 0

    async def post(
        self, session: aiohttp.ClientSession, url: str, body: bytes, lane: int, index: int, since: float
    ) -> None:
        try:
            async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                await resp.read()
                ok = 200 <= resp.status < 300
                self.non_2xx += not ok
        except (aiohttp.ClientError, TimeoutError):
            ok = False
            self.errors += 1
        self.latencies.append(time.perf_counter() - since)
        if not ok:
            self.failed[lane].append(index)

    def report(self, seconds: float, **extra: Any) -> dict[str, Any]:
        ordered = sorted(self.latencies)
        us = {f"p{q}".replace(".", ""): percentile(ordered, q) * 1e6 for q in (50, 90, 99, 99.9)}
        us["max"] = ordered[-1] * 1e6 if ordered else 0.0
        us["mean"] = sum(ordered) / len(ordered) * 1e6 if ordered else 0.0
        return {
            "requests": len(ordered), "duration_us": int(seconds * 1e6),
            "errors": {"connect": 0, "read": self.errors, "write": 0, "status": self.non_2xx, "timeout": 0},
            "latency_us": us,
            "threads": [{"id": k, "issued": n, "pending": -1, "failed": f}
                        for k, (n, f) in enumerate(zip(self.issued, self.failed, strict=True))],
            **extra,
        }  # fmt: skip


async def closed_loop(base: str, lanes: list[list[tuple[str, bytes]]], seconds: float) -> dict[str, Any]:
    tally = Tally(len(lanes))
    connector = aiohttp.TCPConnector(limit=len(lanes))
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as s:
        started = time.perf_counter()
        deadline = started + seconds

        async def lane_worker(k: int) -> None:
            lines = lanes[k]
            while time.perf_counter() < deadline:
                i = tally.issued[k]
                tally.issued[k] += 1
                route, body = lines[i % len(lines)]
                await tally.post(s, base + route, body, k, i, time.perf_counter())

        await asyncio.gather(*(lane_worker(k) for k in range(len(lanes))))
        return tally.report(time.perf_counter() - started)


async def open_loop(
    base: str, lines: list[tuple[str, bytes]], seconds: float, rate: float, connections: int
) -> dict[str, Any]:
    tally = Tally(1)
    total = int(rate * seconds)
    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)) as s:
        started = time.perf_counter()
        tasks = []
        late = 0.0
        for i in range(total):
            scheduled = started + i / rate
            delay = scheduled - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            else:
                late = max(late, -delay)
            route, body = lines[i % len(lines)]
            tally.issued[0] += 1
            tasks.append(asyncio.create_task(tally.post(s, base + route, body, 0, i, scheduled)))
        await asyncio.gather(*tasks)
        return tally.report(time.perf_counter() - started, rate=rate, scheduler_late_ms=late * 1000)


def main(argv: list[str]) -> int:
    url, lane_dir, connections, seconds = loopback_url(argv[0]), Path(argv[1]), int(argv[2]), float(argv[3])
    if len(argv) > 4:
        lines = read_lane(lane_dir / "0.txt")
        result = asyncio.run(open_loop(url, lines, seconds, float(argv[4]), connections))
    else:
        lanes = [read_lane(lane_dir / f"{k}.txt") for k in range(connections)]
        result = asyncio.run(closed_loop(url, lanes, seconds))
    print("BENCH_JSON " + json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
