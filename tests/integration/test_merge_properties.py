"""The merge is a join-semilattice: any order, duplication or batching of a set of events gives one row."""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bluetick.events import Message, Pricing, StatusEvent
from bluetick.store.postgres import PostgresStore
from simulator.expected import Event, expected_state

BASE = datetime(2024, 10, 3, 10, 0, tzinfo=UTC)
# failed is drawn more often so that ties between failures (and their reasons) are common
STAGES = ("sent", "delivered", "read", "failed", "failed", "failed", "deleted", "warning")
REASONS = (None, "Error 131026: Message Undeliverable", "Error 131047: Re-engagement message")
MSG_ID = "wamid.property"

events_strategy = st.lists(
    st.tuples(
        st.sampled_from(STAGES),
        st.integers(0, 4).map(lambda m: BASE + timedelta(minutes=m)),
        st.sampled_from(REASONS),
    ).map(lambda e: (e[0], e[1], e[2] if e[0] == "failed" else None)),
    min_size=1,
    max_size=8,
)


@st.composite
def arrangements(draw: st.DrawFn, events: list[Event]) -> tuple[list[list[Event]], int]:
    """Events permuted, some duplicated (BSP retries), cut into batches; and where the log call falls."""
    shuffled = draw(st.permutations(events + draw(st.lists(st.sampled_from(events), max_size=4))))
    cuts = sorted(draw(st.sets(st.integers(1, max(len(shuffled) - 1, 1)), max_size=3)))
    bounds = [0, *cuts, len(shuffled)]
    batches = [shuffled[a:b] for a, b in itertools.pairwise(bounds) if a < b]
    return batches, draw(st.integers(0, len(batches)))


@pytest.fixture(scope="module")
def run(dsn: str) -> Iterator[tuple[asyncio.Runner, PostgresStore]]:
    runner = asyncio.Runner()
    store = runner.run(PostgresStore.connect(dsn, pool_size=2, timeout_s=10))
    yield runner, store
    runner.run(store.close())
    runner.close()


async def apply_arrangement(
    store: PostgresStore, batches: list[list[Event]], log_at: int, sent_at: datetime
) -> dict[str, object]:
    org = uuid.uuid4()
    message = Message(org_id=org, bsp_msg_id=MSG_ID, to_phone="+919876543210", sent_at=sent_at)
    row: dict[str, object] = {}
    for i in range(len(batches) + 1):
        if i == log_at:
            await store.apply_batch([message], [])
        if i < len(batches):
            statuses = [StatusEvent(org, MSG_ID, s, ts, reason) for s, ts, reason in batches[i]]
            await store.apply_batch([], statuses)
    result = await store.apply_batch([message], [])  # a repeated log returns the stored row
    row = result.rows[(org, MSG_ID)]
    return {k: row[k] for k in ("whatsapp_status", "status", "failed_reason")}


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), events=events_strategy, sent_minute=st.integers(0, 4))
def test_any_order_duplication_or_batching_gives_the_same_row(
    run: tuple[asyncio.Runner, PostgresStore], data: st.DataObject, events: list[Event], sent_minute: int
) -> None:
    runner, store = run
    sent_at = BASE + timedelta(minutes=sent_minute)
    first = runner.run(apply_arrangement(store, *data.draw(arrangements(events)), sent_at))
    second = runner.run(apply_arrangement(store, *data.draw(arrangements(events)), sent_at))
    assert first == second
    assert first == dataclasses.asdict(expected_state(events, sent_at))


def test_read_before_delivered_fills_delivered_and_a_later_real_delivered_keeps_the_earlier(
    run: tuple[asyncio.Runner, PostgresStore],
) -> None:
    runner, store = run
    t = [BASE + timedelta(minutes=m) for m in range(4)]
    batches = [[("read", t[2], None)], [("delivered", t[3], None)], [("delivered", t[1], None)]]
    row = runner.run(apply_arrangement(store, batches, 0, t[0]))
    assert row["whatsapp_status"] == {
        "sent": "2024-10-03T10:00:00Z",
        "delivered": "2024-10-03T10:01:00Z",
        "read": "2024-10-03T10:02:00Z",
    }
    assert row["status"] == "READ"


def test_failed_outranks_read_and_unranked_statuses_do_not_change_status(
    run: tuple[asyncio.Runner, PostgresStore],
) -> None:
    runner, store = run
    t = [BASE + timedelta(minutes=m) for m in range(4)]
    row = runner.run(apply_arrangement(store, [[("read", t[1], None), ("deleted", t[3], None)]], 0, t[0]))
    assert row["status"] == "READ" and row["whatsapp_status"]["deleted"] == "2024-10-03T10:03:00Z"
    row = runner.run(apply_arrangement(store, [[("read", t[1], None)], [("failed", t[2], "Error 1: x")]], 0, t[0]))
    assert row["status"] == "FAILED" and row["failed_reason"] == "Error 1: x"


@pytest.mark.parametrize("log_at", [0, 2], ids=["merged-into-row", "parked-first"])
def test_failures_at_the_same_time_keep_the_least_reason_whatever_the_arrival_order(
    run: tuple[asyncio.Runner, PostgresStore], log_at: int
) -> None:
    runner, store = run
    a, b = "Error 131026: Message Undeliverable", "Error 131047: Re-engagement message"
    rows = [
        runner.run(apply_arrangement(store, order, log_at, BASE))
        for order in (
            [[("failed", BASE, a)], [("failed", BASE, b)]],
            [[("failed", BASE, b)], [("failed", BASE, a)]],
            [[("failed", BASE, None)], [("failed", BASE, b)]],
            [[("failed", BASE, b)], [("failed", BASE, None)]],
        )
    ]
    assert [r["failed_reason"] for r in rows] == [a, a, b, b]


PRICINGS = (
    None,
    Pricing(billable=True, model="pmp", category="marketing", type="regular"),
    Pricing(billable=False, model="pmp", category="utility", type="free_customer_service"),
    Pricing(billable=True, model="cbp", category="service", conversation_id="c1", conversation_origin="service"),
)
USER_IDS = (None, "IN.2081978709342942", "IN.1648738043044942")
# (stage, time, user id, pricing)
Receipt = tuple[str, datetime, str | None, Pricing | None]

receipts_strategy = st.lists(
    st.tuples(
        st.sampled_from(("sent", "delivered", "read")),
        st.integers(0, 3).map(lambda m: BASE + timedelta(minutes=m)),
        st.sampled_from(USER_IDS),
        st.sampled_from(PRICINGS),
    ),
    min_size=1,
    max_size=6,
)


async def apply_receipts(store: PostgresStore, batches: list[list[Receipt]], log_at: int) -> dict[str, object]:
    org = uuid.uuid4()
    message = Message(org_id=org, bsp_msg_id=MSG_ID, to_phone="+919876543210", sent_at=BASE)
    for i in range(len(batches) + 1):
        if i == log_at:
            await store.apply_batch([message], [])
        if i < len(batches):
            statuses = [StatusEvent(org, MSG_ID, s, ts, user_id=u, pricing=p) for s, ts, u, p in batches[i]]
            await store.apply_batch([], statuses)
    row = (await store.apply_batch([message], [])).rows[(org, MSG_ID)]
    return {k: row[k] for k in ("customer_user_id", *PRICING_COLUMNS)}


PRICING_COLUMNS = ("billable", "pricing_model", "pricing_category", "pricing_type", "conversation_id", "pricing_at")


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), receipts=receipts_strategy)
def test_bsuid_and_pricing_do_not_depend_on_order_duplication_or_batching(
    run: tuple[asyncio.Runner, PostgresStore], data: st.DataObject, receipts: list[Receipt]
) -> None:
    runner, store = run
    first = runner.run(apply_receipts(store, *data.draw(arrangements(receipts))))
    second = runner.run(apply_receipts(store, *data.draw(arrangements(receipts))))
    assert first == second
    assert first["customer_user_id"] == min((u for _, _, u, _ in receipts if u), default=None)
    priced = [(ts, p) for _, ts, _, p in receipts if p is not None]
    if not priced:
        assert all(first[k] is None for k in PRICING_COLUMNS)
        return
    earliest = min(ts for ts, _ in priced)
    assert first["pricing_at"] == earliest.isoformat()
    assert first["pricing_category"] in {p.category for ts, p in priced if ts == earliest}
    if len({p for ts, p in priced if ts == earliest}) == 1:
        winner = next(p for ts, p in priced if ts == earliest)
        assert (first["billable"], first["pricing_model"], first["conversation_id"]) == (
            winner.billable,
            winner.model,
            winner.conversation_id,
        )
