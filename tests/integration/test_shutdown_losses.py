"""Immediate mode stopped while the database is away: the acknowledged events it cannot store are counted, logged
once and told by the exit code (the real server as a subprocess, its database cut by a relay)."""

from __future__ import annotations

import asyncio
import re
import signal
import time
import uuid
from pathlib import Path

import aiohttp
import asyncpg

from tests.dbproxy import DbProxy
from tests.integration.test_process import Server, free_port

REQUESTS = 30
STATUSES_PER_REQUEST = 10
EXIT_LOST = 3  # bluetick.server.EXIT_LOST, the documented code


def statuses(request: int) -> dict[str, object]:
    now = int(time.time())
    items = [
        {"id": f"wamid.shutdown.{request}.{n}", "status": "delivered", "timestamp": str(now)}
        for n in range(STATUSES_PER_REQUEST)
    ]
    return {"statuses": items}


async def stored(dsn: str, org: uuid.UUID) -> int:
    conn = await asyncpg.connect(dsn)
    try:
        count: int = await conn.fetchval("select count(*) from message_status_parked where org_id = $1", org)
        return count
    finally:
        await conn.close()


async def test_sigterm_with_the_database_away_counts_logs_and_exits_with_the_acknowledged_losses(
    dsn: str, tmp_path: Path
):
    org = uuid.uuid4()
    proxy = DbProxy(dsn)
    await proxy.start()
    log = tmp_path / "server.log"
    server = Server(
        proxy.dsn,
        free_port(),
        log,
        ACK_MODE="immediate",
        BATCH_MAX="100000",
        BATCH_INTERVAL_MS="600000",  # acknowledged events wait in the queue until the shutdown takes them
        SHUTDOWN_DRAIN_S="1",
    )
    server.start()
    try:
        await server.wait_ready()
        acknowledged = 0
        async with aiohttp.ClientSession() as session:
            for request in range(REQUESTS):
                async with session.post(f"{server.url}/webhooks/{org}", json=statuses(request)) as resp:
                    answer = await resp.json()
                    assert resp.status == 200 and answer["queued"] is True, answer
                    acknowledged += answer["statuses"]
        assert acknowledged == REQUESTS * STATUSES_PER_REQUEST
        await proxy.cut()
        assert server.proc is not None
        server.proc.send_signal(signal.SIGTERM)
        code = await asyncio.to_thread(server.proc.wait, 60)
    finally:
        server.stop()
        await proxy.cut()
    text = log.read_text()
    lost = acknowledged - await stored(dsn, org)
    assert lost == acknowledged  # the relay was cut before any batch went
    assert code == EXIT_LOST, text[-2000:]
    assert re.findall(r"shutdown lost=(\d+) ", text) == [str(lost)], text[-2000:]
