"""Every route refuses the same way: one JSON body, one count under its reason."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from aiohttp.test_utils import TestClient

from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings, start_client
from tests.integration.test_observability import sample


@pytest.fixture
async def service(dsn: str) -> AsyncIterator[TestClient]:
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    client = await start_client(make_settings(dsn, open_api=False, api_token="t0ken"), store)
    yield client
    await client.close()
    await store.close()


@pytest.mark.parametrize(
    ("method", "path"),
    [("POST", "/webhooks/not-a-uuid"), ("GET", "/webhooks/not-a-uuid"), ("POST", "/v1/orgs/not-a-uuid/messages")],
)
async def test_every_route_answers_a_bad_org_id_404_and_counts_it(service: TestClient, method: str, path: str):
    before = sample("bluetick_rejected_requests_total", reason="bad_org")
    resp = await service.request(method, path, json={})
    assert resp.status == 404
    assert await resp.json() == {"error": "unknown organisation"}
    assert sample("bluetick_rejected_requests_total", reason="bad_org") == before + 1


async def test_a_refusal_is_counted_once(service: TestClient):
    before = sample("bluetick_rejected_requests_total", reason="bad_api_token")
    resp = await service.post("/v1/orgs/00000000-0000-0000-0000-000000000001/messages", json={})
    assert resp.status == 401
    assert await resp.json() == {"error": "unauthorized"}
    assert sample("bluetick_rejected_requests_total", reason="bad_api_token") == before + 1
