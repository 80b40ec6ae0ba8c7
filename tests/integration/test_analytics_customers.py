"""Customers known only by their BSUID are answered, timed and counted like any other; reactions, edits,
revokes and system messages are never a customer message awaiting a reply, a reply, or a conversation turn.

Rows are written through `bluetick_apply_batch`, the service's one write path, with fresh org ids.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

BUSINESS = "+15550783881"
PHONE = "+919800000001"
USERNAME_ONLY = "IN.2081978709342942"
PARENT_BSUID = "US.ENT.11815799212886844830"
PHONE_BSUID = "IN.5550000000000001"
DAY = date(2024, 11, 5)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def message(
    org: uuid.UUID,
    msg_id: str,
    direction: str,
    sent: str,
    *,
    phone: str | None = None,
    user_id: str | None = None,
    kind: str = "TEXT",
    ref: str | None = None,
) -> dict[str, Any]:
    """A message as bluetick_apply_batch takes it; the customer is `phone` and/or `user_id`."""
    inbound = direction == "INBOUND"
    return {
        "org_id": str(org),
        "bsp_msg_id": msg_id,
        "direction": direction,
        "msg_kind": kind,
        "to_phone": BUSINESS if inbound else phone,
        "from_phone": phone if inbound else None,
        "body": f"{kind.lower()} {msg_id}",
        "sent_at": f"{sent}Z",
        "customer_user_id": user_id,
        "ref_bsp_msg_id": ref,
    }


def status(org: uuid.UUID, msg_id: str, name: str, ts: str, user_id: str | None = None) -> dict[str, Any]:
    return {"org_id": str(org), "bsp_msg_id": msg_id, "status": name, "ts": f"{ts}Z", "user_id": user_id}


async def apply(conn: asyncpg.Connection, messages: list[dict[str, Any]], statuses: list[dict[str, Any]]) -> None:
    await conn.execute("select bluetick_apply_batch($1::jsonb, $2::jsonb)", json.dumps(messages), json.dumps(statuses))


def tuples(records: list[asyncpg.Record], *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in records]


async def load_customers(dsn: str, org: uuid.UUID) -> None:
    """Three customers of one org on one day: U known only by BSUID, V only by a parent BSUID, P by phone."""
    conn = await asyncpg.connect(dsn)
    try:
        await apply(
            conn,
            [
                message(org, "wamid.u1", "INBOUND", "2024-11-05 10:00:00", user_id=USERNAME_ONLY),
                message(org, "wamid.u2", "INBOUND", "2024-11-05 10:01:00", user_id=USERNAME_ONLY),
                message(org, "wamid.u3", "OUTBOUND", "2024-11-05 10:02:30", user_id=USERNAME_ONLY, kind="AI"),
                message(org, "wamid.v1", "INBOUND", "2024-11-05 10:05:00", user_id=PARENT_BSUID),
                # P's message carries both; the reply names the phone only: P is one customer, by phone.
                message(org, "wamid.p1", "INBOUND", "2024-11-05 10:10:00", phone=PHONE, user_id=PHONE_BSUID),
                message(org, "wamid.p2", "OUTBOUND", "2024-11-05 10:10:40", phone=PHONE, kind="AI"),
            ],
            [],
        )
        # The reply's receipts name the customer by BSUID only, as Meta does for a username.
        await apply(
            conn,
            [],
            [
                status(org, "wamid.u3", "delivered", "2024-11-05 10:02:33", USERNAME_ONLY),
                status(org, "wamid.u3", "read", "2024-11-05 10:03:00", USERNAME_ONLY),
            ],
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def customers(dsn: str) -> uuid.UUID:
    org = uuid.uuid4()
    asyncio.run(load_customers(dsn, org))
    return org


async def test_a_reply_to_a_username_only_customer_is_one_read_row_keyed_by_bsuid(
    conn: asyncpg.Connection, customers: uuid.UUID
):
    got = await conn.fetchrow(
        "select status, to_phone, contact_phone, customer_user_id, customer, delivered_at, read_at, is_event"
        " from message_status_timeline where org_id = $1 and bsp_msg_id = 'wamid.u3'",
        customers,
    )
    assert tuple(got) == (
        "READ",
        None,
        None,
        USERNAME_ONLY,
        USERNAME_ONLY,
        at("2024-11-05 10:02:33"),
        at("2024-11-05 10:03:00"),
        False,
    )


async def test_a_username_only_customer_pairs_with_the_reply_by_bsuid(conn: asyncpg.Connection, customers: uuid.UUID):
    got = await conn.fetch("select * from message_response_times where org_id = $1 order by received_at", customers)
    assert tuples(got, "bsp_msg_id", "customer", "customer_phone", "reply_bsp_msg_id", "seconds_to_reply") == [
        ("wamid.u1", USERNAME_ONLY, None, "wamid.u3", 150),
        ("wamid.u2", USERNAME_ONLY, None, "wamid.u3", 90),
        ("wamid.v1", PARENT_BSUID, None, None, None),  # U's reply answers U only
        ("wamid.p1", PHONE, PHONE, "wamid.p2", 40),  # the phone wins over the BSUID beside it
    ]


async def test_response_time_summaries_count_username_only_customers(conn: asyncpg.Connection, customers: uuid.UUID):
    columns = ("inbound", "answered", "unanswered", "median_seconds_to_reply", "p95_seconds_to_reply")
    # answered after [40, 90, 150] s: p95 = 90 + 0.9 * (150 - 90)
    expected = (4, 3, 1, Decimal("90.0"), Decimal("144.0"))
    daily = await conn.fetch("select * from response_times_daily where org_id = $1", customers)
    assert tuples(daily, "day", *columns) == [(DAY, *expected)]
    window = await conn.fetchrow("select * from bluetick_response_times($1, '-infinity', 'infinity')", customers)
    assert tuple(window[c] for c in columns) == expected


async def test_unanswered_leaves_out_the_answered_username_only_customer(
    conn: asyncpg.Connection, customers: uuid.UUID
):
    got = await conn.fetch(
        "select * from bluetick_unanswered($1, '-infinity', interval '0', $2)", customers, at("2024-11-05 11:00:00")
    )
    assert tuples(got, "bsp_msg_id", "customer", "customer_phone", "seconds_waiting") == [
        ("wamid.v1", PARENT_BSUID, None, 3300)
    ]
    # Before the reply at 10:02:30, U's two messages were waiting.
    early = await conn.fetch(
        "select * from bluetick_unanswered($1, '-infinity', interval '0', $2)", customers, at("2024-11-05 10:02:00")
    )
    assert tuples(early, "bsp_msg_id", "customer", "seconds_waiting") == [
        ("wamid.u1", USERNAME_ONLY, 120),
        ("wamid.u2", USERNAME_ONLY, 60),
    ]


ENGAGEMENT = (
    "contact_phone",
    "customer_user_id",
    "outbound",
    "delivered",
    "read",
    "read_rate_pct",
    "inbound",
    "first_message_at",
    "last_message_at",
)


async def test_engagement_counts_a_username_only_customer(conn: asyncpg.Connection, customers: uuid.UUID):
    expected = {
        USERNAME_ONLY: (
            None,
            USERNAME_ONLY,
            1,
            1,
            1,
            Decimal("100.00"),
            2,
            at("2024-11-05 10:00:00"),
            at("2024-11-05 10:02:30"),
        ),
        PARENT_BSUID: (None, PARENT_BSUID, 0, 0, 0, None, 1, at("2024-11-05 10:05:00"), at("2024-11-05 10:05:00")),
        PHONE: (PHONE, PHONE_BSUID, 1, 0, 0, None, 1, at("2024-11-05 10:10:00"), at("2024-11-05 10:10:40")),
    }
    view = await conn.fetch("select * from contact_engagement where org_id = $1", customers)
    assert {r["customer"]: tuple(r[c] for c in ENGAGEMENT) for r in view} == expected
    window = await conn.fetch("select * from bluetick_contact_engagement($1, '-infinity', 'infinity')", customers)
    assert {r["customer"]: tuple(r[c] for c in ENGAGEMENT) for r in window} == expected
    assert window[0]["customer"] == USERNAME_ONLY  # the busiest customer first: 3 messages


async def test_the_customer_index_serves_a_username_only_conversation(conn: asyncpg.Connection, customers: uuid.UUID):
    async with conn.transaction():
        await conn.execute("set local enable_seqscan = off")
        await conn.execute("set local enable_bitmapscan = off")
        plan = await conn.fetchval(
            "explain (format json) select * from message_status_timeline where org_id = $1 and customer = $2",
            customers,
            USERNAME_ONLY,
        )
    assert "message_logs_org_contact_created_idx" in plan


async def conversation(conn: asyncpg.Connection, org: uuid.UUID) -> None:
    """i1 answered by o1 after 60 s; i2 not answered."""
    await apply(
        conn,
        [
            message(org, "wamid.i1", "INBOUND", "2024-11-05 09:00:00", phone=PHONE),
            message(org, "wamid.o1", "OUTBOUND", "2024-11-05 09:01:00", phone=PHONE, kind="AI"),
            message(org, "wamid.i2", "INBOUND", "2024-11-05 09:30:00", phone=PHONE),
        ],
        [status(org, "wamid.o1", "read", "2024-11-05 09:02:00")],
    )


async def replies_and_response_times(conn: asyncpg.Connection, org: uuid.UUID) -> dict[str, Any]:
    as_of = at("2024-11-05 10:00:00")
    return {
        "pairs": tuples(
            await conn.fetch("select * from message_response_times where org_id = $1 order by received_at", org),
            "bsp_msg_id",
            "customer",
            "reply_bsp_msg_id",
            "seconds_to_reply",
        ),
        "daily": [tuple(r) for r in await conn.fetch("select * from response_times_daily where org_id = $1", org)],
        "window": tuple(await conn.fetchrow("select * from bluetick_response_times($1, '-infinity', 'infinity')", org)),
        "unanswered": tuples(
            await conn.fetch("select * from bluetick_unanswered($1, '-infinity', interval '0', $2)", org, as_of),
            "bsp_msg_id",
            "customer",
            "seconds_waiting",
        ),
        "engagement": [tuple(r) for r in await conn.fetch("select * from contact_engagement where org_id = $1", org)],
        "funnel": tuple(await conn.fetchrow("select * from bluetick_funnel($1, '-infinity', 'infinity')", org)),
    }


async def test_reactions_edits_revokes_and_system_messages_change_no_reply_or_response_time(
    conn: asyncpg.Connection,
):
    org = uuid.uuid4()
    await conversation(conn, org)
    before = await replies_and_response_times(conn, org)
    assert before["pairs"] == [("wamid.i1", PHONE, "wamid.o1", 60), ("wamid.i2", PHONE, None, None)]
    assert before["unanswered"] == [("wamid.i2", PHONE, 1800)]
    assert before["window"] == (2, 1, 1, Decimal("60.0"), Decimal("60.0"))

    await apply(
        conn,
        [
            message(org, "wamid.e1", "INBOUND", "2024-11-05 09:40:00", phone=PHONE, kind="REACTION", ref="wamid.o1"),
            message(org, "wamid.e2", "INBOUND", "2024-11-05 09:41:00", phone=PHONE, kind="EDIT", ref="wamid.i2"),
            message(org, "wamid.e3", "INBOUND", "2024-11-05 09:42:00", phone=PHONE, kind="REVOKE", ref="wamid.i2"),
            message(org, "wamid.e4", "INBOUND", "2024-11-05 09:43:00", phone=PHONE, kind="SYSTEM"),
        ],
        [],
    )
    assert await replies_and_response_times(conn, org) == before
    events = await conn.fetch(
        "select bsp_msg_id, msg_kind, ref_bsp_msg_id, customer, is_event from message_status_timeline"
        " where org_id = $1 and is_event order by bsp_msg_id",
        org,
    )
    assert [tuple(r) for r in events] == [
        ("wamid.e1", "REACTION", "wamid.o1", PHONE, True),
        ("wamid.e2", "EDIT", "wamid.i2", PHONE, True),
        ("wamid.e3", "REVOKE", "wamid.i2", PHONE, True),
        ("wamid.e4", "SYSTEM", None, PHONE, True),
    ]


async def test_a_business_reaction_is_no_reply_and_not_in_the_funnel(conn: asyncpg.Connection):
    org = uuid.uuid4()
    await conversation(conn, org)
    before = await replies_and_response_times(conn, org)
    assert before["funnel"][:5] == (1, 1, 1, 1, 0)  # outbound, sent, delivered, read, failed: o1 only

    # The business reacts to i2 at 09:45; the reaction is delivered and read like a message.
    await apply(
        conn,
        [message(org, "wamid.r1", "OUTBOUND", "2024-11-05 09:45:00", phone=PHONE, kind="REACTION", ref="wamid.i2")],
        [status(org, "wamid.r1", "read", "2024-11-05 09:45:05")],
    )
    assert await replies_and_response_times(conn, org) == before
    assert (
        await conn.fetchval(
            "select status from message_status_timeline where org_id = $1 and bsp_msg_id = 'wamid.r1'", org
        )
        == "READ"
    )
