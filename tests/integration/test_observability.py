"""Health, readiness, Prometheus metrics, one log line per batch, and the periodic purge."""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from prometheus_client import REGISTRY

from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings, payload, start_client


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def statuses_doc(count: int) -> dict[str, object]:
    items = [{"id": f"wamid.obs.{i}", "status": "delivered", "timestamp": "1750263773"} for i in range(count)]
    return {
        "object": "whatsapp_business_account",
        "entry": [{"changes": [{"field": "messages", "value": {"statuses": items}}]}],
    }


async def test_health_and_readiness(http: TestClient):
    assert (await http.get("/healthz")).status == 200
    ready = await http.get("/readyz")
    assert ready.status == 200
    assert await ready.json() == {"ready": True, "database": True, "queue_depth": 0}


async def test_metrics_count_webhooks_events_batches_and_rejections(http: TestClient, org: uuid.UUID):
    before = {
        "stored": sample("bluetick_webhooks_total", format="meta", result="stored"),
        "parked": sample("bluetick_events_total", outcome="parked"),
        "batches": sample("bluetick_batch_size_count"),
        "acks": sample("bluetick_ack_seconds_count", mode="durable"),
        "malformed": sample("bluetick_rejected_requests_total", reason="malformed_json"),
    }
    assert (await http.post(f"/webhooks/{org}", json=statuses_doc(3))).status == 200
    assert (await http.post(f"/webhooks/{org}", data=b"{nope")).status == 400
    text = await (await http.get("/metrics")).text()
    for family in (
        "bluetick_webhooks_total",
        "bluetick_events_total",
        "bluetick_queue_depth",
        "bluetick_batch_size_bucket",
        "bluetick_flush_seconds_bucket",
        "bluetick_ack_seconds_bucket",
        "bluetick_rejected_requests_total",
        "bluetick_purged_total",
    ):
        assert family in text
    assert sample("bluetick_webhooks_total", format="meta", result="stored") == before["stored"] + 1
    assert sample("bluetick_events_total", outcome="parked") == before["parked"] + 3
    assert sample("bluetick_batch_size_count") == before["batches"] + 1
    assert sample("bluetick_ack_seconds_count", mode="durable") == before["acks"] + 1
    assert sample("bluetick_rejected_requests_total", reason="malformed_json") == before["malformed"] + 1
    assert sample("bluetick_queue_depth") == 0


async def test_one_log_line_per_batch_not_per_event(http: TestClient, org: uuid.UUID, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.INFO, logger="bluetick")
    assert (await http.post(f"/webhooks/{org}", json=statuses_doc(50))).status == 200
    lines = [r.getMessage() for r in caplog.records if r.name == "bluetick.pipeline"]
    assert len(lines) == 1
    assert lines[0].startswith("batch requests=1 messages=0 statuses=50 ")


async def test_periodic_purge_removes_old_parked_events_and_counts_them(
    dsn: str, store: PostgresStore, db: asyncpg.Connection, org: uuid.UUID
):
    before = sample("bluetick_purged_total", table="parked")
    client = await start_client(
        make_settings(dsn, orphan_ttl=timedelta(seconds=1), purge_interval=timedelta(milliseconds=100)), store
    )
    try:
        assert (await client.post(f"/webhooks/{org}", json=payload("meta_status_delivered.json"))).status == 200
        assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 1
        for _ in range(400):  # a bound on waiting on a loaded machine, not a timing assertion
            if not await db.fetchval("select count(*) from message_status_parked where org_id = $1", org):
                break
            await asyncio.sleep(0.05)
        assert await db.fetchval("select count(*) from message_status_parked where org_id = $1", org) == 0
        assert sample("bluetick_purged_total", table="parked") >= before + 1
    finally:
        await client.close()
