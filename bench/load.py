"""Drive load at a server: wrk (bench/wrk.lua) when installed, else bench/loadgen.py; both niced.

Both send the posts of a simulator plan, one lane (a list of posts sent in order) per connection, and report
which posts were issued and which were not acknowledged with a 2xx, so the correctness check knows exactly
which events the service was given.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import math
import re
import resource
import shutil
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench import ROOT
from simulator.plan import Post

WRK_LUA = ROOT / "bench" / "wrk.lua"
# The load generator runs at a lower priority than the server and Postgres: on 2 cores, whatever CPU they
# need comes first, and the generator gets the rest (its share is measured and reported with each run).
NICE = 10
OVERRUN_S = 60  # a load run that has not ended this long after its duration is killed
WRK_TIMEOUT_S = 10  # longer than ACK_TIMEOUT_MS, so a slow durable answer is a latency, not an error


@dataclass(frozen=True)
class LoadResult:
    """One load run: what was answered, how fast, and which posts stayed unacknowledged."""

    tool: str
    seconds: float
    requests: int
    latency_ms: dict[str, float]
    errors: int
    non_2xx: int
    issued: list[int]  # per lane, how many requests were started
    unacked: list[tuple[int, int]]  # (lane, request number) answered with no 2xx, or not at all
    loadgen_cpu_s: float
    extra: dict[str, Any]

    @property
    def rate(self) -> float:
        """Requests answered with a 2xx per second (a 503 is not a webhook taken)."""
        return (self.requests - self.non_2xx) / self.seconds if self.seconds else 0.0

    @property
    def answer_rate(self) -> float:
        """Every answer per second, 503s included."""
        return self.requests / self.seconds if self.seconds else 0.0

    def issued_posts(self, lanes: Sequence[Sequence[int]]) -> set[int]:
        """The posts (plan indices) at least one request carried."""
        found: set[int] = set()
        for lane, n in zip(lanes, self.issued, strict=True):
            found.update(lane[: min(n, len(lane))])
        return found

    def unacked_posts(self, lanes: Sequence[Sequence[int]]) -> set[int]:
        return {lanes[k][i % len(lanes[k])] for k, i in self.unacked}


def wrk_version() -> str | None:
    """`wrk 4.1.0 ...` when wrk is installed, else None."""
    if shutil.which("wrk") is None:
        return None
    out = subprocess.run(["wrk", "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).splitlines()
    return first[0].split(" Copyright")[0] if first else "wrk"


def lanes_of(posts: Sequence[int], count: int) -> list[list[int]]:
    """Deal `posts` (in order) round-robin into `count` lanes, so every lane keeps the plan's order."""
    return [list(posts[k::count]) for k in range(count)]


def write_lanes(directory: Path, posts: Sequence[Post], lanes: Sequence[Sequence[int]]) -> Path:
    """One file per lane, a line `<path>\\t<body>` per post."""
    directory.mkdir(parents=True, exist_ok=True)
    for k, lane in enumerate(lanes):
        with (directory / f"{k}.txt").open("wb") as out:
            for p in lane:
                out.write(posts[p].path.encode() + b"\t" + posts[p].body + b"\n")
    return directory


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


async def _run(tool: str, argv: list[str], seconds: float) -> LoadResult:
    before = _children_cpu()
    proc = await asyncio.create_subprocess_exec(
        "nice", "-n", str(NICE), *argv, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        out, err = await asyncio.wait_for(proc.communicate(), seconds + OVERRUN_S)
    except TimeoutError:
        proc.kill()
        await proc.wait()
        raise RuntimeError(f"{tool} ran past {seconds + OVERRUN_S:.0f}s and was stopped") from None
    cpu = _children_cpu() - before
    match = re.search(rb"^BENCH_JSON (.*)$", out, re.MULTILINE)
    if proc.returncode != 0 or match is None:
        raise RuntimeError(f"{tool} failed ({proc.returncode}): {err.decode()[-1500:]} {out.decode()[-500:]}")
    doc: dict[str, Any] = json.loads(match.group(1))
    errors = doc["errors"]
    unacked = [(t["id"], i) for t in doc["threads"] for i in t["failed"]]
    unacked += [(t["id"], t["pending"]) for t in doc["threads"] if t["pending"] >= 0]
    lat = doc["latency_us"]
    return LoadResult(
        tool=tool,
        seconds=doc["duration_us"] / 1e6,
        requests=doc["requests"],
        latency_ms={k: float(lat[k]) / 1000 for k in ("p50", "p90", "p99", "p999", "max", "mean")},
        errors=errors["connect"] + errors["read"] + errors["write"] + errors["timeout"],
        non_2xx=errors["status"],
        issued=[t["issued"] for t in sorted(doc["threads"], key=lambda t: t["id"])],
        unacked=unacked,
        loadgen_cpu_s=cpu,
        extra={k: v for k, v in doc.items() if k in ("rate", "scheduler_late_ms")},
    )


async def closed_loop(url: str, lane_dir: Path, connections: int, seconds: float, use_wrk: bool) -> LoadResult:
    """As many requests as `connections` connections can get answered in `seconds`, each lane in order."""
    if use_wrk:
        argv = [
            "wrk",
            f"-t{connections}",
            f"-c{connections}",
            f"-d{math.ceil(seconds)}s",
            f"--timeout={WRK_TIMEOUT_S}s",
            "-s",
            str(WRK_LUA),
            url,
            "--",
            str(lane_dir),
        ]
        return await _run("wrk", argv, seconds)
    argv = [sys.executable, "-m", "bench.loadgen", url, str(lane_dir), str(connections), str(seconds)]
    return await _run("python", argv, seconds)


async def closed_loop_split(
    urls: Sequence[str], lane_dirs: Sequence[Path], connections: Sequence[int], seconds: float, use_wrk: bool
) -> LoadResult:
    """One closed-loop generator per URL at once (`connections[i]` lanes from `lane_dirs[i]`), added up."""
    before = _children_cpu()  # the runs overlap, so their own CPU deltas would count each other: measure once
    runs = await asyncio.gather(
        *(closed_loop(url, d, n, seconds, use_wrk) for url, d, n in zip(urls, lane_dirs, connections, strict=True))
    )
    return combine(list(runs), _children_cpu() - before)


def combine(runs: Sequence[LoadResult], loadgen_cpu_s: float) -> LoadResult:
    """Runs over consecutive groups of lanes as one run over all lanes; each latency figure is the runs' worst."""
    offsets = [sum(len(r.issued) for r in runs[:k]) for k in range(len(runs))]
    requests = sum(r.requests for r in runs)
    latency = {k: max(r.latency_ms[k] for r in runs) for k in runs[0].latency_ms}
    latency["mean"] = sum(r.latency_ms["mean"] * r.requests for r in runs) / max(requests, 1)
    return LoadResult(
        tool=f"{runs[0].tool} x{len(runs)}", seconds=max(r.seconds for r in runs), requests=requests,
        latency_ms=latency, errors=sum(r.errors for r in runs), non_2xx=sum(r.non_2xx for r in runs),
        issued=[n for r in runs for n in r.issued],
        unacked=[(lane + off, i) for r, off in zip(runs, offsets, strict=True) for lane, i in r.unacked],
        loadgen_cpu_s=loadgen_cpu_s, extra={},
    )  # fmt: skip


async def open_loop(
    url: str, lane_dir: Path, connections: int, seconds: float, rate: float, use_wrk: bool
) -> LoadResult:
    """`rate` requests per second on a fixed schedule; latency counted from each request's due time.

    wrk: every connection sends its lane at rate/connections per second. Python: lane 0 only, at `rate`.
    """
    if use_wrk:
        argv = [
            "wrk",
            f"-t{connections}",
            f"-c{connections}",
            f"-d{math.ceil(seconds)}s",
            f"--timeout={WRK_TIMEOUT_S}s",
            "-s",
            str(WRK_LUA),
            url,
            "--",
            str(lane_dir),
            str(rate / connections),
        ]
        result = await _run("wrk-open-loop", argv, seconds)
    else:
        argv = [sys.executable, "-m", "bench.loadgen", url, str(lane_dir), str(connections), str(seconds), str(rate)]
        result = await _run("python-open-loop", argv, seconds)
    return dataclasses.replace(result, extra={**result.extra, "rate": rate})
