"""The core loop: queue events, apply them in batches (one SQL call each), settle the waiting requests."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any
from uuid import UUID

from bluetick import inbox, metrics
from bluetick.events import Fact, Message, StatusEvent
from bluetick.logs import mask_phones_in
from bluetick.store import PermanentError, ResourceError, Store
from bluetick.store.records import BatchResult, KeptBody

log = logging.getLogger("bluetick.pipeline")

BACKOFF_MIN_S = 0.05
BACKOFF_MAX_S = 2.0
DRAIN_GRACE_S = 5.0
BEHIND_BATCHES = 4  # immediate mode waits for commits beyond this many full batches in memory
STALL_S = 0.05  # a batch applied for longer than this lets another worker start the next one

Rows = dict[tuple[UUID, str], dict[str, Any]]


class Unavailable(Exception):
    """The pipeline cannot take this data now (queue full, shutting down); the sender should retry."""


class Rejected(Exception):
    """The database refused this request's data; retrying it cannot succeed."""


class Kept(Exception):
    """The database refused this request's events; its body is kept in the webhook inbox with the reason."""


@dataclass(eq=False, slots=True)
class Ticket:
    """One request's events and the body it keeps, if any; `future` is set when a caller waits for the commit.

    `body` is the request's body, kept in the inbox instead of its events if the database refuses them.
    """

    messages: list[Message]
    statuses: list[StatusEvent]
    kept: list[KeptBody] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)
    future: asyncio.Future[Rows] | None = None
    body: KeptBody | None = None
    refused: str | None = None  # the database's refusal of its events, once its body replaced them
    size: int = field(init=False)
    settled: bool = False

    def __post_init__(self) -> None:
        self.size = len(self.messages) + len(self.statuses) + len(self.kept) + len(self.facts)

    @property
    def events(self) -> int:
        return len(self.messages) + len(self.statuses) + len(self.facts)

    def keep_refused(self, body: KeptBody, error: str) -> None:
        """Its events refused: the ticket now carries only `body`, to keep in the inbox (`size` stays: the queue
        counted the events)."""
        self.messages, self.statuses, self.kept, self.facts = [], [], [body], []
        self.refused = error


@dataclass(frozen=True, slots=True)
class PipelineSettings:
    batch_max: int
    batch_interval_s: float
    queue_max: int
    workers: int
    drain_timeout_s: float


class Pipeline:
    def __init__(self, store: Store, settings: PipelineSettings) -> None:
        self._store = store
        self._settings = settings
        self._queue: deque[Ticket] = deque()
        self._queued = 0  # events waiting in the queue
        self._depth = 0  # events accepted and not yet settled (queued or in flight)
        self._nonempty = asyncio.Event()
        self._full = asyncio.Event()
        self._turn = asyncio.Event()  # set when a batch ends or a full batch waits: the next one may go
        self._in_flight = 0  # batches being applied
        self._applied = asyncio.Event()  # set, then replaced, each time a batch ends (`ingest_turn`)
        self._closing = False
        self._drain_deadline = float("inf")
        self._workers: list[asyncio.Task[None]] = []
        self._retrying = False  # the last batch failed for a transient reason (the database is away)
        self._lost = 0  # acknowledged events not stored when the pipeline closed
        self._unstored = 0  # all events not stored when it closed, those whose senders were told to retry included
        self._behind_mark = max(1, min(settings.queue_max // 2, BEHIND_BATCHES * settings.batch_max))

    @property
    def depth(self) -> int:
        return self._depth

    @property
    def lost(self) -> int:
        """Events acknowledged (no one waits for their commit: immediate mode's 200s) and not stored at shutdown,
        counted as the queue counts them (a kept body as one)."""
        return self._lost

    @property
    def behind(self) -> bool:
        """The database is up but applying more slowly than events arrive: more than BEHIND_BATCHES full batches
        (or half the queue, if that is less) wait.

        In immediate mode a request then waits for its commit, as in durable mode, so senders slow down to the
        rate the database keeps instead of filling the queue and getting 503s, and no more than that many
        acknowledged events wait in memory (lost on kill -9). While the database is away (batches retrying),
        the whole queue is used as a buffer, as before.
        """
        return not self._retrying and self._depth >= self._behind_mark

    async def ingest_turn(self, limit_s: float) -> None:
        """Background work's turn after ingest's: while requests wait for their batch, wait until the next batch
        ends (at most `limit_s`); at once when none waits. The deliverer calls it before each webhook it sends, so
        under load it sends at most one per worker per batch applied and leaves the event loop to the requests,
        and at full speed once ingest is idle."""
        if self._depth == 0:
            return
        applied = self._applied
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(limit_s):
                await applied.wait()

    def start(self) -> None:
        self._workers = [asyncio.create_task(self._work(), name=f"flush-{i}") for i in range(self._settings.workers)]

    def submit(
        self,
        messages: list[Message],
        statuses: list[StatusEvent],
        wait: bool,
        kept: KeptBody | None = None,
        body: KeptBody | None = None,
        facts: Sequence[Fact] = (),
    ) -> Awaitable[Rows] | None:
        """Queue one request's events and the body it keeps; with `wait`, the returned awaitable resolves once
        they are committed. If the database refuses the events, `body` (the request's) is kept in their place
        and the awaitable raises Kept; without a body, Rejected.

        A request larger than BATCH_MAX is queued in parts, so no transaction grows past the database's
        lock limits; the caller still waits for all of them. The kept body and the facts travel with the first
        part (a body holds few facts).
        """
        if self._closing:
            raise Unavailable("shutting down")
        if self._depth + len(messages) + len(statuses) + len(facts) + (kept is not None) > self._settings.queue_max:
            raise Unavailable("queue full")
        tickets = list(self._parts(messages, statuses))
        if kept is not None:
            tickets[0].kept.append(kept)
            tickets[0].size += 1
        if facts:
            tickets[0].facts.extend(facts)
            tickets[0].size += len(facts)
        loop = asyncio.get_running_loop()
        for ticket in tickets:
            ticket.body = body
            if wait:
                ticket.future = loop.create_future()
            self._queue.append(ticket)
            self._queued += ticket.size
            self._set_depth(ticket.size)
        self._nonempty.set()
        if self._queued >= self._settings.batch_max:
            self._full.set()
            self._turn.set()
        if not wait:
            return None
        futures = [t.future for t in tickets if t.future is not None]
        return futures[0] if len(futures) == 1 else _all_rows(futures)  # one request, one future: no task

    def _parts(self, messages: list[Message], statuses: list[StatusEvent]) -> Iterator[Ticket]:
        step = self._settings.batch_max
        if len(messages) + len(statuses) <= step:
            yield Ticket(messages, statuses)
            return
        items: list[Message | StatusEvent] = [*messages, *statuses]
        for number, start in enumerate(range(0, len(items), step)):
            # each part claims its own delivery id, else the first part's claim would skip the others' statuses
            part = [_part_of(item, number) for item in items[start : start + step]]
            yield Ticket([m for m in part if isinstance(m, Message)], [s for s in part if isinstance(s, StatusEvent)])

    async def close(self) -> None:
        """Refuse new work, apply what is queued (until the drain timeout), stop the workers."""
        self._closing = True
        self._drain_deadline = time.monotonic() + self._settings.drain_timeout_s
        self._full.set()
        self._turn.set()
        self._nonempty.set()
        # a worker stuck on an unresponsive database gets a little longer than the drain, then is stopped
        _, stuck = await asyncio.wait(self._workers, timeout=self._settings.drain_timeout_s + DRAIN_GRACE_S)
        for worker in stuck:
            worker.cancel()  # its batch is failed as it stops
        await asyncio.gather(*self._workers, return_exceptions=True)
        while self._queue:
            self._fail(self._queue.popleft(), Unavailable("shutting down"))
        if self._unstored:
            metrics.EVENTS.labels("lost").inc(self._lost)
            log.error(
                "shutdown lost=%d unstored=%d reason=database unavailable past SHUTDOWN_DRAIN_S",
                self._lost,
                self._unstored,
            )

    async def _work(self) -> None:
        while True:
            await self._nonempty.wait()
            if not self._queue:
                if self._closing:
                    return
                self._nonempty.clear()
                continue
            if self._in_flight and self._queued < self._settings.batch_max and not self._closing:
                # Group commit: while a batch is applied, what arrives waits to go in the next one, which is
                # larger and leaves the event loop to the requests. Another worker goes only when a full batch
                # waits or the batch applied takes longer than STALL_S (a lock, a slow disk).
                self._turn.clear()
                try:
                    await asyncio.wait_for(self._turn.wait(), STALL_S)
                    continue  # a batch ended (another worker may have taken the next) or a full one waits: look again
                except TimeoutError:
                    pass  # the batch applied is slow: go beside it
            elif self._queued < self._settings.batch_max and self._settings.batch_interval_s > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._full.wait(), self._settings.batch_interval_s)
            batch = self._take()
            if not batch:
                continue
            self._in_flight += 1
            try:
                await self._apply(batch)
            except asyncio.CancelledError:  # stopped past the drain's grace: what it held is not stored
                for ticket in batch:
                    self._fail(ticket, Unavailable("shutting down"))
                raise
            except Exception:  # a bug must not stop the worker: answer this batch 503, keep serving
                log.exception("batch failed unexpectedly requests=%d", len(batch))
                for ticket in batch:
                    self._fail(ticket, Unavailable("internal error"))
            finally:
                self._in_flight -= 1
                self._turn.set()
                self._applied.set()
                self._applied = asyncio.Event()

    def _take(self) -> list[Ticket]:
        batch: list[Ticket] = []
        size = 0
        while self._queue and size < self._settings.batch_max:
            ticket = self._queue.popleft()
            self._queued -= ticket.size
            batch.append(ticket)
            size += ticket.size
        if not self._queue and not self._closing:
            self._nonempty.clear()
        if self._queued < self._settings.batch_max and not self._closing:
            self._full.clear()
        return batch

    async def _apply(self, batch: list[Ticket]) -> None:
        """Apply `batch`, retrying transient failures with backoff; split it to isolate refused data.

        A request that stopped waiting (answered 503) stays in the batch: applying it anyway is harmless,
        since the merge is idempotent, and keeps the data if the sender never retries.
        """
        delay = BACKOFF_MIN_S
        while True:
            messages = [m for t in batch for m in t.messages]
            statuses = [s for t in batch for s in t.statuses]
            kept = [k for t in batch for k in t.kept]
            facts = [f for t in batch for f in t.facts]
            started = time.perf_counter()
            try:
                result = await self._store.apply_batch(messages, statuses, kept, facts)
            except PermanentError as exc:
                metrics.FLUSH_FAILURES.labels("refused").inc()
                await self._isolate(batch, exc)
                return
            except ResourceError:
                metrics.FLUSH_FAILURES.labels("too_large").inc()
                if len(batch) > 1:  # smaller transactions fit the database's limits
                    half = len(batch) // 2
                    await self._apply(batch[:half])
                    await self._apply(batch[half:])
                    return
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            except Exception as exc:  # noqa: BLE001 - any other failure is transient: keep the data, retry
                metrics.FLUSH_FAILURES.labels("transient").inc()
                self._retrying = True
                if self._closing and time.monotonic() > self._drain_deadline:
                    for ticket in batch:
                        self._fail(ticket, Unavailable("database unavailable"))
                    return
                events = len(messages) + len(statuses) + len(facts)
                log.warning("batch retry events=%d in=%.2fs error=%s", events, delay, _brief(exc))
                await asyncio.sleep(delay)
                delay = min(delay * 2, BACKOFF_MAX_S)
                continue
            self._retrying = False
            self._settle(batch, result, time.perf_counter() - started)
            return

    async def _isolate(self, batch: list[Ticket], exc: PermanentError) -> None:
        """Split a refused batch in halves until each refused request is alone, so the others are stored; a
        webhook's refused events are replaced by its body, kept in the inbox with the reason (docs/design.md,
        The webhook inbox)."""
        if len(batch) > 1:
            half = len(batch) // 2
            await self._apply(batch[:half])
            await self._apply(batch[half:])
            return
        ticket = batch[0]
        error = mask_phones_in(str(exc))
        if ticket.refused is None:
            metrics.EVENTS.labels("refused").inc(ticket.events)
        if ticket.body is not None and ticket.refused is None:
            log.warning("request refused events=%d format=%s kept=refused error=%s", ticket.events, ticket.body.format,
                        error[:200])  # fmt: skip
            ticket.keep_refused(inbox.refused(ticket.body, exc), str(exc))
            await self._apply(batch)
            return
        body = ticket.body
        if body is not None:  # even its body was refused: nothing of the request is kept
            if ticket.future is None:
                metrics.EVENTS.labels("lost").inc(ticket.size)
            log.error("request refused and its body not kept org=%s format=%s bytes=%d answered=%s error=%s",
                      body.org_id, body.format, len(body.body), ticket.future is None, error[:200])  # fmt: skip
        else:
            log.error("batch refused events=%d error=%s", ticket.events, error[:200])
        self._fail(ticket, Rejected(str(exc)))

    def _settle(self, batch: list[Ticket], result: BatchResult, seconds: float) -> None:
        messages = sum(len(t.messages) for t in batch)
        statuses = sum(len(t.statuses) for t in batch)
        facts = sum(len(t.facts) for t in batch)
        metrics.BATCH_SIZE.observe(messages + statuses + facts)
        metrics.FLUSH_SECONDS.observe(seconds)
        metrics.EVENTS.labels("parked").inc(result.parked)
        metrics.EVENTS.labels("logged").inc(messages)
        metrics.EVENTS.labels("merged").inc(statuses)
        if facts:
            metrics.EVENTS.labels("fact").inc(facts)
        log.info(
            "batch requests=%d messages=%d statuses=%d facts=%d rows_updated=%d parked=%d kept=%d ms=%.1f",
            len(batch),
            messages,
            statuses,
            facts,
            result.updated,
            result.parked,
            result.kept,
            seconds * 1000,
        )
        for ticket in batch:
            if not self._finish(ticket):
                continue
            if ticket.refused is not None and ticket.body is not None:
                metrics.INBOX_KEPT.labels(ticket.body.format, inbox.REFUSED).inc()
                if ticket.future is not None and not ticket.future.done():
                    ticket.future.set_exception(Kept(ticket.refused))
            elif ticket.future is not None and not ticket.future.done():
                ticket.future.set_result({m.key: result.rows[m.key] for m in ticket.messages if m.key in result.rows})

    def _fail(self, ticket: Ticket, exc: Exception) -> None:
        if not self._finish(ticket):
            return
        if self._closing and isinstance(exc, Unavailable):  # the drain could not store it: counted for close()
            self._unstored += ticket.size
            if ticket.future is None:
                self._lost += ticket.size
        if ticket.future is not None and not ticket.future.done():
            ticket.future.set_exception(exc)

    def _finish(self, ticket: Ticket) -> bool:
        """Mark `ticket` settled; False if it already was."""
        if ticket.settled:
            return False
        ticket.settled = True
        self._set_depth(-ticket.size)
        return True

    def _set_depth(self, change: int) -> None:
        self._depth += change
        metrics.QUEUE_DEPTH.set(self._depth)


async def _all_rows(futures: list[asyncio.Future[Rows]]) -> Rows:
    rows: Rows = {}
    for part in await asyncio.gather(*futures):
        rows.update(part)
    return rows


def _part_of(item: Message | StatusEvent, number: int) -> Message | StatusEvent:
    """`item` as a member of part `number` of a split request: its delivery id, if any, names the part."""
    return replace(item, receipt_id=f"{item.receipt_id}#{number}") if item.receipt_id else item


def _brief(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:200]
