"""Hostile and malformed input over HTTP: never a 500 (nor a 503 hiding a bug), never a crash or a hang."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator

import pytest
from aiohttp.test_utils import TestClient, TestServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from prometheus_client import REGISTRY

from bluetick.app import SERVICE, create_app
from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings
from tests.strategies import FORMAT_DOCS, JSON

ORG = uuid.uuid4()
MAX_BODY = 65_536
# What a healthy service may answer to anything; 500 is a bug, and so is 503 with the database up.
ALLOWED = {200, 400, 401, 404, 405, 413, 422}
GUARD_S = 10  # a request unanswered after this long is a hang, not slowness

PATHS = st.sampled_from(
    [
        f"/webhooks/{ORG}",
        f"/v1/orgs/{ORG}/messages",
        "/webhooks/not-a-uuid",
        f"/webhooks/{ORG}?token=x",
        "/v1/orgs/%00/messages",
        f"/webhooks/{str(ORG).upper()}",
    ]
)
CONTENT_TYPES = st.sampled_from(
    [
        "application/json",
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/json; charset=latin-1",
        "",
        "application/octet-stream",
    ]
)
DOCS = st.one_of(JSON, FORMAT_DOCS)
DEPTHS = st.sampled_from([1, 10, 900, 1_100, 5_000, 9_000])  # around and past Python's recursion limit
BODIES = st.one_of(
    DOCS.map(lambda d: json.dumps(d).encode()),
    st.binary(max_size=600),
    DEPTHS.map(lambda n: b"[" * n + b"]" * n),
    DEPTHS.map(lambda n: b'{"a":' * n + b"1" + b"}" * n),
    st.sampled_from([400, 4_300, 5_000, 20_000]).map(
        lambda n: b'{"statuses":[{"id":"w","status":"read","timestamp":' + b"9" * n + b"}]}"
    ),
    st.just(b'\xff\xfe{"statuses": []}'),
    st.just(b""),
    st.builds(lambda d: json.dumps(d).encode()[: MAX_BODY * 2] + b" " * MAX_BODY, DOCS),
)
MESSAGE_DOCS = st.fixed_dictionaries(
    {},
    optional={
        "bsp_msg_id": st.one_of(st.text(max_size=300), st.integers(), st.none()),
        "to_phone": st.one_of(st.text(max_size=20), st.integers(), st.none()),
        "from_phone": st.one_of(st.text(max_size=20), st.none()),
        "direction": st.one_of(st.sampled_from(["OUTBOUND", "INBOUND"]), st.text(max_size=10)),
        "msg_kind": st.one_of(st.text(max_size=80), st.integers()),
        "body": st.one_of(st.text(), st.integers(), JSON),
        "sent_at": st.one_of(st.integers(), st.floats(), st.text(max_size=40), JSON),
        "metadata": JSON,
    },
)


@pytest.fixture(scope="module")
def service(dsn: str) -> Iterator[tuple[asyncio.Runner, TestClient]]:
    runner = asyncio.Runner()
    store = runner.run(PostgresStore.connect(dsn, pool_size=4, timeout_s=10))

    async def start() -> TestClient:
        app = create_app(make_settings(dsn, max_body_bytes=MAX_BODY), store)
        client = TestClient(TestServer(app))
        await client.start_server()
        await asyncio.wait_for(app[SERVICE].ready.wait(), 30)
        return client

    client = runner.run(start())
    yield runner, client
    runner.run(client.close())
    runner.run(store.close())
    runner.close()


def internal_errors() -> float:
    return REGISTRY.get_sample_value("bluetick_rejected_requests_total", {"reason": "internal"}) or 0.0


async def send(client: TestClient, method: str, path: str, body: bytes, content_type: str) -> int:
    headers = {"Content-Type": content_type} if content_type else {}
    async with asyncio.timeout(GUARD_S):
        resp = await client.request(method, path, data=body, headers=headers)
        await resp.read()
        return resp.status


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(path=PATHS, body=BODIES, content_type=CONTENT_TYPES)
def test_fuzzed_posts_never_get_a_500_or_hang(
    service: tuple[asyncio.Runner, TestClient], path: str, body: bytes, content_type: str
) -> None:
    runner, client = service
    before = internal_errors()
    status = runner.run(send(client, "POST", path, body, content_type))
    assert status in ALLOWED
    assert internal_errors() == before


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(doc=MESSAGE_DOCS)
def test_fuzzed_logging_calls_get_200_or_a_clear_4xx(
    service: tuple[asyncio.Runner, TestClient], doc: dict[str, object]
) -> None:
    runner, client = service
    status = runner.run(send(client, "POST", f"/v1/orgs/{ORG}/messages", json.dumps(doc).encode(), "application/json"))
    assert status in {200, 422}


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    query=st.dictionaries(
        st.sampled_from(["hub.mode", "hub.verify_token", "hub.challenge", "x"]), st.text(max_size=50), max_size=4
    )
)
def test_fuzzed_handshakes_never_get_a_500(service: tuple[asyncio.Runner, TestClient], query: dict[str, str]) -> None:
    runner, client = service

    async def get() -> int:
        async with asyncio.timeout(GUARD_S):
            resp = await client.get(f"/webhooks/{ORG}", params=query)
            return resp.status

    assert runner.run(get()) in {200, 403}


def test_oversized_body_is_refused_before_it_is_read(service: tuple[asyncio.Runner, TestClient]) -> None:
    """A declared 100 MB body of which nothing is sent: a server that read it first would hang."""
    runner, client = service

    async def raw() -> bytes:
        reader, writer = await asyncio.open_connection(client.host, client.port)
        writer.write(
            f"POST /webhooks/{ORG} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            "Content-Length: 100000000\r\n\r\n{".encode()
        )
        await writer.drain()
        async with asyncio.timeout(GUARD_S):
            head = await reader.readuntil(b"\r\n")
        writer.close()
        return head

    assert runner.run(raw()).startswith(b"HTTP/1.1 413")
