"""The agent's read side (docs/design.md, "Events"): a message looked up, and the event feed, long-polled.

    GET /v1/orgs/{org_id}/messages/{bsp_msg_id}   the stored row (as the log call answers it), 404 when none
    PUT /v1/orgs/{org_id}/events/feed              {"enabled": true|false}: the organisation's outbox on or off
    GET /v1/orgs/{org_id}/events?after=&limit=100&wait=30&types=message.status,...
                                                   {"events": [...], "next": "<cursor>"}

A cursor is the urlsafe base64 (unpadded) of "<xid>:<id>", the position of an event in the stream (the writing
transaction's xid8, then the event's id): it stays valid across restarts and replicas, since both come from the
database. No `after` starts at the head of the stream (what is committed from now on).

Waiting: a page with no event and `wait` > 0 waits for a notification on channel `bluetick_events` whose payload
is the organisation, sent by each commit that writes one of its events. One asyncpg connection per process
LISTENs (opened on the first wait, opened again after it is lost) and wakes the requests waiting for that
organisation. Through a transaction-mode pooler (PgBouncer) or the Supabase REST backend no session can LISTEN:
the wait reads the page again once a second instead (logged once; header `Bluetick-Feed-Wait: poll`). A page held
back by an older transaction still open (`waiting`: events committed beyond the horizon) is read again after a
short delay, since that transaction's commit may notify another organisation only.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from uuid import UUID

import asyncpg
from aiohttp import web

from bluetick.handlers import SERVICE, api_org, parse_json, read_body
from bluetick.refusals import Refusal, error
from bluetick.store import PermanentError, Store

log = logging.getLogger("bluetick.feed")

CHANNEL = "bluetick_events"
EVENT_TYPES = ("message.status", "message.received", "customer.preferences", "template.status")
DEFAULT_LIMIT = 100
MAX_LIMIT = 1000
MAX_WAIT_S = 60
POLL_S = 1.0  # where no session can LISTEN: the page is read again this often while waiting
HELD_BACK_S = 0.1  # a page held back by an older open transaction: read again after this, doubling up to POLL_S
RECONNECT_S = 1.0  # after a failed LISTEN connection, poll this long before trying again
CONNECT_TIMEOUT_S = 5.0
MAX_XID = 2**64 - 1
MAX_ID = 2**63 - 1
_CURSOR_TEXT = re.compile(r"[A-Za-z0-9_-]{1,64}")
_CURSOR = re.compile(r"([0-9]{1,20}):([0-9]{1,19})")


def encode_cursor(position: Sequence[Any]) -> str:
    """The opaque cursor of a position [xid, id] of the stream."""
    xid, event_id = position
    return base64.urlsafe_b64encode(f"{xid}:{event_id}".encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[str, int]:
    """(xid, id) of a cursor; raises ValueError when it is not one."""
    if not _CURSOR_TEXT.fullmatch(cursor):
        raise ValueError(cursor)
    try:
        text = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        raise ValueError(cursor) from None
    match = _CURSOR.fullmatch(text)
    if match is None or int(match.group(1)) > MAX_XID or int(match.group(2)) > MAX_ID:
        raise ValueError(cursor)
    return str(int(match.group(1))), int(match.group(2))


class Notifications:
    """The process's one LISTEN session on channel `bluetick_events`, shared by every waiting request and keyed by
    organisation; None for `dsn` where no session can LISTEN (the waits poll)."""

    def __init__(self, dsn: str | None) -> None:
        self._dsn = dsn
        self._conn: asyncpg.Connection | None = None
        self._connecting = asyncio.Lock()
        self._retry_at = 0.0
        self._waiters: dict[UUID, set[asyncio.Event]] = {}
        self.closing = False

    @property
    def mode(self) -> str:
        """`listen` where a session can LISTEN, else `poll`."""
        return "poll" if self._dsn is None else "listen"

    async def listening(self) -> bool:
        """Whether the LISTEN session is up (opened now if it is not, and not tried in the last RECONNECT_S)."""
        if self._dsn is None or self.closing:
            return False
        if self._conn is not None and not self._conn.is_closed():
            return True
        async with self._connecting:
            if self._conn is not None and not self._conn.is_closed():
                return True
            loop = asyncio.get_running_loop()
            if loop.time() < self._retry_at:
                return False
            conn: asyncpg.Connection | None = None
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    conn = await asyncpg.connect(self._dsn, server_settings={"application_name": "bluetick-feed"})
                    await conn.add_listener(CHANNEL, self._notified)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                self._retry_at = loop.time() + RECONNECT_S
                log.warning("feed LISTEN connection failed, polling meanwhile error=%s", type(exc).__name__)
                if conn is not None:
                    conn.terminate()
                return False
            if self.closing:  # closed while connecting
                await conn.close()
                return False
            conn.add_termination_listener(self._lost)
            self._conn = conn
            log.info("feed listening channel=%s", CHANNEL)
            return True

    def watch(self, org_id: UUID) -> asyncio.Event:
        """An event set at each notification for `org_id` (and when the session is lost or closing); `unwatch`
        it when done."""
        event = asyncio.Event()
        self._waiters.setdefault(org_id, set()).add(event)
        return event

    def unwatch(self, org_id: UUID, event: asyncio.Event) -> None:
        waiters = self._waiters.get(org_id)
        if waiters is not None:
            waiters.discard(event)
            if not waiters:
                del self._waiters[org_id]

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        try:
            org_id = UUID(payload)
        except ValueError:
            return
        for event in self._waiters.get(org_id, ()):
            event.set()

    def _lost(self, conn: Any) -> None:
        """The session ended: every waiter reads again (a notification may have been missed); the next wait
        opens a new session."""
        if conn is self._conn:
            self._conn = None
            if not self.closing:
                log.warning("feed LISTEN connection lost, reconnecting on the next wait")
        self._wake_all()

    def _wake_all(self) -> None:
        for waiters in self._waiters.values():
            for event in waiters:
                event.set()

    def wake(self) -> None:
        """Closing: every waiting request answers now."""
        self.closing = True
        self._wake_all()

    async def close(self) -> None:
        self.wake()
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            try:
                await asyncio.wait_for(conn.close(), CONNECT_TIMEOUT_S)
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                conn.terminate()


@dataclass
class Feed:
    """The app's feed state: the notifications, made on the first wait from the service's store."""

    notifications: Notifications | None = None
    closing: bool = field(default=False)

    def of(self, store: Store) -> Notifications:
        if self.notifications is None:
            self.notifications = Notifications(store.listen_dsn())
            if self.notifications.mode == "poll":
                log.info("feed waits poll once a second: this backend cannot LISTEN (a pooler or the REST API)")
            if self.closing:
                self.notifications.wake()
        return self.notifications


FEED = web.AppKey("feed", Feed)


def setup(app: web.Application) -> None:
    """Add the lookup and feed routes to the application, and wake the waiting requests when it shuts down."""
    app[FEED] = Feed()
    # (?s:.+): any id, a newline in it too, reaches the handler (`.+` alone left it to aiohttp's text 404)
    app.router.add_get("/v1/orgs/{org_id}/messages/{bsp_msg_id:(?s:.+)}", get_message, name="get_message")
    app.router.add_put("/v1/orgs/{org_id}/events/feed", put_feed, name="events_feed")
    app.router.add_get("/v1/orgs/{org_id}/events", get_events, name="events")
    app.on_shutdown.append(_shutdown)
    app.on_cleanup.append(_cleanup)


async def _shutdown(app: web.Application) -> None:
    feed = app[FEED]
    feed.closing = True
    if feed.notifications is not None:
        feed.notifications.wake()


async def _cleanup(app: web.Application) -> None:
    feed = app[FEED]
    feed.closing = True
    if feed.notifications is not None:
        await feed.notifications.close()


@asynccontextmanager
async def _reading(route: str) -> AsyncIterator[None]:
    """A read the database cannot answer now (down, timed out, a lost connection): 503 to retry, logged in a line
    (the middleware would log a traceback)."""
    try:
        yield
    except (Refusal, PermanentError):
        raise
    except Exception as exc:  # noqa: BLE001 - whatever the backend raises, the answer is the same: retry later
        log.warning("feed read failed route=%s error=%s", route, type(exc).__name__)
        raise Refusal(503, "cannot read now, retry later", "unavailable") from None


def _ready_store(request: web.Request) -> Store:
    service = request.app[SERVICE]
    if not service.ready.is_set():
        raise Refusal(503, "starting: the database is not reachable yet, retry later", "not_ready")
    return service.store


async def get_message(request: web.Request) -> web.Response:
    """The stored row of one message of the organisation, as the log call answers it; 404 when there is none."""
    org_id = api_org(request)
    bsp_msg_id = request.match_info["bsp_msg_id"]
    try:
        async with _reading("get_message"):
            row = await _ready_store(request).message(org_id, bsp_msg_id)
    except PermanentError:  # text the database cannot hold (a NUL): no message has this id
        raise Refusal(400, "bsp_msg_id is not valid text", "bad_bsp_msg_id") from None
    if row is None:
        return error(404, "no message with this bsp_msg_id in this organisation")
    return web.json_response(row)


async def put_feed(request: web.Request) -> web.Response:
    """Turn the organisation's event feed on or off: {"enabled": true|false}."""
    org_id = api_org(request)
    doc = parse_json(await read_body(request, 4096))
    if not isinstance(doc, dict) or not isinstance(doc.get("enabled"), bool):
        raise Refusal(400, 'body must be {"enabled": true} or {"enabled": false}', "bad_feed_request")
    async with _reading("events_feed"):
        enabled = await _ready_store(request).events_feed(org_id, doc["enabled"])
    return web.json_response({"enabled": enabled})


@dataclass(frozen=True, slots=True)
class FeedQuery:
    after: tuple[str, int] | None
    limit: int
    wait_s: int
    types: tuple[str, ...] | None


def _bad(message: str) -> Refusal:
    return Refusal(400, message, "bad_feed_request")


def _bounded(query: Any, name: str, default: int, low: int, high: int) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", text) or not low <= int(text) <= high:
        raise _bad(f"{name} must be a whole number from {low} to {high}")
    return int(text)


def parse_query(query: Any) -> FeedQuery:
    """The feed request's parameters; raises a 400 Refusal naming the one that is wrong."""
    after_text = query.get("after")
    after = None
    if after_text is not None and after_text != "":
        try:
            after = decode_cursor(after_text)
        except ValueError:
            raise _bad("after is not a cursor of this feed: pass a `next` or an event's `cursor` as given") from None
    limit = _bounded(query, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    wait_s = _bounded(query, "wait", 0, 0, MAX_WAIT_S)
    types = None
    types_text = query.get("types")
    if types_text is not None:
        names = [t.strip() for t in types_text.split(",")]
        unknown = [t for t in names if t not in EVENT_TYPES]
        if unknown:
            shown = unknown[0][:64] or "(empty)"
            raise _bad(f"unknown event type {shown!r}: types are {', '.join(EVENT_TYPES)}")
        types = tuple(dict.fromkeys(names))
    return FeedQuery(after, limit, wait_s, types)


async def get_events(request: web.Request) -> web.Response:
    """A page of the organisation's events after the cursor, waiting up to `wait` seconds for one."""
    org_id = api_org(request)
    query = parse_query(request.query)
    store = _ready_store(request)
    feed = request.app[FEED]
    notifications = feed.of(store)
    async with _reading("events"):
        page = await _page(store, notifications, org_id, query)
    if not page.get("enabled"):
        return error(
            409,
            "the event feed is off for this organisation: turn it on with PUT /v1/orgs/{org_id}/events/feed "
            '{"enabled": true}',
        )
    events = page["events"]
    for event in events:
        event["cursor"] = encode_cursor(event["cursor"])
    answer = web.json_response({"events": events, "next": encode_cursor(page["next"])})
    answer.headers["Bluetick-Feed-Wait"] = notifications.mode
    return answer


async def _page(store: Store, notifications: Notifications, org_id: UUID, query: FeedQuery) -> dict[str, Any]:
    """The first page with an event, or the last one read when `wait_s` ends (or the service closes)."""
    page = await store.feed_page(org_id, query.after, query.limit, query.types)
    if not page.get("enabled") or query.wait_s == 0 or page["events"]:
        return page
    loop = asyncio.get_running_loop()
    deadline = loop.time() + query.wait_s
    after = (str(page["next"][0]), int(page["next"][1]))  # the head stays where it was at the first read
    held_back_s = HELD_BACK_S
    event = notifications.watch(org_id)
    try:
        while not notifications.closing:
            # the session is up before the page is read and the event cleared before: no commit is missed between
            listening = await notifications.listening()
            event.clear()
            page = await store.feed_page(org_id, after, query.limit, query.types)
            remaining = deadline - loop.time()
            if not page.get("enabled") or page["events"] or remaining <= 0:
                return page
            if page.get("waiting"):
                delay = held_back_s
                held_back_s = min(held_back_s * 2, POLL_S)
            else:
                delay = remaining if listening else POLL_S
            try:
                async with asyncio.timeout(min(delay, remaining)):
                    await event.wait()
            except TimeoutError:
                pass
    finally:
        notifications.unwatch(org_id, event)
    return page
