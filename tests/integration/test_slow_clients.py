"""Slow clients cannot starve good ones (issue 22, slow clients): the real server, its descriptor limit set low,
is held by more slow connections than the limit (each trickling its request line or its body a byte at a time);
each is closed after CLIENT_TIMEOUT_S (a slow body with 408) and every good request is served."""

from __future__ import annotations

import asyncio
import os
import resource
import subprocess
import sys
import uuid
from pathlib import Path

import aiohttp

from tests.integration.test_process import ROOT, free_port

DESCRIPTORS = 128  # the server's limit, soft and hard
SLOW = 160  # more than the limit: without a timeout they would hold every descriptor
GOOD = 24
CLIENT_TIMEOUT_S = 2
BOUND_S = 60  # a bound on the whole test, not a timing assertion


def low_descriptor_limit() -> None:
    resource.setrlimit(resource.RLIMIT_NOFILE, (DESCRIPTORS, DESCRIPTORS))


async def slow_client(port: int, head: bytes, trickle: bytes) -> bytes:
    """Send `head` at once, then `trickle` a byte every 0.2 s until the server closes; return what it answered."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    answer = b""
    try:
        writer.write(head)
        for byte in trickle:
            writer.write(bytes([byte]))
            await writer.drain()
            try:
                chunk = await asyncio.wait_for(reader.read(65536), 0.2)
            except TimeoutError:
                continue
            if not chunk:  # closed by the server
                return answer
            answer += chunk
    except ConnectionError:
        return answer
    finally:
        writer.close()
    raise AssertionError("a slow client was never closed")


def start(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "main.py", "serve"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            preexec_fn=low_descriptor_limit,
        )


async def good_request(session: aiohttp.ClientSession, url: str) -> int:
    """A request that, like a BSP's, is tried again when its connection is refused or reset (uvloop resets what
    it cannot accept while every descriptor is taken)."""
    while True:
        try:
            async with session.get(url, headers={"Connection": "close"}) as resp:
                return resp.status
        except aiohttp.ClientError:
            await asyncio.sleep(0.2)


async def test_slow_clients_are_closed_after_the_timeout_and_good_requests_are_served(dsn: str, tmp_path: Path):
    port = free_port()
    log = tmp_path / "server.log"
    env = {
        **os.environ,
        "DATABASE_URL": dsn,
        "PORT": str(port),
        "HOST": "127.0.0.1",
        "ALLOW_UNSIGNED_WEBHOOKS": "true",
        "LOG_LEVEL": "info",
        "DB_POOL_SIZE": "2",
        "CLIENT_TIMEOUT_S": str(CLIENT_TIMEOUT_S),
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT / "src"), os.environ.get("PYTHONPATH")])),
    }
    proc = start(env, log)
    url = f"http://127.0.0.1:{port}"
    try:
        async with asyncio.timeout(BOUND_S), aiohttp.ClientSession() as session:
            for _ in range(300):
                if await good_request(session, f"{url}/readyz") == 200:
                    break
                await asyncio.sleep(0.1)
            org = uuid.uuid4()
            slow_head = f"POST /webhooks/{org} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n".encode()
            slow = [
                asyncio.create_task(slow_client(port, b"", slow_head * 4))
                if i % 2
                else asyncio.create_task(slow_client(port, slow_head, b"{" * 1000))
                for i in range(SLOW)
            ]
            await asyncio.sleep(0.5)  # the slow ones hold the descriptors first
            good = await asyncio.gather(*(good_request(session, f"{url}/healthz") for _ in range(GOOD)))
            answers = await asyncio.gather(*slow)
    finally:
        proc.kill()
        proc.wait()
    text = log.read_text()
    assert f"descriptor limit soft={DESCRIPTORS} hard={DESCRIPTORS}" in text
    assert good == [200] * GOOD
    slow_bodies = answers[0::2]
    assert all(a.startswith(b"HTTP/1.1 408 ") or a == b"" for a in slow_bodies)
    assert any(a.startswith(b"HTTP/1.1 408 ") for a in slow_bodies)
