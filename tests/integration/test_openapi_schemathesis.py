"""Schemathesis against the live service: every operation of the OpenAPI document (bluetick.openapi) with the
positive and the negative data it generates, sent over HTTP to the service on 127.0.0.1, on real Postgres.

Each answer must be no 5xx (a bug the middleware catches is a 503, so "no 500" here is "no 5xx": the database is
up and the service ready, so no 503 is expected either), a status the document declares for the operation, with
its content type, its headers and a body its schema accepts. The run is seeded, so CI runs the same cases each
time: SCHEMATHESIS_SEED picks another seed and SCHEMATHESIS_EXAMPLES another number to explore
(`SCHEMATHESIS_SEED=7 SCHEMATHESIS_EXAMPLES=1000 python -m pytest tests/integration/test_openapi_schemathesis.py -s`).

Safety, so no generated request can reach anything but this service:
- The service runs on a database of its own, made for this module and dropped after it: whatever the run stores
  (webhooks, links to generated URLs, erasures) is seen by no other test's deliverer or link.
- `create_subscription` is not run: a generated https URL of a public address (an IP literal needs no DNS) would
  be a subscription a deliverer delivers to. The other subscription operations run: with none registered they can
  only answer 404, or an empty list.
- The service's deliverer runs with no worker (DeliveryOptions(workers=0)): nothing is claimed, nothing delivered.
- No redirect is followed (`allow_redirects=False`): `GET /l/{token}` answers 302 to a stored URL, which may be any
  URL a generated `POST /links` stored; the answer is checked, its target never fetched.
- Every request goes to the base URL of the served app, http://127.0.0.1:<port>; and while this module runs, a
  connection from this process to any address but a loopback one (or Postgres's unix socket) is refused and fails
  the module (`loopback_only`).

The cases sent per operation are printed at the end with `-s`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import socket
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

import asyncpg
import pytest
import requests
import schemathesis
from aiohttp.test_utils import TestClient
from openapi_spec_validator import OpenAPIV31SpecValidator
from schemathesis.core.failures import FailureGroup

from bluetick import openapi
from bluetick.app import SERVICE, create_app
from bluetick.delivery import DeliveryOptions
from bluetick.store.migrations import migrate
from bluetick.store.postgres import PostgresStore
from bluetick.subscriptions_api import SUBSCRIPTIONS
from tests.conftest import make_settings
from tests.served import ServedAsInProduction

T = TypeVar("T")

# Generated cases per operation in the fuzzing phase, positive and negative together (Schemathesis mixes them); the
# coverage phase adds its boundary cases and the examples phase the document's examples. About 40 s in all here.
EXAMPLES = int(os.environ.get("SCHEMATHESIS_EXAMPLES", "300"))
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "26"))
API_TOKEN = "schemathesis-api-token"
NOT_RUN = ("create_subscription",)  # would register a subscription a deliverer delivers to
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
    "response_headers_conformance",
)

RAN: dict[str, Counter[str]] = defaultdict(Counter)  # operationId -> cases sent by generation mode

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": SEED,
        "generation": {"mode": "all", "max-examples": EXAMPLES},
        "phases": {
            "examples": {"enabled": True},
            "coverage": {"enabled": True},
            "fuzzing": {"enabled": True},
            "stateful": {"enabled": False},
        },
        "checks": {"enabled": False, **{name: {"enabled": True} for name in CHECKS}},
        "max-redirects": 0,
        "request-timeout": 30,
    }
)
schema = schemathesis.openapi.from_dict(openapi.document(), config=CONFIG).exclude(operation_id=list(NOT_RUN))


class Served:
    """The service on its own event loop in a thread, so Schemathesis's blocking requests can reach it."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="served", daemon=True)
        self.thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Errors(logging.Handler):
    """The service's log records at ERROR and above: an unhandled error is one, whatever the answer was."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


async def _own_database(admin_dsn: str, name: str) -> str:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'create database "{name}"')
    finally:
        await admin.close()
    return admin_dsn.replace("/postgres?", f"/{name}?")


async def _drop_database(admin_dsn: str, name: str) -> None:
    admin = await asyncpg.connect(admin_dsn)
    try:
        await admin.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await admin.close()


@pytest.fixture(scope="module", autouse=True)
def loopback_only() -> Iterator[None]:
    """While this module runs, this process connects to loopback addresses and unix sockets only."""
    refused: list[str] = []
    original = socket.socket.connect

    def connect(self: socket.socket, address: Any) -> None:
        if self.family in (socket.AF_INET, socket.AF_INET6) and not _loopback(address[0]):
            refused.append(str(address[0]))
            raise ConnectionRefusedError(f"not a loopback address: {address[0]}")
        original(self, address)

    socket.socket.connect = connect  # type: ignore[method-assign]
    try:
        yield
    finally:
        socket.socket.connect = original  # type: ignore[method-assign]
    assert refused == [], "a connection to a non-loopback address was attempted"


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


@pytest.fixture(scope="module")
def live(dsn: str) -> Iterator[str]:
    """The base URL of the service on 127.0.0.1, on a database of its own, deliveries off, API token required."""
    name = f"schemathesis_{uuid.uuid4().hex[:12]}"
    db_dsn = asyncio.run(_own_database(dsn, name))
    asyncio.run(migrate(db_dsn))
    errors = Errors()
    logging.getLogger("bluetick").addHandler(errors)
    served = Served()

    async def start() -> tuple[PostgresStore, TestClient]:
        store = await PostgresStore.connect(db_dsn, pool_size=4, timeout_s=10)
        app = create_app(make_settings(db_dsn, api_token=API_TOKEN, open_api=False), store)
        app[SUBSCRIPTIONS].options = DeliveryOptions(workers=0)  # nothing is ever delivered
        client = TestClient(ServedAsInProduction(app, host="127.0.0.1"))
        await client.start_server()
        await asyncio.wait_for(app[SERVICE].ready.wait(), 30)
        return store, client

    store, client = served.run(start())
    try:
        yield f"http://127.0.0.1:{client.port}"
    finally:
        served.run(client.close())
        served.run(store.close())
        served.stop()
        logging.getLogger("bluetick").removeHandler(errors)
        subscriptions = asyncio.run(_count(db_dsn, "select count(*) from webhook_subscriptions"))
        asyncio.run(_drop_database(dsn, name))
    assert subscriptions == 0, "the run registered a subscription"
    assert not errors.records, [f"{r.name}: {r.getMessage()}" for r in errors.records]


async def _count(db_dsn: str, sql: str) -> int:
    conn = await asyncpg.connect(db_dsn)
    try:
        return int(await conn.fetchval(sql))
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def session(live: str) -> Iterator[requests.Session]:
    with requests.Session() as http:
        http.trust_env = False  # no proxy from the environment: every request goes to 127.0.0.1
        yield http


def test_the_served_document_is_the_modules_and_valid_openapi_3_1(live: str, session: requests.Session) -> None:
    answer = session.get(f"{live}/openapi.json", allow_redirects=False, timeout=10)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    served = answer.json()
    OpenAPIV31SpecValidator(served).validate()
    assert served == openapi.document()


def test_every_operation_but_the_subscription_registration_is_run() -> None:
    run = {op.ok().definition.raw["operationId"] for op in schema.get_all_operations()}
    documented = set(openapi.operations_of(openapi.document()).values())
    assert run == documented - set(NOT_RUN)
    assert socket.socket.connect.__qualname__.startswith("loopback_only."), "the loopback guard is not in place"


def _broken(change: Callable[[dict[str, Any]], None]) -> schemathesis.BaseSchema:
    doc = openapi.document()
    change(doc)
    return schemathesis.openapi.from_dict(doc, config=CONFIG)


def test_the_checks_fail_on_an_answer_the_document_does_not_declare(live: str, session: requests.Session) -> None:
    """The run is not vacuous: with 409 taken out of the document, the feed of an organisation that never turned it
    on fails the check; with the health answer's shape changed, /healthz fails."""
    auth = {"Authorization": f"Bearer {API_TOKEN}"}
    no_409 = _broken(lambda doc: doc["paths"]["/v1/orgs/{org_id}/events"]["get"]["responses"].pop("409"))
    case = no_409["/v1/orgs/{org_id}/events"]["GET"].Case(path_parameters={"org_id": str(uuid.uuid4())})
    with pytest.raises(FailureGroup, match="Undocumented status code"):
        case.call_and_validate(base_url=live, session=session, headers=auth)
    other_health = _broken(
        lambda doc: doc["components"]["schemas"]["Health"]["properties"].update(status={"const": "fine"})
    )
    with pytest.raises(FailureGroup, match="Response violates schema"):
        other_health["/healthz"]["GET"].Case().call_and_validate(base_url=live, session=session)


@schema.parametrize()
def test_schemathesis(case: schemathesis.Case, live: str, session: requests.Session) -> None:
    operation_id = case.operation.definition.raw["operationId"]
    if operation_id == "events" and isinstance(case.query, dict):
        wait = str(case.query.get("wait"))  # an int, or its text in a negative case of another parameter
        if wait.isdigit() and int(wait) > 1:
            case.query["wait"] = 1  # the feed of an organisation turned on may wait this long: a second is enough
    if case.meta is not None:
        RAN[operation_id][case.meta.generation.mode.value] += 1
    case.call_and_validate(
        base_url=live,
        session=session,
        headers={"Authorization": f"Bearer {API_TOKEN}"},
        allow_redirects=False,
    )


def test_every_operation_ran_with_positive_and_negative_data() -> None:
    """After the run above (pytest runs this module's tests in order): each operation run got both kinds of cases."""
    if not RAN:
        pytest.skip("test_schemathesis was not run")
    for name, sent in sorted(RAN.items()):
        print(f"{name}: {sent['positive']} positive, {sent['negative']} negative")  # shown with -s
    assert {name: dict(sent) for name, sent in RAN.items() if not (sent["positive"] and sent["negative"])} == {}
