"""Campaigns and templates (sql/analytics/0112_campaigns.sql, bluetick.campaigns_api): the funnel per campaign and
template and the template health per day equal numbers worked out by hand, and a campaign's recipients CSV equals
its rows, over HTTP on every backend and from the command line, page after page.

Fixture: two organisations, A and B, their rows written straight into the tables (as the merge leaves them: replies
and clicks are the unranked keys `replied` and `clicked` of whatsapp_status). B reuses A's campaign id, template,
customers and one message id at the same times, so a leak between organisations changes A's numbers. Day D is
2024-11-05 (UTC); the funnels' window is [D, D + 2 days) unless a test says otherwise.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import random
import re
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest
from aiohttp.test_utils import TestClient

from bluetick.campaigns_api import recipient_pages
from bluetick.events import Direction, Message, StatusEvent
from bluetick.store import Store
from bluetick.store.postgres import PostgresStore
from main import main
from tests.conftest import Backend, make_settings, start_client

ANALYTICS_README = Path(__file__).resolve().parents[2] / "src" / "bluetick" / "sql" / "analytics" / "README.md"
README_ORG = "'0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10'"
P1, P2, P3, P4, P5, P6, P7, P8, P9 = (f"+91980000000{n}" for n in range(1, 10))
USERNAME = "IN.2081978709342942"  # a customer known by BSUID only
BUSINESS = "+15550783881"
MARKETING = "marketing_messages"
R_131026 = "Error 131026: Message Undeliverable"
R_131049 = "Error 131049: This message was not delivered to maintain healthy ecosystem engagement"
R_131047 = "Error 131047: Re-engagement message"
R_NO_CODE = "Error: Unknown failure"
DIWALI, WELCOME, FLASH = "diwali", "welcome", "flash"
PROMO, WELCOME_MSG, ORDER = "promo_offer", "welcome_msg", "order_update"


def t(clock: str, day: str = "2024-11-05") -> datetime:
    return datetime.fromisoformat(f"{day} {clock}").replace(tzinfo=UTC)


D_START, WINDOW_END = t("00:00:00"), t("00:00:00", "2024-11-07")
D1 = "2024-11-06"


@dataclass(frozen=True)
class Row:
    """One message_logs row of the fixture."""

    msg_id: str
    created: datetime
    stages: dict[str, datetime]
    to_phone: str | None = None
    campaign: str | None = None
    campaign_name: str | None = None
    template: tuple[str, str] | None = None
    reason: str | None = None
    user_id: str | None = None
    kind: str = "TEMPLATE"
    direction: str = "OUTBOUND"


def stages(**clocks: str) -> dict[str, datetime]:
    """Stage times on D, or on another day as "YYYY-MM-DD HH:MM:SS"."""
    return {name: t(*reversed(c.split(" "))) if " " in c else t(c) for name, c in clocks.items()}


def rows_of_a() -> list[Row]:
    en, hi, welcome, order = (PROMO, "en"), (PROMO, "hi"), (WELCOME_MSG, "en"), (ORDER, "en")
    diwali = {"campaign": DIWALI, "campaign_name": "Diwali sale"}
    return [
        # Campaign diwali, promo_offer/en. a0 is before the window (in the CSV only); a1 and a2 share created_at.
        Row("wamid.a0", t("23:59:59", "2024-11-04"), stages(sent="2024-11-04 23:59:59"), P9, template=en, **diwali),
        Row("wamid.a1", t("10:00:00"), stages(sent="10:00:00", delivered="10:00:05", read="10:01:00",
                                              replied="10:05:00", clicked="10:05:00"), P1, template=en, **diwali),
        Row("wamid.a2", t("10:00:00"), stages(sent="10:00:00", delivered="10:00:10", read="10:10:00",
                                              replied="10:20:00"), P2, template=en, **diwali),
        Row("wamid.a3", t("10:00:01"), stages(sent="10:00:01", failed="10:00:03"), P3, template=en, reason=R_131026,
            **diwali),
        Row("wamid.a4", t("10:00:02"), stages(sent="10:00:02", delivered="10:00:30", clicked="11:00:00"), P4,
            template=en, **diwali),  # a tracked link clicked, never read
        Row("wamid.a5", t("10:00:03"), stages(sent="10:00:03", failed="10:00:04"), user_id=USERNAME, template=en,
            reason=R_131026, **diwali),
        Row("wamid.a6", t("12:00:00"), stages(sent="12:00:00", failed="12:00:06"), P5, template=en, reason=R_131049,
            campaign=DIWALI, campaign_name="Diwali sale 2"),  # renamed: the newest name the campaign's messages carry
        Row("wamid.a7", t("23:59:30"), stages(sent="23:59:30", failed=f"{D1} 00:00:05"), P6, template=en,
            reason=R_NO_CODE, campaign=DIWALI),  # no name; failed the next day, counted on D
        # Campaign diwali, promo_offer/hi. P7 changed number to P8 (the stop is under P8).
        Row("wamid.a8", t("11:00:00"), stages(sent="11:00:00", delivered="11:00:02", read="11:00:32"), P7,
            template=hi, **diwali),
        Row("wamid.a9", t("11:30:00"), stages(sent="11:30:00", delivered="11:30:01", read="11:30:11"), P1,
            template=hi, **diwali),
        # Campaign welcome, welcome_msg/en: two failures with different codes (a tie).
        Row("wamid.w1", t("09:00:00"), stages(sent="09:00:00", failed="09:00:02"), P1, WELCOME, "Welcome", welcome,
            R_131047),
        Row("wamid.w2", t("09:01:00"), stages(sent="09:01:00", failed="09:01:02"), P2, WELCOME, "Welcome", welcome,
            R_131026),
        Row("wamid.w3", t("09:02:00"), stages(sent="09:02:00", delivered="09:02:05", read="09:05:00",
                                              clicked="09:06:00"), P3, WELCOME, "Welcome", welcome),
        # Campaign flash: no template.
        Row("wamid.c1", t("14:00:00"), stages(sent="14:00:00", delivered="14:00:01"), P2, FLASH, "Flash",
            kind="TEXT"),
        # Template order_update/en outside any campaign, over two days.
        Row("wamid.t1", t("16:00:00"), stages(sent="16:00:00", delivered="16:00:10", read="16:00:30"), P3,
            template=order),
        Row("wamid.t2", t("08:00:00", D1), stages(sent=f"{D1} 08:00:00", delivered=f"{D1} 08:00:03"), P4,
            template=order),
        Row("wamid.t3", t("09:00:00", D1), stages(sent=f"{D1} 09:00:00", failed=f"{D1} 09:00:01"), P4,
            template=order, reason=R_131049),
        # Left out everywhere: a message naming neither, a reaction (an event) and an inbound message of the campaign.
        Row("wamid.x1", t("10:00:00"), stages(sent="10:00:00", delivered="10:00:01"), P1, kind="AI_REPLY"),
        Row("wamid.x2", t("10:00:30"), stages(sent="10:00:30", delivered="10:00:31", read="10:00:40"), P1,
            template=en, kind="REACTION", **diwali),
        Row("wamid.x3", t("10:05:00"), {}, None, template=en, kind="TEXT", direction="INBOUND", **diwali),
    ]  # fmt: skip


def rows_of_b() -> list[Row]:
    en = (PROMO, "en")
    return [
        Row("wamid.a1", t("10:00:00"), stages(sent="10:00:00", delivered="10:00:05", read="10:00:10",
                                              replied="10:01:00"), P1, DIWALI, "B diwali", en),
        Row("wamid.b2", t("10:00:02"), stages(sent="10:00:02", failed="10:00:04"), P2, DIWALI, "B diwali", en,
            R_131047),
    ]  # fmt: skip


# (customer, category, preference, changed_at)
PREFERENCES_A = [
    (P1, MARKETING, "stop", t("20:00:00")),  # within 24 h of a1, a9, w1
    (P2, MARKETING, "stop", t("10:00:00", D1)),  # a2 + 24 h exactly: not within; within 24 h of c1 only
    (P3, MARKETING, "stop", t("09:59:59")),  # before a3 and t1, after w3
    (P4, "other_messages", "stop", t("11:00:00")),  # not marketing
    (USERNAME, MARKETING, "stop", t("09:00:00", D1)),  # within 24 h of a5
    (P5, MARKETING, "resume", t("13:00:00")),  # not a stop
    (P6, MARKETING, "stop", t("23:59:40")),  # P6 stopped twice after a7: one customer
    (P6, MARKETING, "stop", t("00:10:00", D1)),
    (P8, MARKETING, "stop", t("15:00:00")),  # P7's new number: within 24 h of a8
]
PREFERENCES_B = [(P2, MARKETING, "stop", t("11:00:00"))]
# (template_id, field, value, changed_at, name, language)
TEMPLATES_A = [
    ("T1", "status", "APPROVED", t("08:00:00"), PROMO, "en"),
    ("T1", "quality", "GREEN", t("08:00:00"), None, None),
    ("T1", "quality", "YELLOW", t("09:00:00", D1), None, None),
    ("T1", "status", "PAUSED", t("10:00:00", D1), PROMO, "en"),
    ("T2", "status", "APPROVED", t("07:00:00"), PROMO, "hi"),
    ("T3", "status", "APPROVED", t("01:00:00"), ORDER, "en"),  # an older template of the same name and language
    ("T4", "status", "REJECTED", t("00:00:00", D1), ORDER, "en"),  # changed last: its state is shown
]
TEMPLATES_B = [("T9", "status", "REJECTED", t("09:00:00"), PROMO, "en")]


async def insert(conn: asyncpg.Connection, org: uuid.UUID, rows: list[Row]) -> None:
    await conn.executemany(
        """insert into message_logs (org_id, bsp_msg_id, direction, msg_kind, to_phone, from_phone, customer_user_id,
                                     body, whatsapp_status, failed_reason, created_at, updated_at, template_name,
                                     template_language, campaign_id, campaign_name)
           values ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $11, $12, $13, $14, $15)""",
        [
            (
                org,
                r.msg_id,
                r.direction,
                r.kind,
                r.to_phone if r.direction == "OUTBOUND" else BUSINESS,
                BUSINESS if r.direction == "OUTBOUND" else P1,
                r.user_id,
                f"body {r.msg_id}",
                json.dumps({k: v.isoformat() for k, v in r.stages.items()}),
                r.reason,
                r.created,
                r.template[0] if r.template else None,
                r.template[1] if r.template else None,
                r.campaign,
                r.campaign_name,
            )
            for r in rows
        ],
    )


async def load(dsn: str, a: uuid.UUID, b: uuid.UUID) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        async with conn.transaction():
            # interleaved: B's rows between A's
            rows_a = rows_of_a()
            await insert(conn, a, rows_a[:5])
            await insert(conn, b, rows_of_b())
            await insert(conn, a, rows_a[5:])
            for org, prefs in ((a, PREFERENCES_A), (b, PREFERENCES_B)):
                await conn.executemany(
                    "insert into customer_preferences (org_id, customer, category, preference, changed_at)"
                    " values ($1, $2, $3, $4, $5)",
                    [(org, *p) for p in prefs],
                )
            for org, events in ((a, TEMPLATES_A), (b, TEMPLATES_B)):
                await conn.executemany(
                    "insert into template_events (org_id, template_id, field, value, changed_at, name, language)"
                    " values ($1, $2, $3, $4, $5, $6, $7)",
                    [(org, *e) for e in events],
                )
            await conn.execute(
                "insert into customer_links (org_id, link, old_id, new_id, changed_at)"
                " values ($1, 'phone', $2, $3, $4)",
                a,
                P7,
                P8,
                t("12:00:00"),
            )
    finally:
        await conn.close()


@dataclass(frozen=True)
class Orgs:
    a: uuid.UUID
    b: uuid.UUID


@pytest.fixture(scope="module")
def orgs(dsn: str) -> Orgs:
    loaded = Orgs(uuid.uuid4(), uuid.uuid4())
    asyncio.run(load(dsn, loaded.a, loaded.b))
    return loaded


def tuples(records: list[asyncpg.Record], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in records]


def pct(text: str | None) -> Decimal | None:
    return None if text is None else Decimal(text)


# ------------------------------------------------------------------------------------------------ campaign funnel

FUNNEL = (
    "campaign_id", "campaign_name", "template_name", "template_language", "outbound", "sent", "delivered", "read",
    "replied", "clicked", "failed", "sent_pct", "delivered_pct", "read_pct", "replied_pct", "clicked_pct",
    "failed_pct", "median_seconds_sent_to_read", "top_error_code", "opted_out",
)  # fmt: skip


def funnel_row(*values: Any) -> tuple[Any, ...]:
    head, rates, tail = values[:11], values[11:17], values[17:]
    return (*head, *(pct(r) for r in rates), pct(tail[0]), *tail[1:])


async def test_campaign_funnel_per_campaign_and_template_equals_the_hand_computed_numbers(
    conn: asyncpg.Connection, orgs: Orgs
):
    got = await conn.fetch("select * from bluetick_campaign_funnel($1, $2, $3)", orgs.a, D_START, WINDOW_END)
    assert tuples(got, FUNNEL) == [
        # a1-a7 (a0 is before the window; the reaction x2 and the inbound x3 are left out). Read: a1 after 60 s,
        # a2 after 600 s: median 330.0. Failed: 131026 twice, 131049 once, one without a code. Opted out: P1
        # (20:00, within 24 h of a1), USERNAME (D+1 09:00), P6 (twice, one customer); not P2 (exactly 24 h after
        # a2), P3 (before a3), P4 (another category), P5 (resumed).
        funnel_row(DIWALI, "Diwali sale 2", PROMO, "en", 7, 7, 3, 2, 2, 2, 4,
                   "100.00", "42.86", "28.57", "28.57", "28.57", "57.14", "330.0", "131026", 3),
        # a8 (read after 32 s) and a9 (11 s): median 21.5. Opted out: P7, whose stop is under its new number P8,
        # and P1.
        funnel_row(DIWALI, "Diwali sale 2", PROMO, "hi", 2, 2, 2, 2, 0, 0, 0,
                   "100.00", "100.00", "100.00", "0.00", "0.00", "0.00", "21.5", None, 2),
        # c1, no template; P2 stopped 20 h after it
        funnel_row(FLASH, "Flash", None, None, 1, 1, 1, 0, 0, 0, 0,
                   "100.00", "100.00", "0.00", "0.00", "0.00", "0.00", None, None, 1),
        # w1-w3: 131047 and 131026 once each, the smaller text wins the tie; w3 read after 180 s. Opted out: P1
        # (11 h after w1) and P3 (58 min after w3); not P2 (25 h after w2).
        funnel_row(WELCOME, "Welcome", WELCOME_MSG, "en", 3, 3, 1, 1, 0, 1, 2,
                   "100.00", "33.33", "33.33", "0.00", "33.33", "66.67", "180.0", "131026", 2),
        # t1 (read after 30 s), t2, t3 (failed 131049) in no campaign; nobody opted out after them
        funnel_row(None, None, ORDER, "en", 3, 3, 2, 1, 0, 0, 1,
                   "100.00", "66.67", "33.33", "0.00", "0.00", "33.33", "30.0", "131049", 0),
    ]  # fmt: skip
    b = await conn.fetch("select * from bluetick_campaign_funnel($1, $2, $3)", orgs.b, D_START, WINDOW_END)
    assert tuples(b, FUNNEL) == [
        funnel_row(DIWALI, "B diwali", PROMO, "en", 2, 2, 1, 1, 1, 0, 1,
                   "100.00", "50.00", "50.00", "50.00", "0.00", "50.00", "10.0", "131047", 1),
    ]  # fmt: skip


async def test_campaign_funnel_window_is_half_open_on_created_at(conn: asyncpg.Connection, orgs: Orgs):
    # [D 10:00:00, D 10:00:02): a1, a2, a3 only
    got = await conn.fetch("select * from bluetick_campaign_funnel($1, $2, $3)", orgs.a, t("10:00:00"), t("10:00:02"))
    assert tuples(got, (*FUNNEL[:11], "opted_out")) == [(DIWALI, "Diwali sale", PROMO, "en", 3, 3, 2, 2, 2, 1, 1, 1)]
    # the day before: a0 alone, whose campaign name is the only one it sees
    got = await conn.fetch("select * from bluetick_campaign_funnel($1, '-infinity', $2)", orgs.a, D_START)
    assert tuples(got, ("campaign_id", "campaign_name", "outbound", "read_pct", "median_seconds_sent_to_read")) == [
        (DIWALI, "Diwali sale", 1, Decimal("0.00"), None)
    ]
    assert await conn.fetch("select * from bluetick_campaign_funnel($1, $2, $2)", orgs.a, D_START) == []
    nobody = uuid.uuid4()
    assert await conn.fetch("select * from bluetick_campaign_funnel($1, $2, $3)", nobody, D_START, WINDOW_END) == []


# ------------------------------------------------------------------------------------------------ template health

HEALTH = (
    "day", "template_name", "template_language", "sent", "delivered", "read", "failed", "read_rate_pct",
    "failure_share_pct", "status", "quality",
)  # fmt: skip


async def test_template_health_per_template_and_utc_day_with_its_current_state(conn: asyncpg.Connection, orgs: Orgs):
    got = await conn.fetch("select * from bluetick_template_health($1, $2, $3)", orgs.a, D_START, WINDOW_END)
    d, d1 = t("00:00:00").date(), t("00:00:00", D1).date()
    assert tuples(got, HEALTH) == [
        # t1; of T3 and T4 (both order_update/en) T4 changed last: REJECTED
        (d, ORDER, "en", 1, 1, 1, 0, Decimal("100.00"), Decimal("0.00"), "REJECTED", None),
        # a1-a7 (a7 at 23:59:30 counts on D): read 2 of 3 delivered, 4 of 7 failed; T1 PAUSED and YELLOW by D+1
        (d, PROMO, "en", 7, 3, 2, 4, Decimal("66.67"), Decimal("57.14"), "PAUSED", "YELLOW"),
        (d, PROMO, "hi", 2, 2, 2, 0, Decimal("100.00"), Decimal("0.00"), "APPROVED", None),  # T2: no quality event
        (d, WELCOME_MSG, "en", 3, 1, 1, 2, Decimal("100.00"), Decimal("66.67"), None, None),  # never reported
        (d1, ORDER, "en", 2, 1, 0, 1, Decimal("0.00"), Decimal("50.00"), "REJECTED", None),  # t2, t3
    ]
    b = await conn.fetch("select * from bluetick_template_health($1, $2, $3)", orgs.b, D_START, WINDOW_END)
    assert tuples(b, HEALTH) == [
        (d, PROMO, "en", 2, 1, 1, 1, Decimal("100.00"), Decimal("50.00"), "REJECTED", None),  # B's own T9
    ]
    # a read rate with nothing delivered is NULL: [D 10:00:01, D 10:00:02) is a3 alone, failed
    one = await conn.fetch("select * from bluetick_template_health($1, $2, $3)", orgs.a, t("10:00:01"), t("10:00:02"))
    assert tuples(one, HEALTH[3:9]) == [(1, 0, 0, 1, None, Decimal("100.00"))]


async def test_the_functions_are_security_invoker_stable_and_commented(conn: asyncpg.Connection):
    rows = await conn.fetch(
        "select p.proname, p.prosecdef, p.provolatile::text as provolatile, p.proconfig,"
        " obj_description(p.oid, 'pg_proc') as comment"
        " from pg_proc p where p.proname = any($1::text[]) order by p.proname",
        ["bluetick_campaign_funnel", "bluetick_template_health", "bluetick_campaign_recipients"],
    )
    assert [r["proname"] for r in rows] == [
        "bluetick_campaign_funnel",
        "bluetick_campaign_recipients",
        "bluetick_template_health",
    ]
    assert all(not r["prosecdef"] and r["provolatile"] == "s" and not r["proconfig"] and r["comment"] for r in rows)


async def test_an_authenticated_user_reads_only_their_organisations_campaigns(supabase_dsn: str):
    a, b = uuid.uuid4(), uuid.uuid4()
    await load(supabase_dsn, a, b)
    calls = [
        "select count(*) from bluetick_campaign_funnel($1, '-infinity', 'infinity')",
        "select sum(opted_out) from bluetick_campaign_funnel($1, '-infinity', 'infinity')",
        "select count(*) from bluetick_template_health($1, '-infinity', 'infinity')",
        "select count(status) from bluetick_template_health($1, '-infinity', 'infinity')",
        "select jsonb_array_length(bluetick_campaign_recipients($1, 'diwali', null, null, 100))",
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
    finally:
        await conn.close()
    # all time: the window's five rows (a0 joins diwali/en), opted out 3 + 2 + 1 + 2 + 0; six template-days (a0's
    # 2024-11-04 too), five with a known status (not welcome_msg); ten recipients
    assert own == [5, 8, 6, 5, 10]
    assert other == [0, None, 0, 0, 0]


# ------------------------------------------------------------------------------------------- funnel from rollups

# The funnel's numbers straight from the messages: what it must give whether it reads rollups, messages or both.
REFERENCE = """
select campaign_id, template_name, template_language, count(*), count(sent_at), count(delivered_at), count(read_at),
       count(replied_at), count(clicked_at), count(failed_at),
       round((percentile_cont(0.5) within group (order by seconds_sent_to_read))::numeric, 1),
       mode() within group (order by error_code)
from campaign_messages
where org_id = $1 and created_at >= $2 and created_at < $3
group by 1, 2, 3
order by 1 nulls last, 2 nulls last, 3 nulls last
"""
COUNTED = (
    "campaign_id",
    "template_name",
    "template_language",
    *FUNNEL[4:11],
    "median_seconds_sent_to_read",
    "top_error_code",
)
WINDOWS = [
    (D_START, WINDOW_END),  # whole hours only
    (t("10:00:00"), t("11:30:00")),  # a whole hour and a ragged end
    (t("10:00:01"), t("12:00:00")),  # a ragged start
    (t("09:59:59"), t("10:00:03")),  # no whole hour
    (t("10:30:00"), t("10:45:00")),  # inside one hour
    (datetime(2024, 11, 1, tzinfo=UTC), datetime(2024, 12, 1, tzinfo=UTC)),  # 30 days
]


async def same_as_the_messages(conn: asyncpg.Connection, org: uuid.UUID) -> int:
    """Assert the funnel equals REFERENCE over every window (and the unbounded one); the rows compared."""
    compared = 0
    for start, end in [*WINDOWS, (datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC))]:
        got = tuples(await conn.fetch("select * from bluetick_campaign_funnel($1, $2, $3)", org, start, end), COUNTED)
        expected = [tuple(r) for r in await conn.fetch(REFERENCE, org, start, end)]
        assert got == expected, (start, end)
        compared += len(got)
    return compared


async def test_the_funnel_gives_the_messages_numbers_from_rollups_messages_or_both(dsn: str):
    a, b = uuid.uuid4(), uuid.uuid4()
    await load(dsn, a, b)
    conn = await asyncpg.connect(dsn)
    try:
        assert await same_as_the_messages(conn, a) > 10  # every hour noted: all from the messages
        for org in (a, b):
            await conn.execute("select bluetick_report_refresh($1)", org)
        assert await conn.fetchval("select count(*) from report_dirty where org_id = $1", a) == 0
        assert await conn.fetchval("select count(*) from report_campaigns where org_id = $1", a) >= 5
        assert await same_as_the_messages(conn, a) > 10  # whole hours from the rollups, the ends from the messages
        expected = [funnel_row(WELCOME, "Welcome", WELCOME_MSG, "en", 3, 3, 1, 1, 0, 1, 2,
                               "100.00", "33.33", "33.33", "0.00", "33.33", "66.67", "180.0", "131026", 2)]  # fmt: skip
        got = await conn.fetch("select * from bluetick_campaign_funnel($1, $2, $3)", a, D_START, WINDOW_END)
        assert [row for row in tuples(got, FUNNEL) if row[0] == WELCOME] == expected
        # A change after the refresh notes its hour: that hour is read from the messages until the next refresh.
        await conn.execute(
            """update message_logs set whatsapp_status = whatsapp_status || '{"read": "2024-11-05T12:30:00Z"}',
                                       campaign_name = 'Renamed'
               where org_id = $1 and bsp_msg_id = 'wamid.a6'""",
            a,
        )
        assert await conn.fetchval("select count(*) from report_dirty where org_id = $1", a) == 1
        assert await same_as_the_messages(conn, a) > 10
        names = await conn.fetch(
            "select campaign_name from bluetick_campaign_funnel($1, $2, $3)", a, D_START, t("13:00:00")
        )
        assert "Renamed" in [r["campaign_name"] for r in names]  # a6 (12:00) is now diwali's newest named message
        await conn.execute("select bluetick_report_refresh($1)", a)
        assert await same_as_the_messages(conn, a) > 10
        assert await same_as_the_messages(conn, b) >= 6
    finally:
        await conn.close()


async def test_the_funnel_from_blocks_of_hours_equals_the_messages(dsn: str):
    """Eleven days of campaign messages (holes in each key, reads from 0 s to two days later, so many buckets of
    seconds, failures with codes), refreshed: random windows from minutes to all of it are covered by blocks of up to
    256 hours, single hours and the ragged ends, and each median is found in a bucket, then in its seconds. The same
    after changes note some hours (read from the messages), and after the next refresh."""
    org = uuid.uuid4()
    rng = random.Random(25)
    base = datetime(2024, 10, 1, 5, 17, 3, tzinfo=UTC)
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute(
            """insert into message_logs (org_id, bsp_msg_id, direction, to_phone, whatsapp_status, failed_reason,
                                         created_at, campaign_id, template_name, template_language)
               select $1, 'wamid.k' || n, 'OUTBOUND', '+9198' || lpad(n::text, 8, '0'),
                      jsonb_strip_nulls(jsonb_build_object(
                        'sent', to_char(c at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
                        'read', case when n % 4 <> 0 then to_char((c + make_interval(secs => case n % 3
                                  when 0 then (n * 7919) % 40 when 1 then (n * 7919) % 5000
                                  else (n * 7919) % 172800 end)) at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')
                                end,
                        'failed', case when n % 13 = 0 then to_char(c at time zone 'UTC',
                                                                    'YYYY-MM-DD"T"HH24:MI:SS"Z"') end)),
                      case when n % 13 = 0 then 'Error 13102' || n % 3 || ': failed' end,
                      c, case when n % 5 <> 0 then 'c' || n % 3 end, case when n % 7 <> 0 then 't' || n % 2 end,
                      case when n % 11 <> 0 then 'en' end
               from generate_series(1, 3000) n
               cross join lateral (select $2::timestamptz + make_interval(secs => n * 317) as c) x""",
            org,
            base,
        )
        end = base + timedelta(seconds=3000 * 317 + 1)
        windows = [(datetime.min.replace(tzinfo=UTC), datetime.max.replace(tzinfo=UTC)), (base, end)]
        for _ in range(14):
            start = base + timedelta(seconds=rng.randrange(0, 3000 * 317))
            if rng.random() < 0.5:
                start = start.replace(minute=0, second=0)  # on a whole hour
            windows.append((start, start + timedelta(seconds=rng.choice([600, 5400, 86400, 10**6]) * rng.random())))

        async def same() -> int:
            compared = 0
            for start, stop in windows:
                got = tuples(await conn.fetch("select * from bluetick_campaign_funnel($1, $2, $3)", org, start, stop),
                             COUNTED)  # fmt: skip
                expected = [tuple(r) for r in await conn.fetch(REFERENCE, org, start, stop)]
                assert got == expected, (start, stop)
                compared += len(got)
            return compared

        await conn.execute("select bluetick_report_refresh($1)", org)
        levels = "select count(distinct level) from report_campaign_block_reads where org_id = $1"
        assert await conn.fetchval(levels, org) == 12
        assert await same() > 100
        await conn.execute(  # a read moved in a few hours: they are noted, and read from the messages
            """update message_logs set whatsapp_status = whatsapp_status || jsonb_build_object('read',
                 to_char((created_at + interval '3 seconds') at time zone 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'))
               where org_id = $1 and bsp_msg_id in ('wamid.k5', 'wamid.k1500', 'wamid.k1501', 'wamid.k2900')""",
            org,
        )
        assert await conn.fetchval("select count(*) from report_dirty where org_id = $1", org) == 3
        assert await same() > 100
        await conn.execute("select bluetick_report_refresh($1)", org)
        assert await same() > 100
    finally:
        await conn.close()


async def test_truncating_message_logs_empties_the_campaign_rollups_too(conn: asyncpg.Connection):
    """The truncate trigger's list (bluetick_report_truncate) covers the campaign rollups: checked on its text, as a
    truncate of the shared test database would take every other test's rows."""
    text = await conn.fetchval("select pg_get_functiondef('bluetick_report_truncate()'::regprocedure)")
    for table in ("report_campaigns", "report_campaign_reads", "report_campaign_errors", "report_campaign_blocks",
                  "report_campaign_block_reads", "report_campaign_block_errors"):  # fmt: skip
        assert table in text


# ------------------------------------------------------------------------------------------------ recipients CSV

HEADER = "customer,bsp_msg_id,status,sent,delivered,read,failed,replied,clicked,failed_reason"
# A's campaign diwali, all time, in (created_at, bsp_msg_id) order: a1 and a2 share created_at; not x2 (a reaction)
# nor x3 (inbound).
DIWALI_LINES_A = [
    [P9, "wamid.a0", "SENT", "2024-11-04T23:59:59Z", "", "", "", "", "", ""],
    [P1, "wamid.a1", "READ", "2024-11-05T10:00:00Z", "2024-11-05T10:00:05Z", "2024-11-05T10:01:00Z", "",
     "2024-11-05T10:05:00Z", "2024-11-05T10:05:00Z", ""],
    [P2, "wamid.a2", "READ", "2024-11-05T10:00:00Z", "2024-11-05T10:00:10Z", "2024-11-05T10:10:00Z", "",
     "2024-11-05T10:20:00Z", "", ""],
    [P3, "wamid.a3", "FAILED", "2024-11-05T10:00:01Z", "", "", "2024-11-05T10:00:03Z", "", "", R_131026],
    [P4, "wamid.a4", "DELIVERED", "2024-11-05T10:00:02Z", "2024-11-05T10:00:30Z", "", "", "", "2024-11-05T11:00:00Z",
     ""],
    [USERNAME, "wamid.a5", "FAILED", "2024-11-05T10:00:03Z", "", "", "2024-11-05T10:00:04Z", "", "", R_131026],
    [P7, "wamid.a8", "READ", "2024-11-05T11:00:00Z", "2024-11-05T11:00:02Z", "2024-11-05T11:00:32Z", "", "", "", ""],
    [P1, "wamid.a9", "READ", "2024-11-05T11:30:00Z", "2024-11-05T11:30:01Z", "2024-11-05T11:30:11Z", "", "", "", ""],
    [P5, "wamid.a6", "FAILED", "2024-11-05T12:00:00Z", "", "", "2024-11-05T12:00:06Z", "", "", R_131049],
    [P6, "wamid.a7", "FAILED", "2024-11-05T23:59:30Z", "", "", "2024-11-06T00:00:05Z", "", "", R_NO_CODE],
]  # fmt: skip
DIWALI_LINES_B = [
    [P1, "wamid.a1", "READ", "2024-11-05T10:00:00Z", "2024-11-05T10:00:05Z", "2024-11-05T10:00:10Z", "",
     "2024-11-05T10:01:00Z", "", ""],
    [P2, "wamid.b2", "FAILED", "2024-11-05T10:00:02Z", "", "", "2024-11-05T10:00:04Z", "", "", R_131047],
]  # fmt: skip


def parse_csv(text: str) -> list[list[str]]:
    lines = list(csv.reader(io.StringIO(text, newline="")))
    assert lines[0] == HEADER.split(","), lines[:1]
    return lines[1:]


async def rows_as_csv_lines(conn: asyncpg.Connection, org: uuid.UUID, campaign: str) -> list[list[str]]:
    """The campaign's rows read from message_logs directly, as the CSV should give them."""

    def utc(value: str | None) -> str:
        return "" if value is None else datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    records = await conn.fetch(
        "select coalesce(to_phone, customer_user_id) as customer, bsp_msg_id, status, whatsapp_status::text as ws,"
        " failed_reason from message_logs where org_id = $1 and campaign_id = $2 and direction = 'OUTBOUND'"
        " and msg_kind <> 'REACTION' order by created_at, bsp_msg_id",
        org,
        campaign,
    )
    lines = []
    for r in records:
        ws = json.loads(r["ws"])
        times = [utc(ws.get(s)) for s in ("sent", "delivered", "read", "failed", "replied", "clicked")]
        lines.append([r["customer"], r["bsp_msg_id"], r["status"], *times, r["failed_reason"] or ""])
    return lines


async def test_the_recipients_function_pages_by_created_at_then_bsp_msg_id(conn: asyncpg.Connection, orgs: Orgs):
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")
    first = await conn.fetchval("select bluetick_campaign_recipients($1, $2, null, null, 2)", orgs.a, DIWALI)
    assert [r["bsp_msg_id"] for r in first] == ["wamid.a0", "wamid.a1"]
    assert first[1]["created_at"] == "2024-11-05T10:00:00.000000Z"
    # after a1: a2, of the same created_at, comes next
    after = datetime.fromisoformat(first[1]["created_at"])
    second = await conn.fetchval(
        "select bluetick_campaign_recipients($1, $2, $3, $4, 2)", orgs.a, DIWALI, after, "wamid.a1"
    )
    assert [r["bsp_msg_id"] for r in second] == ["wamid.a2", "wamid.a3"]
    assert await conn.fetchval("select bluetick_campaign_recipients($1, 'nope', null, null, 10)", orgs.a) == []


@pytest.mark.parametrize("page_size", [None, "1", "2", "3", "5", "10", "10000"])
async def test_recipients_csv_over_http_equals_the_rows_across_pages(
    http: TestClient, backend: Backend, db: asyncpg.Connection, page_size: str | None
):
    a, b = uuid.uuid4(), uuid.uuid4()
    await load(backend.db_dsn, a, b)
    query = {} if page_size is None else {"page_size": page_size}
    response = await http.get(f"/v1/orgs/{a}/campaigns/{DIWALI}/recipients.csv", params=query)
    assert response.status == 200, await response.text()
    assert response.content_type == "text/csv" and response.charset == "utf-8"
    text = await response.text()
    assert text.startswith(HEADER + "\r\n")
    lines = parse_csv(text)
    assert lines == DIWALI_LINES_A  # 10 lines: with page_size 2, a1 and a2 (same created_at) fall on two pages
    assert lines == await rows_as_csv_lines(db, a, DIWALI)
    b_response = await http.get(f"/v1/orgs/{b}/campaigns/{DIWALI}/recipients.csv", params=query)
    assert parse_csv(await b_response.text()) == DIWALI_LINES_B


async def test_an_unknown_campaign_is_the_header_alone(http: TestClient, backend: Backend):
    a, b = uuid.uuid4(), uuid.uuid4()
    await load(backend.db_dsn, a, b)
    for org, campaign in ((a, "nope"), (uuid.uuid4(), DIWALI), (a, "diwali/x")):
        response = await http.get(f"/v1/orgs/{org}/campaigns/{campaign}/recipients.csv")
        assert response.status == 200
        assert await response.text() == HEADER + "\r\n"


async def test_a_campaign_id_with_quotes_commas_and_a_slash_round_trips(http: TestClient, backend: Backend):
    org = uuid.uuid4()
    campaign = 'Black Friday, "VIP"/2024 ✓'
    conn = await asyncpg.connect(backend.db_dsn)
    try:
        row = Row("wamid.q1", t("10:00:00"), stages(sent="10:00:00", failed="10:00:01"), P1, campaign,
                  reason='Error 131026: a "quoted", reason')  # fmt: skip
        await insert(conn, org, [row])
    finally:
        await conn.close()
    path = f"/v1/orgs/{org}/campaigns/{campaign.replace('/', '%2F')}/recipients.csv"
    response = await http.get(path)
    assert response.status == 200
    lines = parse_csv(await response.text())
    expected = [P1, "wamid.q1", "FAILED", "2024-11-05T10:00:00Z", "", "", "2024-11-05T10:00:01Z", "", "",
                'Error 131026: a "quoted", reason']  # fmt: skip
    assert lines == [expected]


@pytest.mark.parametrize(
    ("path", "named"),
    [
        ("/v1/orgs/{org}/campaigns/diwali/recipients.csv?page_size=0", "page_size"),
        ("/v1/orgs/{org}/campaigns/diwali/recipients.csv?page_size=10001", "page_size"),
        ("/v1/orgs/{org}/campaigns/diwali/recipients.csv?page_size=two", "page_size"),
        ("/v1/orgs/{org}/campaigns/diwali/recipients.csv?page_size=-1", "page_size"),
        ("/v1/orgs/{org}/campaigns/" + "c" * 513 + "/recipients.csv", "campaign"),
        ("/v1/orgs/{org}/campaigns/bad%00id/recipients.csv", "campaign"),
    ],
)
async def test_bad_input_is_400_naming_it(http: TestClient, path: str, named: str):
    response = await http.get(path.format(org=uuid.uuid4()))
    assert response.status == 400
    assert named in (await response.json())["error"]


async def test_a_512_character_campaign_is_accepted(http: TestClient):
    response = await http.get(f"/v1/orgs/{uuid.uuid4()}/campaigns/{'c' * 512}/recipients.csv")
    assert response.status == 200 and await response.text() == HEADER + "\r\n"


async def test_the_route_needs_the_api_token(dsn: str, store: Store, backend: Backend):
    a, b = uuid.uuid4(), uuid.uuid4()
    await load(backend.db_dsn, a, b)
    token = "tok-" + "r" * 28
    client = await start_client(make_settings(dsn, open_api=False, api_token=token), store)
    try:
        path = f"/v1/orgs/{a}/campaigns/{DIWALI}/recipients.csv"
        assert (await client.get(path)).status == 401
        assert (await client.get(path, headers={"Authorization": "Bearer wrong"})).status == 401
        response = await client.get(path, headers={"Authorization": f"Bearer {token}"})
        assert response.status == 200
        assert parse_csv(await response.text()) == DIWALI_LINES_A
        assert (await client.get(f"/v1/orgs/not-an-org/campaigns/{DIWALI}/recipients.csv")).status == 404
    finally:
        await client.close()


def test_the_cli_writes_the_same_csv(
    dsn: str, orgs: Orgs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.setenv("DATABASE_URL", dsn)
    out = tmp_path / "diwali.csv"
    argv = ["campaign-recipients", "--org", str(orgs.a), "--campaign", DIWALI, "--out", str(out), "--page-size", "2"]
    assert main(argv) == 0
    assert capsys.readouterr().out.strip() == str(out)
    text = out.read_bytes().decode()
    assert text.startswith(HEADER + "\r\n") and parse_csv(text) == DIWALI_LINES_A
    assert not list(tmp_path.glob(".*.partial"))
    # to stdout, the default page size: the same bytes
    assert main(["campaign-recipients", "--org", str(orgs.a), "--campaign", DIWALI]) == 0
    assert capsys.readouterr().out == text
    # an unknown campaign: the header alone
    assert main(["campaign-recipients", "--org", str(orgs.b), "--campaign", "nope"]) == 0
    assert capsys.readouterr().out == HEADER + "\r\n"


def test_the_cli_refuses_a_bad_page_size_naming_it(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit) as raised:
        main(["campaign-recipients", "--org", str(uuid.uuid4()), "--campaign", DIWALI, "--page-size", "0"])
    assert raised.value.code == 2
    assert "page_size" in capsys.readouterr().err


class CountingStore(PostgresStore):
    """The real store, counting the pages it is asked for."""

    pages = 0

    async def campaign_recipients(
        self, org_id: uuid.UUID, campaign: str, after: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        self.pages += 1
        return await super().campaign_recipients(org_id, campaign, after, limit)


class FailingStore(CountingStore):
    """The real store, whose read of page `fail_at` (1 the first) fails as a lost database would."""

    fail_at = 1

    async def campaign_recipients(
        self, org_id: uuid.UUID, campaign: str, after: tuple[str, str] | None, limit: int
    ) -> list[dict[str, Any]]:
        if self.pages + 1 == self.fail_at:
            self.pages += 1
            raise ConnectionResetError("the database went away")
        return await super().campaign_recipients(org_id, campaign, after, limit)


async def test_a_read_that_fails_is_503_before_the_first_byte_and_a_cut_download_after(dsn: str, orgs: Orgs):
    store = await FailingStore.connect(dsn, pool_size=1, timeout_s=10)
    client = await start_client(make_settings(dsn), store)
    try:
        path = f"/v1/orgs/{orgs.a}/campaigns/{DIWALI}/recipients.csv"
        response = await client.get(path, params={"page_size": "2"})
        assert response.status == 503 and "retry" in (await response.json())["error"]
        store.pages, store.fail_at = 0, 3  # the third page fails: the client must not take two pages for the CSV
        response = await client.get(path, params={"page_size": "2"})
        assert response.status == 200
        with pytest.raises(aiohttp.ClientPayloadError):
            await response.read()
        store.pages, store.fail_at = 0, 0
        response = await client.get(path, params={"page_size": "2"})  # the service answers on
        assert parse_csv(await response.text()) == DIWALI_LINES_A
    finally:
        await client.close()
        await store.close()


async def test_pages_are_read_one_at_a_time_as_they_are_consumed(dsn: str, orgs: Orgs):
    store = await CountingStore.connect(dsn, pool_size=1, timeout_s=10)
    try:
        pages = recipient_pages(store, orgs.a, DIWALI, 3)
        first = await anext(pages)
        assert ([r["bsp_msg_id"] for r in first], store.pages) == (["wamid.a0", "wamid.a1", "wamid.a2"], 1)
        rest = [page async for page in pages]
        # 10 lines in pages of 3: 3, 3, 1 more, and no read after the short page
        assert ([len(p) for p in rest], store.pages) == ([3, 3, 1], 4)
    finally:
        await store.close()


async def test_the_readmes_campaign_examples_run(conn: asyncpg.Connection, orgs: Orgs):
    section = ANALYTICS_README.read_text().split("\n## Campaigns and templates\n")[1].split("\n## ")[0]
    statements = [
        q.strip() for block in re.findall(r"^```sql\n(.*?)^```", section, re.M | re.S) for q in block.split(";")
    ]
    statements = [q for q in statements if q]
    assert len(statements) == 2
    for query in statements:
        await conn.fetch(query.replace(README_ORG, "$1::uuid"), orgs.a)


async def test_rows_written_through_the_merge_feed_the_funnel_and_the_csv(
    http: TestClient, store: Store, db: asyncpg.Connection
):
    org = uuid.uuid4()
    sent = [t("10:00:00"), t("10:00:01"), t("10:00:02")]
    messages = [
        Message(org, f"wamid.m{n}", Direction.OUTBOUND, "TEMPLATE", to_phone=phone, body="hi", sent_at=at,
                template_name=PROMO, template_language="en", campaign_id="spring", campaign_name="Spring")
        for n, (phone, at) in enumerate(zip((P1, P2, P3), sent, strict=True), 1)
    ]  # fmt: skip
    statuses = [
        StatusEvent(org, "wamid.m1", "replied", t("10:03:00")),  # before its message: parked, then applied
        StatusEvent(org, "wamid.m1", "read", t("10:01:00")),
        StatusEvent(org, "wamid.m2", "clicked", t("10:05:00")),
        StatusEvent(org, "wamid.m2", "delivered", t("10:00:04")),
        StatusEvent(org, "wamid.m3", "failed", t("10:00:05"), failed_reason=R_131049),
    ]
    await store.apply_batch([], statuses[:1])
    await store.apply_batch(messages, statuses[1:])
    await store.apply_batch([], [StatusEvent(org, "wamid.m1", "replied", t("10:04:00"))])  # later: the earliest stays
    row = await db.fetchrow("select * from bluetick_campaign_funnel($1, '-infinity', 'infinity')", org)
    # m1 read (delivered filled by the read) after 60 s and replied; m2 delivered and clicked; m3 failed
    assert tuple(row[c] for c in (*FUNNEL[:11], "median_seconds_sent_to_read", "top_error_code")) == (
        "spring", "Spring", PROMO, "en", 3, 3, 2, 1, 1, 1, 1, Decimal("60.0"), "131049",
    )  # fmt: skip
    response = await http.get(f"/v1/orgs/{org}/campaigns/spring/recipients.csv", params={"page_size": "1"})
    assert parse_csv(await response.text()) == [
        [P1, "wamid.m1", "READ", "2024-11-05T10:00:00Z", "2024-11-05T10:01:00Z", "2024-11-05T10:01:00Z", "",
         "2024-11-05T10:03:00Z", "", ""],
        [P2, "wamid.m2", "DELIVERED", "2024-11-05T10:00:01Z", "2024-11-05T10:00:04Z", "", "", "",
         "2024-11-05T10:05:00Z", ""],
        [P3, "wamid.m3", "FAILED", "2024-11-05T10:00:02Z", "", "", "2024-11-05T10:00:05Z", "", "", R_131049],
    ]  # fmt: skip


async def test_a_campaign_of_thousands_streams_whole_in_many_pages(http: TestClient, backend: Backend):
    org = uuid.uuid4()
    count = 3000
    conn = await asyncpg.connect(backend.db_dsn)
    try:
        # 3,000 messages, three at each created_at: two page boundaries of 70 in three fall inside a tie
        rows = [
            Row(f"wamid.{n:05d}", t("10:00:00") + timedelta(seconds=n // 3), stages(sent="10:00:00"), f"+9198{n:08d}",
                "big")
            for n in range(count)
        ]  # fmt: skip
        await insert(conn, org, rows)
    finally:
        await conn.close()
    response = await http.get(f"/v1/orgs/{org}/campaigns/big/recipients.csv", params={"page_size": "70"})
    lines = parse_csv(await response.text())
    assert [line[1] for line in lines] == [f"wamid.{n:05d}" for n in range(count)]
