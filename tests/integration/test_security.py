"""Who may post: signatures, URL tokens and API tokens per organisation, with global fallbacks."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import logging
import uuid
from collections.abc import AsyncIterator
from datetime import timedelta

import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bluetick.auth import OrgSecrets, SecretBook, org_url_token, webhook_allowed
from bluetick.client import BluetickClient
from bluetick.config import ConfigError, load_settings
from bluetick.store.postgres import PostgresStore
from tests.conftest import fetch_row, make_settings, payload, start_client

BODY = json.dumps(payload("meta_status_delivered.json")).encode()
MSG_ID = "wamid.HBgLMTY1MDM4Nzk0MzkVAgARGBJDQjZCMzlEQUE4OTJBMTE4RTUA"
PARKED = "select count(*) from message_status_parked where org_id = $1"


def sign(secret: str, body: bytes = BODY) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


async def add_secrets(db: asyncpg.Connection, org: uuid.UUID, **columns: str) -> None:
    names = ", ".join(columns)
    values = ", ".join(f"${i}" for i in range(2, len(columns) + 2))
    await db.execute(f"insert into org_secrets (org_id, {names}) values ($1, {values})", org, *columns.values())


@pytest.fixture
async def signed(dsn: str, store: PostgresStore) -> AsyncIterator[TestClient]:
    """A service that accepts no unsigned webhook and whose logging API needs API_TOKEN."""
    client = await start_client(
        make_settings(dsn, allow_unsigned_webhooks=False, open_api=False, api_token="global-api-token"), store
    )
    yield client
    await client.close()


async def post(client: TestClient, org: uuid.UUID, headers: dict[str, str] | None = None, query: str = "") -> int:
    resp = await client.post(f"/webhooks/{org}{query}", data=BODY, headers=headers or {})
    if resp.status == 401:
        assert await resp.json() == {"error": "unauthorized"}
    return resp.status


async def test_meta_signature_is_checked_with_the_organisations_secret(
    dsn: str, store: PostgresStore, db: asyncpg.Connection, org: uuid.UUID
):
    await add_secrets(db, org, meta_app_secret="meta-secret-A")
    client = await start_client(make_settings(dsn, allow_unsigned_webhooks=False), store)
    try:
        assert await post(client, org) == 401
        assert await post(client, org, {"X-Hub-Signature-256": "sha256=" + sign("wrong")}) == 401
        assert await post(client, org, {"X-Hub-Signature-256": sign("meta-secret-A")}) == 401
        assert await db.fetchval(PARKED, org) == 0
        assert await post(client, org, {"X-Hub-Signature-256": "sha256=" + sign("meta-secret-A")}) == 200
        assert await db.fetchval(PARKED, org) == 1
    finally:
        await client.close()


async def test_one_organisations_secret_does_not_open_another(dsn: str, store: PostgresStore, db: asyncpg.Connection):
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    await add_secrets(db, org_a, meta_app_secret="secret-A")
    await add_secrets(db, org_b, meta_app_secret="secret-B")
    client = await start_client(make_settings(dsn, allow_unsigned_webhooks=True), store)
    try:
        assert await post(client, org_b, {"X-Hub-Signature-256": "sha256=" + sign("secret-A")}) == 401
        assert await post(client, org_b, {"X-Hub-Signature-256": "sha256=" + sign("secret-B")}) == 200
    finally:
        await client.close()


async def test_aisensy_signature_and_url_token(dsn: str, store: PostgresStore, db: asyncpg.Connection):
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    await add_secrets(db, org_a, aisensy_secret="ais-secret")
    await add_secrets(db, org_b, url_token="url-token-B")
    client = await start_client(make_settings(dsn), store)
    try:
        assert await post(client, org_a, {"X-AiSensy-Signature": sign("other")}) == 401
        assert await post(client, org_a, {"X-AiSensy-Signature": sign("ais-secret")}) == 200
        assert await post(client, org_b, query="?token=wrong") == 401
        assert await post(client, org_b, query="?token=url-token-B") == 200
    finally:
        await client.close()


async def test_global_secret_from_the_environment_covers_organisations_without_their_own(
    dsn: str, store: PostgresStore, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, meta_app_secret="global-meta"), store)
    try:
        assert await post(client, org) == 401
        assert await post(client, org, {"X-Hub-Signature-256": "sha256=" + sign("global-meta")}) == 200
    finally:
        await client.close()


async def test_unsigned_posts_are_refused_when_not_allowed_and_no_secret_exists(signed: TestClient, org: uuid.UUID):
    assert await post(signed, org) == 401


async def test_new_secrets_take_effect_after_the_refresh(
    dsn: str, store: PostgresStore, db: asyncpg.Connection, org: uuid.UUID
):
    client = await start_client(make_settings(dsn, secrets_refresh=timedelta(milliseconds=100)), store)
    try:
        assert await post(client, org) == 200
        await add_secrets(db, org, url_token="fresh")
        for _ in range(400):  # a bound on waiting on a loaded machine, not a timing assertion
            if await post(client, org) == 401:
                break
            await asyncio.sleep(0.05)
        assert await post(client, org) == 401
        assert await post(client, org, query="?token=fresh") == 200
    finally:
        await client.close()


async def test_meta_handshake_uses_the_organisations_verify_token(
    dsn: str, store: PostgresStore, db: asyncpg.Connection, org: uuid.UUID
):
    await add_secrets(db, org, verify_token="org-verify")
    client = await start_client(make_settings(dsn, webhook_verify_token="global-verify"), store)
    try:
        ok = await client.get(
            f"/webhooks/{org}",
            params={"hub.mode": "subscribe", "hub.verify_token": "org-verify", "hub.challenge": "1158201444"},
        )
        assert (ok.status, await ok.text()) == (200, "1158201444")
        wrong = await client.get(
            f"/webhooks/{org}",
            params={"hub.mode": "subscribe", "hub.verify_token": "global-verify", "hub.challenge": "1"},
        )
        assert wrong.status == 403
        other = await client.get(
            f"/webhooks/{uuid.uuid4()}",
            params={"hub.mode": "subscribe", "hub.verify_token": "global-verify", "hub.challenge": "7"},
        )
        assert (other.status, await other.text()) == (200, "7")
    finally:
        await client.close()


async def test_logging_api_needs_the_bearer_token(signed: TestClient, db: asyncpg.Connection, org: uuid.UUID):
    doc = {"bsp_msg_id": "wamid.api", "to_phone": "+919876543210"}
    url = f"/v1/orgs/{org}/messages"
    assert (await signed.post(url, json=doc)).status == 401
    assert (await signed.post(url, json=doc, headers={"Authorization": "Bearer nope"})).status == 401
    assert (await signed.post(url, json=doc, headers={"Authorization": "Basic global-api-token"})).status == 401
    assert await fetch_row(db, org, "wamid.api") is None
    assert (await signed.post(url, json=doc, headers={"Authorization": "Bearer global-api-token"})).status == 200


async def test_an_organisations_api_token_only_opens_its_own_organisation(
    dsn: str, store: PostgresStore, db: asyncpg.Connection
):
    org_a, org_b = uuid.uuid4(), uuid.uuid4()
    await add_secrets(db, org_a, api_token="token-A")
    await add_secrets(db, org_b, api_token="token-B")
    client = await start_client(make_settings(dsn, open_api=False), store)
    try:
        doc = {"bsp_msg_id": "wamid.api", "to_phone": "+919876543210"}
        headers = {"Authorization": "Bearer token-A"}
        assert (await client.post(f"/v1/orgs/{org_b}/messages", json=doc, headers=headers)).status == 401
        assert (await client.post(f"/v1/orgs/{org_a}/messages", json=doc, headers=headers)).status == 200
        helper = BluetickClient(str(client.make_url("")), api_token="token-B")
        row = await helper.log_outbound(org_id=org_b, bsp_msg_id="wamid.helper", to_phone="+919876543210")
        await helper.close()
        assert row is not None and row["org_id"] == str(org_b)
    finally:
        await client.close()


async def test_secrets_and_phone_numbers_never_reach_the_logs(
    dsn: str, store: PostgresStore, db: asyncpg.Connection, org: uuid.UUID, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    await add_secrets(db, org, meta_app_secret="very-secret-value", api_token="very-secret-token")
    client = await start_client(make_settings(dsn, open_api=False), store)
    try:
        await post(client, org, {"X-Hub-Signature-256": "sha256=" + sign("guess")})
        await post(client, org, {"X-Hub-Signature-256": "sha256=" + sign("very-secret-value")})
        helper = BluetickClient(str(client.make_url("")), api_token="wrong")
        assert await helper.log_outbound(org_id=org, bsp_msg_id="wamid.x", to_phone="+919876543210") is None
        await helper.close()
    finally:
        await client.close()
    assert "very-secret" not in caplog.text
    assert "9876543210" not in caplog.text
    assert "+********3210" in caplog.text


def test_shared_database_without_any_webhook_secret_refuses_to_start():
    with pytest.raises(ConfigError, match="ALLOW_UNSIGNED_WEBHOOKS"):
        load_settings({"DATABASE_URL": "postgresql://db.example/postgres"})
    lenient = load_settings({"DATABASE_URL": "postgresql://x/y", "ALLOW_UNSIGNED_WEBHOOKS": "true"})
    assert lenient.allow_unsigned_webhooks
    strict = load_settings({"DATABASE_URL": "postgresql://x/y", "ALLOW_UNSIGNED_WEBHOOKS": "false"})
    assert not strict.allow_unsigned_webhooks and not strict.open_api


def test_embedded_default_accepts_unsigned_posts_and_says_so_loudly():
    settings = load_settings({})
    assert settings.allow_unsigned_webhooks and settings.open_api
    assert any("NOT AUTHENTICATED" in w for w in settings.warnings())


def test_malformed_settings_name_the_variable():
    for env, name in [
        ({"PORT": "eighty"}, "PORT"),
        ({"ACK_MODE": "maybe"}, "ACK_MODE"),
        ({"ORPHAN_TTL": "a week"}, "ORPHAN_TTL"),
        ({"ALLOW_UNSIGNED_WEBHOOKS": "perhaps"}, "ALLOW_UNSIGNED_WEBHOOKS"),
    ]:
        with pytest.raises(ConfigError, match=name):
            load_settings(env)


def test_an_organisation_with_its_own_secret_refuses_the_global_url_token() -> None:
    org, other = uuid.uuid4(), uuid.uuid4()
    book = SecretBook(OrgSecrets(url_token="master"))
    book.replace({org: OrgSecrets(meta_app_secret="own")})
    token = {"token": org_url_token("master", org)}
    assert not webhook_allowed(book.for_org(org), b"{}", {}, token, allow_unsigned=False)
    assert not webhook_allowed(book.for_org(other), b"{}", {}, {"token": "master"}, allow_unsigned=False)
    assert not webhook_allowed(book.for_org(other), b"{}", {}, token, allow_unsigned=False)
    own_token = {"token": org_url_token("master", other)}
    assert webhook_allowed(book.for_org(other), b"{}", {}, own_token, allow_unsigned=False)
