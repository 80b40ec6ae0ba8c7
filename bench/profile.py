"""Where the server's time goes under load: py-spy samples of its process, summed by frame and by area."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
from collections import Counter
from pathlib import Path
from typing import Any

from bench.load import NICE

RATE_HZ = 200
# The frames that hold everything (entry point, run_app, the event loop's own loop): left out of the
# inclusive ranking, which would otherwise start with them.
WRAPPERS = re.compile(
    r"^(<module>|main|run_command|run|_serve|run_app|BaseEventLoop\.(run_until_complete|run_forever|_run_once)"
    r"|Handle\._run) \((main\.py|bluetick/server\.py|aiohttp/web\.py|asyncio/.*)"
)
_FRAME = re.compile(r"^(?P<name>.*) \((?P<path>.*):(?P<line>\d+)\)$")
# Leaf frames are put in an area by their file; the first match wins.
AREAS = (
    ("bluetick/payloads/", "bluetick: payload parsing"),
    ("bluetick/pipeline.py", "bluetick: pipeline (queue, batcher)"),
    ("bluetick/store/", "bluetick: store (batch call)"),
    ("bluetick/", "bluetick: handlers, auth, events"),
    ("aiohttp/", "aiohttp: HTTP server and responses"),
    ("multidict/", "aiohttp: HTTP server and responses"),
    ("yarl/", "aiohttp: HTTP server and responses"),
    ("asyncpg/", "asyncpg: driver"),
    ("prometheus_client/", "prometheus_client: metrics"),
    ("json/", "json: encode and decode"),
    ("logging/", "logging"),
    ("asyncio/", "asyncio: event loop"),
    ("selectors.py", "asyncio: event loop"),
)


def available() -> bool:
    return shutil.which("py-spy") is not None


async def record(pid: int, seconds: int, out: Path) -> str:
    """Sample `pid` for `seconds` into `out` (collapsed stacks); py-spy's own last line of output."""
    proc = await asyncio.create_subprocess_exec(
        "nice", "-n", str(NICE), "py-spy", "record", "--pid", str(pid), "--duration", str(seconds),
        "--rate", str(RATE_HZ), "--format", "raw", "--function", "--nonblocking", "--output", str(out),
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
    )  # fmt: skip
    output, _ = await proc.communicate()
    lines = output.decode(errors="replace").strip().splitlines()
    return lines[0] if proc.returncode == 0 and lines else f"py-spy failed: {' '.join(lines)[-300:]}"


def short(frame: str) -> str:
    """`name (package/module.py:line)`, without the install prefix."""
    match = _FRAME.match(frame)
    if match is None:
        return frame
    path = match["path"]
    for marker in ("site-packages/", "/src/", "python3.11/", "/work/main/"):
        if marker in path:
            path = path.split(marker, 1)[1]
            break
    return f"{match['name']} ({path}:{match['line']})"


def area(frame: str) -> str:
    for marker, name in AREAS:
        if marker in frame:
            return name
    return "other (stdlib, C extensions)"


def summarize(raw: Path, top: int = 15) -> dict[str, Any]:
    """Top frames by own time and by inclusive time, and own time by area, as % of the samples taken."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    areas: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [short(f) for f in stack.split(";") if not f.startswith(("process ", "thread "))]
        if not frames:
            continue
        total += count
        own[frames[-1]] += count
        areas[area(frames[-1])] += count
        for frame in set(frames):
            inclusive[frame] += count

    def share(counter: Counter[str], n: int) -> list[tuple[str, float]]:
        return [(name, round(100 * c / total, 1)) for name, c in counter.most_common(n)]

    for frame in [f for f in inclusive if WRAPPERS.match(f)]:
        del inclusive[frame]
    if total == 0:
        return {"samples": 0, "own": [], "inclusive": [], "areas": []}
    return {
        "samples": total,
        "own": share(own, top),
        "inclusive": share(inclusive, top),
        "areas": share(areas, len(areas)),
    }
