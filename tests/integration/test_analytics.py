"""The analytics views and functions return exactly the numbers worked out by hand, per organisation.

Fixture: two organisations, A (21 messages) and B (4), logged through the real write path with
out-of-order events, a status parked before its message, failures, unranked statuses and unanswered
customer messages. B reuses A's phones, one of A's message ids and overlapping times, so any leak
between organisations changes A's numbers.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from bluetick.events import Direction, Message, StatusEvent
from bluetick.stats import funnel_report
from bluetick.store.postgres import PostgresStore
from main import main

ANALYTICS_README = Path(__file__).resolve().parents[2] / "src" / "bluetick" / "sql" / "analytics" / "README.md"
README_ORG = "'0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10'"

AI, TPL = "AI_REPLY_FREEFORM", "TEMPLATE"
BUSINESS = "+15550783881"
P1, P2, P3, P4, P5 = (f"+91980000000{n}" for n in range(1, 6))
D1, D2, D3 = date(2024, 10, 3), date(2024, 10, 4), date(2024, 10, 5)

REASON_131047 = "Error 131047: Re-engagement message - More than 24 hours have passed"
REASON_131047_NEWER = "Error 131047: Re-engagement message"
REASON_131026 = "Error 131026: Message Undeliverable - Message Undeliverable (recipient not on WhatsApp)"
REASON_131026_DAY2 = "Error 131026: Message Undeliverable"
REASON_NO_CODE = "Error: Unknown failure"
REASON_B = "Error 131047: Re-engagement message - worded for organisation B"

VIEWS = (
    "message_status_timeline",
    "message_funnel_daily",
    "message_funnel_daily_by_kind",
    "message_failures_daily",
    "message_response_times",
    "response_times_daily",
    "contact_engagement",
    "read_rate_by_hour",
)
FUNCTIONS = (
    "bluetick_funnel",
    "bluetick_funnel_by_kind",
    "bluetick_failures",
    "bluetick_response_times",
    "bluetick_unanswered",
    "bluetick_contact_engagement",
    "bluetick_read_rate_by_hour",
    "bluetick_contact_phone",
    "bluetick_customer",
    "bluetick_is_event",
    "bluetick_error_code",
    "bluetick_pct",
    "bluetick_billable",
    "bluetick_spend",
    "bluetick_market",
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def day_start(d: date) -> datetime:
    return datetime(d.year, d.month, d.day, tzinfo=UTC)


def out(org: uuid.UUID, msg_id: str, kind: str | None, phone: str, sent: str) -> Message:
    return Message(org, msg_id, Direction.OUTBOUND, kind, to_phone=phone, body=f"reply {msg_id}", sent_at=at(sent))


def inbound(org: uuid.UUID, msg_id: str, phone: str, received: str) -> Message:
    return Message(
        org,
        msg_id,
        Direction.INBOUND,
        "TEXT",
        to_phone=BUSINESS,
        from_phone=phone,
        body=f"question {msg_id}",
        sent_at=at(received),
    )


def status(org: uuid.UUID, msg_id: str, name: str, ts: str, reason: str | None = None) -> StatusEvent:
    return StatusEvent(org, msg_id, name, at(ts), failed_reason=reason)


def messages_of_a(a: uuid.UUID) -> list[Message]:
    return [
        # 2024-10-03
        out(a, "wamid.a1", AI, P1, "2024-10-03 10:00:00"),
        out(a, "wamid.a2", AI, P1, "2024-10-03 10:10:00"),
        out(a, "wamid.a3", AI, P2, "2024-10-03 11:00:00"),
        out(a, "wamid.a4", TPL, P3, "2024-10-03 12:00:00"),
        out(a, "wamid.a5", TPL, P4, "2024-10-03 12:05:00"),
        out(a, "wamid.a6", TPL, P2, "2024-10-03 13:00:00"),
        out(a, "wamid.a7", AI, P3, "2024-10-03 23:59:30"),
        out(a, "wamid.a8", TPL, P4, "2024-10-03 14:00:00"),
        out(a, "wamid.a9", AI, P1, "2024-10-03 15:00:00"),
        inbound(a, "wamid.i1", P1, "2024-10-03 09:59:00"),
        inbound(a, "wamid.i2", P1, "2024-10-03 10:05:00"),
        inbound(a, "wamid.i2b", P1, "2024-10-03 10:06:00"),
        inbound(a, "wamid.i3", P2, "2024-10-03 10:59:30"),
        inbound(a, "wamid.i4", P3, "2024-10-03 23:00:00"),
        inbound(a, "wamid.i5", P5, "2024-10-03 16:00:00"),
        # 2024-10-04
        out(a, "wamid.b1", AI, P1, "2024-10-04 09:00:00"),
        out(a, "wamid.b2", TPL, P2, "2024-10-04 09:15:00"),
        out(a, "wamid.b3", None, P3, "2024-10-04 10:00:00"),
        inbound(a, "wamid.i6", P1, "2024-10-04 09:20:00"),
        inbound(a, "wamid.i7", P2, "2024-10-04 08:00:00"),
        # 2024-10-05
        out(a, "wamid.c1", TPL, P4, "2024-10-05 08:00:00"),
    ]


def messages_of_b(b: uuid.UUID) -> list[Message]:
    return [
        out(b, "wamid.a1", AI, P1, "2024-10-03 10:00:00"),
        out(b, "wamid.x2", TPL, P5, "2024-10-03 16:30:00"),
        out(b, "wamid.x3", AI, P1, "2024-10-04 10:00:00"),
        inbound(b, "wamid.y1", P1, "2024-10-04 09:50:00"),
    ]


async def load(dsn: str, a: uuid.UUID, b: uuid.UUID) -> None:
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    try:
        # The BSP's `delivered` for a7 arrives before the agent logs a7: it is parked, then applied.
        await store.apply_batch([], [status(a, "wamid.a7", "delivered", "2024-10-04 00:00:20")])
        await store.apply_batch(messages_of_a(a) + messages_of_b(b), [])
        # `read` before `delivered`; a6 is never reported delivered, so read fills it.
        await store.apply_batch(
            [],
            [
                status(a, "wamid.a1", "read", "2024-10-03 10:01:05"),
                status(a, "wamid.a2", "read", "2024-10-03 10:12:10"),
                status(a, "wamid.a6", "read", "2024-10-03 13:00:40"),
                status(a, "wamid.b1", "read", "2024-10-04 09:30:02"),
                status(b, "wamid.x3", "read", "2024-10-04 10:00:03"),
            ],
        )
        await store.apply_batch(
            [],
            [
                status(a, "wamid.a1", "delivered", "2024-10-03 10:00:05"),
                status(a, "wamid.a2", "delivered", "2024-10-03 10:10:10"),
                status(a, "wamid.a3", "delivered", "2024-10-03 11:00:20"),
                status(a, "wamid.b1", "delivered", "2024-10-04 09:00:02"),
                status(b, "wamid.x3", "delivered", "2024-10-04 10:00:01"),
                status(a, "wamid.a4", "failed", "2024-10-03 12:00:09", "Error 131000: Something went wrong"),
                status(a, "wamid.a9", "deleted", "2024-10-03 15:30:00"),
            ],
        )
        await store.apply_batch(
            [],
            [
                status(a, "wamid.a3", "delivered", "2024-10-03 11:05:00"),  # a BSP retry, later: earliest kept
                status(a, "wamid.a4", "failed", "2024-10-03 12:00:03", REASON_131047),  # earlier: replaces 131000
                status(a, "wamid.a5", "failed", "2024-10-03 12:05:09", REASON_131026),
                status(a, "wamid.a8", "failed", "2024-10-03 14:00:30", REASON_131047_NEWER),
                status(a, "wamid.b2", "failed", "2024-10-04 09:15:01", REASON_131026_DAY2),
                status(a, "wamid.c1", "failed", "2024-10-05 08:00:05", REASON_NO_CODE),
                status(b, "wamid.x2", "failed", "2024-10-03 16:30:04", REASON_B),
            ],
        )
    finally:
        await store.close()


@dataclass(frozen=True)
class Orgs:
    a: uuid.UUID
    b: uuid.UUID


@pytest.fixture(scope="module")
def orgs(dsn: str) -> Orgs:
    """Organisations A and B, loaded once for this module (fresh ids; other tests share the database)."""
    loaded = Orgs(uuid.uuid4(), uuid.uuid4())
    asyncio.run(load(dsn, loaded.a, loaded.b))
    return loaded


def rows(records: list[asyncpg.Record], *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in records]


def d(value: str) -> Decimal:
    return Decimal(value)


FUNNEL = (
    "outbound",
    "sent",
    "delivered",
    "read",
    "failed",
    "delivery_rate_pct",
    "read_rate_pct",
    "median_seconds_to_deliver",
    "p95_seconds_to_deliver",
    "median_seconds_to_read",
    "p95_seconds_to_read",
)
NO_TIMES = (None, None, None, None)

# Day 1 of A: delivered after [5, 10, 20, 40, 50] s, read after [0, 60, 120] s.
A_DAY1 = (9, 9, 5, 3, 3, d("55.56"), d("60.00"), d("20.0"), d("48.0"), d("60.0"), d("114.0"))
A_DAY2 = (3, 3, 1, 1, 1, d("33.33"), d("100.00"), d("2.0"), d("2.0"), d("1800.0"), d("1800.0"))
A_DAY3 = (1, 1, 0, 0, 1, d("0.00"), None, *NO_TIMES)
B_DAY1 = (2, 2, 0, 0, 1, d("0.00"), None, *NO_TIMES)
B_DAY2 = (1, 1, 1, 1, 0, d("100.00"), d("100.00"), d("1.0"), d("1.0"), d("2.0"), d("2.0"))


async def test_timeline_has_one_row_per_message_with_stage_times(conn: asyncpg.Connection, orgs: Orgs):
    counts = await conn.fetch(
        "select org_id, direction, count(*) from message_status_timeline where org_id = any($1::uuid[]) group by 1, 2",
        [orgs.a, orgs.b],
    )
    assert {(r["org_id"], r["direction"]): r["count"] for r in counts} == {
        (orgs.a, "OUTBOUND"): 13,
        (orgs.a, "INBOUND"): 8,
        (orgs.b, "OUTBOUND"): 3,
        (orgs.b, "INBOUND"): 1,
    }
    got = await conn.fetch("select * from message_status_timeline where org_id = $1 order by bsp_msg_id", orgs.a)
    by_id = {r["bsp_msg_id"]: r for r in got}
    columns = (
        "day",
        "sent_at",
        "delivered_at",
        "read_at",
        "failed_at",
        "seconds_to_deliver",
        "seconds_to_read",
        "status",
        "error_code",
        "failed_reason",
    )
    expected = {
        # read arrived before delivered: both kept at their own times
        "wamid.a1": (
            D1,
            at("2024-10-03 10:00:00"),
            at("2024-10-03 10:00:05"),
            at("2024-10-03 10:01:05"),
            None,
            5,
            60,
            "READ",
            None,
            None,
        ),
        # the earlier of two failures wins, with its reason
        "wamid.a4": (
            D1,
            at("2024-10-03 12:00:00"),
            None,
            None,
            at("2024-10-03 12:00:03"),
            None,
            None,
            "FAILED",
            "131047",
            REASON_131047,
        ),
        # read without delivered: delivered takes the read time
        "wamid.a6": (
            D1,
            at("2024-10-03 13:00:00"),
            at("2024-10-03 13:00:40"),
            at("2024-10-03 13:00:40"),
            None,
            40,
            0,
            "READ",
            None,
            None,
        ),
        # parked before it was logged; sent on day 1 (UTC), delivered on day 2
        "wamid.a7": (
            D1,
            at("2024-10-03 23:59:30"),
            at("2024-10-04 00:00:20"),
            None,
            None,
            50,
            None,
            "DELIVERED",
            None,
            None,
        ),
        # an unranked status changes nothing
        "wamid.a9": (D1, at("2024-10-03 15:00:00"), None, None, None, None, None, "SENT", None, None),
        "wamid.c1": (
            D3,
            at("2024-10-05 08:00:00"),
            None,
            None,
            at("2024-10-05 08:00:05"),
            None,
            None,
            "FAILED",
            None,
            REASON_NO_CODE,
        ),
        "wamid.i5": (D1, *NO_TIMES, None, None, None, None, None),
    }
    assert {k: tuple(by_id[k][c] for c in columns) for k in expected} == expected
    assert (by_id["wamid.i5"]["direction"], by_id["wamid.i5"]["contact_phone"]) == ("INBOUND", P5)
    assert (by_id["wamid.a1"]["direction"], by_id["wamid.a1"]["contact_phone"]) == ("OUTBOUND", P1)
    assert (by_id["wamid.a3"]["seconds_to_deliver"], by_id["wamid.a3"]["msg_kind"]) == (20, AI)
    b_a1 = await conn.fetchrow(
        "select status, delivered_at from message_status_timeline where org_id = $1 and bsp_msg_id = 'wamid.a1'", orgs.b
    )
    assert tuple(b_a1) == ("SENT", None)


async def test_daily_funnel_counts_rates_and_percentiles_per_org(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch(
        "select * from message_funnel_daily where org_id = any($1::uuid[]) order by org_id = $2 desc, day",
        [orgs.a, orgs.b],
        orgs.a,
    )
    assert rows(got, "org_id", "day", *FUNNEL) == [
        (orgs.a, D1, *A_DAY1),
        (orgs.a, D2, *A_DAY2),
        (orgs.a, D3, *A_DAY3),
        (orgs.b, D1, *B_DAY1),
        (orgs.b, D2, *B_DAY2),
    ]


async def test_daily_funnel_by_kind_splits_each_day(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch(
        "select * from message_funnel_daily_by_kind where org_id = $1 order by day, msg_kind nulls last", orgs.a
    )
    assert rows(got, "day", "msg_kind", *FUNNEL) == [
        # AI delivered after [5, 10, 20, 50] s and read after [60, 120] s; TEMPLATE a6 after 40 s, read at once.
        (D1, AI, 5, 5, 4, 2, 0, d("80.00"), d("50.00"), d("15.0"), d("45.5"), d("90.0"), d("117.0")),
        (D1, TPL, 4, 4, 1, 1, 3, d("25.00"), d("100.00"), d("40.0"), d("40.0"), d("0.0"), d("0.0")),
        (D2, AI, 1, 1, 1, 1, 0, d("100.00"), d("100.00"), d("2.0"), d("2.0"), d("1800.0"), d("1800.0")),
        (D2, TPL, 1, 1, 0, 0, 1, d("0.00"), None, *NO_TIMES),
        (D2, None, 1, 1, 0, 0, 0, d("0.00"), None, *NO_TIMES),
        (D3, TPL, 1, 1, 0, 0, 1, d("0.00"), None, *NO_TIMES),
    ]


async def test_day_boundaries_are_utc_whatever_the_session_time_zone(conn: asyncpg.Connection, orgs: Orgs):
    await conn.execute("set timezone to 'Pacific/Kiritimati'")  # UTC+14: a7 would fall on 2024-10-04 there
    got = await conn.fetch("select * from message_funnel_daily where org_id = $1 order by day", orgs.a)
    assert rows(got, "day", *FUNNEL) == [(D1, *A_DAY1), (D2, *A_DAY2), (D3, *A_DAY3)]
    hours = await conn.fetch("select hour_of_day from read_rate_by_hour where org_id = $1 order by 1", orgs.a)
    assert [r["hour_of_day"] for r in hours] == [8, 9, 10, 11, 12, 13, 14, 15, 23]


async def test_funnel_function_covers_a_window(conn: asyncpg.Connection, orgs: Orgs):
    two_days = await conn.fetchrow("select * from bluetick_funnel($1, $2, $3)", orgs.a, day_start(D1), day_start(D3))
    # delivered after [2, 5, 10, 20, 40, 50] s, read after [0, 60, 120, 1800] s
    assert tuple(two_days[c] for c in FUNNEL) == (
        12,
        12,
        6,
        4,
        4,
        d("50.00"),
        d("66.67"),
        d("15.0"),
        d("47.5"),
        d("90.0"),
        d("1548.0"),
    )
    first_day = await conn.fetchrow("select * from bluetick_funnel($1, $2, $3)", orgs.a, day_start(D1), day_start(D2))
    assert tuple(first_day[c] for c in FUNNEL) == A_DAY1
    empty = await conn.fetchrow(
        "select * from bluetick_funnel($1, $2, $3)", orgs.a, at("2030-01-01 00:00:00"), at("2030-01-02 00:00:00")
    )
    assert tuple(empty[c] for c in FUNNEL) == (0, 0, 0, 0, 0, None, None, *NO_TIMES)
    b_all = await conn.fetchrow("select * from bluetick_funnel($1, '-infinity', 'infinity')", orgs.b)
    assert tuple(b_all[c] for c in FUNNEL) == (
        3,
        3,
        1,
        1,
        1,
        d("33.33"),
        d("100.00"),
        d("1.0"),
        d("1.0"),
        d("2.0"),
        d("2.0"),
    )


async def test_funnel_by_kind_function_orders_busiest_kind_first(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch(
        "select * from bluetick_funnel_by_kind($1, $2, $3)", orgs.a, day_start(D1), day_start(D3 + timedelta(days=1))
    )
    assert rows(got, "msg_kind", *FUNNEL) == [
        # AI delivered after [2, 5, 10, 20, 50] s, read after [60, 120, 1800] s
        (AI, 6, 6, 5, 3, 0, d("83.33"), d("60.00"), d("10.0"), d("44.0"), d("120.0"), d("1632.0")),
        (TPL, 6, 6, 1, 1, 5, d("16.67"), d("100.00"), d("40.0"), d("40.0"), d("0.0"), d("0.0")),
        (None, 1, 1, 0, 0, 0, d("0.00"), None, *NO_TIMES),
    ]


async def test_failures_by_day_and_code_keep_the_newest_reason(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch(
        "select * from message_failures_daily where org_id = any($1::uuid[])"
        " order by org_id = $2 desc, day, error_code nulls last",
        [orgs.a, orgs.b],
        orgs.a,
    )
    assert rows(got, "org_id", "day", "error_code", "failures", "last_failed_at", "newest_reason") == [
        (orgs.a, D1, "131026", 1, at("2024-10-03 12:05:09"), REASON_131026),
        (orgs.a, D1, "131047", 2, at("2024-10-03 14:00:30"), REASON_131047_NEWER),
        (orgs.a, D2, "131026", 1, at("2024-10-04 09:15:01"), REASON_131026_DAY2),
        (orgs.a, D3, None, 1, at("2024-10-05 08:00:05"), REASON_NO_CODE),
        (orgs.b, D1, "131047", 1, at("2024-10-03 16:30:04"), REASON_B),
    ]


async def test_failures_per_day_add_up_to_the_funnel(conn: asyncpg.Connection, orgs: Orgs):
    mismatches = await conn.fetch(
        "select f.day, f.failed, sum(x.failures) as by_code"
        " from message_funnel_daily f join message_failures_daily x using (org_id, day)"
        " where f.org_id = any($1::uuid[]) group by f.org_id, f.day, f.failed"
        " having f.failed <> sum(x.failures)",
        [orgs.a, orgs.b],
    )
    assert mismatches == []


async def test_failures_function_groups_a_window_by_code(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch(
        "select * from bluetick_failures($1, $2, $3)", orgs.a, day_start(D1), day_start(D3 + timedelta(days=1))
    )
    assert rows(got, "error_code", "failures", "last_failed_at", "newest_reason") == [
        ("131026", 2, at("2024-10-04 09:15:01"), REASON_131026_DAY2),
        ("131047", 2, at("2024-10-03 14:00:30"), REASON_131047_NEWER),
        (None, 1, at("2024-10-05 08:00:05"), REASON_NO_CODE),
    ]


async def test_each_customer_message_is_answered_by_the_next_outbound_of_its_org(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch("select * from message_response_times where org_id = $1 order by received_at", orgs.a)
    assert rows(got, "bsp_msg_id", "customer_phone", "day", "reply_bsp_msg_id", "seconds_to_reply") == [
        ("wamid.i1", P1, D1, "wamid.a1", 60),
        ("wamid.i2", P1, D1, "wamid.a2", 300),
        ("wamid.i2b", P1, D1, "wamid.a2", 240),
        ("wamid.i3", P2, D1, "wamid.a3", 30),
        ("wamid.i5", P5, D1, None, None),  # B wrote to P5 at 16:30; that is not A's answer
        ("wamid.i4", P3, D1, "wamid.a7", 3570),
        ("wamid.i7", P2, D2, "wamid.b2", 4500),  # a failed reply is still an answer
        ("wamid.i6", P1, D2, None, None),  # B wrote to P1 at 10:00; that is not A's answer
    ]
    assert got[0]["replied_at"] == at("2024-10-03 10:00:00")


async def test_response_times_per_day_and_window(conn: asyncpg.Connection, orgs: Orgs):
    columns = ("inbound", "answered", "unanswered", "median_seconds_to_reply", "p95_seconds_to_reply")
    got = await conn.fetch(
        "select * from response_times_daily where org_id = any($1::uuid[]) order by org_id = $2 desc, day",
        [orgs.a, orgs.b],
        orgs.a,
    )
    assert rows(got, "org_id", "day", *columns) == [
        # answered after [30, 60, 240, 300, 3570] s
        (orgs.a, D1, 6, 5, 1, d("240.0"), d("2916.0")),
        (orgs.a, D2, 2, 1, 1, d("4500.0"), d("4500.0")),
        (orgs.b, D2, 1, 1, 0, d("600.0"), d("600.0")),
    ]
    window = await conn.fetchrow(
        "select * from bluetick_response_times($1, $2, $3)", orgs.a, day_start(D1), day_start(D3)
    )
    # answered after [30, 60, 240, 300, 3570, 4500] s
    assert tuple(window[c] for c in columns) == (8, 6, 2, d("270.0"), d("4267.5"))
    empty = await conn.fetchrow(
        "select * from bluetick_response_times($1, $2, $3)", orgs.a, day_start(D3), day_start(D3 + timedelta(days=1))
    )
    assert tuple(empty[c] for c in columns) == (0, 0, 0, None, None)


async def test_unanswered_lists_waiting_customer_messages_as_of_a_time(conn: asyncpg.Connection, orgs: Orgs):
    columns = ("bsp_msg_id", "customer_phone", "received_at", "seconds_waiting", "body")
    noon_day2 = at("2024-10-04 12:00:00")
    got = await conn.fetch(
        "select * from bluetick_unanswered($1, $2, interval '0', $3)", orgs.a, day_start(D1), noon_day2
    )
    assert rows(got, *columns) == [
        ("wamid.i5", P5, at("2024-10-03 16:00:00"), 72_000, "question wamid.i5"),
        ("wamid.i6", P1, at("2024-10-04 09:20:00"), 9_600, "question wamid.i6"),
    ]
    waited_3h = await conn.fetch(
        "select bsp_msg_id from bluetick_unanswered($1, $2, interval '3 hours', $3)", orgs.a, day_start(D1), noon_day2
    )
    assert [r["bsp_msg_id"] for r in waited_3h] == ["wamid.i5"]
    # At 10:07 on day 1, a2 (10:10) had not answered i2 and i2b yet; a1 had answered i1; i3 had not come.
    early = await conn.fetch(
        "select * from bluetick_unanswered($1, $2, interval '0', $3)", orgs.a, day_start(D1), at("2024-10-03 10:07:00")
    )
    assert rows(early, "bsp_msg_id", "seconds_waiting") == [("wamid.i2", 120), ("wamid.i2b", 60)]
    now = await conn.fetch("select bsp_msg_id from bluetick_unanswered($1, $2)", orgs.a, day_start(D1))
    assert [r["bsp_msg_id"] for r in now] == ["wamid.i5", "wamid.i6"]
    b_now = await conn.fetch("select bsp_msg_id from bluetick_unanswered($1, '-infinity')", orgs.b)
    assert b_now == []


ENGAGEMENT = (
    "contact_phone",
    "outbound",
    "delivered",
    "read",
    "read_rate_pct",
    "inbound",
    "first_message_at",
    "last_message_at",
)


async def test_contact_engagement_per_customer(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch(
        "select * from contact_engagement where org_id = any($1::uuid[]) order by org_id = $2 desc, contact_phone",
        [orgs.a, orgs.b],
        orgs.a,
    )
    assert rows(got, "org_id", *ENGAGEMENT) == [
        (orgs.a, P1, 4, 3, 3, d("100.00"), 4, at("2024-10-03 09:59:00"), at("2024-10-04 09:20:00")),
        (orgs.a, P2, 3, 2, 1, d("50.00"), 2, at("2024-10-03 10:59:30"), at("2024-10-04 09:15:00")),
        (orgs.a, P3, 3, 1, 0, d("0.00"), 1, at("2024-10-03 12:00:00"), at("2024-10-04 10:00:00")),
        (orgs.a, P4, 3, 0, 0, None, 0, at("2024-10-03 12:05:00"), at("2024-10-05 08:00:00")),
        (orgs.a, P5, 0, 0, 0, None, 1, at("2024-10-03 16:00:00"), at("2024-10-03 16:00:00")),
        (orgs.b, P1, 2, 1, 1, d("100.00"), 1, at("2024-10-03 10:00:00"), at("2024-10-04 10:00:00")),
        (orgs.b, P5, 1, 0, 0, None, 0, at("2024-10-03 16:30:00"), at("2024-10-03 16:30:00")),
    ]


async def test_contact_engagement_function_covers_a_window(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch(
        "select * from bluetick_contact_engagement($1, $2, $3)",
        orgs.a,
        day_start(D2),
        day_start(D3 + timedelta(days=1)),
    )
    assert rows(got, *ENGAGEMENT) == [
        (P1, 1, 1, 1, d("100.00"), 1, at("2024-10-04 09:00:00"), at("2024-10-04 09:20:00")),
        (P2, 1, 0, 0, None, 1, at("2024-10-04 08:00:00"), at("2024-10-04 09:15:00")),
        (P3, 1, 0, 0, None, 0, at("2024-10-04 10:00:00"), at("2024-10-04 10:00:00")),
        (P4, 1, 0, 0, None, 0, at("2024-10-05 08:00:00"), at("2024-10-05 08:00:00")),
    ]


HOURLY = ("hour_of_day", "outbound", "delivered", "read", "read_rate_pct")
A_BY_UTC_HOUR = [
    (8, 1, 0, 0, None),
    (9, 2, 1, 1, d("100.00")),
    (10, 3, 2, 2, d("100.00")),
    (11, 1, 1, 0, d("0.00")),
    (12, 2, 0, 0, None),
    (13, 1, 1, 1, d("100.00")),
    (14, 1, 0, 0, None),
    (15, 1, 0, 0, None),
    (23, 1, 1, 0, d("0.00")),
]


async def test_read_rate_by_hour_of_sending(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch("select * from read_rate_by_hour where org_id = $1 order by hour_of_day", orgs.a)
    assert rows(got, *HOURLY) == A_BY_UTC_HOUR
    b = await conn.fetch("select * from read_rate_by_hour where org_id = $1 order by hour_of_day", orgs.b)
    assert rows(b, *HOURLY) == [(10, 2, 1, 1, d("100.00")), (16, 1, 0, 0, None)]


async def test_read_rate_by_hour_function_reads_hours_in_a_time_zone(conn: asyncpg.Connection, orgs: Orgs):
    since, until = day_start(D1), day_start(D3 + timedelta(days=1))
    utc = await conn.fetch("select * from bluetick_read_rate_by_hour($1, $2, $3)", orgs.a, since, until)
    assert rows(utc, *HOURLY) == A_BY_UTC_HOUR
    india = await conn.fetch(
        "select * from bluetick_read_rate_by_hour($1, $2, $3, 'Asia/Kolkata')", orgs.a, since, until
    )
    assert rows(india, *HOURLY) == [  # UTC+05:30: a7 at 23:59:30 is 05:29:30 the next morning
        (5, 1, 1, 0, d("0.00")),
        (13, 1, 0, 0, None),
        (14, 2, 1, 1, d("100.00")),
        (15, 3, 2, 2, d("100.00")),
        (16, 1, 1, 0, d("0.00")),
        (17, 2, 0, 0, None),
        (18, 1, 1, 1, d("100.00")),
        (19, 1, 0, 0, None),
        (20, 1, 0, 0, None),
    ]


async def test_helpers_parse_codes_pick_customers_tell_events_and_divide_safely(conn: asyncpg.Connection):
    got = await conn.fetchrow(
        "select bluetick_error_code('Error 131047: Re-engagement message') as a,"
        " bluetick_error_code('Error 131026 (no title)') as b, bluetick_error_code('Error: no code') as c,"
        " bluetick_error_code(null) as n, bluetick_pct(2, 3) as third, bluetick_pct(0, 0) as none,"
        " bluetick_contact_phone('INBOUND', '+1555', '+91987') as inbound,"
        " bluetick_contact_phone('OUTBOUND', '+91987', null) as outbound,"
        " bluetick_customer('INBOUND', '+1555', null, 'IN.2081978709342942') as username_only,"
        " bluetick_customer('OUTBOUND', '+91987', null, 'IN.2081978709342942') as phone_first,"
        " bluetick_customer('INBOUND', '+1555', '', null) as nobody,"
        " bluetick_is_event('REACTION') and bluetick_is_event('SYSTEM') as event,"
        " bluetick_is_event('TEXT') or bluetick_is_event(null) as message"
    )
    assert tuple(got) == (
        "131047",
        "131026",
        None,
        None,
        d("66.67"),
        None,
        "+91987",
        "+91987",
        "IN.2081978709342942",
        "+91987",
        None,
        True,
        False,
    )


async def test_views_run_as_the_caller_and_everything_is_commented(conn: asyncpg.Connection):
    views = await conn.fetch(
        "select c.relname, c.reloptions, obj_description(c.oid, 'pg_class') as comment"
        " from pg_class c where c.relkind = 'v' and c.relname = any($1::text[])",
        list(VIEWS),
    )
    assert sorted(r["relname"] for r in views) == sorted(VIEWS)
    assert all("security_invoker=true" in (r["reloptions"] or []) and r["comment"] for r in views)
    functions = await conn.fetch(
        "select p.proname, p.prosecdef, obj_description(p.oid, 'pg_proc') as comment"
        " from pg_proc p where p.proname = any($1::text[])",
        list(FUNCTIONS),
    )
    assert sorted(r["proname"] for r in functions) == sorted(FUNCTIONS)
    assert all(not r["prosecdef"] and r["comment"] for r in functions)


def seed_queries() -> list[tuple[str, str]]:
    """(heading, sql) of each seed query's bluetick equivalent in sql/analytics/README.md."""
    found = re.findall(r"^### (\d+\..*?)$.*?^```sql\n(.*?)^```", ANALYTICS_README.read_text(), re.M | re.S)
    return [(heading, sql) for heading, sql in found]


def test_readme_has_an_equivalent_for_each_of_the_20_seed_queries():
    headings = [h for h, _ in seed_queries()]
    assert [h.split(".")[0] for h in headings] == [str(n) for n in range(1, 21)]


@pytest.mark.parametrize(("heading", "sql"), seed_queries(), ids=[h.split(".")[0] for h, _ in seed_queries()])
async def test_readme_seed_equivalent_runs(conn: asyncpg.Connection, orgs: Orgs, heading: str, sql: str):
    query = sql.replace(README_ORG, "$1::uuid")
    args = [orgs.a] if "$1" in query else []
    await conn.fetch(query, *args)


async def test_stats_prints_the_daily_funnel_and_a_total(dsn: str, orgs: Orgs):
    text = await funnel_report(dsn, orgs.a, days=3, by="day", today=D3)
    table = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:] if line.strip()}
    assert table["2024-10-03"] == ["9", "9", "5", "3", "3", "55.56", "60.00", "20.0", "48.0", "60.0", "114.0"]
    assert table["2024-10-04"] == ["3", "3", "1", "1", "1", "33.33", "100.00", "2.0", "2.0", "1800.0", "1800.0"]
    assert table["2024-10-05"] == ["1", "1", "0", "0", "1", "0.00", "-", "-", "-", "-", "-"]
    # all 13 of A's messages: delivered after [2, 5, 10, 20, 40, 50] s, read after [0, 60, 120, 1800] s
    assert table["total"] == ["13", "13", "6", "4", "5", "46.15", "66.67", "15.0", "47.5", "90.0", "1548.0"]
    assert str(orgs.a) in text.splitlines()[0]
    assert "2024-10-03 to 2024-10-05" in text.splitlines()[0]


async def test_stats_by_kind_prints_one_row_per_kind(dsn: str, orgs: Orgs):
    text = await funnel_report(dsn, orgs.a, days=2, by="kind", today=D2)
    table = {line.split()[0]: line.split()[1:] for line in text.splitlines()[2:] if line.strip()}
    # 2024-10-03 and 2024-10-04 only: c1 of 2024-10-05 is outside the window
    assert table == {
        AI: ["6", "6", "5", "3", "0", "83.33", "60.00", "10.0", "44.0", "120.0", "1632.0"],
        TPL: ["5", "5", "1", "1", "4", "20.00", "100.00", "40.0", "40.0", "0.0", "0.0"],
        "(none)": ["1", "1", "0", "0", "0", "0.00", "-", "-", "-", "-", "-"],
        "total": ["12", "12", "6", "4", "4", "50.00", "66.67", "15.0", "47.5", "90.0", "1548.0"],
    }


async def test_stats_of_an_org_without_messages_says_so(dsn: str):
    text = await funnel_report(dsn, uuid.uuid4(), days=7, by="day", today=D3)
    assert "no outbound messages" in text


def test_stats_command_prints_the_funnel_of_the_last_days(
    dsn: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    org = uuid.uuid4()
    sent = datetime.now(UTC).replace(microsecond=0) - timedelta(seconds=10)

    async def log() -> None:
        store = await PostgresStore.connect(dsn, pool_size=1, timeout_s=10)
        try:
            await store.apply_batch(
                [Message(org, "wamid.now", to_phone=P1, msg_kind=AI, sent_at=sent)],
                [StatusEvent(org, "wamid.now", "delivered", sent + timedelta(seconds=3))],
            )
        finally:
            await store.close()

    asyncio.run(log())
    monkeypatch.setenv("DATABASE_URL", dsn)
    monkeypatch.setenv("ALLOW_UNSIGNED_WEBHOOKS", "false")  # settings are validated for every command
    assert main(["stats", "--org", str(org), "--days", "2"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[1].split()[:3] == ["day", "outbound", "sent"]
    assert lines[-1].split() == ["total", "1", "1", "1", "0", "0", "100.00", "0.00", "3.0", "3.0", "-", "-"]


@pytest.mark.parametrize(
    "bad",
    [
        ["--org", "not-a-uuid"],
        ["--org", str(uuid.UUID(int=1)), "--days", "0"],
        ["--org", str(uuid.UUID(int=1)), "--by", "phone"],
    ],
)
def test_stats_command_refuses_bad_arguments(bad: list[str], capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as exit_info:
        main(["stats", *bad])
    assert exit_info.value.code == 2
    assert "stats" in capsys.readouterr().err


async def test_functions_obey_the_callers_row_level_security(supabase_dsn: str):
    """On Supabase, an authenticated user of organisation A gets nothing of B, even naming B's id."""
    a, b = uuid.uuid4(), uuid.uuid4()
    store = await PostgresStore.connect(supabase_dsn, pool_size=1, timeout_s=10)
    try:
        await store.apply_batch(
            [
                out(a, "wamid.a", AI, P1, "2024-10-03 10:00:00"),
                out(b, "wamid.b", AI, P1, "2024-10-03 10:00:00"),
                inbound(b, "wamid.q", P2, "2024-10-03 10:00:00"),
            ],
            [],
        )
    finally:
        await store.close()
    connection = await asyncpg.connect(supabase_dsn)
    try:
        async with connection.transaction():
            await connection.execute("set local role authenticated")
            await connection.execute(
                "select set_config('request.jwt.claims', $1, true)",
                json.dumps({"role": "authenticated", "org_id": str(a)}),
            )
            own = await connection.fetchval("select outbound from bluetick_funnel($1, '-infinity', 'infinity')", a)
            other = await connection.fetchval("select outbound from bluetick_funnel($1, '-infinity', 'infinity')", b)
            unanswered = await connection.fetch("select * from bluetick_unanswered($1, '-infinity')", b)
            daily = await connection.fetch("select * from message_funnel_daily where org_id = $1", b)
    finally:
        await connection.close()
    assert (own, other, unanswered, daily) == (1, 0, [], [])
