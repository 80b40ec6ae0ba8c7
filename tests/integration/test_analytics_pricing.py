"""bluetick_billable, bluetick_spend and bluetick_spend_by_kind return the hand-computed numbers of two
organisations whose rows interleave (same days, categories, customers and message ids) and whose rate cards differ,
so any leak of the other organisation's rows or rates changes the numbers.

Two fixtures: November 2024 (every status carries `billable`) and July 2025, under Meta's per-message pricing (PMP),
where `billable` may be absent and `pricing_type` says what is charged (bluetick_is_billable: billable when
`billable` is true, or absent with type `regular`), with the categories PMP added (marketing_lite,
authentication_international, referral_conversion). The report's rollups give the functions' numbers on both.

Rows are written through `bluetick_apply_batch`, the service's one write path, with fresh org ids.
"""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from itertools import zip_longest
from pathlib import Path
from typing import Any

import asyncpg
import pytest

ANALYTICS_README = Path(__file__).resolve().parents[2] / "src" / "bluetick" / "sql" / "analytics" / "README.md"
README_ORG = "'0b6b9c3e-4a51-4f39-9a57-1f0f5e7f2a10'"
IN_PHONE = "+919800000011"
US_PHONE = "+12025550123"
IN_USERNAME = "IN.2081978709342942"
D1, D2, D3 = date(2024, 11, 5), date(2024, 11, 6), date(2024, 11, 7)
PAID = {"billable": True, "pricing_model": "PMP", "pricing_type": "regular"}
FREE_SERVICE = {
    "billable": False,
    "pricing_model": "PMP",
    "pricing_category": "service",
    "pricing_type": "free_customer_service",
}


def d(value: str) -> Decimal:
    return Decimal(value)


def sent(
    org: uuid.UUID,
    msg_id: str,
    ts: str,
    pricing: dict[str, Any] | None,
    *,
    phone: str | None,
    user_id: str | None = None,
    kind: str | None = "TEMPLATE",
) -> tuple[dict[str, Any], dict[str, Any]]:
    """An outbound message and its `sent` receipt, carrying Meta's pricing when given."""
    message = {
        "org_id": str(org),
        "bsp_msg_id": msg_id,
        "direction": "OUTBOUND",
        "msg_kind": kind,
        "to_phone": phone,
        "sent_at": f"{ts}Z",
        "customer_user_id": user_id,
    }
    receipt = {"org_id": str(org), "bsp_msg_id": msg_id, "status": "sent", "ts": f"{ts}Z", "pricing": pricing}
    return message, receipt


def paid(category: str) -> dict[str, Any]:
    return {**PAID, "pricing_category": category}


def rows_of_a(a: uuid.UUID) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        sent(a, "wamid.p1", "2024-11-05 09:00:00", paid("marketing"), phone=IN_PHONE),
        sent(a, "wamid.p2", "2024-11-05 09:30:00", paid("marketing"), phone=None, user_id=IN_USERNAME),
        sent(a, "wamid.p3", "2024-11-05 10:00:00", paid("utility"), phone=US_PHONE),
        sent(a, "wamid.p4", "2024-11-05 11:00:00", FREE_SERVICE, phone=IN_PHONE),
        sent(a, "wamid.p5", "2024-11-05 12:00:00", paid("authentication"), phone=IN_PHONE),
        sent(a, "wamid.p6", "2024-11-05 13:00:00", paid("marketing"), phone=US_PHONE),
        sent(a, "wamid.p7", "2024-11-06 09:00:00", paid("marketing"), phone=IN_PHONE),
        sent(a, "wamid.p8", "2024-11-06 10:00:00", paid("utility"), phone=IN_PHONE),
        sent(a, "wamid.p9", "2024-11-06 11:00:00", None, phone=IN_PHONE),
        sent(a, "wamid.p10", "2024-11-07 09:00:00", paid("marketing"), phone=IN_PHONE),
    ]


def rows_of_b(b: uuid.UUID) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        sent(b, "wamid.p1", "2024-11-05 09:00:00", paid("marketing"), phone=IN_PHONE),
        sent(b, "wamid.q2", "2024-11-05 10:00:00", paid("utility"), phone=IN_PHONE),
        sent(b, "wamid.q3", "2024-11-05 12:00:00", paid("authentication"), phone=IN_PHONE),
        sent(b, "wamid.q4", "2024-11-06 09:00:00", paid("marketing"), phone=US_PHONE),
        sent(b, "wamid.q5", "2024-11-06 09:30:00", paid("marketing"), phone=None, user_id="IN.777"),
    ]


def rate_cards(a: uuid.UUID, b: uuid.UUID) -> list[tuple[uuid.UUID, str, str, str, Decimal, date]]:
    return [
        (a, "marketing", "IN", "INR", d("0.7846"), date(2024, 1, 1)),
        (a, "marketing", "IN", "INR", d("0.8631"), D2),
        (a, "marketing", "IN", "INR", d("0.9000"), date(2024, 12, 1)),  # not yet valid
        (a, "utility", "*", "INR", d("0.1150"), date(2024, 1, 1)),
        (b, "marketing", "IN", "USD", d("0.0107"), date(2024, 1, 1)),
        (b, "marketing", "US", "USD", d("0.0250"), date(2024, 1, 1)),
        (b, "marketing", "*", "USD", d("0.0300"), date(2024, 1, 1)),  # the market's own rate wins
        (b, "utility", "IN", "USD", d("0.0014"), D2),
        (b, "authentication", "*", "USD", d("0.0014"), date(2024, 1, 1)),
    ]


async def load(dsn: str, a: uuid.UUID, b: uuid.UUID) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        mixed = [row for rows in zip_longest(rows_of_a(a), rows_of_b(b)) for row in rows if row]
        await conn.execute(
            "select bluetick_apply_batch($1::jsonb, $2::jsonb)",
            json.dumps([m for m, _ in mixed]),
            json.dumps([r for _, r in mixed if r["pricing"]]),
        )
        await conn.executemany(
            "insert into pricing_rates (org_id, category, market, currency, price_per_message, valid_from)"
            " values ($1, $2, $3, $4, $5, $6)",
            rate_cards(a, b),
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


BILLABLE = ("day", "pricing_category", "pricing_type", "billable", "messages")
SPEND = ("day", "pricing_category", "currency", "messages", "spend")


def tuples(records: list[asyncpg.Record], columns: tuple[str, ...]) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in columns) for r in records]


async def test_billable_counts_priced_messages_per_day_category_and_type(conn: asyncpg.Connection, orgs: Orgs):
    a = await conn.fetch("select * from bluetick_billable($1, $2, $3)", orgs.a, D1, D3)
    assert tuples(a, BILLABLE) == [  # p9 has no pricing; p10 is on D3, outside the window
        (D1, "authentication", "regular", True, 1),
        (D1, "marketing", "regular", True, 3),
        (D1, "service", "free_customer_service", False, 1),
        (D1, "utility", "regular", True, 1),
        (D2, "marketing", "regular", True, 1),
        (D2, "utility", "regular", True, 1),
    ]
    b = await conn.fetch("select * from bluetick_billable($1, $2, $3)", orgs.b, D1, D3)
    assert tuples(b, BILLABLE) == [
        (D1, "authentication", "regular", True, 1),
        (D1, "marketing", "regular", True, 1),
        (D1, "utility", "regular", True, 1),
        (D2, "marketing", "regular", True, 2),
    ]


async def test_spend_prices_each_message_at_its_days_rate_for_its_market(conn: asyncpg.Connection, orgs: Orgs):
    a = await conn.fetch("select * from bluetick_spend($1, $2, $3)", orgs.a, D1, D3)
    assert tuples(a, SPEND) == [
        (D1, "authentication", None, 1, None),  # A has no authentication rate (B's '*' one is B's)
        (D1, "marketing", "INR", 2, d("1.5692")),  # p1 by phone, p2 by BSUID prefix: 2 x 0.7846
        (D1, "marketing", None, 1, None),  # p6 to a US phone: A prices marketing in IN only
        (D1, "utility", "INR", 1, d("0.1150")),  # p3 to a US phone, at A's '*' rate
        (D2, "marketing", "INR", 1, d("0.8631")),  # the rate valid from D2
        (D2, "utility", "INR", 1, d("0.1150")),
    ]
    b = await conn.fetch("select * from bluetick_spend($1, $2, $3)", orgs.b, D1, D3)
    assert tuples(b, SPEND) == [
        (D1, "authentication", "USD", 1, d("0.0014")),
        (D1, "marketing", "USD", 1, d("0.0107")),  # IN's own rate, not B's '*' 0.0300
        (D1, "utility", None, 1, None),  # B's utility rate holds from D2 only (A's '*' one is A's)
        (D2, "marketing", "USD", 2, d("0.0357")),  # 0.0250 (US phone) + 0.0107 (IN BSUID)
    ]
    later = await conn.fetch("select * from bluetick_spend($1, $2, $3)", orgs.a, D3, D3 + timedelta(days=1))
    assert tuples(later, SPEND) == [(D3, "marketing", "INR", 1, d("0.8631"))]  # 0.9000 holds from December


async def test_pricing_of_an_org_without_rows_is_empty(conn: asyncpg.Connection):
    nobody = uuid.uuid4()
    assert await conn.fetch("select * from bluetick_billable($1, '-infinity', 'infinity')", nobody) == []
    assert await conn.fetch("select * from bluetick_spend($1, '-infinity', 'infinity')", nobody) == []


async def test_market_comes_from_the_calling_code_else_the_bsuid(conn: asyncpg.Connection):
    got = await conn.fetchrow(
        "select bluetick_market('+919876543210', null) as india, bluetick_market('+12025550123', null) as us,"
        " bluetick_market(null, 'US.ENT.11815799212886844830') as parent,"
        " bluetick_market('+6591234567', 'SG.123') as unlisted_code, bluetick_market('+6591234567', null) as unknown,"
        " bluetick_market('+9715012345', null) as uae"
    )
    assert tuple(got) == ("IN", "US", "US", "SG", None, "AE")


async def test_the_rate_card_refuses_malformed_rows(conn: asyncpg.Connection):
    bad = [
        ("Marketing", "IN", "INR", d("1")),
        ("marketing", "India", "INR", d("1")),
        ("marketing", "IN", "inr", d("1")),
        ("marketing", "IN", "INR", d("-1")),
    ]
    for category, market, currency, price in bad:
        with pytest.raises(asyncpg.CheckViolationError):
            await conn.execute(
                "insert into pricing_rates (org_id, category, market, currency, price_per_message, valid_from)"
                " values ($1, $2, $3, $4, $5, current_date)",
                uuid.uuid4(),
                category,
                market,
                currency,
                price,
            )


async def test_pricing_obeys_the_callers_row_level_security(supabase_dsn: str):
    """On Supabase, an authenticated user of A reads A's rates and spend only; anon reads no rate at all."""
    a, b = uuid.uuid4(), uuid.uuid4()
    await load(supabase_dsn, a, b)
    connection = await asyncpg.connect(supabase_dsn)
    try:
        async with connection.transaction():
            await connection.execute("set local role authenticated")
            await connection.execute(
                "select set_config('request.jwt.claims', $1, true)",
                json.dumps({"role": "authenticated", "org_id": str(a)}),
            )
            rates = await connection.fetch("select distinct org_id from pricing_rates where org_id = any($1)", [a, b])
            own = await connection.fetchval("select sum(spend) from bluetick_spend($1, '-infinity', 'infinity')", a)
            other_spend = await connection.fetch("select * from bluetick_spend($1, '-infinity', 'infinity')", b)
            other_billable = await connection.fetch("select * from bluetick_billable($1, '-infinity', 'infinity')", b)
            other_by_kind = await connection.fetch(
                "select * from bluetick_spend_by_kind($1, '-infinity', 'infinity')", b
            )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute("set local role authenticated")
                await connection.execute(
                    "insert into pricing_rates values ($1, 'marketing', 'IN', 'INR', 0, current_date)", a
                )
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            async with connection.transaction():
                await connection.execute("set local role anon")
                await connection.fetch("select * from pricing_rates")
    finally:
        await connection.close()
    # A's priced messages: 2 x 0.7846 + 0.1150 (D1), 0.8631 + 0.1150 (D2), 0.8631 (D3)
    assert ([r["org_id"] for r in rates], own, other_spend, other_billable, other_by_kind) == (
        [a],
        d("3.5254"),
        [],
        [],
        [],
    )


async def test_readme_pricing_examples_fill_a_rate_card_and_price_with_it(conn: asyncpg.Connection):
    section = ANALYTICS_README.read_text().split("\n## Pricing\n", 1)[1].split("\n## ", 1)[0]
    fill, spend, by_kind = re.findall(r"^```sql\n(.*?)^```", section, re.M | re.S)
    org = uuid.uuid4()
    marketing = sent(org, "wamid.m", "2025-07-02 09:00:00", paid("marketing"), phone=IN_PHONE)
    reply = sent(org, "wamid.r", "2025-07-02 09:05:00", pmp("utility", None, "regular"), phone=IN_PHONE, kind=AI)
    await conn.execute(
        "select bluetick_apply_batch($1::jsonb, $2::jsonb)",
        json.dumps([marketing[0], reply[0]]),
        json.dumps([marketing[1], reply[1]]),
    )
    await conn.execute(fill.replace(README_ORG, f"'{org}'"))
    got = await conn.fetch(
        spend.replace(README_ORG, "$1::uuid").replace("current_date - 7, current_date", "'2025-07-01', '2025-07-08'"),
        org,
    )
    assert tuples(got, ("day", "currency", "messages", "spend")) == [(date(2025, 7, 2), "INR", 1, d("0.7846"))]
    week = "'2025-07-01', '2025-07-08'"
    got = await conn.fetch(by_kind.replace(README_ORG, "$1::uuid").replace("current_date - 7, current_date", week), org)
    assert tuples(got, ("currency", "messages", "spend")) == [("INR", 1, d("0.1150"))]  # no billable flag: regular


# Per-message pricing (PMP), July 2025. A status may carry `billable` or not; what counts is bluetick_is_billable.
P1, P2, P_END = date(2025, 7, 1), date(2025, 7, 2), date(2025, 7, 3)
BR_PHONE = "+5511987654321"
AI, TPL = "AI_REPLY_FREEFORM", "TEMPLATE"
T, F, N = True, False, None  # billable true, false, absent
REGULAR, FREE_CS, FREE_EP = "regular", "free_customer_service", "free_entry_point"


def pmp(category: str, billable: bool | None, pricing_type: str | None) -> dict[str, Any]:
    """A PMP status's pricing; an absent `billable` or `type` is left out, as Meta leaves it out."""
    price: dict[str, Any] = {"pricing_model": "PMP", "pricing_category": category}
    if billable is not None:
        price["billable"] = billable
    if pricing_type is not None:
        price["pricing_type"] = pricing_type
    return price


def pmp_rows_of_a(a: uuid.UUID) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """Every billable x type pair (true/false/absent x regular/free_customer_service/free_entry_point/absent)."""
    return [
        sent(a, "wamid.a1", "2025-07-01 08:00:00", pmp("marketing", T, REGULAR), phone=IN_PHONE),  # 0.8631
        sent(a, "wamid.a2", "2025-07-01 08:10:00", pmp("marketing", N, REGULAR), phone=IN_PHONE),  # 0.8631
        sent(a, "wamid.a3", "2025-07-01 08:20:00", pmp("marketing", F, REGULAR), phone=IN_PHONE),  # free
        sent(a, "wamid.a4", "2025-07-01 08:30:00", pmp("service", N, FREE_CS), phone=IN_PHONE, kind=AI),  # free
        sent(a, "wamid.a5", "2025-07-01 08:40:00", pmp("utility", N, REGULAR), phone=US_PHONE, kind=AI),  # 0.1150
        sent(a, "wamid.a6", "2025-07-01 08:50:00", pmp("utility", T, FREE_CS), phone=IN_PHONE, kind=AI),  # 0.1150
        sent(a, "wamid.a7", "2025-07-01 09:00:00", pmp("marketing", N, FREE_EP), phone=IN_PHONE),  # free
        sent(a, "wamid.a8", "2025-07-01 09:10:00", pmp("marketing_lite", N, REGULAR), phone=IN_PHONE),  # 0.8000
        sent(a, "wamid.a9", "2025-07-01 09:20:00", pmp("marketing_lite", T, REGULAR), phone=US_PHONE),  # no rate
        sent(a, "wamid.a10", "2025-07-01 09:30:00", pmp("authentication_international", N, REGULAR), phone=BR_PHONE),
        sent(a, "wamid.a11", "2025-07-02 08:00:00", pmp("utility", F, FREE_CS), phone=IN_PHONE, kind=AI),  # free
        sent(a, "wamid.a12", "2025-07-02 08:10:00", pmp("utility", N, None), phone=IN_PHONE, kind=AI),  # free
        sent(a, "wamid.a13", "2025-07-02 08:20:00", pmp("marketing", T, FREE_EP), phone=IN_PHONE, kind=AI),  # 0.8631
        sent(a, "wamid.a14", "2025-07-02 08:30:00", pmp("referral_conversion", N, REGULAR), phone=IN_PHONE),  # no rate
        sent(a, "wamid.a15", "2025-07-02 08:40:00", pmp("referral_conversion", F, FREE_EP), phone=IN_PHONE),  # free
        sent(a, "wamid.a16", "2025-07-02 08:50:00", pmp("utility", N, REGULAR), phone=IN_PHONE, kind="TEXT"),  # 0.1150
        sent(a, "wamid.a17", "2025-07-02 09:00:00", pmp("marketing", F, FREE_EP), phone=IN_PHONE),  # free
        sent(a, "wamid.a18", "2025-07-02 09:10:00", pmp("marketing", F, None), phone=IN_PHONE),  # free
        sent(a, "wamid.a19", "2025-07-02 09:20:00", pmp("marketing", T, None), phone=IN_PHONE),  # 0.8631
        sent(a, "wamid.a20", "2025-07-02 09:30:00", None, phone=IN_PHONE, kind=AI),  # not priced
        sent(a, "wamid.a21", "2025-07-03 08:00:00", pmp("marketing", N, REGULAR), phone=IN_PHONE),  # after the window
    ]


def pmp_rows_of_b(b: uuid.UUID) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    return [
        sent(b, "wamid.a1", "2025-07-01 08:00:00", pmp("marketing", N, REGULAR), phone=IN_PHONE),  # 0.0107
        sent(b, "wamid.b2", "2025-07-01 08:30:00", pmp("utility", N, FREE_CS), phone=IN_PHONE, kind=AI),  # free
        sent(b, "wamid.b3", "2025-07-01 09:10:00", pmp("marketing_lite", N, REGULAR), phone=US_PHONE),  # '*' 0.0090
        sent(b, "wamid.b4", "2025-07-01 09:40:00", pmp("marketing", T, REGULAR), phone=IN_PHONE, kind=None),  # 0.0107
        sent(b, "wamid.b5", "2025-07-02 08:30:00", pmp("referral_conversion", N, REGULAR), phone=IN_PHONE),  # 0.0050
        sent(b, "wamid.b6", "2025-07-02 08:40:00", pmp("utility", T, REGULAR), phone=IN_PHONE, kind=AI),  # 0.0014
        sent(b, "wamid.b7", "2025-07-02 08:50:00", pmp("authentication_international", N, REGULAR), phone=IN_PHONE),
    ]


def pmp_rate_cards(a: uuid.UUID, b: uuid.UUID) -> list[tuple[uuid.UUID, str, str, str, Decimal, date]]:
    return [
        (a, "marketing", "IN", "INR", d("0.8631"), date(2025, 7, 1)),
        (a, "utility", "*", "INR", d("0.1150"), date(2025, 1, 1)),
        (a, "marketing_lite", "IN", "INR", d("0.8000"), date(2025, 7, 1)),  # IN only: a US customer has no rate
        (a, "authentication_international", "*", "INR", d("2.3000"), date(2025, 7, 1)),  # any market
        # A has no referral_conversion rate; B's do not price A's messages
        (b, "marketing", "IN", "USD", d("0.0107"), date(2025, 7, 1)),
        (b, "marketing_lite", "*", "USD", d("0.0090"), date(2025, 7, 1)),
        (b, "referral_conversion", "IN", "USD", d("0.0050"), date(2025, 7, 1)),
        (b, "utility", "IN", "USD", d("0.0014"), date(2025, 7, 1)),
    ]


async def load_pmp(dsn: str, a: uuid.UUID, b: uuid.UUID) -> None:
    conn = await asyncpg.connect(dsn)
    try:
        mixed = [row for rows in zip_longest(pmp_rows_of_a(a), pmp_rows_of_b(b)) for row in rows if row]
        await conn.execute(
            "select bluetick_apply_batch($1::jsonb, $2::jsonb)",
            json.dumps([m for m, _ in mixed]),
            json.dumps([r for _, r in mixed if r["pricing"]]),
        )
        await conn.executemany(
            "insert into pricing_rates (org_id, category, market, currency, price_per_message, valid_from)"
            " values ($1, $2, $3, $4, $5, $6)",
            pmp_rate_cards(a, b),
        )
    finally:
        await conn.close()


@pytest.fixture(scope="module")
def pmp_orgs(dsn: str) -> Orgs:
    loaded = Orgs(uuid.uuid4(), uuid.uuid4())
    asyncio.run(load_pmp(dsn, loaded.a, loaded.b))
    return loaded


PMP_BILLABLE_A = [
    (P1, "authentication_international", "regular", True, 1),  # a10: billable absent, regular
    (P1, "marketing", "free_entry_point", False, 1),  # a7
    (P1, "marketing", "regular", False, 1),  # a3: billable false wins over regular
    (P1, "marketing", "regular", True, 2),  # a1 (billable true), a2 (absent, regular)
    (P1, "marketing_lite", "regular", True, 2),  # a8, a9
    (P1, "service", "free_customer_service", False, 1),  # a4
    (P1, "utility", "free_customer_service", True, 1),  # a6: billable true wins over the free type
    (P1, "utility", "regular", True, 1),  # a5
    (P2, "marketing", "free_entry_point", False, 1),  # a17
    (P2, "marketing", "free_entry_point", True, 1),  # a13
    (P2, "marketing", None, False, 1),  # a18
    (P2, "marketing", None, True, 1),  # a19
    (P2, "referral_conversion", "free_entry_point", False, 1),  # a15
    (P2, "referral_conversion", "regular", True, 1),  # a14
    (P2, "utility", "free_customer_service", False, 1),  # a11
    (P2, "utility", "regular", True, 1),  # a16
    (P2, "utility", None, False, 1),  # a12: neither billable nor a type: not billable
]
PMP_BILLABLE_B = [
    (P1, "marketing", "regular", True, 2),  # wamid.a1 (absent, regular), b4
    (P1, "marketing_lite", "regular", True, 1),
    (P1, "utility", "free_customer_service", False, 1),
    (P2, "authentication_international", "regular", True, 1),
    (P2, "referral_conversion", "regular", True, 1),
    (P2, "utility", "regular", True, 1),
]
PMP_SPEND_A = [
    (P1, "authentication_international", "INR", 1, d("2.3000")),  # a10 to Brazil, at the '*' rate
    (P1, "marketing", "INR", 2, d("1.7262")),  # a1 + a2: 2 x 0.8631
    (P1, "marketing_lite", "INR", 1, d("0.8000")),  # a8, IN's rate
    (P1, "marketing_lite", None, 1, None),  # a9 to a US phone: A prices marketing_lite in IN only
    (P1, "utility", "INR", 2, d("0.2300")),  # a5 + a6: 2 x 0.1150
    (P2, "marketing", "INR", 2, d("1.7262")),  # a13 + a19
    (P2, "referral_conversion", None, 1, None),  # a14: A has no referral_conversion rate
    (P2, "utility", "INR", 1, d("0.1150")),  # a16
]
PMP_SPEND_B = [
    (P1, "marketing", "USD", 2, d("0.0214")),  # 2 x 0.0107
    (P1, "marketing_lite", "USD", 1, d("0.0090")),  # to a US phone, at the '*' rate
    (P2, "authentication_international", None, 1, None),  # B has no rate for it (A's '*' is A's)
    (P2, "referral_conversion", "USD", 1, d("0.0050")),
    (P2, "utility", "USD", 1, d("0.0014")),
]
SPEND_BY_KIND = ("day", "msg_kind", "pricing_category", "currency", "messages", "spend")


async def test_billable_is_the_flag_else_a_regular_type(conn: asyncpg.Connection):
    got = await conn.fetch(
        "select b, t, bluetick_is_billable(b, t) as billable"
        " from unnest(array[true, false, null]::boolean[]) b,"
        " unnest(array['regular', 'free_customer_service', 'free_entry_point', null]::text[]) t"
    )
    assert {(r["b"], r["t"]): r["billable"] for r in got} == {
        (True, "regular"): True,
        (True, "free_customer_service"): True,
        (True, "free_entry_point"): True,
        (True, None): True,
        (False, "regular"): False,
        (False, "free_customer_service"): False,
        (False, "free_entry_point"): False,
        (False, None): False,
        (None, "regular"): True,
        (None, "free_customer_service"): False,
        (None, "free_entry_point"): False,
        (None, None): False,
    }


async def test_pmp_billable_counts_by_the_rule(conn: asyncpg.Connection, pmp_orgs: Orgs):
    a = await conn.fetch("select * from bluetick_billable($1, $2, $3)", pmp_orgs.a, P1, P_END)
    assert tuples(a, BILLABLE) == PMP_BILLABLE_A  # a20 has no pricing; a21 is after the window
    b = await conn.fetch("select * from bluetick_billable($1, $2, $3)", pmp_orgs.b, P1, P_END)
    assert tuples(b, BILLABLE) == PMP_BILLABLE_B


async def test_pmp_spend_prices_what_the_rule_calls_billable(conn: asyncpg.Connection, pmp_orgs: Orgs):
    a = await conn.fetch("select * from bluetick_spend($1, $2, $3)", pmp_orgs.a, P1, P_END)
    assert tuples(a, SPEND) == PMP_SPEND_A
    b = await conn.fetch("select * from bluetick_spend($1, $2, $3)", pmp_orgs.b, P1, P_END)
    assert tuples(b, SPEND) == PMP_SPEND_B
    total = "select sum(spend) from bluetick_spend($1, $2, $3)"
    # 2.3000 + 1.7262 + 0.8000 + 0.2300 + 1.7262 + 0.1150
    assert await conn.fetchval(total, pmp_orgs.a, P1, P_END) == d("6.8974")


async def test_the_new_categories_are_priced_through_the_rate_card(conn: asyncpg.Connection, pmp_orgs: Orgs):
    a, b = pmp_orgs.a, pmp_orgs.b
    cases = [
        (a, "marketing_lite", "IN", P1, [("INR", d("0.8000"))]),  # its market's rate
        (a, "marketing_lite", "US", P1, []),  # no US rate, no '*' rate
        (a, "marketing_lite", "IN", date(2025, 6, 30), []),  # before its valid_from
        (a, "authentication_international", "BR", P1, [("INR", d("2.3000"))]),  # the '*' rate
        (a, "authentication_international", None, P1, [("INR", d("2.3000"))]),  # no market: '*' only
        (a, "referral_conversion", "IN", P1, []),  # none in A's card (B has one)
        (b, "referral_conversion", "IN", P1, [("USD", d("0.0050"))]),
        (b, "referral_conversion", "US", P1, []),
        (b, "marketing_lite", "IN", P2, [("USD", d("0.0090"))]),  # B's '*' rate
        (b, "authentication_international", "IN", P1, []),  # A's '*' is A's
    ]
    for org, category, market, day, want in cases:
        got = await conn.fetch("select * from bluetick_rate($1, $2, $3, $4)", org, category, market, day)
        assert [tuple(r) for r in got] == want, (category, market, day)


async def test_spend_by_kind_says_what_the_ai_agents_replies_cost(conn: asyncpg.Connection, pmp_orgs: Orgs):
    a = await conn.fetch("select * from bluetick_spend_by_kind($1, $2, $3)", pmp_orgs.a, P1, P_END)
    assert tuples(a, SPEND_BY_KIND) == [
        (P1, AI, "utility", "INR", 2, d("0.2300")),  # a5 (absent, regular), a6 (true, free_customer_service)
        (P1, TPL, "authentication_international", "INR", 1, d("2.3000")),
        (P1, TPL, "marketing", "INR", 2, d("1.7262")),
        (P1, TPL, "marketing_lite", "INR", 1, d("0.8000")),
        (P1, TPL, "marketing_lite", None, 1, None),
        (P2, AI, "marketing", "INR", 1, d("0.8631")),  # a13 (true, free_entry_point); a11, a12 are free
        (P2, TPL, "marketing", "INR", 1, d("0.8631")),  # a19
        (P2, TPL, "referral_conversion", None, 1, None),
        (P2, "TEXT", "utility", "INR", 1, d("0.1150")),
    ]
    b = await conn.fetch("select * from bluetick_spend_by_kind($1, $2, $3)", pmp_orgs.b, P1, P_END)
    assert tuples(b, SPEND_BY_KIND) == [
        (P1, TPL, "marketing", "USD", 1, d("0.0107")),
        (P1, TPL, "marketing_lite", "USD", 1, d("0.0090")),
        (P1, None, "marketing", "USD", 1, d("0.0107")),  # b4, logged with no kind: last
        (P2, AI, "utility", "USD", 1, d("0.0014")),
        (P2, TPL, "authentication_international", None, 1, None),
        (P2, TPL, "referral_conversion", "USD", 1, d("0.0050")),
    ]
    ai = await conn.fetchrow(
        "select sum(messages) as messages, sum(spend) as spend from bluetick_spend_by_kind($1, $2, $3)"
        " where msg_kind = 'AI_REPLY_FREEFORM'",
        pmp_orgs.a, P1, P_END,
    )  # fmt: skip
    assert tuple(ai) == (3, d("1.0931"))  # 0.2300 + 0.8631


async def test_spend_by_kind_adds_up_to_spend(conn: asyncpg.Connection, orgs: Orgs, pmp_orgs: Orgs):
    for org, since, until in ((orgs.a, D1, D3 + timedelta(days=1)), (orgs.b, D1, D3), (pmp_orgs.a, P1, P_END),
                              (pmp_orgs.b, P1, P_END)):  # fmt: skip
        added = await conn.fetch(
            "select day, pricing_category, currency, sum(messages)::bigint as messages, sum(spend) as spend"
            " from bluetick_spend_by_kind($1, $2, $3) group by 1, 2, 3"
            " order by 1, 2 nulls last, 3 nulls last",
            org, since, until,
        )  # fmt: skip
        spend = await conn.fetch("select * from bluetick_spend($1, $2, $3)", org, since, until)
        assert tuples(added, SPEND) == tuples(spend, SPEND) != []


async def test_the_reports_rollups_give_the_pricing_functions_numbers(conn: asyncpg.Connection, pmp_orgs: Orgs):
    """bluetick_report_billable and bluetick_report_spend read report_pricing, which keeps Meta's flag as it came:
    they apply the same rule, so the page shows the hand-computed numbers above."""
    last = P_END - timedelta(days=1)
    for org, billable, spend in ((pmp_orgs.a, PMP_BILLABLE_A, PMP_SPEND_A), (pmp_orgs.b, PMP_BILLABLE_B, PMP_SPEND_B)):
        await conn.execute("select bluetick_report_refresh($1)", org)
        got = await conn.fetch("select * from bluetick_report_billable($1, $2, $3)", org, P1, last)
        want = await conn.fetch("select * from bluetick_billable($1, $2, $3)", org, P1, P_END)
        assert tuples(got, BILLABLE) == tuples(want, BILLABLE) == billable
        got = await conn.fetch("select * from bluetick_report_spend($1, $2, $3)", org, P1, last)
        want = await conn.fetch("select * from bluetick_spend($1, $2, $3)", org, P1, P_END)
        assert tuples(got, SPEND) == tuples(want, SPEND) == spend
