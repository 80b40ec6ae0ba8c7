"""The feed never skips a committed event, nor shows one that was not committed: real Postgres, real concurrent
transactions through the real batch (bluetick_apply_batch), read with the feed's page (bluetick_feed_page).

The classic gap: an outbox read by a serial id skips the event of a transaction that took its id first and
committed last, since the reader has moved past that id meanwhile. The page reads in (xid, id) order and never past
the oldest transaction still running (pg_snapshot_xmin), so such an event is held back, not skipped."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bluetick.events import Message
from tests.conftest import connect

T0 = datetime(2026, 11, 20, 10, 0, 0, tzinfo=UTC)
WRITERS = 5
STEP_S = 10  # a guard on each step: a step that blocks is a failure, never a hang


@dataclass
class Feed:
    """A reader paging `org`'s feed with its cursor, as a client of GET /v1/orgs/{org}/events does."""

    conn: asyncpg.Connection
    org: uuid.UUID
    limit: int
    cursor: tuple[str, int] | None = None
    seen: list[dict[str, Any]] = field(default_factory=list)

    async def read(self) -> dict[str, Any]:
        xid, last = self.cursor if self.cursor is not None else (None, None)
        page: dict[str, Any] = await self.conn.fetchval(
            "select bluetick_feed_page($1, $2, $3, $4, null)", self.org, xid, last, self.limit
        )
        assert page["enabled"] is True
        positions = [(int(e["cursor"][0]), e["cursor"][1]) for e in page["events"]]
        if self.seen:
            assert positions == [] or positions[0] > (int(self.seen[-1]["cursor"][0]), self.seen[-1]["cursor"][1])
        assert positions == sorted(set(positions))
        self.seen += page["events"]
        self.cursor = (str(page["next"][0]), int(page["next"][1]))
        return page

    async def drain(self) -> None:
        """Read until nothing is left: no event, and none held back by a transaction still open."""
        for _ in range(500):
            page = await self.read()
            if not page["events"] and not page["waiting"]:
                return
            if not page["events"]:
                await asyncio.sleep(0.02)
        raise AssertionError("the feed never caught up")

    def messages(self) -> list[str]:
        return [e["bsp_msg_id"] for e in self.seen]


async def write(conn: asyncpg.Connection, org: uuid.UUID, names: list[str]) -> None:
    """One batch logging a message for each name: one event each (the feed is on), in the caller's transaction."""
    messages = [Message(org, name, to_phone="+919800000301", sent_at=T0).to_json() for name in names]
    result = await conn.fetchval("select bluetick_apply_batch($1::jsonb, '[]'::jsonb, '[]'::jsonb)", messages)
    assert result["events"] == len(names)


@pytest.fixture(scope="module")
def run(dsn: str) -> Iterator[tuple[asyncio.Runner, list[asyncpg.Connection], asyncpg.Connection]]:
    runner = asyncio.Runner()
    writers = [runner.run(connect(dsn)) for _ in range(WRITERS)]
    reader = runner.run(connect(dsn))
    yield runner, writers, reader
    for conn in [*writers, reader]:
        runner.run(conn.close())
    runner.close()


@st.composite
def schedules(draw: st.DrawFn) -> tuple[list[tuple[str, int]], list[bool], list[int], int]:
    """Writer 0 begins (and writes) first and ends last, with the others and the reader's pages interleaved in
    between in any order: each other writer begins before it ends, some roll back, each writes 1 to 3 events."""
    others = draw(st.integers(1, WRITERS - 1))
    steps: list[tuple[str, int]] = []
    for w in range(1, others + 1):
        steps += [("begin", w), ("end", w)]
    steps += [("read", 0)] * draw(st.integers(1, 6))
    order = draw(st.permutations(steps))
    # each writer's begin before its end: swap the two when drawn the other way round
    seen: set[int] = set()
    fixed = []
    for kind, w in order:
        if kind == "read":
            fixed.append((kind, w))
        elif w in seen:
            fixed.append(("end", w))
        else:
            seen.add(w)
            fixed.append(("begin", w))
    commits = [True] + [draw(st.booleans()) for _ in range(others)]
    sizes = [draw(st.integers(1, 3)) for _ in range(others + 1)]
    return [("begin", 0), *fixed, ("end", 0)], commits, sizes, draw(st.integers(1, 3))


async def play(
    writers: list[asyncpg.Connection],
    reader: asyncpg.Connection,
    steps: list[tuple[str, int]],
    commits: list[bool],
    sizes: list[int],
    limit: int,
) -> tuple[list[str], list[str]]:
    """Runs the schedule; returns what the reader saw and what was committed."""
    org = uuid.uuid4()
    assert await reader.fetchval("select bluetick_events_feed($1, true)", org) is True
    feed = Feed(reader, org, limit)
    await feed.read()  # the head: from here on
    open_tx: dict[int, asyncpg.transaction.Transaction] = {}
    committed: list[str] = []
    for kind, w in steps:
        names = [f"wamid.w{w}.{i}" for i in range(sizes[w])]
        async with asyncio.timeout(STEP_S):
            if kind == "read":
                await feed.read()
                assert set(feed.messages()) <= set(committed), "an event not committed (yet) was read"
            elif kind == "begin":
                open_tx[w] = writers[w].transaction()
                await open_tx[w].start()
                await write(writers[w], org, names)
            elif commits[w]:
                await open_tx.pop(w).commit()
                committed += names
            else:
                await open_tx.pop(w).rollback()
    async with asyncio.timeout(STEP_S * 3):
        await feed.drain()
    return feed.messages(), committed


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(schedule=schedules())
def test_a_reader_paging_all_along_gets_every_committed_event_exactly_once(
    run: tuple[asyncio.Runner, list[asyncpg.Connection], asyncpg.Connection],
    schedule: tuple[list[tuple[str, int]], list[bool], list[int], int],
):
    runner, writers, reader = run
    steps, commits, sizes, limit = schedule
    seen, committed = runner.run(play(writers, reader, steps, commits, sizes, limit))
    assert sorted(seen) == sorted(committed) and len(seen) == len(set(seen))
    assert all(name.startswith("wamid.w0.") or name in seen for name in committed)
    assert {f"wamid.w0.{i}" for i in range(sizes[0])} <= set(seen)  # the one that began first and ended last


def test_the_late_commit_of_an_early_transaction_is_held_back_then_read(
    run: tuple[asyncio.Runner, list[asyncpg.Connection], asyncpg.Connection],
):
    """The gap by hand: the early transaction's event has the smaller position but commits after a later one was
    readable; the reader is held back (waiting) rather than moved past it."""
    runner, writers, reader = run

    async def scenario() -> None:
        org = uuid.uuid4()
        await reader.fetchval("select bluetick_events_feed($1, true)", org)
        feed = Feed(reader, org, 100)
        await feed.read()
        early = writers[0].transaction()
        await early.start()
        await write(writers[0], org, ["wamid.early"])
        async with writers[1].transaction():
            await write(writers[1], org, ["wamid.late"])
        page = await feed.read()
        assert page["events"] == [] and page["waiting"] is True
        await early.commit()
        await feed.drain()
        assert feed.messages() == ["wamid.early", "wamid.late"]

    runner.run(scenario())


def test_a_rolled_back_transactions_events_never_appear(
    run: tuple[asyncio.Runner, list[asyncpg.Connection], asyncpg.Connection],
):
    runner, writers, reader = run

    async def scenario() -> None:
        org = uuid.uuid4()
        await reader.fetchval("select bluetick_events_feed($1, true)", org)
        feed = Feed(reader, org, 100)
        await feed.read()
        doomed = writers[0].transaction()
        await doomed.start()
        await write(writers[0], org, ["wamid.doomed.1", "wamid.doomed.2"])
        async with writers[1].transaction():
            await write(writers[1], org, ["wamid.kept"])
        await feed.read()
        await doomed.rollback()
        await feed.drain()
        assert feed.messages() == ["wamid.kept"]
        left = await reader.fetchval("select count(*) from bluetick_events where org_id = $1", org)
        assert left == 1

    runner.run(scenario())


def test_writers_racing_freely_lose_nothing_to_a_reader_racing_them(dsn: str):
    """No schedule: eight writers commit or roll back small batches with random pauses inside their transactions
    while a reader pages all along; at the end it has every committed event once and no other."""

    async def scenario() -> None:
        rng = random.Random(24)
        org = uuid.uuid4()
        conns = [await connect(dsn) for _ in range(9)]
        try:
            reader, writers = conns[0], conns[1:]
            await reader.fetchval("select bluetick_events_feed($1, true)", org)
            feed = Feed(reader, org, 7)
            await feed.read()
            committed: list[str] = []
            done = asyncio.Event()

            async def writer(n: int, conn: asyncpg.Connection) -> None:
                for t in range(6):
                    names = [f"wamid.r{n}.{t}.{i}" for i in range(rng.randint(1, 3))]
                    tx = conn.transaction()
                    await tx.start()
                    await write(conn, org, names)
                    await asyncio.sleep(rng.uniform(0, 0.03))
                    if rng.random() < 0.2:
                        await tx.rollback()
                    else:
                        await tx.commit()
                        committed.extend(names)

            async def reading() -> None:
                while not done.is_set():
                    await feed.read()
                    await asyncio.sleep(0.002)

            reading_task = asyncio.create_task(reading())
            async with asyncio.timeout(60):
                await asyncio.gather(*(writer(n, c) for n, c in enumerate(writers)))
            done.set()
            await reading_task
            await feed.drain()
            assert sorted(feed.messages()) == sorted(committed) and len(set(feed.messages())) == len(committed)
        finally:
            for conn in conns:
                await conn.close()

    asyncio.run(scenario())
