"""The real server as a subprocess under load: SIGTERM drains and exits 0; kill -9 loses nothing acknowledged."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

from tests.conftest import payload

ROOT = Path(__file__).resolve().parents[2]
WORKERS = 32
MAX_REQUESTS = 50_000  # bound on the load, whatever happens
MAX_SECONDS = 20.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class Server:
    def __init__(self, dsn: str, port: int, log: Path, **env: str) -> None:
        self.url = f"http://127.0.0.1:{port}"
        self._env = {
            **os.environ,
            "DATABASE_URL": dsn,
            "PORT": str(port),
            "HOST": "127.0.0.1",
            "ALLOW_UNSIGNED_WEBHOOKS": "true",
            "LOG_LEVEL": "warning",
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
            **env,
        }
        self._log = log
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self, *args: str) -> None:
        with self._log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "main.py", "serve", *args],
                cwd=ROOT,
                env=self._env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )

    async def wait_ready(self, in_a_row: int = 1) -> None:
        """Until `in_a_row` answers on fresh connections are ready (with workers, each is asked)."""
        ready = 0
        async with aiohttp.ClientSession() as session:
            for _ in range(300):
                try:
                    async with session.get(f"{self.url}/readyz", headers={"Connection": "close"}) as resp:
                        ready = ready + 1 if resp.status == 200 else 0
                except aiohttp.ClientError:
                    ready = 0
                if ready >= in_a_row:
                    return
                await asyncio.sleep(0.02 if ready else 0.1)
        raise AssertionError(f"server never became ready; log: {self._log.read_text()[-2000:]}")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()


@pytest.fixture
def servers(tmp_path: Path) -> Iterator[list[Server]]:
    started: list[Server] = []
    yield started
    for server in started:
        server.stop()


def inbound(msg_id: str) -> dict[str, Any]:
    doc = payload("meta_inbound_text.json")
    doc["entry"][0]["changes"][0]["value"]["messages"][0]["id"] = msg_id
    return doc


async def load(url: str, org: uuid.UUID, stop_after: float, on_time: Any) -> set[str]:
    """Post distinct inbound messages from WORKERS connections; calls `on_time()` once after `stop_after`
    seconds; returns the ids answered 200. Ends when the server stops answering or a bound is reached."""
    acked: set[str] = set()
    counter = iter(range(MAX_REQUESTS))
    deadline = time.monotonic() + MAX_SECONDS

    async def worker(session: aiohttp.ClientSession) -> None:
        failures = 0
        while time.monotonic() < deadline and failures < 20:
            n = next(counter, None)
            if n is None:
                return
            msg_id = f"wamid.load.{n}"
            try:
                async with session.post(f"{url}/webhooks/{org}", json=inbound(msg_id)) as resp:
                    if resp.status == 200:
                        acked.add(msg_id)
            except aiohttp.ClientError:
                failures += 1
                await asyncio.sleep(0.05)

    async def trigger() -> None:
        await asyncio.sleep(stop_after)
        on_time()

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as session:
        await asyncio.gather(trigger(), *(worker(session) for _ in range(WORKERS)))
    return acked


async def stored(dsn: str, org: uuid.UUID) -> set[str]:
    conn = await asyncpg.connect(dsn)
    try:
        return {r["bsp_msg_id"] for r in await conn.fetch("select bsp_msg_id from message_logs where org_id = $1", org)}
    finally:
        await conn.close()


@pytest.mark.parametrize("event_loop", ["uvloop", "asyncio"])
async def test_sigterm_under_load_drains_and_exits_0(dsn: str, tmp_path: Path, servers: list[Server], event_loop: str):
    org = uuid.uuid4()
    server = Server(
        dsn,
        free_port(),
        tmp_path / "server.log",
        ACK_MODE="immediate",
        BATCH_MAX="100000",
        BATCH_INTERVAL_MS="5000",  # acknowledged events wait in the queue
        EVENT_LOOP=event_loop,  # each loop handles SIGTERM its own way
    )
    servers.append(server)
    server.start()
    await server.wait_ready()
    assert server.proc is not None
    acked = await load(server.url, org, random.uniform(0.3, 1.0), lambda: server.proc.send_signal(signal.SIGTERM))
    code = await asyncio.to_thread(server.proc.wait, 60)
    assert code == 0, (server._log.read_text())[-2000:]
    assert acked, "the load never got an answer"
    assert acked <= await stored(dsn, org)


async def test_kill_9_under_load_loses_nothing_acknowledged_in_durable_mode(
    dsn: str, tmp_path: Path, servers: list[Server]
):
    org = uuid.uuid4()
    port = free_port()
    first = Server(dsn, port, tmp_path / "first.log", ACK_MODE="durable")
    servers.append(first)
    first.start()
    await first.wait_ready()
    assert first.proc is not None
    acked = await load(first.url, org, random.uniform(0.3, 1.0), first.proc.kill)
    assert first.proc.wait(10) == -signal.SIGKILL
    assert acked, "the load never got an answer"
    second = Server(dsn, port, tmp_path / "second.log", ACK_MODE="durable")
    servers.append(second)
    second.start()
    await second.wait_ready()
    assert acked <= await stored(dsn, org)


async def test_two_workers_share_the_port_add_up_their_metrics_and_stop_on_sigterm(
    dsn: str, tmp_path: Path, servers: list[Server]
):
    org = uuid.uuid4()
    server = Server(dsn, free_port(), tmp_path / "workers.log", ACK_MODE="durable")
    servers.append(server)
    server.start("--workers", "2")
    await server.wait_ready(in_a_row=20)
    assert server.proc is not None
    async with aiohttp.ClientSession() as session:
        for n in range(40):  # fresh connections, so the kernel spreads them over both workers
            async with session.post(
                f"{server.url}/webhooks/{org}", json=inbound(f"wamid.w{n}"), headers={"Connection": "close"}
            ) as resp:
                assert resp.status == 200
        async with session.get(f"{server.url}/metrics") as resp:
            text = await resp.text()
    stored_total = sum(
        float(line.split()[-1])
        for line in text.splitlines()
        if line.startswith('bluetick_webhooks_total{format="meta",result="stored"}')
    )
    assert stored_total == 40
    server.proc.send_signal(signal.SIGTERM)
    assert await asyncio.to_thread(server.proc.wait, 60) == 0
    assert len(await stored(dsn, org)) == 40
