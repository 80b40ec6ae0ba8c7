"""The pipeline against Postgres: a batch too big for the lock table is split, a bad item never stops a worker,
what arrives while a batch is applied goes in the next one (group commit)."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bluetick import pipeline
from bluetick.events import Fact, Message, StatusEvent
from bluetick.inbox import InboxItem
from bluetick.pipeline import Pipeline, PipelineSettings
from bluetick.store import BatchResult, ResourceError, Store
from bluetick.store.postgres import PostgresStore
from tests.conftest import fetch_row, make_settings, payload, start_client

AT = datetime(2024, 10, 3, 10, 30, tzinfo=UTC)


def aisensy(receipt: str, topic: str, msg_id: str) -> dict[str, object]:
    doc = payload("aisensy_inbound.json" if topic == "message.sender.user" else "aisensy_status_read.json")
    doc["id"] = receipt
    doc["data"]["message"]["messageId"] = msg_id  # type: ignore[index]
    return doc


async def test_a_reused_delivery_id_naming_another_message_does_not_stop_the_pipeline(
    http: TestClient, db: asyncpg.Connection, org: uuid.UUID
):
    assert (await http.post(f"/webhooks/{org}", json=aisensy("R1", "message.status.updated", "wamid.X"))).status == 200
    assert (await http.post(f"/webhooks/{org}", json=aisensy("R1", "message.sender.user", "wamid.Y"))).status == 200
    assert (await fetch_row(db, org, "wamid.Y"))["direction"] == "INBOUND"
    for n in range(3):  # both flush workers still serve
        assert (
            await http.post(f"/webhooks/{org}", json=aisensy(f"R{n + 2}", "message.sender.user", f"wamid.Z{n}"))
        ).status == 200


async def test_a_webhook_larger_than_the_database_lock_table_is_stored_in_parts(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    """25 000 statuses in one post used to exceed max_locks_per_transaction, and be retried for ever."""
    client = await start_client(make_settings(dsn, max_body_bytes=4_000_000), store)
    items = [{"id": f"w{i}", "status": "sent", "timestamp": 1727951400} for i in range(25_000)]
    try:
        resp = await client.post(f"/webhooks/{org}", json={"statuses": items})
        assert resp.status == 200
    finally:
        await client.close()
    assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 25_000


async def test_a_transaction_over_the_lock_limit_is_a_resource_error_to_split(dsn: str, org: uuid.UUID):
    store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=30)
    try:
        with pytest.raises(ResourceError, match="53200"):
            await store.apply_batch([], [StatusEvent(org, f"w{i}", "sent", AT) for i in range(30_000)])
    finally:
        await store.close()


async def test_a_delivery_split_into_parts_keeps_every_status_and_a_retry_still_changes_nothing(
    dsn: str, store: Store, db: asyncpg.Connection, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, batch_max=1), store)
    try:
        doc = aisensy("R-split", "message.status.updated", "wamid.SPLIT")
        await client.post(f"/v1/orgs/{org}/messages", json={"bsp_msg_id": "wamid.SPLIT", "to_phone": "+919876543210"})
        for _ in range(2):  # the BSP's retry of the same delivery
            assert (await client.post(f"/webhooks/{org}", json=doc)).status == 200
    finally:
        await client.close()
    row = await fetch_row(db, org, "wamid.SPLIT")
    assert row is not None and set(row["whatsapp_status"]) == {"sent", "delivered", "read"}
    assert row["whatsapp_status"]["delivered"] == "2024-10-03T10:30:05Z"


class GatedStore(PostgresStore):
    """The real store, whose first batch is held at a gate until the test opens it; records every batch's size
    and how many batches were being applied at its start."""

    gate: asyncio.Event
    sizes: list[int]
    beside: list[int]
    applying = 0

    async def apply_batch(
        self,
        messages: list[Message],
        statuses: list[StatusEvent],
        inbox: Sequence[InboxItem] = (),
        facts: Sequence[Fact] = (),
    ) -> BatchResult:
        self.sizes.append(len(statuses))
        self.beside.append(self.applying)
        self.applying += 1
        try:
            if len(self.sizes) == 1:
                await self.gate.wait()
            return await super().apply_batch(messages, statuses, inbox, facts)
        finally:
            self.applying -= 1


async def gated_pipeline(dsn: str, workers: int) -> tuple[GatedStore, Pipeline]:
    """A started pipeline of `workers` over a store that holds its first batch until `store.gate` is set."""
    store = await GatedStore.connect(dsn, pool_size=2, timeout_s=30)
    store.gate, store.sizes, store.beside = asyncio.Event(), [], []
    flow = Pipeline(store, PipelineSettings(batch_max=500, batch_interval_s=0, queue_max=1000, workers=workers,
                                            drain_timeout_s=10))  # fmt: skip
    flow.start()
    return store, flow


async def run_gated(dsn: str, org: uuid.UUID, stall_s: float, monkeypatch: pytest.MonkeyPatch) -> GatedStore:
    """One status, then ten more while its batch is held at the gate; opened once the ten are queued and, with
    a short `stall_s`, once the second worker had time to give up waiting."""
    monkeypatch.setattr(pipeline, "STALL_S", stall_s)
    store, flow = await gated_pipeline(dsn, workers=2)
    try:
        first = flow.submit([], [StatusEvent(org, "wamid.first", "sent", AT)], wait=True)
        await asyncio.sleep(0.01)  # the first batch is at the gate
        rest = [flow.submit([], [StatusEvent(org, f"wamid.{n}", "sent", AT)], wait=True) for n in range(10)]
        await asyncio.sleep(stall_s * 3 if stall_s < 1 else 0.01)
        store.gate.set()
        await asyncio.wait_for(asyncio.gather(first, *rest), 30)  # type: ignore[arg-type]
    finally:
        await flow.close()
        await store.close()
    return store


async def test_what_arrives_while_a_batch_is_applied_goes_in_the_next_batch(
    dsn: str, org: uuid.UUID, monkeypatch: pytest.MonkeyPatch
):
    """Group commit: the second worker does not take the ten statuses while the first batch is applied; they
    go together, after it."""
    store = await run_gated(dsn, org, stall_s=60, monkeypatch=monkeypatch)
    assert store.sizes == [1, 10] and store.beside == [0, 0]


async def test_a_batch_slower_than_the_stall_limit_lets_the_next_batch_go_beside_it(
    dsn: str, org: uuid.UUID, monkeypatch: pytest.MonkeyPatch
):
    store = await run_gated(dsn, org, stall_s=0.05, monkeypatch=monkeypatch)
    assert store.sizes == [1, 10] and store.beside == [0, 1]


async def test_background_work_takes_its_turn_after_the_batch_requests_wait_for(dsn: str, org: uuid.UUID):
    """Pipeline.ingest_turn (the deliverer's pacing): at once while no request waits; while one does, until its
    batch ends, or until the limit passes when the batch takes longer."""
    store, flow = await gated_pipeline(dsn, workers=1)
    try:
        await asyncio.wait_for(flow.ingest_turn(30), 5)  # no request waits: no wait (a bound, not a timing)
        first = flow.submit([], [StatusEvent(org, "wamid.turn", "sent", AT)], wait=True)
        assert first is not None
        await asyncio.sleep(0.01)  # its batch is at the gate
        await asyncio.wait_for(flow.ingest_turn(0.01), 5)  # the limit passes: back while the batch is held
        assert store.applying == 1
        turn = asyncio.ensure_future(flow.ingest_turn(30))
        await asyncio.sleep(0.05)
        assert not turn.done(), "it waits for the batch in flight"
        store.gate.set()
        await asyncio.wait_for(turn, 30)
        assert store.applying == 0 and flow.depth == 0
        await asyncio.wait_for(first, 5)  # settled by the batch that ended the wait
    finally:
        await flow.close()
        await store.close()
