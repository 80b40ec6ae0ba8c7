"""A batch the database refuses: the good requests in it are stored, each refused one's body is kept in the webhook
inbox with the reason, and nothing is dropped silently, in both acknowledgement modes (real Postgres refusals: a
time zone offset Python allows and Postgres does not, and a check constraint)."""

from __future__ import annotations

import asyncio
import json
import logging
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta, timezone

import asyncpg
import pytest

from bluetick import inbox
from bluetick.events import Fact, Message, StatusEvent
from bluetick.inbox import received
from bluetick.pipeline import Kept, Pipeline, PipelineSettings, Rejected
from bluetick.store.postgres import PostgresStore
from bluetick.store.records import BatchResult, InboxItem, KeptBody
from tests.conftest import make_settings, start_client
from tests.integration.test_observability import sample

AT = datetime(2024, 10, 3, 10, 30, tzinfo=UTC)
FAR_EAST = timezone(timedelta(hours=20))  # a valid offset in Python; Postgres refuses it (22009)
GOOD = [f"wamid.good.{n}" for n in range(4)]


class RecordingStore(PostgresStore):
    """The real store, recording how many statuses each batch it applies holds."""

    calls: list[int]

    async def apply_batch(
        self,
        messages: list[Message],
        statuses: list[StatusEvent],
        inbox: Sequence[InboxItem] = (),
        facts: Sequence[Fact] = (),
    ) -> BatchResult:
        self.calls.append(len(statuses))
        return await super().apply_batch(messages, statuses, inbox, facts)


@pytest.fixture
async def recording(dsn: str) -> AsyncIterator[RecordingStore]:
    store = await RecordingStore.connect(dsn, pool_size=2, timeout_s=10)
    store.calls = []
    yield store
    await store.close()


def body_of(org: uuid.UUID, msg_id: str, at: datetime = AT) -> tuple[bytes, KeptBody]:
    raw = json.dumps({"statuses": [{"id": msg_id, "recipient_id": "919876543210"}]}).encode()
    return raw, received(org, "meta", raw, "application/json", at)


async def parked(pg: asyncpg.Connection, org: uuid.UUID) -> set[str]:
    rows = await pg.fetch("select bsp_msg_id from message_status_parked where org_id = $1", org)
    return {r["bsp_msg_id"] for r in rows}


async def kept(pg: asyncpg.Connection, org: uuid.UUID) -> list[asyncpg.Record]:
    return await pg.fetch("select reason, detail, format, body from webhook_inbox where org_id = $1", org)


@pytest.mark.parametrize("wait", [True, False], ids=["durable", "immediate"])
async def test_a_refused_request_is_kept_in_the_inbox_and_the_good_requests_in_its_batch_are_stored(
    recording: RecordingStore, pg: asyncpg.Connection, org: uuid.UUID, wait: bool
):
    flow = Pipeline(recording, PipelineSettings(batch_max=500, batch_interval_s=0, queue_max=1000, workers=1,
                                                drain_timeout_s=10))  # fmt: skip
    flow.start()
    bad_raw, bad_body = body_of(org, "wamid.bad")
    try:
        pending = []
        for msg_id in [*GOOD[:2], "wamid.bad", *GOOD[2:]]:  # queued before the worker runs: one batch
            ts = AT.astimezone(FAR_EAST) if msg_id == "wamid.bad" else AT
            body = bad_body if msg_id == "wamid.bad" else body_of(org, msg_id)[1]
            pending.append(flow.submit([], [StatusEvent(org, msg_id, "delivered", ts)], wait=wait, body=body))
        if wait:
            answers = await asyncio.wait_for(asyncio.gather(*pending, return_exceptions=True), 30)  # type: ignore[arg-type]
            assert [type(a) for a in answers] == [dict, dict, Kept, dict, dict]
            assert "22009" in str(answers[2])
    finally:
        await flow.close()
    assert recording.calls[0] == 5  # the five went to Postgres together and were refused together
    assert await parked(pg, org) == set(GOOD)
    [row] = await kept(pg, org)
    assert (row["reason"], row["format"], bytes(row["body"])) == ("refused", "meta", bad_raw)
    assert row["detail"].startswith("22009: time zone displacement out of range")
    assert flow.lost == 0


async def test_a_refused_request_whose_body_is_refused_too_is_logged_and_counted(
    recording: RecordingStore, pg: asyncpg.Connection, org: uuid.UUID, caplog: pytest.LogCaptureFixture
):
    flow = Pipeline(recording, PipelineSettings(batch_max=500, batch_interval_s=0, queue_max=1000, workers=1,
                                                drain_timeout_s=10))  # fmt: skip
    flow.start()
    refused_before = sample("bluetick_events_total", outcome="refused")
    lost_before = sample("bluetick_events_total", outcome="lost")
    _, body = body_of(org, "wamid.bad", AT.astimezone(FAR_EAST))  # its received_at is refused as well
    caplog.set_level(logging.WARNING, logger="bluetick.pipeline")
    try:
        flow.submit([], [StatusEvent(org, "wamid.good", "delivered", AT)], wait=False, body=body_of(org, "x")[1])
        flow.submit([], [StatusEvent(org, "wamid.bad", "read", AT.astimezone(FAR_EAST))], wait=False, body=body)
        durable = flow.submit([], [StatusEvent(org, "wamid.bad2", "read", AT.astimezone(FAR_EAST))], wait=True)
        with pytest.raises(Rejected, match="22009"):  # no body to keep (the logging API): the caller hears of it
            await asyncio.wait_for(durable, 30)  # type: ignore[arg-type]
    finally:
        await flow.close()
    assert await parked(pg, org) == {"wamid.good"}
    assert await kept(pg, org) == []
    lines = [r.getMessage() for r in caplog.records if "its body not kept" in r.getMessage()]
    assert len(lines) == 1 and f"org={org}" in lines[0] and "22009" in lines[0]
    assert "9876543210" not in caplog.text
    assert sample("bluetick_events_total", outcome="refused") == refused_before + 2
    assert sample("bluetick_events_total", outcome="lost") == lost_before + 1


@asynccontextmanager
async def refusing(pg: asyncpg.Connection, org: uuid.UUID, msg_id: str) -> AsyncIterator[None]:
    """A check constraint under which Postgres refuses (23514) any status of `msg_id` in `org` parked."""
    name = f"refuse_{org.hex}"
    await pg.execute(
        f"alter table message_status_parked add constraint {name} "
        f"check (org_id <> '{org}'::uuid or bsp_msg_id <> '{msg_id}') not valid"
    )
    try:
        yield
    finally:
        await pg.execute(f"alter table message_status_parked drop constraint {name}")


def statuses_doc(msg_id: str) -> dict[str, object]:
    return {"statuses": [{"id": msg_id, "status": "delivered", "timestamp": "1727951400"}]}


@pytest.mark.parametrize("ack_mode", ["durable", "immediate"])
async def test_a_webhook_the_database_refuses_is_kept_with_the_reason_and_the_good_ones_beside_it_stored(
    dsn: str, pg: asyncpg.Connection, org: uuid.UUID, ack_mode: str
):
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    # the batch waits until it holds all four requests, so the refused one goes with the three good ones
    settings = make_settings(dsn, ack_mode=ack_mode, batch_max=4, batch_interval_ms=60_000, ack_timeout_ms=30_000)
    client = await start_client(settings, store)
    ids = [*GOOD[:3], "wamid.refused"]
    try:
        async with refusing(pg, org, "wamid.refused"):
            answers = await asyncio.gather(*(client.post(f"/webhooks/{org}", json=statuses_doc(i)) for i in ids))
            docs = [await a.json() for a in answers]
            assert [a.status for a in answers] == [200] * 4, docs
            if ack_mode == "durable":
                assert [d["kept"] for d in docs] == [False, False, False, "refused"]
                assert [d["stored"] for d in docs] == [True, True, True, False]
            else:
                assert [d["queued"] for d in docs] == [True] * 4
            await client.close()  # drains the queue
    finally:
        await client.close()
        await store.close()
    assert await parked(pg, org) == set(GOOD[:3])
    [row] = await kept(pg, org)
    assert row["reason"] == "refused" and row["detail"].startswith("23514: ")
    assert json.loads(bytes(row["body"])) == statuses_doc("wamid.refused")


async def test_a_replay_leaves_a_body_the_database_still_refuses_kept_and_replays_the_others(
    dsn: str, pg: asyncpg.Connection, org: uuid.UUID
):
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    raws = [json.dumps(statuses_doc(msg_id)).encode() for msg_id in ("wamid.refused", "wamid.fine")]
    try:
        await store.apply_batch([], [], [received(org, "unknown", raw, "application/json", AT) for raw in raws])
        async with refusing(pg, org, "wamid.refused"):
            report = await inbox.replay(store, org, None)
    finally:
        await store.close()
    assert (report.bodies, report.replayed, report.still_kept, report.refused) == (2, 1, 1, 1)
    assert await parked(pg, org) == {"wamid.fine"}
    rows = await pg.fetch("select body, reason, detail, replayed_at from webhook_inbox where org_id = $1", org)
    left = {bytes(r["body"]): r for r in rows}
    assert left[raws[1]]["replayed_at"] is not None
    assert left[raws[0]]["replayed_at"] is None and left[raws[0]]["reason"] == "refused"
    assert left[raws[0]]["detail"].startswith("23514: ")
