"""Processes under test: start a server, wait until it answers, read its CPU time and memory from /proc."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

from bench import ROOT

CLK_TCK = os.sysconf("SC_CLK_TCK")
STOP_TIMEOUT_S = 30
# Settings a developer's environment or .env could hold that would change what is measured; the servers
# get them empty (python-dotenv does not override a variable that is set, even to "").
NEUTRALISED = (
    "API_TOKEN", "META_APP_SECRET", "AISENSY_WEBHOOK_SECRET", "TWILIO_AUTH_TOKEN", "WEBHOOK_URL_TOKEN",
    "WEBHOOK_VERIFY_TOKEN",
    "SUPABASE_URL", "SUPABASE_SERVICE_ROLE_KEY", "DATABASE_POOLED", "BATCH_MAX", "BATCH_INTERVAL_MS", "QUEUE_MAX",
    "FLUSH_WORKERS", "DB_POOL_SIZE", "ACK_TIMEOUT_MS", "BLUETICK_DATA_DIR",
)  # fmt: skip
REMOVED = ("PROMETHEUS_MULTIPROC_DIR",)  # its mere presence switches metrics to multi-process mode


def _stat_fields(pid: int) -> list[str]:
    raw = Path(f"/proc/{pid}/stat").read_text()
    return raw[raw.rindex(")") + 2 :].split()  # fields from the 3rd on (the name may hold spaces)


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of `pid` so far; 0 when it is gone."""
    try:
        fields = _stat_fields(pid)
    except (OSError, ValueError):
        return 0.0
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                parents.setdefault(int(_stat_fields(int(entry.name))[1]), []).append(int(entry.name))
            except (OSError, ValueError, IndexError):
                continue
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(parents.get(current, []))
    return found


def trees(roots: Sequence[int]) -> list[int]:
    """Every process of the trees below `roots`."""
    return [p for root in roots for p in descendants(root)]


def rss_mb(pids: list[int]) -> float:
    """Resident memory of `pids` added up, in MiB."""
    total_kb = 0
    for pid in pids:
        try:
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total_kb += int(line.split()[1])
        except OSError:
            continue
    return total_kb / 1024


def machine_jiffies() -> tuple[int, int]:
    """(busy, total) CPU jiffies of the whole machine since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]  # idle + iowait
    return sum(values) - idle, sum(values)


@dataclass
class CpuWatch:
    """CPU seconds used by groups of process trees between `start` and `stop`, and by the whole machine."""

    roots: dict[str, Sequence[int]]  # a group is the process trees of one or more roots
    _before: dict[int, float] = field(default_factory=dict)
    _machine: tuple[int, int] = (0, 0)
    _started: float = 0.0

    def start(self) -> None:
        self._before = {p: cpu_seconds(p) for roots in self.roots.values() for p in trees(roots)}
        self._machine = machine_jiffies()
        self._started = time.perf_counter()

    def stop(self) -> dict[str, float]:
        """Share of one core each group used (1.0 = one full core), plus `machine` (all cores, all processes)."""
        seconds = max(time.perf_counter() - self._started, 1e-9)
        shares = {}
        for name, roots in self.roots.items():
            used = sum(cpu_seconds(p) - self._before.get(p, 0.0) for p in trees(roots))
            shares[name] = used / seconds
        busy, total = machine_jiffies()
        cores = os.cpu_count() or 1
        shares["machine"] = cores * (busy - self._machine[0]) / max(total - self._machine[1], 1)
        return shares


def postmaster_pid(pgdata: Path) -> int:
    return int((pgdata / "postmaster.pid").read_text().splitlines()[0])


class Server:
    """A server under test as a subprocess on 127.0.0.1:`port`, its output in `log`."""

    def __init__(self, name: str, argv: list[str], port: int, log: Path, env: dict[str, str] | None = None) -> None:
        self.name = name
        self.argv = argv
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = log
        inherited = {k: v for k, v in os.environ.items() if k not in REMOVED}
        src = os.pathsep.join(filter(None, [str(ROOT / "src"), inherited.get("PYTHONPATH")]))  # main.py, uninstalled
        self.env = {**inherited, "PYTHONPATH": src, **{k: "" for k in NEUTRALISED}, **(env or {})}
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(self.argv, cwd=ROOT, env=self.env, stdout=out, stderr=subprocess.STDOUT)

    async def wait_ready(self, path: str, timeout_s: float = 60) -> None:
        deadline = time.monotonic() + timeout_s
        async with aiohttp.ClientSession() as session:
            while time.monotonic() < deadline:
                if self.proc is not None and self.proc.poll() is not None:
                    break
                try:
                    async with session.get(self.url + path) as resp:
                        if resp.status == 200:
                            return
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{self.name} did not become ready; its log: {self.log.read_text()[-2000:]}")

    def stop(self) -> int | None:
        """SIGTERM (the service drains its queue), then SIGKILL after STOP_TIMEOUT_S; the exit code."""
        if self.proc is None or self.proc.poll() is not None:
            return None if self.proc is None else self.proc.returncode
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()
