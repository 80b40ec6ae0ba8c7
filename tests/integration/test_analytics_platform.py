"""Platform facts for analysts (sql/analytics/0111_platform.sql) and one customer across identifier changes in the
response-time and engagement analytics (0100_helpers.sql, 0104, 0105), with numbers worked out by hand.

Fixture: two organisations, A and B, written through the service's write path (Store.apply_batch with facts). B
reuses A's identifiers, template id and group message id at overlapping times, so a leak changes A's numbers. The
facts go in shuffled across several batches, then all again in reverse order: the results must not depend on the
order, and the second pass must store nothing.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from bluetick.events import (
    AccountUpdate,
    Direction,
    Fact,
    GroupReceipt,
    IdentityLink,
    Message,
    Preference,
    StatusEvent,
    TemplateUpdate,
)
from bluetick.store.postgres import PostgresStore

BUSINESS = "+15550783881"
P1, P2, P3, P4 = "+919800000001", "+919800000002", "+919800000003", "+919800000004"
USERNAME = "IN.2081978709342942"
OLD, NEW = "+919811111111", "+919822222222"  # A's customer who changed number at 10:10
STEADY = "+919833333333"  # never changed
U1, U2, U3 = "IN.1000000000000001", "IN.1000000000000002", "IN.1000000000000003"  # BSUID changed twice
C1, C2 = "+919844444444", "+919855555555"  # changed C1 -> C2 at 08:00 and back C2 -> C1 at 08:30
E1, E2 = "+919866666666", "+919877777777"  # links both ways in the same second: a cycle
Q1, Q2, Q4, Q5 = "+919890000001", "+919890000002", "+919890000004", "+919890000005"
Q3 = "IN.3000000000000003"  # a participant known by BSUID only
GROUP = "120363041234567890"
DAY = date(2024, 11, 5)
MARKETING = "marketing_messages"


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def t(clock: str, day: str = "2024-11-05") -> datetime:
    return at(f"{day} {clock}")


def inbound(
    org: uuid.UUID, msg_id: str, clock: str, phone: str | None = None, user_id: str | None = None, kind: str = "TEXT"
) -> Message:
    return Message(
        org,
        msg_id,
        Direction.INBOUND,
        kind,
        to_phone=BUSINESS,
        from_phone=phone,
        body=f"q {msg_id}",
        sent_at=t(clock),
        customer_user_id=user_id,
    )


def outbound(org: uuid.UUID, msg_id: str, clock: str, phone: str | None = None, user_id: str | None = None) -> Message:
    return Message(
        org,
        msg_id,
        Direction.OUTBOUND,
        "AI",
        to_phone=phone,
        body=f"r {msg_id}",
        sent_at=t(clock),
        customer_user_id=user_id,
    )


def facts_of_a(a: uuid.UUID) -> list[Fact]:
    return [
        # Preferences: P1 stopped then resumed; P2 stopped and resumed in the same second (stop wins); a
        # username-only customer stopped; P3 stopped, then changed number to P4 (P4 inherits the stop). A
        # category other than marketing_messages is not a marketing preference.
        Preference(a, t("10:00:00"), "stop", MARKETING, customer_phone=P1, detail="stop 1"),
        Preference(a, t("11:00:00"), "resume", MARKETING, customer_phone=P1, detail="resume 1"),
        Preference(a, t("15:00:00"), "stop", "other_messages", customer_phone=P1, detail="not marketing"),
        Preference(a, t("09:00:00"), "resume", MARKETING, customer_phone=P2, detail="resume 2"),
        Preference(a, t("12:00:00"), "resume", MARKETING, customer_phone=P2, detail="resume 2 again"),
        Preference(a, t("12:00:00"), "stop", MARKETING, customer_phone=P2, detail="stop 2"),
        Preference(a, t("10:30:00"), "stop", MARKETING, customer_user_id=USERNAME, detail="stop u"),
        Preference(a, t("08:00:00"), "stop", MARKETING, customer_phone=P3, detail="stop 3"),
        IdentityLink(a, "phone", P3, P4, t("09:00:00")),
        # Templates. T1: status PENDING, APPROVED, PAUSED (with a reason), APPROVED again (no reason); quality
        # GREEN then YELLOW; category UTILITY then MARKETING, the latest event (14:00), which renames it but
        # names no language. T2: REJECTED and APPROVED in the same second: the greater text, REJECTED, wins.
        TemplateUpdate(a, "T1", "status", "PENDING", t("09:00:00"), "order_update", "en_US"),
        TemplateUpdate(a, "T1", "status", "APPROVED", t("10:00:00"), "order_update", "en_US"),
        TemplateUpdate(a, "T1", "status", "PAUSED", t("11:00:00"), "order_update", "en_US", "LOW_QUALITY"),
        TemplateUpdate(a, "T1", "status", "APPROVED", t("13:00:00"), "order_update", "en_US"),
        TemplateUpdate(a, "T1", "quality", "GREEN", t("10:30:00")),
        TemplateUpdate(a, "T1", "quality", "YELLOW", t("12:00:00")),
        TemplateUpdate(a, "T1", "category", "UTILITY", t("08:00:00"), "order_update", "en_US"),
        TemplateUpdate(
            a,
            "T1",
            "category",
            "MARKETING",
            t("14:00:00"),
            "order_update_v2",
            detail={"previous_category": "UTILITY", "new_category": "MARKETING"},
        ),
        TemplateUpdate(a, "T2", "status", "APPROVED", t("10:00:00"), "promo", "es"),
        TemplateUpdate(a, "T2", "status", "REJECTED", t("10:00:00"), "promo", "es", "INVALID_FORMAT"),
        # Account events.
        AccountUpdate(
            a, "phone_number_quality_update", t("09:00:00"), "FLAGGED", {"event": "FLAGGED", "current_limit": "TIER_1K"}
        ),
        AccountUpdate(a, "account_update", t("10:00:00"), "VERIFIED_ACCOUNT", {"event": "VERIFIED_ACCOUNT"}),
        AccountUpdate(
            a,
            "phone_number_quality_update",
            t("11:00:00"),
            "UNFLAGGED",
            {"event": "UNFLAGGED", "current_limit": "TIER_10K"},
        ),
        # One group message, five participants (2024-11-06). Q1 got it, read it, and a later duplicate
        # delivery does not count; Q2 only reported read (so delivered then too); Q3, by BSUID, only delivered;
        # Q4 failed; Q5 reported sent after delivered (sent is then the delivery time).
        GroupReceipt(a, "wamid.g1", "sent", t("10:00:00", "2024-11-06"), GROUP, participant_phone=Q1),
        GroupReceipt(a, "wamid.g1", "delivered", t("10:00:09", "2024-11-06"), GROUP, participant_phone=Q1),
        GroupReceipt(a, "wamid.g1", "delivered", t("10:00:05", "2024-11-06"), GROUP, participant_phone=Q1),
        GroupReceipt(
            a,
            "wamid.g1",
            "read",
            t("10:01:00", "2024-11-06"),
            GROUP,
            participant_phone=Q1,
            participant_user_id="IN.3000000000000001",
        ),
        GroupReceipt(a, "wamid.g1", "sent", t("10:00:00", "2024-11-06"), GROUP, participant_phone=Q2),
        GroupReceipt(a, "wamid.g1", "read", t("10:02:00", "2024-11-06"), GROUP, participant_phone=Q2),
        GroupReceipt(a, "wamid.g1", "delivered", t("10:00:30", "2024-11-06"), GROUP, participant_user_id=Q3),
        GroupReceipt(a, "wamid.g1", "sent", t("10:00:00", "2024-11-06"), GROUP, participant_phone=Q4),
        GroupReceipt(a, "wamid.g1", "failed", t("10:00:10", "2024-11-06"), GROUP, participant_phone=Q4),
        GroupReceipt(a, "wamid.g1", "sent", t("10:03:00", "2024-11-06"), GROUP, participant_phone=Q5),
        GroupReceipt(a, "wamid.g1", "delivered", t("10:01:00", "2024-11-06"), GROUP, participant_phone=Q5),
        # Identity links: OLD -> NEW; U1 -> U2 -> U3; C1 -> C2 and back; E1 <-> E2 in the same second.
        IdentityLink(a, "phone", OLD, NEW, t("10:10:00"), "wamid.sys"),
        IdentityLink(a, "user_id", U1, U2, t("09:00:00")),
        IdentityLink(a, "user_id", U2, U3, t("09:30:00")),
        IdentityLink(a, "phone", C1, C2, t("08:00:00")),
        IdentityLink(a, "phone", C2, C1, t("08:30:00")),
        IdentityLink(a, "phone", E1, E2, t("07:00:00")),
        IdentityLink(a, "phone", E2, E1, t("07:00:00")),
    ]


def facts_of_b(b: uuid.UUID) -> list[Fact]:
    return [
        Preference(b, t("11:30:00"), "stop", MARKETING, customer_phone=P1, detail="b stop"),
        Preference(b, t("07:00:00"), "resume", MARKETING, customer_phone=P3, detail="b resume"),
        TemplateUpdate(b, "T1", "status", "REJECTED", t("15:00:00"), "b_template", "hi", "SCAM"),
        AccountUpdate(b, "account_update", t("10:00:00"), "DISABLED_UPDATE", {"event": "DISABLED_UPDATE"}),
        GroupReceipt(b, "wamid.g1", "read", t("09:00:00", "2024-11-06"), GROUP, participant_phone=Q1),
    ]


def messages_of_a(a: uuid.UUID) -> list[Message]:
    return [
        inbound(a, "wamid.c_in", "08:10:00", phone=C2),
        outbound(a, "wamid.c_out", "08:40:00", phone=C1),
        inbound(a, "wamid.u_in", "09:05:00", user_id=U1),
        outbound(a, "wamid.u_out", "09:40:00", user_id=U3),
        inbound(a, "wamid.x1", "10:00:00", phone=OLD),
        inbound(a, "wamid.p1", "10:00:30", phone=STEADY),
        outbound(a, "wamid.p2", "10:01:00", phone=STEADY),
        inbound(a, "wamid.x2", "10:05:00", phone=OLD),
        inbound(a, "wamid.sys", "10:10:00", phone=OLD, kind="SYSTEM"),
        outbound(a, "wamid.y1", "10:20:00", phone=NEW),
        inbound(a, "wamid.x3", "10:30:00", phone=NEW),
        # The group message: one row (2024-11-06).
        Message(
            a,
            "wamid.g1",
            Direction.OUTBOUND,
            "TEMPLATE",
            body="to the group",
            sent_at=t("10:00:00", "2024-11-06"),
            group_id=GROUP,
        ),
    ]


def statuses_of_a(a: uuid.UUID) -> list[StatusEvent]:
    g = "2024-11-06"
    return [
        StatusEvent(a, "wamid.y1", "delivered", t("10:20:05")),
        StatusEvent(a, "wamid.y1", "read", t("10:21:00")),
        # The group message's row merges every participant's receipt: earliest wins.
        *(
            StatusEvent(a, "wamid.g1", s, t(c, g))
            for s, c in [
                ("sent", "10:00:00"),
                ("delivered", "10:00:09"),
                ("delivered", "10:00:05"),
                ("read", "10:01:00"),
                ("read", "10:02:00"),
                ("delivered", "10:00:30"),
                ("sent", "10:03:00"),
                ("delivered", "10:01:00"),
            ]
        ),
    ]


def messages_of_b(b: uuid.UUID) -> list[Message]:
    # The same identifiers in B, which has no links: OLD and NEW are two customers there.
    return [
        inbound(b, "wamid.x1", "10:00:00", phone=OLD),
        outbound(b, "wamid.y1", "10:20:00", phone=NEW),
    ]


@dataclass(frozen=True)
class Orgs:
    a: uuid.UUID
    b: uuid.UUID
    facts: int
    stored_again: int
    rows_after_first: dict[str, int]
    rows_after_second: dict[str, int]


FACT_TABLES = ("customer_preferences", "template_events", "account_events", "group_receipts", "customer_links")


async def count_rows(dsn: str, orgs: list[uuid.UUID]) -> dict[str, int]:
    conn = await asyncpg.connect(dsn)
    try:
        return {
            table: await conn.fetchval(f"select count(*) from {table} where org_id = any($1::uuid[])", orgs)
            for table in FACT_TABLES
        }
    finally:
        await conn.close()


async def load(dsn: str, a: uuid.UUID, b: uuid.UUID) -> Orgs:
    facts = facts_of_a(a) + facts_of_b(b)
    random.Random(23).shuffle(facts)
    store = await PostgresStore.connect(dsn, pool_size=2, timeout_s=10)
    try:
        # Statuses before their messages (parked, then merged), the orgs interleaved, facts in three batches.
        await store.apply_batch([], statuses_of_a(a), facts=facts[:15])
        await store.apply_batch(messages_of_b(b), [], facts=facts[15:30])
        await store.apply_batch(messages_of_a(a), [], facts=facts[30:])
        first = await count_rows(dsn, [a, b])
        # Everything again, in reverse order, in one batch.
        again = await store.apply_batch(
            list(reversed(messages_of_a(a) + messages_of_b(b))),
            list(reversed(statuses_of_a(a))),
            facts=list(reversed(facts)),
        )
        second = await count_rows(dsn, [a, b])
    finally:
        await store.close()
    return Orgs(a, b, len(facts), again.facts, first, second)


@pytest.fixture(scope="module")
def orgs(dsn: str) -> Orgs:
    return asyncio.run(load(dsn, uuid.uuid4(), uuid.uuid4()))


def tuples(records: list[asyncpg.Record], *columns: str) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in records]


# ---------------------------------------------------------------------------------------------------- idempotence


def test_the_second_pass_stores_nothing(orgs: Orgs):
    # 45 facts. A: 8 preferences (one of another category), 10 template events, 3 account events, 11 receipts
    # stored as 10 (Q1's two deliveries are one, the earliest), 8 links; B: 2, 1, 1, 1, 0.
    assert orgs.rows_after_first == {
        "customer_preferences": 10,
        "template_events": 11,
        "account_events": 4,
        "group_receipts": 11,
        "customer_links": 8,
    }
    assert orgs.rows_after_second == orgs.rows_after_first
    assert (orgs.facts, orgs.stored_again) == (45, 0)


# ---------------------------------------------------------------------------------------------------- preferences


async def test_marketing_preferences_latest_wins_stop_on_a_tie_and_follow_a_number_change(
    conn: asyncpg.Connection, orgs: Orgs
):
    got = await conn.fetch("select * from bluetick_marketing_preferences($1)", orgs.a)
    assert tuples(got, "customer", "preference", "changed_at", "detail") == [
        (P1, "resume", t("11:00:00"), "resume 1"),
        (P2, "stop", t("12:00:00"), "stop 2"),  # stop and resume at 12:00: stop wins
        (P4, "stop", t("08:00:00"), "stop 3"),  # stopped as P3, which became P4
        (USERNAME, "stop", t("10:30:00"), "stop u"),
    ]
    b = await conn.fetch("select * from bluetick_marketing_preferences($1)", orgs.b)
    assert tuples(b, "customer", "preference", "changed_at") == [
        (P1, "stop", t("11:30:00")),
        (P3, "resume", t("07:00:00")),  # A's link P3 -> P4 is A's only
    ]


# ------------------------------------------------------------------------------------------------------ templates


TEMPLATE = ("template_id", "name", "language", "category", "status", "quality", "reason", "changed_at")


async def test_templates_show_each_fields_latest_event(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch("select * from bluetick_templates($1)", orgs.a)
    assert tuples(got, *TEMPLATE) == [
        # status APPROVED (13:00, no reason: PAUSED's reason is not carried over), quality YELLOW (12:00),
        # category MARKETING (14:00, the latest event, whose name is the newest; its language is not named)
        ("T1", "order_update_v2", "en_US", "MARKETING", "APPROVED", "YELLOW", None, t("14:00:00")),
        ("T2", "promo", "es", None, "REJECTED", None, "INVALID_FORMAT", t("10:00:00")),
    ]
    b = await conn.fetch("select * from bluetick_templates($1)", orgs.b)
    assert tuples(b, *TEMPLATE) == [("T1", "b_template", "hi", None, "REJECTED", None, "SCAM", t("15:00:00"))]


# ------------------------------------------------------------------------------------------------- account events


async def test_account_events_in_time_order_within_the_window(conn: asyncpg.Connection, orgs: Orgs):
    everything = await conn.fetch("select * from bluetick_account_events($1)", orgs.a)
    assert tuples(everything, "changed_at", "field", "event") == [
        (t("09:00:00"), "phone_number_quality_update", "FLAGGED"),
        (t("10:00:00"), "account_update", "VERIFIED_ACCOUNT"),
        (t("11:00:00"), "phone_number_quality_update", "UNFLAGGED"),
    ]
    assert json.loads(everything[2]["detail"]) == {"event": "UNFLAGGED", "current_limit": "TIER_10K"}
    window = await conn.fetch("select * from bluetick_account_events($1, $2, $3)", orgs.a, t("09:30:00"), t("11:00:00"))
    assert tuples(window, "changed_at", "event") == [(t("10:00:00"), "VERIFIED_ACCOUNT")]
    b = await conn.fetch("select * from bluetick_account_events($1, '-infinity', 'infinity')", orgs.b)
    assert tuples(b, "event") == [("DISABLED_UPDATE",)]


# ------------------------------------------------------------------------------------------------- group receipts


async def test_group_receipts_one_row_per_participant_with_implied_stages(conn: asyncpg.Connection, orgs: Orgs):
    g = "2024-11-06"
    got = await conn.fetch("select * from bluetick_group_receipts($1, 'wamid.g1')", orgs.a)
    columns = ("participant", "participant_phone", "participant_user_id", "sent", "delivered", "read", "failed")
    assert tuples(got, *columns) == [
        (Q1, Q1, "IN.3000000000000001", t("10:00:00", g), t("10:00:05", g), t("10:01:00", g), None),
        (Q2, Q2, None, t("10:00:00", g), t("10:02:00", g), t("10:02:00", g), None),  # read implies delivered
        (Q4, Q4, None, t("10:00:00", g), None, None, t("10:00:10", g)),
        (Q5, Q5, None, t("10:01:00", g), t("10:01:00", g), None, None),  # sent no later than delivered
        (Q3, None, Q3, t("10:00:30", g), t("10:00:30", g), None, None),  # delivered implies sent
    ]
    b = await conn.fetch("select * from bluetick_group_receipts($1, 'wamid.g1')", orgs.b)
    assert tuples(b, "participant", "sent", "delivered", "read") == [(Q1,) + (t("09:00:00", g),) * 3]
    assert await conn.fetch("select * from bluetick_group_receipts($1, 'wamid.none')", orgs.a) == []


async def test_a_group_message_counts_once_in_the_funnel_read_when_the_first_participant_read_it(
    conn: asyncpg.Connection, orgs: Orgs
):
    g = "2024-11-06"
    funnel = await conn.fetchrow(
        "select * from bluetick_funnel($1, $2, $3)", orgs.a, t("00:00:00", g), t("23:59:59", g)
    )
    assert (funnel["outbound"], funnel["sent"], funnel["delivered"], funnel["read"]) == (1, 1, 1, 1)
    row = await conn.fetchrow(
        "select sent_at, delivered_at, read_at from message_status_timeline"
        " where org_id = $1 and bsp_msg_id = 'wamid.g1'",
        orgs.a,
    )
    assert tuple(row) == (t("10:00:00", g), t("10:00:05", g), t("10:01:00", g))


# ------------------------------------------------------------------------------------- one customer across changes


async def test_customer_id_follows_links_to_the_newest_identifier(conn: asyncpg.Connection, orgs: Orgs):
    def of(org: uuid.UUID, customer: str) -> Any:
        return conn.fetchval("select bluetick_customer_id($1, $2)", org, customer)

    assert await of(orgs.a, OLD) == NEW
    assert await of(orgs.a, NEW) == NEW
    assert await of(orgs.a, U1) == U3  # two steps
    assert await of(orgs.a, U2) == U3
    assert await of(orgs.a, C1) == C1  # C1 -> C2 at 08:00, back to C1 at 08:30: C1 from both ends
    assert await of(orgs.a, C2) == C1
    assert await of(orgs.a, E1) == E2  # a cycle in one second ends where it would repeat
    assert await of(orgs.a, E2) == E1
    assert await of(orgs.a, STEADY) == STEADY
    assert await of(orgs.b, OLD) == OLD  # A's links are A's
    identities = await conn.fetch(
        "select identifier, customer, identifiers from customer_identities where org_id = $1 order by identifier",
        orgs.a,
    )
    assert {r["identifier"]: (r["customer"], r["identifiers"]) for r in identities}[OLD] == (NEW, [OLD, NEW])
    assert {r["identifier"] for r in identities} == {OLD, NEW, U1, U2, U3, C1, C2, E1, E2, P3, P4}
    assert await conn.fetch("select * from customer_identities where org_id = $1", orgs.b) == []


RESPONSES = ("bsp_msg_id", "customer", "customer_phone", "reply_bsp_msg_id", "seconds_to_reply")


async def test_a_reply_to_the_new_number_answers_the_old_numbers_messages(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch(
        "select * from message_response_times where org_id = $1 order by received_at, bsp_msg_id", orgs.a
    )
    assert tuples(got, *RESPONSES) == [
        ("wamid.c_in", C1, C2, "wamid.c_out", 1800),
        ("wamid.u_in", U3, None, "wamid.u_out", 2100),
        ("wamid.x1", NEW, OLD, "wamid.y1", 1200),
        ("wamid.p1", STEADY, STEADY, "wamid.p2", 30),
        ("wamid.x2", NEW, OLD, "wamid.y1", 900),
        ("wamid.x3", NEW, NEW, None, None),
    ]
    one = await conn.fetch(
        "select * from message_response_times where org_id = $1 and customer = $2 order by received_at", orgs.a, NEW
    )
    assert [r["bsp_msg_id"] for r in one] == ["wamid.x1", "wamid.x2", "wamid.x3"]
    b = await conn.fetch("select * from message_response_times where org_id = $1", orgs.b)
    assert tuples(b, *RESPONSES) == [("wamid.x1", OLD, OLD, None, None)]


async def test_response_time_summaries_count_a_linked_customer_as_answered(conn: asyncpg.Connection, orgs: Orgs):
    columns = ("inbound", "answered", "unanswered", "median_seconds_to_reply", "p95_seconds_to_reply")
    # answered after [30, 900, 1200, 1800, 2100] s: median 1200, p95 = 1800 + 0.8 * (2100 - 1800)
    expected = (6, 5, 1, Decimal("1200.0"), Decimal("2040.0"))
    window = await conn.fetchrow("select * from bluetick_response_times($1, '-infinity', 'infinity')", orgs.a)
    assert tuple(window[c] for c in columns) == expected
    daily = await conn.fetch("select * from response_times_daily where org_id = $1", orgs.a)
    assert tuples(daily, "day", *columns) == [(DAY, *expected)]
    b = await conn.fetchrow("select * from bluetick_response_times($1, '-infinity', 'infinity')", orgs.b)
    assert tuple(b[c] for c in columns) == (1, 0, 1, None, None)


async def test_unanswered_follows_the_customer_to_the_new_number(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch(
        "select * from bluetick_unanswered($1, '-infinity', interval '0', $2)", orgs.a, t("11:00:00")
    )
    assert tuples(got, "bsp_msg_id", "customer", "customer_phone", "seconds_waiting") == [("wamid.x3", NEW, NEW, 1800)]
    # Before the reply to NEW at 10:20, both of OLD's messages were waiting, as NEW's.
    early = await conn.fetch(
        "select * from bluetick_unanswered($1, $2, interval '0', $3)", orgs.a, t("09:50:00"), t("10:15:00")
    )
    assert tuples(early, "bsp_msg_id", "customer", "customer_phone", "seconds_waiting") == [
        ("wamid.x1", NEW, OLD, 900),
        ("wamid.x2", NEW, OLD, 600),
    ]
    b = await conn.fetch("select * from bluetick_unanswered($1, '-infinity', interval '0', $2)", orgs.b, t("11:00:00"))
    assert tuples(b, "bsp_msg_id", "customer") == [("wamid.x1", OLD)]


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


async def test_engagement_counts_a_customer_who_changed_number_once(conn: asyncpg.Connection, orgs: Orgs):
    g = "2024-11-06"
    expected = {
        NEW: (NEW, None, 1, 1, 1, Decimal("100.00"), 3, t("10:00:00"), t("10:30:00")),
        STEADY: (STEADY, None, 1, 0, 0, None, 1, t("10:00:30"), t("10:01:00")),
        U3: (None, U3, 1, 0, 0, None, 1, t("09:05:00"), t("09:40:00")),
        C1: (C1, None, 1, 0, 0, None, 1, t("08:10:00"), t("08:40:00")),
    }
    view = await conn.fetch("select * from contact_engagement where org_id = $1", orgs.a)
    assert {r["customer"]: tuple(r[c] for c in ENGAGEMENT) for r in view} == expected
    window = await conn.fetch("select * from bluetick_contact_engagement($1, '-infinity', 'infinity')", orgs.a)
    assert {r["customer"]: tuple(r[c] for c in ENGAGEMENT) for r in window} == expected
    assert window[0]["customer"] == NEW  # the busiest customer first: 4 messages
    for customer in (NEW, STEADY, C1):  # one customer at a time, linked or not
        one = await conn.fetch("select * from contact_engagement where org_id = $1 and customer = $2", orgs.a, customer)
        assert [tuple(r[c] for c in ENGAGEMENT) for r in one] == [expected[customer]]
    assert await conn.fetch("select * from contact_engagement where org_id = $1 and customer = $2", orgs.a, OLD) == []
    assert t("10:00:00", g) > max(r["last_message_at"] for r in window)  # the group message has no customer
    b = await conn.fetch("select * from bluetick_contact_engagement($1, '-infinity', 'infinity')", orgs.b)
    assert sorted(tuples(b, "customer", "outbound", "inbound")) == [(OLD, 0, 1), (NEW, 1, 0)]


async def test_the_platform_functions_run_as_the_caller_and_are_commented(conn: asyncpg.Connection):
    names = [
        "bluetick_marketing_preferences",
        "bluetick_templates",
        "bluetick_account_events",
        "bluetick_group_receipts",
        "bluetick_customer_id",
        "bluetick_customer_walk",
        "bluetick_customer_links",
    ]
    functions = await conn.fetch(
        "select p.proname, p.prosecdef, p.provolatile::text as provolatile, p.proconfig,"
        " obj_description(p.oid, 'pg_proc') as comment from pg_proc p where p.proname = any($1::text[])",
        names,
    )
    assert sorted(r["proname"] for r in functions) == sorted(names)
    not_as_the_caller = [
        r["proname"]
        for r in functions
        if r["prosecdef"] or r["provolatile"] != "s" or r["proconfig"] or not r["comment"]
    ]
    assert not_as_the_caller == []
    view = await conn.fetchrow(
        "select c.reloptions, obj_description(c.oid, 'pg_class') as comment from pg_class c"
        " where c.relname = 'customer_identities'"
    )
    assert "security_invoker=true" in view["reloptions"] and view["comment"]


# ---------------------------------------------------------------------------------------------------------- access


async def test_an_authenticated_user_reads_only_their_organisations_facts(supabase_dsn: str):
    a, b = uuid.uuid4(), uuid.uuid4()
    store = await PostgresStore.connect(supabase_dsn, pool_size=1, timeout_s=10)
    try:
        await store.apply_batch([], [], facts=facts_of_a(a) + facts_of_b(b))
    finally:
        await store.close()
    calls = [
        "select count(*) from bluetick_marketing_preferences($1)",
        "select count(*) from bluetick_templates($1)",
        "select count(*) from bluetick_account_events($1)",
        "select count(*) from bluetick_group_receipts($1, 'wamid.g1')",
        "select count(*) from bluetick_customer_links($1)",
        "select count(*) from customer_identities where org_id = $1",
    ]
    conn = await asyncpg.connect(supabase_dsn)
    try:
        async with conn.transaction():
            await conn.execute("set local role authenticated")
            await conn.execute(
                "select set_config('request.jwt.claims', $1, true)",
                json.dumps({"role": "authenticated", "org_id": str(a)}),
            )
            own = [await conn.fetchval(q, a) for q in calls]
            other = [await conn.fetchval(q, b) for q in calls]
            linked = await conn.fetchval("select bluetick_customer_id($1, $2)", a, OLD)
    finally:
        await conn.close()
    assert own == [4, 2, 3, 5, 11, 11]
    assert other == [0, 0, 0, 0, 0, 0]  # B has facts of each kind but links, all hidden from A's user
    assert linked == NEW
