"""Erasing one customer deletes the kept bodies that name them, and no other: a body is matched on the customer's
whole phone number or BSUID, never on digits inside a longer number (issue 22, item 3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from bluetick.customers import forget
from bluetick.store import Store
from bluetick.store.records import Customer, KeptBody

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PHONE = "+17279512345"  # the customer erased
USER = "US.1727951"


def body(org: uuid.UUID, text: str) -> KeptBody:
    return KeptBody(org, AT, "application/json", "unknown", "unknown", None, text.encode())


async def kept_bodies(db: asyncpg.Connection, org: uuid.UUID) -> list[str]:
    rows = await db.fetch("select convert_from(body, 'UTF8') as b from webhook_inbox where org_id = $1", org)
    return sorted(r["b"] for r in rows)


async def test_only_bodies_naming_the_customer_as_a_whole_number_or_bsuid_are_deleted(
    store: Store, db: asyncpg.Connection
):
    org = uuid.uuid4()
    naming = [
        '{"wa_id": "17279512345", "text": "hi"}',
        "From=whatsapp%3A%2B17279512345&Body=hi",
        '{"from": "+1 727 951 2345"}'.replace(" ", ""),
        '{"user_id": "US.1727951"}',
    ]
    others = [
        '{"wa_id": "917279512345", "timestamp": "1727951234"}',  # another customer; the digits sit inside
        '{"timestamp": "172795123456", "id": "wamid.17279512345X"}'.replace("X", "9"),
        '{"user_id": "US.17279510"}',  # a longer BSUID
        '{"user_id": "XUS.1727951"}',
    ]
    await store.apply_batch([], [], [body(org, text) for text in naming + others])

    erased = await forget(store, org, Customer(phone=PHONE), part_rows=100)
    by_user = await forget(store, org, Customer(user_id=USER), part_rows=100)

    assert erased.inbox + by_user.inbox == len(naming)
    assert await kept_bodies(db, org) == sorted(others)
