"""kill -9 of the service between commit and delivery (issue 24, push): the real server as a subprocess
(`python main.py serve`) against the test database, its delivery in flight to a receiver that holds it; after the
kill, a restart and a second replica, every committed change is delivered at least once, in order, and the only
event received twice is the one in flight at the kill."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from pathlib import Path

import aiohttp
import asyncpg
from standardwebhooks import Webhook

from tests.integration.test_delivery import Receiver
from tests.integration.test_process import Server, free_port, inbound

TOKEN = "crash-api-token-5e1b"
MESSAGES = 24


def serving(dsn: str, log: Path) -> Server:
    return Server(
        dsn,
        free_port(),
        log,
        API_TOKEN=TOKEN,
        SUBSCRIPTIONS_ALLOW_PRIVATE="true",
        WEBHOOK_TIMEOUT_S="60",  # the held delivery is still in flight at the kill
        EVENT_LOOP="asyncio",
        LOG_LEVEL="info",  # the batches' lines, checked to hold no secret
    )


async def test_kill_9_between_commit_and_delivery_loses_no_delivery(dsn: str, pg: asyncpg.Connection, tmp_path: Path):
    org = uuid.uuid4()
    receiver = Receiver(default="hang")
    await receiver.start()
    log = tmp_path / "server.log"
    first, second, restarted = serving(dsn, log), serving(dsn, log), serving(dsn, log)
    try:
        first.start()
        await first.wait_ready()
        bearer = {"Authorization": f"Bearer {TOKEN}"}
        async with aiohttp.ClientSession() as session:
            body = {"url": receiver.url, "events": ["message.received"]}
            async with session.post(f"{first.url}/v1/orgs/{org}/subscriptions", json=body, headers=bearer) as resp:
                assert resp.status == 201, await resp.text()
                secret = (await resp.json())["secret"]
            for n in range(MESSAGES):  # durable mode: each answered 200 once committed
                async with session.post(f"{first.url}/webhooks/{org}", json=inbound(f"wamid.crash.{n}")) as resp:
                    assert resp.status == 200, await resp.text()
        committed = [str(r["id"]) for r in await pg.fetch(
            "select id from bluetick_events where org_id = $1 order by xid, id", org
        )]  # fmt: skip
        assert len(committed) == MESSAGES
        await asyncio.wait_for(receiver.arrived.wait(), 30)  # the first delivery is in flight, held
        assert first.proc is not None
        first.proc.kill()  # kill -9
        await asyncio.to_thread(first.proc.wait, 30)
        assert receiver.accepted == []
        lease = await pg.fetchval("select lease_until > now() from webhook_subscriptions where org_id = $1", org)
        assert lease is True  # the dead process's lease: nothing else may deliver until it runs out
        receiver.default = 200
        receiver.release.set()  # the held request ends; its sender is gone
        restarted.start()
        second.start()
        await restarted.wait_ready()
        await second.wait_ready()
        # a minute later: the lease has run out (LEASE, 60 s), any replica may claim the subscription again
        await pg.execute("update webhook_subscriptions set lease_until = now() where org_id = $1", org)
        accepted = await receiver.wait_for(MESSAGES, timeout_s=60)
        await asyncio.sleep(1.0)  # a duplicate would come now
    finally:
        for server in (first, second, restarted):
            server.stop()
        await receiver.close()
    assert [d.event_id for d in accepted] == committed  # every committed change once acknowledged, in order
    for delivery in accepted:
        Webhook(secret).verify(delivery.body, delivery.headers)
    received = Counter(d.event_id for d in receiver.requests)
    assert {event for event, times in received.items() if times > 1} <= {committed[0]}  # only the one in flight
    text = log.read_text()
    assert "webhooks delivered" in text and TOKEN not in text and secret[6:] not in text and "whsec_" not in text
    state = await pg.fetchrow("select * from webhook_subscriptions where org_id = $1", org)
    assert state["disabled_at"] is None and state["cursor_id"] == int(committed[-1])
    await pg.execute("delete from webhook_subscriptions where org_id = $1", org)
