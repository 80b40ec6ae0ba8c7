"""The report's rollups give the analytics views' numbers, whatever was written, in whatever order, with refreshes
in between: every bluetick_report_* function equals the function or view over the messages that it mirrors.

The histories are written with plain SQL on message_logs (inserts, status and pricing changes, deletes, customers
changed or erased, as ingest, erasure, retention or an analyst's own SQL would), so the triggers that note the
changed days are exercised the way any writer does, and the refreshes fall at random points among the writes.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Iterator, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bluetick.events import Message, StatusEvent
from bluetick.service import REPORT_HOURS, REPORT_ORGS, Service
from bluetick.store import SQL as SQL_DIR
from bluetick.store import ReportRefresh, Store
from bluetick.store.postgres import PostgresStore
from tests.conftest import make_settings

D0 = date(2024, 11, 2)  # New York leaves daylight saving time on the 3rd, inside the four days
BASE = datetime(2024, 11, 2, tzinfo=UTC)
FIRST, LAST = D0, D0 + timedelta(days=3)
SINCE, UNTIL = BASE, BASE + timedelta(days=4)
AS_OF = datetime(2024, 11, 9, tzinfo=UTC)
CUSTOMERS = ("+919800000001", "+919800000002", "+449800000003", None)  # None: known by BSUID only
USER_ID = "IN.bsuid-only-customer"
KINDS = ("TEMPLATE", "AI_REPLY_FREEFORM", None, "REACTION")
REASONS = (
    None,
    "Error 131026: Message Undeliverable",
    "Error 131047: Re-engagement message - More than 24 hours",
    "Error: Unknown failure",
)
ZONES = ("UTC", "Asia/Kolkata", "Asia/Kathmandu", "America/New_York")
# Meta's pricing of a message, (category, billable, type) or None: billable absent under per-message pricing,
# where the type alone says what is charged (bluetick_is_billable), as well as the flag set either way.
PRICED = st.sampled_from(
    (
        None,
        ("marketing", True, "regular"),
        ("utility", False, "regular"),
        ("service", True, "regular"),
        ("marketing", None, "regular"),
        ("utility", None, "free_customer_service"),
        ("marketing_lite", None, "free_entry_point"),
        ("marketing_lite", None, None),
        ("service", True, "free_customer_service"),
    )
)

minutes = st.integers(0, 4 * 24 * 60 - 1)  # when, within the four days
lag = st.one_of(st.none(), st.integers(0, 3000))  # seconds to the next stage, or never

message = st.fixed_dictionaries(
    {
        "op": st.just("insert"),
        "inbound": st.booleans(),
        "customer": st.sampled_from(CUSTOMERS),
        "kind": st.sampled_from(KINDS),
        "minute": minutes,
        "second": st.integers(0, 59),
        "deliver": lag,
        "read": lag,
        "fail": st.sampled_from(REASONS),
        "priced": PRICED,
    }
)
change = st.fixed_dictionaries(
    {
        "op": st.sampled_from(
            (
                "status",
                "delete",
                "customer",
                "erase",
                "move",
                "kind",
                "pricing",
                "turn",
                "refresh",
                "refresh",
                "refresh",
            )
        ),
        "pick": st.integers(0, 1000),
        "customer": st.sampled_from(CUSTOMERS),
        "minute": minutes,
        "read": lag,
        "fail": st.sampled_from(REASONS),
        "kind": st.sampled_from(KINDS),
        "priced": PRICED,
    }
)
history = st.lists(st.one_of(message, message, change), min_size=1, max_size=25)


@pytest.fixture(scope="module")
def run(dsn: str) -> Iterator[tuple[asyncio.Runner, asyncpg.Connection]]:
    runner = asyncio.Runner()
    conn = runner.run(asyncpg.connect(dsn))
    yield runner, conn
    runner.run(conn.close())
    runner.close()


def stages(created: datetime, deliver: int | None, read: int | None, fail: str | None) -> dict[str, str]:
    doc = {"sent": created}
    if deliver is not None:
        doc["delivered"] = created + timedelta(seconds=deliver)
        if read is not None:
            doc["read"] = doc["delivered"] + timedelta(seconds=read)
    if fail is not None:
        doc["failed"] = created + timedelta(seconds=7)
    return {k: v.isoformat() for k, v in doc.items()}


async def write(conn: asyncpg.Connection, org: uuid.UUID, step: dict[str, Any], n: int) -> None:
    ids = [r["id"] for r in await conn.fetch("select id from message_logs where org_id = $1 order by id", org)]
    picked = ids[step["pick"] % len(ids)] if ids and "pick" in step else None
    when = BASE + timedelta(minutes=step.get("minute", 0))
    if step["op"] == "insert":
        created = when + timedelta(seconds=step["second"])
        phone = step["customer"]
        inbound = step["inbound"]
        doc = {} if inbound else stages(created, step["deliver"], step["read"], step["fail"])
        category, billable, pricing_type = step["priced"] or (None, None, None)
        await conn.execute(
            "insert into message_logs (org_id, bsp_msg_id, direction, msg_kind, to_phone, from_phone,"
            " customer_user_id, whatsapp_status, failed_reason, created_at, pricing_category, pricing_type, billable,"
            " pricing_at) values ($1, $2, $3, $4, $5, $6, $7, $8::jsonb, $9, $10, $11, $12, $13, $14)",
            org, f"wamid.r{n}", "INBOUND" if inbound else "OUTBOUND", "TEXT" if inbound else step["kind"],
            None if inbound else phone, phone if inbound else None, USER_ID if phone is None else None,
            json.dumps(doc), None if inbound else step["fail"], created, category,
            pricing_type, billable, created if category else None,
        )  # fmt: skip
    elif step["op"] == "status" and picked:
        await conn.execute(
            "update message_logs set whatsapp_status = whatsapp_status || $2::jsonb, failed_reason = $3"
            " where id = $1 and direction = 'OUTBOUND'",
            picked, json.dumps(stages(when, 5, step["read"], step["fail"])), step["fail"],
        )  # fmt: skip
    elif step["op"] == "delete" and picked:
        await conn.execute("delete from message_logs where id = $1", picked)
    elif step["op"] == "customer" and picked:
        phone = step["customer"]
        await conn.execute(
            "update message_logs set to_phone = case when direction = 'OUTBOUND' then $2 end,"
            " from_phone = case when direction = 'INBOUND' then $2 end, customer_user_id = $3 where id = $1",
            picked, phone, USER_ID if phone is None else None,
        )  # fmt: skip
    elif step["op"] == "erase" and picked:
        await conn.execute(
            "update message_logs set to_phone = null, from_phone = null, customer_user_id = null, body = null,"
            " erased_at = now() where id = $1",
            picked,
        )
    elif step["op"] == "kind" and picked:
        await conn.execute("update message_logs set msg_kind = $2 where id = $1", picked, step["kind"])
    elif step["op"] == "pricing" and picked:
        category, billable, pricing_type = step["priced"] or (None, None, None)
        await conn.execute(
            "update message_logs set pricing_category = $2, billable = $3, pricing_type = $4, pricing_at = case"
            " when $2::text is null then null else created_at end where id = $1",
            picked, category, billable, pricing_type,
        )  # fmt: skip
    elif step["op"] == "turn" and picked:  # an outbound row becomes a customer message, or back
        await conn.execute(
            "update message_logs set direction = case direction when 'INBOUND' then 'OUTBOUND' else 'INBOUND' end,"
            " to_phone = from_phone, from_phone = to_phone where id = $1",
            picked,
        )
    elif step["op"] == "move" and picked:
        await conn.execute("update message_logs set created_at = $2 where id = $1", picked, when)
    elif step["op"] == "refresh":
        await conn.execute("select bluetick_report_refresh($1)", org)


def rows(records: list[asyncpg.Record], columns: tuple[str, ...] | None = None) -> list[tuple[Any, ...]]:
    return [tuple(r[c] for c in (columns or tuple(r.keys()))) for r in records]


async def compare(conn: asyncpg.Connection, org: uuid.UUID, first: date, last: date) -> None:
    """Each rollup function against what it mirrors, over the UTC days first..last."""
    since = datetime(first.year, first.month, first.day, tzinfo=UTC)
    until = datetime(last.year, last.month, last.day, tzinfo=UTC) + timedelta(days=1)
    window, days = (org, since, until), (org, first, last)

    async def both(mine: str, theirs: str, mine_args: tuple[Any, ...], their_args: tuple[Any, ...],
                   columns: tuple[str, ...] | None = None) -> None:  # fmt: skip
        got, want = await conn.fetch(mine, *mine_args), await conn.fetch(theirs, *their_args)
        assert rows(got, columns) == rows(want, columns), mine

    await both("select * from bluetick_report_funnel($1, $2, $3)", "select * from bluetick_funnel($1, $2, $3)",
               days, window)  # fmt: skip
    await both(
        "select * from bluetick_report_funnel_daily($1, $2, $3)",
        "select * from message_funnel_daily where org_id = $1 and day between $2 and $3 order by day",
        days, days, ("day", "outbound", "sent", "delivered", "read", "failed", "delivery_rate_pct", "read_rate_pct",
                     "median_seconds_to_deliver", "p95_seconds_to_deliver", "median_seconds_to_read",
                     "p95_seconds_to_read"),
    )  # fmt: skip
    await both("select * from bluetick_report_kinds($1, $2, $3)", "select * from bluetick_funnel_by_kind($1, $2, $3)",
               days, window, ("msg_kind", "outbound", "sent", "delivered", "read", "failed", "delivery_rate_pct",
                              "read_rate_pct"))  # fmt: skip
    for zone in ZONES:
        await both(
            "select * from bluetick_report_read_heatmap($1, $2, $3, $4)",
            "select * from bluetick_read_rate_by_weekday_hour($1, $2, $3, $4)",
            (*days, zone),
            (*window, zone),
        )
    await both("select * from bluetick_report_failures($1, $2, $3)",
               "select * from bluetick_failure_share($1, $2, $3)", days, window,
               ("error_code", "error_title", "failures", "share_pct", "newest_reason"))  # fmt: skip
    await both("select * from bluetick_report_responses($1, $2, $3)",
               "select * from bluetick_response_times($1, $2, $3)", days, window)  # fmt: skip
    await both(
        "select * from bluetick_report_responses_daily($1, $2, $3)",
        "select * from response_times_daily where org_id = $1 and day between $2 and $3 order by day",
        days, days, ("day", "inbound", "answered", "unanswered", "median_seconds_to_reply", "p95_seconds_to_reply"),
    )  # fmt: skip
    await both(
        "select * from bluetick_report_unanswered($1, $2, $3, $4, 1000)",
        "select received_at, customer, seconds_waiting, count(*) over () as waiting"
        " from bluetick_unanswered($1, $2, interval '0', $4) where received_at < $3",
        (*days, AS_OF),
        (org, since, until, AS_OF),
    )
    await both("select * from bluetick_report_billable($1, $2, $3)", "select * from bluetick_billable($1, $2, $3)",
               days, window)  # fmt: skip
    await both("select * from bluetick_report_spend($1, $2, $3)", "select * from bluetick_spend($1, $2, $3)",
               days, window)  # fmt: skip


async def play(conn: asyncpg.Connection, steps: list[dict[str, Any]]) -> None:
    org, other = uuid.uuid4(), uuid.uuid4()
    await conn.execute(
        "insert into pricing_rates (org_id, category, market, currency, price_per_message, valid_from)"
        " values ($1, 'marketing', 'IN', 'INR', 0.8631, '2024-01-01'), ($1, 'marketing', '*', 'USD', 0.025,"
        " '2024-01-01'), ($1, 'service', 'GB', 'GBP', 0.0, '2024-10-04'), ($1, 'marketing_lite', 'IN', 'INR', 0.8,"
        " '2024-01-01')",
        org,
    )
    for n, step in enumerate(steps):
        await write(conn, org, step, n)
        if n % 3 == 0:  # another organisation writes the same ids and customers meanwhile
            await write(conn, other, {**step, "op": "insert"} if step["op"] == "insert" else step, n)
    await conn.execute("select bluetick_report_refresh($1)", org)
    await compare(conn, org, FIRST, LAST)
    await compare(conn, org, FIRST + timedelta(days=1), FIRST + timedelta(days=2))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=history)
def test_rollups_equal_the_analytics_views_after_any_history(
    run: tuple[asyncio.Runner, asyncpg.Connection], steps: list[dict[str, Any]]
):
    runner, conn = run
    runner.run(play(conn, steps))


def test_a_write_committed_after_a_refresh_began_is_in_the_next_one(
    run: tuple[asyncio.Runner, asyncpg.Connection], dsn: str
):
    """The refresh takes only the noted hours of committed writes, so a write still open when it runs is refreshed
    by the next one, not lost."""
    runner, conn = run

    async def scenario() -> None:
        org = uuid.uuid4()
        writer = await asyncpg.connect(dsn)
        try:
            open_tx = writer.transaction()
            await open_tx.start()
            await writer.execute(
                "insert into message_logs (org_id, bsp_msg_id, whatsapp_status, created_at, to_phone)"
                " values ($1, 'wamid.late', $2::jsonb, $3, '+919800000001')",
                org, json.dumps(stages(BASE, 3, 60, None)), BASE,
            )  # fmt: skip
            await conn.execute("select bluetick_report_refresh($1)", org)
            await open_tx.commit()
            assert await conn.fetchval("select outbound from bluetick_report_funnel($1, $2, $3)", org, D0, D0) == 0
            assert await conn.fetchval("select bluetick_report_refresh($1)", org) == 1
            assert await conn.fetchval("select outbound from bluetick_report_funnel($1, $2, $3)", org, D0, D0) == 1
            await compare(conn, org, D0, D0)
            assert await conn.fetchval("select count(*) from report_dirty where org_id = $1", org) == 0
        finally:
            await writer.close()

    runner.run(scenario())


def test_a_reply_on_a_later_day_refreshes_the_day_of_the_customer_message(
    run: tuple[asyncio.Runner, asyncpg.Connection],
):
    """Written one at a time with a refresh after each: the reply's day is not the customer message's day, so only
    the trigger's search for the messages a reply answers can tell the rollup of the earlier day to change."""
    runner, conn = run
    steps: list[dict[str, Any]] = [
        {"op": "insert", "inbound": True, "customer": CUSTOMERS[0], "kind": None, "minute": 60, "second": 0,
         "deliver": None, "read": None, "fail": None, "priced": None},
        {"op": "refresh"},
        {"op": "insert", "inbound": False, "customer": CUSTOMERS[0], "kind": "AI_REPLY_FREEFORM", "minute": 1500,
         "second": 0, "deliver": 2, "read": None, "fail": None, "priced": None},
        {"op": "refresh"},
    ]  # fmt: skip

    async def scenario() -> None:
        org = uuid.uuid4()
        for n, step in enumerate(steps):
            await write(conn, org, step, n)
        await compare(conn, org, FIRST, LAST)
        answered = "select answered from bluetick_report_responses($1, $2, $3)"
        assert await conn.fetchval(answered, org, FIRST, LAST) == 1
        reply = await conn.fetchval("select id from message_logs where org_id = $1 and direction = 'OUTBOUND'", org)
        for change in (
            "update message_logs set to_phone = '+919800000002' where id = $1",  # now to someone else
            "update message_logs set to_phone = $2 where id = $1",  # and back
            "update message_logs set created_at = created_at - interval '2 days' where id = $1",  # before the question
            "update message_logs set created_at = created_at + interval '2 days' where id = $1",  # and back
            "delete from message_logs where id = $1",
        ):
            args = (reply, CUSTOMERS[0]) if "$2" in change else (reply,)
            await conn.execute(change, *args)
            await conn.execute("select bluetick_report_refresh($1)", org)
            await compare(conn, org, FIRST, LAST)
        assert await conn.fetchval(answered, org, FIRST, LAST) == 0

    runner.run(scenario())


async def test_the_store_refreshes_the_rollups_on_every_backend(store: Store, db: asyncpg.Connection, org: uuid.UUID):
    """What the service's refresh round calls, through asyncpg, PgBouncer and the Supabase client alike: an
    organisation the round is done with is skipped, its hours noted since wait for the next round."""
    sent = BASE + timedelta(hours=3)
    noted = "select count(*) from report_dirty where org_id = $1"
    await store.apply_batch(
        [Message(org, "wamid.refreshed", to_phone=CUSTOMERS[0], sent_at=sent)],
        [StatusEvent(org, "wamid.refreshed", "delivered", sent + timedelta(seconds=4))],
    )
    assert await db.fetchval(noted, org) > 0
    skip: list[uuid.UUID] = []
    for _ in range(100):  # other tests' organisations may be noted too; each call takes up to 20
        step = await store.refresh_reports(20, 24, skip)
        assert step.orgs <= 20 and 0 <= step.hours <= 20 * 24 and not set(step.done) & set(skip)
        skip += step.done
        if org in skip:
            break
    assert await db.fetchval(noted, org) == 0
    funnel = await db.fetchrow("select * from bluetick_report_funnel($1, $2, $2)", org, D0)
    assert (funnel["outbound"], funnel["delivered"], funnel["median_seconds_to_deliver"]) == (1, 1, 4)
    await store.apply_batch([], [StatusEvent(org, "wamid.refreshed", "read", sent + timedelta(seconds=9))])
    for _ in range(100):
        step = await store.refresh_reports(20, 24, skip)
        skip += step.done
        if not step.orgs:
            break
    assert await db.fetchval(noted, org) > 0  # skipped: left for the next round
    while await db.fetchval(noted, org):
        await store.refresh_reports(20, 24)
    funnel = await db.fetchrow("select * from bluetick_report_funnel($1, $2, $2)", org, D0)
    assert (funnel["read"], funnel["median_seconds_to_read"]) == (1, 5)  # from delivered at 4 s to read at 9 s


async def test_a_refresh_round_ends_under_steady_ingest_and_goes_through_a_backlog(dsn: str):
    """Every call of the round is followed by a new status of every organisation, as steady ingest notes the
    current hours again: the round still ends after each organisation was taken once, and an organisation with
    more noted hours than one call takes is taken until it is through."""

    class Ingesting(PostgresStore):
        calls = 0

        async def refresh_reports(self, orgs: int, hours: int, skip: Sequence[uuid.UUID] = ()) -> ReportRefresh:
            step = await super().refresh_reports(orgs, hours, skip)
            self.calls += 1
            for org in steady:
                at = BASE + timedelta(hours=40, seconds=self.calls)
                await self.apply_batch([], [StatusEvent(org, f"wamid.steady.{org}", "read", at)])
            return step

    steady = [uuid.uuid4() for _ in range(REPORT_ORGS + 3)]
    backlog = uuid.uuid4()
    sent = BASE + timedelta(hours=40)
    db = await asyncpg.connect(dsn)
    await db.execute("select bluetick_report_refresh_some(1000000, null)")  # other tests' notes out of the way
    store = await Ingesting.connect(dsn, pool_size=2, timeout_s=30)
    try:
        messages = [Message(org, f"wamid.steady.{org}", to_phone=CUSTOMERS[0], sent_at=sent) for org in steady]
        messages += [
            Message(backlog, f"wamid.backlog.{h}", to_phone=CUSTOMERS[0], sent_at=BASE + timedelta(hours=h))
            for h in range(3 * REPORT_HOURS)
        ]
        await store.apply_batch(messages, [])
        async with Service(make_settings(dsn, report_refresh_s=0), store) as service:  # no loop of its own
            hours = await service.refresh_reports_round()
        assert store.calls <= 6  # 13 organisations at 10 a call, the backlog at 12 hours a call: not 100 calls
        assert hours >= 3 * REPORT_HOURS + len(steady)
        assert await db.fetchval("select count(*) from report_dirty where org_id = $1", backlog) == 0
        left = await db.fetchval("select count(distinct org_id) from report_dirty where org_id = any($1)", steady)
        assert left == len(steady)  # noted again during the round: the next round's
    finally:
        await store.close()
        await db.close()


def test_a_refresh_takes_at_most_the_hours_it_is_given_newest_first(run: tuple[asyncio.Runner, asyncpg.Connection]):
    runner, conn = run

    async def scenario() -> None:
        org = uuid.uuid4()
        for hour in range(30):
            await write(conn, org, {"op": "insert", "inbound": False, "customer": CUSTOMERS[0], "kind": "TEMPLATE",
                                    "minute": hour * 60, "second": 0, "deliver": 1, "read": None, "fail": None,
                                    "priced": None}, hour)  # fmt: skip
        assert await conn.fetchval("select bluetick_report_refresh($1, 12)", org) == 12
        left = await conn.fetch("select distinct hour from report_dirty where org_id = $1 order by hour", org)
        assert [r["hour"] for r in left] == [BASE.replace(tzinfo=None) + timedelta(hours=h) for h in range(18)]
        assert await conn.fetchval("select sum(outbound) from report_outbound where org_id = $1", org) == 12
        assert await conn.fetchval("select bluetick_report_refresh($1, 12)", org) == 12
        assert await conn.fetchval("select bluetick_report_refresh($1)", org) == 6
        await compare(conn, org, FIRST, LAST)

    runner.run(scenario())


def test_a_reply_logged_beside_its_customer_message_in_another_transaction_is_found(
    run: tuple[asyncio.Runner, asyncpg.Connection], dsn: str
):
    """The customer's message and the reply are written at once by two transactions, neither seeing the other, and
    a refresh runs between their commits: the refresh that takes the reply's hour still finds the message it
    answers, so the message does not stay unanswered."""
    runner, conn = run
    question = {"op": "insert", "inbound": True, "customer": CUSTOMERS[1], "kind": None, "minute": 60, "second": 0,
                "deliver": None, "read": None, "fail": None, "priced": None}  # fmt: skip
    answer = {**question, "inbound": False, "kind": "AI_REPLY_FREEFORM", "minute": 125, "deliver": 2}

    async def scenario() -> None:
        org = uuid.uuid4()
        first, second = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
        try:
            one, two = first.transaction(), second.transaction()
            await one.start()
            await two.start()
            await write(first, org, question, 0)
            await write(second, org, answer, 1)  # its writer cannot see the question
            await one.commit()
            await conn.execute("select bluetick_report_refresh($1)", org)  # the question, unanswered so far
            assert await conn.fetchval("select unanswered from bluetick_report_responses($1, $2, $3)",
                                       org, FIRST, LAST) == 1  # fmt: skip
            await two.commit()
            await conn.execute("select bluetick_report_refresh($1)", org)
            await compare(conn, org, FIRST, LAST)
            assert await conn.fetchval("select answered from bluetick_report_responses($1, $2, $3)",
                                       org, FIRST, LAST) == 1  # fmt: skip
        finally:
            await first.close()
            await second.close()

    runner.run(scenario())


def test_a_changed_definition_notes_every_hour_again(run: tuple[asyncio.Runner, asyncpg.Connection]):
    """When a view or function the rollups follow changes, the analytics file notes every stored hour again."""
    runner, conn = run
    rollups = (SQL_DIR / "analytics" / "0108_report_rollups.sql").read_text()
    helpers = (SQL_DIR / "analytics" / "0100_helpers.sql").read_text()

    async def scenario() -> None:
        org = uuid.uuid4()
        for n, minute in enumerate((10, 200)):
            await write(conn, org, {"op": "insert", "inbound": False, "customer": CUSTOMERS[0], "kind": "TEMPLATE",
                                    "minute": minute, "second": 0, "deliver": 1, "read": None, "fail": None,
                                    "priced": None}, n)  # fmt: skip
        await conn.execute("select bluetick_report_refresh($1)", org)
        await conn.execute(rollups)  # applied again with nothing changed: nothing noted
        assert await conn.fetchval("select count(*) from report_dirty where org_id = $1", org) == 0
        changed = helpers.replace("select coalesce(msg_kind in", "select  coalesce(msg_kind in", 1)
        assert changed != helpers
        try:
            await conn.execute(changed)
            await conn.execute(rollups)
            noted = await conn.fetchval("select count(distinct hour) from report_dirty where org_id = $1", org)
            assert noted == 2
        finally:
            await conn.execute(helpers)
            await conn.execute(rollups)  # noted again for every organisation: the next refreshes take them
            await conn.execute("select bluetick_report_refresh($1)", org)

    runner.run(scenario())


async def test_a_refresh_round_waits_for_a_truncate_of_message_logs_instead_of_deadlocking(dsn: str):
    """A truncate of message_logs locks it, then (by its trigger) report_dirty. A refresh round that read
    report_dirty before it locked message_logs held the one the truncate wanted next, while it waited for the
    other: a deadlock (the bench's retention section died of it). The round now waits for message_logs first."""
    truncating, refreshing = await asyncpg.connect(dsn), await asyncpg.connect(dsn)
    try:
        await truncating.execute("select bluetick_report_refresh_some(1000000, null)")  # other tests' notes done
        org = uuid.uuid4()
        await truncating.execute(
            "insert into report_dirty (org_id, hour) values ($1, $2)", org, BASE.replace(tzinfo=None)
        )
        async with truncating.transaction():
            await truncating.execute("lock table message_logs in access exclusive mode")  # a truncate's first lock
            pid = refreshing.get_server_pid()
            round_ = asyncio.create_task(refreshing.fetchval("select bluetick_report_refresh_some(10, 12)"))
            waiting = "select wait_event_type = 'Lock' from pg_stat_activity where pid = $1"
            for _ in range(500):  # until the round waits for a lock (before it sends the query, it waits on its client)
                if await truncating.fetchval(waiting, pid):
                    break
                await asyncio.sleep(0.01)
            assert await truncating.fetchval(waiting, pid)
            await truncating.execute("set local lock_timeout = '5s'")
            await truncating.execute("lock table report_dirty in access exclusive mode")  # the trigger's next lock
        # the round's own deadlock would have been caught per organisation, leaving its hour for the next round
        assert json.loads(await round_) == {"orgs": 1, "hours": 1, "done": [str(org)]}
    finally:
        await truncating.close()
        await refreshing.close()
