"""Signed webhooks out (docs/design.md, "Events"): the deliverer, and the outbound address policy.

Each subscription is delivered by whichever replica claims it (functions/subscriptions.sql): a claim leases one due
subscription (`for update skip locked`, then `lease_until`) and reads up to `batch` of its events after its cursor,
of its types, below the horizon of the oldest transaction still running (the feed's rule), in (xid, id) order.
The events are POSTed one at a time, in that order, each signed as the Standard Webhooks spec says (`webhook-id`,
`webhook-timestamp`, `webhook-signature`); the cursor moves past an event only once its receiver answered 2xx, so
a crash or a kill -9 re-sends what was not acknowledged (at least once), and an expired lease lets another replica
take over. A non-2xx answer, a timeout or a failed connection ends the batch: the subscription is retried after
min(cap, base * 2^attempts) seconds with jitter, and disabled as 'failing' once it has failed for longer than
WEBHOOK_RETRY_FOR; a 410 disables it as 'gone' at once. Either can be resumed (POST .../resume).

Order: one subscription's events are delivered strictly in (xid, id) order, one at a time, the next only after the
previous was answered 2xx, so the events of one message arrive in the order they were written (a batch takes every
key's lock before it writes, so a later change of a message has a later xid). Each event also carries the
message's `version` in its data, so a receiver can drop one older than one it has (after a resume from an older
cursor, or a re-send after a crash).

Pacing: ingest goes first, for a while. Before each webhook a worker waits, while requests wait for their batch,
until ingest's next batch ends (at most INGEST_TURN_S): under load deliveries go at most one per worker per batch
applied and the rest wait in the outbox, delivered at full speed once the load eases. An event older than
INGEST_FIRST_FOR_S goes without waiting, so a sustained load delays deliveries by about that much, not without bound.

Waking: where the store is Postgres reached directly, a connection of the deliverer's own LISTENs on channel
`bluetick_events` (every commit that writes an event notifies it); behind a transaction-mode pooler (PgBouncer) or
over Supabase's REST API, which keep no session, the deliverer polls once a second. A deliverer also wakes itself
when a retry it scheduled is due, and polls every IDLE_S in any case (another replica's retries).

Outbound safety: URLs are https and never reach a loopback, private, link-local, multicast, reserved or
unspecified address, checked when a subscription is made and again at each connection (the connector's resolver
refuses such an address, against DNS rebinding), unless SUBSCRIPTIONS_ALLOW_PRIVATE. Redirects are not followed,
no cookie is kept, and the only headers sent are the webhook's: no bluetick secret. A receiver's answer is read up
to ANSWER_LIMIT bytes, and only its status (and a short printable excerpt in last_error) is kept.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import random
import re
import socket
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver
from standardwebhooks import Webhook
from yarl import URL

from bluetick import jsoncodec, metrics
from bluetick.config import Settings
from bluetick.logs import mask_phones_in
from bluetick.store import Store
from bluetick.store.pooler import pooler_options

log = logging.getLogger("bluetick.delivery")

CHANNEL = "bluetick_events"
ANSWER_LIMIT = 1024  # bytes of a receiver's answer read, at most
ERROR_EXCERPT = 100  # printable characters of a receiver's answer kept in last_error
LEASE = timedelta(seconds=60)
BATCH = 50  # events per claim
WORKERS = 4  # subscriptions delivered at once by one process
POLL_S = 1.0  # where no session can LISTEN
IDLE_S = 5.0  # with LISTEN: read again this often anyway (another replica's retries, a lost notification)
HELD_BACK_S = 0.1  # events held back by an older open transaction: claim again after this
# Notifications come at the rate batches commit (one each, per organisation that got an event), most of them for
# organisations with no subscription (the feed alone). They ring worker 0 only, at most once per this long, so a
# burst costs one claim, not one claim per notification per worker (measured: with the feed on, four claims per
# batch took a third of durable ingest).
NOTIFY_COALESCE_S = 0.05
# Under load, ingest goes first: before each webhook a worker waits for ingest's next batch to end, this long at
# most (Pipeline.ingest_turn), so deliveries do not take the event loop from the requests a BSP is waiting on ...
INGEST_TURN_S = 0.05
# ... for an event written less than this long ago: an older one goes at once, so a sustained load delays
# deliveries by about this much, not without bound
INGEST_FIRST_FOR_S = 10.0
HEALTH_S = 15.0  # how often the subscriptions-by-state gauge is read from the database
STOP_GRACE_S = 2.0  # on stop, how long a delivery in flight may finish before it is cancelled
CONNECT_TIMEOUT_S = 5.0
USER_AGENT = "bluetick-webhooks/1"


class AddressRefused(OSError):
    """A subscription URL's host is, or resolves to, an address deliveries never go to."""


def address_allowed(address: str) -> bool:
    """Whether deliveries may connect to `address`: not loopback, private, link-local, multicast, reserved,
    unspecified or otherwise not global (an IPv4 address mapped into IPv6 is judged as itself)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    refused = (
        ip.is_loopback or ip.is_private or ip.is_link_local or ip.is_multicast or ip.is_reserved or ip.is_unspecified
    )
    return not refused and ip.is_global


def ip_literal(host: str) -> str | None:
    """`host` when it is an IP address (brackets of an IPv6 one removed), else None."""
    bare = host[1:-1] if host.startswith("[") and host.endswith("]") else host
    try:
        ipaddress.ip_address(bare.split("%", 1)[0])
    except ValueError:
        return None
    return bare


class SafeResolver(AbstractResolver):
    """The event loop's getaddrinfo, refusing a name that resolves to any address deliveries never go to: checked
    at each connection, so a name that resolved to a public address when the subscription was made and to a
    private one now (DNS rebinding) is refused."""

    def __init__(self) -> None:
        self._inner = ThreadedResolver()

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        found = await self._inner.resolve(host, port, family)
        refused = [r["host"] for r in found if not address_allowed(r["host"])]
        if refused:
            raise AddressRefused(f"{host} resolves to {refused[0]}, a non-public address")
        return found

    async def close(self) -> None:
        await self._inner.close()


def listen_dsn(store: Store) -> str | None:
    """Where a session of the deliverer's own can LISTEN: a Postgres store's DSN, unless it goes through a
    transaction-mode pooler (which keeps no session's LISTEN); None there and for the REST backend (poll)."""
    dsn = getattr(store, "_dsn", None)
    if not isinstance(dsn, str):
        return None
    url, statement_cache = pooler_options(dsn, getattr(store, "_pooled", None))
    return None if statement_cache == 0 else url


@dataclass(frozen=True, slots=True)
class DeliveryOptions:
    """How the deliverer paces itself; the defaults are production's (tests shorten the backoff)."""

    backoff_base_s: float = 5.0
    backoff_cap_s: float = 3600.0
    workers: int = WORKERS
    batch: int = BATCH
    lease: timedelta = LEASE
    idle_s: float = IDLE_S
    poll_s: float = POLL_S

    def backoff_s(self, attempts: int) -> float:
        """The wait before the next attempt after `attempts` failed ones: min(cap, base * 2^attempts), with
        jitter (a random point in its upper half), so receivers that came back are not hit all at once."""
        full = min(self.backoff_cap_s, self.backoff_base_s * 2 ** min(attempts, 40))
        return random.uniform(full / 2, full)  # jitter, not a secret


@dataclass(frozen=True, slots=True)
class Outcome:
    """One delivery's result: `label` counts it (delivered, failed, timeout, refused, gone, blocked); `error` is
    what last_error keeps (with an excerpt of the receiver's answer), `detail` what the log says (never the answer)."""

    label: str
    error: str = ""
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.label == "delivered"


class Wakeup:
    """Wakes the waiting workers: a notification, a retry due, or stopping. A worker reads `generation` before it
    claims; a wake that comes between its claim and its wait is not lost."""

    def __init__(self) -> None:
        self.generation = 0
        self._event = asyncio.Event()

    def notify(self) -> None:
        self.generation += 1
        self._event.set()
        self._event = asyncio.Event()

    async def wait(self, seen: int, timeout_s: float) -> None:
        if self.generation != seen:
            return
        try:
            async with asyncio.timeout(timeout_s):
                await self._event.wait()
        except TimeoutError:
            pass


def webhook_body(event: dict[str, Any]) -> bytes:
    """The body POSTed for an event: {"type", "timestamp", "data"} (the Standard Webhooks payload shape)."""
    return jsoncodec.dumps({"type": event["type"], "timestamp": event["timestamp"], "data": event["data"]}).encode()


def signed_headers(msg_id: str, body: bytes, secrets: Sequence[str], at: datetime | None = None) -> dict[str, str]:
    """The Standard Webhooks headers of `body`: one signature per secret (the current one first), space-separated."""
    at = at or datetime.now(UTC)
    signature = " ".join(Webhook(secret).sign(msg_id, at, body) for secret in secrets)
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(at.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
    }


_UNPRINTABLE = re.compile(r"[^\x20-\x7e]+")


def _excerpt(answer: bytes) -> str:
    """The start of a receiver's answer as last_error keeps it: printable, short, phone-like numbers masked."""
    text = _UNPRINTABLE.sub(" ", answer[: ERROR_EXCERPT * 4].decode("utf-8", "replace")).strip()
    return mask_phones_in(text[:ERROR_EXCERPT])


def url_policy_error(url: str, allow_private: bool) -> str | None:
    """Why deliveries may not go to `url` before any name is resolved (its scheme, an IP literal's address), or None."""
    try:
        parsed = URL(url)
    except (ValueError, TypeError):
        return "not a URL"
    if parsed.scheme != "https" and not (allow_private and parsed.scheme == "http"):
        return "not https"
    literal = ip_literal(parsed.raw_host or "")
    if literal is not None and not allow_private and not address_allowed(literal):
        return f"address {literal} is not public"
    return None


class Deliverer:
    """The delivery loop of one process: `workers` tasks, each claiming a due subscription and delivering its
    batch; `start` once the store is open, `stop` (never hangs) before it closes."""

    def __init__(
        self,
        store: Store,
        settings: Settings,
        options: DeliveryOptions | None = None,
        ready: asyncio.Event | None = None,
        ingest_turn: Callable[[float], Awaitable[None]] | None = None,
    ) -> None:
        self.store = store
        self._ingest_turn = ingest_turn
        self.settings = settings
        self.options = options or DeliveryOptions()
        self._ready = ready
        self._stop = asyncio.Event()
        self._wake = Wakeup()
        self._bell = Wakeup()  # notifications, for worker 0 alone
        self._bell_pending = False
        self._tasks: list[asyncio.Task[None]] = []
        self._held: dict[UUID, str] = {}  # leases this process holds: released when it stops
        self._session: aiohttp.ClientSession | None = None
        # a lease always has room for a whole attempt and its recording, whatever WEBHOOK_TIMEOUT_S is
        self._lease = max(self.options.lease, timedelta(seconds=settings.webhook_timeout_s + 3 * CONNECT_TIMEOUT_S))
        self._listen_dsn = listen_dsn(store)
        self._listener: asyncpg.Connection | None = None
        self._timers: set[asyncio.TimerHandle] = set()

    @property
    def mode(self) -> str:
        """`listen` while a LISTEN session is up, else `poll`."""
        return "listen" if self._listener is not None and not self._listener.is_closed() else "poll"

    def wake(self) -> None:
        """Claim again now (a subscription resumed)."""
        self._wake.notify()

    async def start(self) -> None:
        allow_private = self.settings.subscriptions_allow_private
        connector = aiohttp.TCPConnector(resolver=None if allow_private else SafeResolver(), limit=100)
        self._session = aiohttp.ClientSession(
            connector=connector,
            cookie_jar=aiohttp.DummyCookieJar(),  # no receiver's cookie is ever sent anywhere
            trust_env=False,  # no proxy from the environment
            auto_decompress=False,
        )
        self._tasks.append(asyncio.create_task(self._run_listener(), name="delivery-listen"))
        self._tasks.append(asyncio.create_task(self._health_forever(), name="delivery-health"))
        for n in range(self.options.workers):
            self._tasks.append(asyncio.create_task(self._worker(n), name=f"delivery-{n}"))

    async def stop(self) -> None:
        """Stop claiming; let deliveries in flight finish for STOP_GRACE_S, cancel the rest, give back the leases
        still held (a re-send at most, never a loss), and close the connections. Bounded in time."""
        self._stop.set()
        self._wake.notify()
        for timer in self._timers:
            timer.cancel()
        if self._tasks:
            _, pending = await asyncio.wait(self._tasks, timeout=STOP_GRACE_S)
            for task in pending:
                task.cancel()
            if pending:
                await asyncio.wait(pending, timeout=STOP_GRACE_S)
        self._tasks.clear()
        for subscription_id, lease in list(self._held.items()):
            try:
                async with asyncio.timeout(STOP_GRACE_S):
                    await self.store.delivery_release(subscription_id, lease)
            except Exception as exc:  # noqa: BLE001 - the lease expires on its own
                log.warning("delivery lease not released error=%s", type(exc).__name__)
        self._held.clear()
        listener, self._listener = self._listener, None
        if listener is not None and not listener.is_closed():
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT_S):
                    await listener.close()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
                listener.terminate()
        if self._session is not None:
            await self._session.close()

    async def _until_ready(self) -> bool:
        """Wait for the database to be ready (migrated); False when stopping first."""
        if self._ready is None or self._ready.is_set():
            return not self._stop.is_set()
        waits = [asyncio.ensure_future(self._ready.wait()), asyncio.ensure_future(self._stop.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()
        return not self._stop.is_set()

    async def _worker(self, number: int) -> None:
        """Claim and deliver until stopped. Idle, only worker 0 polls (every poll_s, or idle_s while listening);
        the others wait for a wake: a notification, a due retry, or a claim by another worker (there may be more)."""
        if not await self._until_ready():
            return
        failures = 0
        while not self._stop.is_set():
            seen, rung = self._wake.generation, self._bell.generation
            try:
                claim = await self.store.delivery_claim(self._lease, self.options.batch)
                failures = 0
            except Exception as exc:  # noqa: BLE001 - the database is away: try again later
                failures += 1
                if failures == 1:
                    log.warning("delivery claim failed error=%s", type(exc).__name__)
                await self._wake.wait(seen, min(self.options.poll_s * failures, self.options.idle_s))
                continue
            if claim is None:
                idle_s = self.options.idle_s if self.mode == "listen" else self.options.poll_s
                if number == 0:
                    await self._wake_or_bell(seen, rung, idle_s)
                else:
                    await self._wake.wait(seen, max(idle_s, IDLE_S) * 12)
            elif claim.get("waiting"):
                await self._wake.wait(seen, HELD_BACK_S)
            else:
                self._wake.notify()  # the other workers claim too: more subscriptions may be due
                await self._deliver_batch(claim)

    async def _deliver_batch(self, claim: dict[str, Any]) -> None:
        """Deliver a claimed subscription's events in order, one at a time, until one fails, the lease nears its end
        or the deliverer stops; record the batch's result, then give the lease back. One log line."""
        subscription_id = UUID(claim["id"])
        lease: str = claim["lease"]
        self._held[subscription_id] = lease
        loop = asyncio.get_running_loop()
        started = loop.time()
        timeout_s = self.settings.webhook_timeout_s
        # a delivery after the first starts only while the lease has time left for a whole attempt and its recording
        last_start = started + self._lease.total_seconds() - timeout_s - 2 * CONNECT_TIMEOUT_S
        secrets = [claim["secret"], *([claim["previous_secret"]] if claim.get("previous_secret") else [])]
        delivered = 0
        outcome: Outcome | None = None
        holding = True
        acked: dict[str, Any] | None = None  # the last event the receiver acknowledged
        try:
            for n, event in enumerate(claim["events"]):
                if n and (self._stop.is_set() or loop.time() > last_start):
                    break
                if self._ingest_turn is not None and time.time() - float(event["created_s"]) < INGEST_FIRST_FOR_S:
                    await self._ingest_turn(INGEST_TURN_S)
                outcome = await self._post(claim["url"], event, secrets)
                metrics.webhook_deliveries(outcome.label).inc()
                if not outcome.ok:
                    break
                metrics.WEBHOOK_LAG.observe(max(0.0, time.time() - float(event["created_s"])))
                delivered += 1
                acked = event
            # The cursor moves once per batch, past the last acknowledged event: one commit a batch, not one an
            # event (600 cursor commits a second beside ingest's own held Postgres on WALWrite in the events bench).
            # A crash re-sends what this batch delivered: at least once, duplicates only around a crash.
            if acked is not None and not await self.store.delivery_done(
                subscription_id, lease, acked["xid"], int(acked["id"])
            ):
                holding = False  # the lease was lost (expired, resumed, deleted): another takes over
            if holding and outcome is not None and not outcome.ok:
                await self._record_failure(subscription_id, lease, claim, outcome)
                holding = False
        except Exception as exc:  # noqa: BLE001 - the lease expires and the batch is tried again
            log.warning("delivery batch failed subscription=%s error=%s", subscription_id, type(exc).__name__)
        finally:
            self._held.pop(subscription_id, None)
            if holding:
                await self._release(subscription_id, lease)
        ms = (loop.time() - started) * 1000
        if outcome is None or outcome.ok:
            log.info(
                "webhooks delivered subscription=%s org=%s events=%d of=%d ms=%.0f",
                subscription_id, claim["org_id"], delivered, len(claim["events"]), ms,
            )  # fmt: skip
        else:
            log.warning(
                "webhooks failed subscription=%s org=%s delivered=%d of=%d outcome=%s error=%s ms=%.0f",
                subscription_id, claim["org_id"], delivered, len(claim["events"]), outcome.label, outcome.detail, ms,
            )  # fmt: skip

    async def _release(self, subscription_id: UUID, lease: str) -> None:
        try:
            async with asyncio.timeout(CONNECT_TIMEOUT_S):
                await self.store.delivery_release(subscription_id, lease)
        except Exception as exc:  # noqa: BLE001 - the lease expires on its own
            log.warning("delivery lease not released subscription=%s error=%s", subscription_id, type(exc).__name__)
            return
        self._wake.notify()  # the rest of its events, if any, are claimable at once

    async def _record_failure(self, subscription_id: UUID, lease: str, claim: dict[str, Any], outcome: Outcome) -> None:
        delay_s = self.options.backoff_s(int(claim.get("attempts") or 0))
        result = await self.store.delivery_failed(
            subscription_id, lease, outcome.error, outcome.label == "gone", delay_s, self.settings.webhook_retry_for
        )
        disabled = result.get("disabled_reason")
        if disabled:
            metrics.WEBHOOKS_DISABLED.labels(disabled).inc()
            log.warning("webhook subscription disabled subscription=%s reason=%s", subscription_id, disabled)
            await self._read_health()
        elif result.get("recorded"):
            self._wake_in(delay_s)

    def _wake_in(self, delay_s: float) -> None:
        """Wake the workers when a retry this process scheduled is due."""
        loop = asyncio.get_running_loop()
        handle: asyncio.TimerHandle | None = None

        def fire() -> None:
            if handle is not None:
                self._timers.discard(handle)
            self._wake.notify()

        handle = loop.call_later(delay_s + 0.01, fire)
        self._timers.add(handle)

    async def _post(self, url: str, event: dict[str, Any], secrets: Sequence[str]) -> Outcome:
        """POST one event to `url`; its outcome. The answer is read up to ANSWER_LIMIT bytes and never logged."""
        allow_private = self.settings.subscriptions_allow_private
        refused = url_policy_error(url, allow_private)
        if refused is not None:
            return Outcome("blocked", f"refused: {refused}", "address refused")
        assert self._session is not None
        body = webhook_body(event)
        headers = signed_headers(str(event["id"]), body, secrets)
        timeout = aiohttp.ClientTimeout(total=self.settings.webhook_timeout_s)
        try:
            async with self._session.post(
                url, data=body, headers=headers, allow_redirects=False, timeout=timeout
            ) as resp:
                answer = await resp.content.read(ANSWER_LIMIT)
                status = resp.status
        except TimeoutError:
            text = f"timeout after {self.settings.webhook_timeout_s} s"
            return Outcome("timeout", text, text)
        except aiohttp.ClientConnectorError as exc:
            if isinstance(exc.os_error, AddressRefused):
                return Outcome("blocked", "refused: resolves to a non-public address", "address refused")
            text = f"connection failed: {type(exc.os_error).__name__}"
            return Outcome("refused", text, text)
        except AddressRefused:
            return Outcome("blocked", "refused: resolves to a non-public address", "address refused")
        except (aiohttp.ClientError, OSError) as exc:
            text = f"request failed: {type(exc).__name__}"
            return Outcome("failed", text, text)
        if 200 <= status < 300:
            return Outcome("delivered")
        excerpt = _excerpt(answer)
        error = f"HTTP {status}" + (f": {excerpt}" if excerpt else "")
        return Outcome("gone" if status == 410 else "failed", error, f"HTTP {status}")

    async def _run_listener(self) -> None:
        """Keep a LISTEN session on CHANNEL where the store allows one; each notification wakes the workers."""
        if self._listen_dsn is None:
            log.info("webhook deliveries poll every %.0f s: this backend cannot LISTEN", self.options.poll_s)
            return
        if not await self._until_ready():
            return
        warned = False
        while not self._stop.is_set():
            if self._listener is None or self._listener.is_closed():
                conn: asyncpg.Connection | None = None
                try:
                    async with asyncio.timeout(CONNECT_TIMEOUT_S):
                        conn = await asyncpg.connect(self._listen_dsn)
                        await conn.add_listener(CHANNEL, self._notified)
                    self._listener = conn
                    warned = False
                    self._wake.notify()  # what was committed while not listening
                except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                    if conn is not None:
                        conn.terminate()
                    if not warned:
                        log.warning("delivery LISTEN connection failed, polling meanwhile error=%s", type(exc).__name__)
                        warned = True
            try:
                async with asyncio.timeout(self.options.idle_s):
                    await self._stop.wait()
            except TimeoutError:
                pass

    def _notified(self, conn: Any, pid: int, channel: str, payload: str) -> None:
        if self._bell_pending:
            return
        self._bell_pending = True
        asyncio.get_running_loop().call_later(NOTIFY_COALESCE_S, self._ring)

    def _ring(self) -> None:
        self._bell_pending = False
        self._bell.notify()

    async def _wake_or_bell(self, seen: int, rung: int, timeout_s: float) -> None:
        """Worker 0's idle wait: a wake of every worker, or a notification's bell, or `timeout_s`."""
        if self._wake.generation != seen or self._bell.generation != rung:
            return
        waits = [asyncio.ensure_future(self._wake.wait(seen, timeout_s)),
                 asyncio.ensure_future(self._bell.wait(rung, timeout_s))]  # fmt: skip
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiting in waits:
                waiting.cancel()

    async def _health_forever(self) -> None:
        """The subscriptions by delivery state, for /metrics (read from the database: any replica's view)."""
        if not await self._until_ready():
            return
        while not self._stop.is_set():
            await self._read_health()
            try:
                async with asyncio.timeout(HEALTH_S):
                    await self._stop.wait()
            except TimeoutError:
                pass

    async def _read_health(self) -> None:
        try:
            for state, count in (await self.store.subscriptions_health()).items():
                metrics.WEBHOOK_SUBSCRIPTIONS.labels(state).set(count)
        except Exception as exc:  # noqa: BLE001 - the next round reads again
            log.debug("subscriptions health failed error=%s", type(exc).__name__)
