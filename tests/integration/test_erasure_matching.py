"""Erasing one customer deletes the kept bodies that name them, and no other: a body is matched on the customer's
whole phone number or BSUID, never on digits inside a longer number (issue 22, item 3)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import asyncpg

from bluetick.customers import forget
from bluetick.events import Direction, IdentityLink, Message
from bluetick.store import Store
from bluetick.store.records import Customer, KeptBody

AT = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
PHONE = "+17279512345"  # the customer erased
USER = "US.1727951"
NEW_PHONE = "+17279519999"  # the number the customer changed to (user_changed_number)
PARENT = "US.ENT.8811"  # the customer's parent BSUID


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


async def test_bodies_naming_a_linked_number_or_bsuid_or_the_parent_bsuid_are_deleted_too(
    store: Store, db: asyncpg.Connection
):
    """After user_changed_number the customer's new number is theirs too; the BSUID and parent BSUID seen beside it
    on a row are theirs, and so is the BSUID they had before user_changed_user_id: an erasure by the old number
    deletes the bodies naming any of them, and no other."""
    org = uuid.uuid4()
    naming = ['{"wa_id": "17279519999"}', '{"parent_user_id": "US.ENT.8811"}', '{"user_id": "US.77"}']
    others = ['{"wa_id": "17279519998"}', '{"parent_user_id": "US.ENT.88110"}', '{"user_id": "US.770"}']
    await store.apply_batch(
        [Message(org, "m1", Direction.OUTBOUND, "TEXT", to_phone=NEW_PHONE, body="hi", sent_at=AT,
                 customer_user_id=USER, customer_parent_user_id=PARENT)],
        [],
        [body(org, text) for text in naming + others],
        facts=[IdentityLink(org, "phone", PHONE, NEW_PHONE, AT), IdentityLink(org, "user_id", "US.77", USER, AT)],
    )  # fmt: skip

    erased = await forget(store, org, Customer(phone=PHONE), part_rows=100)

    assert (erased.rows, erased.inbox, erased.links) == (1, len(naming), 2)
    assert await kept_bodies(db, org) == sorted(others)
