"""Faults of the client, not of the service (issue 22, item 8): a client that leaves mid-body is a debug line
and `client_gone`, a body that is not the gzip it claims is 400, and readiness survives a broken driver."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from prometheus_client import REGISTRY

from bluetick.store.postgres import PostgresStore
from bluetick.store.supabase import SupabaseStore
from tests.conftest import make_settings
from tests.served import raw_exchange, serve
from tests.supabase_emulation import SERVICE_KEY, PostgrestStandIn


def rejected(reason: str) -> float:
    return REGISTRY.get_sample_value("bluetick_rejected_requests_total", {"reason": reason}) or 0.0


def errors(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [f"{r.name}: {r.getMessage()}" for r in caplog.records if r.levelno >= logging.ERROR]


async def test_a_client_that_leaves_mid_body_is_a_debug_line_counted_as_client_gone(
    dsn: str, org: uuid.UUID, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    client = await serve(make_settings(dsn), store)
    gone, internal = rejected("client_gone"), rejected("internal")
    try:
        head = f"POST /webhooks/{org} HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\n"
        for _ in range(5):
            await raw_exchange(client.port, head.encode() + b'{"statuses": [', read=False)
        for _ in range(200):  # until the server has seen them go: a bound, not a timing assertion
            if rejected("client_gone") - gone >= 5:
                break
            await asyncio.sleep(0.05)
    finally:
        await client.close()
        await store.close()
    assert rejected("client_gone") - gone == 5
    assert rejected("internal") == internal
    assert errors(caplog) == []
    assert "client gone route=receive_webhook" in caplog.text


async def test_a_body_that_is_not_the_gzip_it_claims_is_400(dsn: str, org: uuid.UUID, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    client = await serve(make_settings(dsn), store)
    bad = rejected("bad_encoding")
    try:
        resp = await client.post(
            f"/webhooks/{org}",
            data=b"not gzip at all",
            headers={"Content-Encoding": "gzip", "Content-Type": "application/json"},
        )
        assert resp.status == 400
        assert await resp.json() == {"error": "body could not be decoded"}
        head = f"POST /webhooks/{org} HTTP/1.1\r\nHost: x\r\nContent-Encoding: gzip\r\nContent-Length: 4\r\n\r\n"
        answer = await raw_exchange(client.port, head.encode() + b"junk")
        assert answer.startswith(b"HTTP/1.1 400 ")
    finally:
        await client.close()
        await store.close()
    assert rejected("bad_encoding") - bad == 2
    assert errors(caplog) == []


async def test_readiness_with_a_broken_driver_is_503_not_ready_in_one_line(
    supabase_dsn: str, caplog: pytest.LogCaptureFixture
):
    standin = PostgrestStandIn(supabase_dsn)
    url = await standin.start()
    store = await SupabaseStore.connect(url, SERVICE_KEY, timeout_s=10)
    client = await serve(make_settings(supabase_dsn), store)
    try:
        assert (await client.get("/readyz")).status == 200
        await store.close()  # the driver's HTTP client is closed under the running service
        caplog.clear()
        resp = await client.get("/readyz")
        assert resp.status == 503
        assert await resp.json() == {"ready": False, "database": False, "queue_depth": 0}
    finally:
        await client.close()
        await standin.close()
    lines = [
        r for r in caplog.records if r.name in ("bluetick.app", "bluetick.refusals") and r.levelno >= logging.WARNING
    ]
    assert [r.getMessage() for r in lines] == ["readiness check failed error=RuntimeError"]
    assert all(r.exc_info is None for r in lines)
