"""The helper the AI agent calls to log its messages; it never raises and never waits past its bound.

    from bluetick.client import log_outbound
    await log_outbound(org_id=ORG, bsp_msg_id=wamid, to_phone="+919876543210",
                       msg_kind="AI_REPLY_FREEFORM", body=reply_text)

Settings come from the agent's environment, as declared by `ClientSettings`. A malformed one makes
`BluetickClient()` raise a ConfigError naming it; the process-wide `log_outbound` / `log_inbound` never
raise: they log that error, count it and return None, so the conversation goes on.

Reading back (docs/design.md, "Events"): `get_message` answers a message's stored row (None when there is none),
and `events` follows the organisation's event feed (turned on with PUT /v1/orgs/{org_id}/events/feed):

    stream = client.events(org_id, after=saved_cursor)  # None: from now on
    async for event in stream:
        handle(event)
        save(stream.cursor)  # the position after `event`: resume there after a restart
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

import aiohttp

from bluetick import metrics
from bluetick.config import ConfigError, load, setting
from bluetick.logs import mask_phone

log = logging.getLogger("bluetick.client")


@dataclass(frozen=True, slots=True)
class ClientSettings:
    """The helper's settings, read from the agent's own environment."""

    url: str = setting("BLUETICK_URL", "http://127.0.0.1:8080", "the bluetick service the agent logs to")
    timeout_ms: int = setting(
        "BLUETICK_TIMEOUT_MS", 1500, "the helper returns None when the service has not answered by then", minimum=1
    )
    api_token: str | None = setting(
        "BLUETICK_API_TOKEN",
        None,
        "bearer token: the organisation's `api_token` if it has one, else the service's `API_TOKEN`",
        secret=True,
    )


class BluetickError(Exception):
    """A read the service refused or could not answer: `status` is the HTTP status (None when none came)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


FEED_WAIT_S = 30  # each feed request waits this long for an event (the service allows up to 60)
FEED_RETRY_MAX_S = 30.0  # the longest pause between attempts while the service cannot answer


class BluetickClient:
    """Logs messages to a bluetick service; one instance per agent process reuses its connections."""

    def __init__(
        self, base_url: str | None = None, *, timeout_ms: int | None = None, api_token: str | None = None
    ) -> None:
        settings = load(ClientSettings, os.environ)
        self.base_url = (base_url or settings.url).rstrip("/")
        token = api_token or settings.api_token
        self._headers = {"Authorization": f"Bearer {token}"} if token else {}
        self.timeout_s = (settings.timeout_ms if timeout_ms is None else timeout_ms) / 1000
        self._session: aiohttp.ClientSession | None = None
        self._session_loop: asyncio.AbstractEventLoop | None = None
        self._closer: AsyncIterator[None] | None = None

    async def log_outbound(
        self,
        *,
        org_id: UUID | str,
        bsp_msg_id: str,
        to_phone: str | None = None,
        to_user_id: str | None = None,
        msg_kind: str = "AI_REPLY_FREEFORM",
        body: str | None = None,
        sent_at: datetime | int | str | None = None,
        metadata: dict[str, Any] | None = None,
        template: dict[str, str] | None = None,
        campaign: str | dict[str, str] | None = None,
    ) -> dict[str, Any] | None:
        """Log a reply the BSP accepted, to a phone, a BSUID or both; the stored row, or None if it could not be
        logged in time. `template` is {"name", "language", "category"} (name required) of a template message;
        `campaign` the campaign it was sent in, its id or {"id", "name"}."""
        payload: dict[str, Any] = {
            "bsp_msg_id": bsp_msg_id,
            "direction": "OUTBOUND",
            "to_phone": to_phone,
            "to_user_id": to_user_id,
            "msg_kind": msg_kind,
            "body": body,
            "sent_at": _time(sent_at),
            "metadata": metadata,
        }
        if template is not None:
            payload["template"] = template
        if campaign is not None:
            payload["campaign"] = campaign
        return await self._log(org_id, payload)

    async def log_inbound(
        self,
        *,
        org_id: UUID | str,
        bsp_msg_id: str,
        from_phone: str | None = None,
        from_user_id: str | None = None,
        msg_kind: str = "TEXT",
        body: str | None = None,
        sent_at: datetime | int | str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> dict[str, Any] | None:
        """Log a customer's message; the stored row, or None if it could not be logged in time."""
        return await self._log(
            org_id,
            {
                "bsp_msg_id": bsp_msg_id,
                "direction": "INBOUND",
                "from_phone": from_phone,
                "from_user_id": from_user_id,
                "msg_kind": msg_kind,
                "body": body,
                "sent_at": _time(sent_at),
                "metadata": metadata,
            },
        )

    async def get_message(self, org_id: UUID | str, bsp_msg_id: str) -> dict[str, Any] | None:
        """The stored row of one message of the organisation (the JSON the log call answers), or None when there
        is none. Raises BluetickError when the service refuses the request or does not answer in time: unlike
        logging, a lookup must not mistake a failure for a missing message."""
        url = f"{self.base_url}/v1/orgs/{org_id}/messages/{quote(bsp_msg_id, safe='')}"
        try:
            async with asyncio.timeout(self.timeout_s):
                session = await self._current_session()
                async with session.get(url, headers=self._headers) as resp:
                    if resp.status == 404:
                        return None
                    if resp.status != 200:
                        raise BluetickError(f"lookup answered {resp.status}: {(await resp.text())[:200]}", resp.status)
                    row: dict[str, Any] = await resp.json()
                    return row
        except TimeoutError:
            raise BluetickError(f"lookup: no answer within {self.timeout_s:.3f}s") from None
        except aiohttp.ClientError as exc:
            raise BluetickError(f"lookup failed: {type(exc).__name__}: {str(exc)[:200]}") from exc

    def events(
        self,
        org_id: UUID | str,
        *,
        after: str | None = None,
        types: Iterable[str] | None = None,
        limit: int = 100,
        wait_s: int = FEED_WAIT_S,
    ) -> EventStream:
        """The organisation's events after the cursor `after` (None: those committed from now on), for ever:
        `async for event in client.events(org_id, after=cursor)`; the caller breaks. The stream's `cursor` is the
        position after the last event it gave, to persist and pass as `after` later."""
        return EventStream(self, org_id, after, None if types is None else tuple(types), limit, wait_s)

    async def _feed_page(
        self, org_id: UUID | str, after: str | None, types: tuple[str, ...] | None, limit: int, wait_s: int
    ) -> dict[str, Any]:
        """One long-poll of the feed; raises BluetickError (its status None or 5xx when worth retrying)."""
        params: dict[str, str] = {"limit": str(limit), "wait": str(wait_s)}
        if after is not None:
            params["after"] = after
        if types is not None:
            params["types"] = ",".join(types)
        url = f"{self.base_url}/v1/orgs/{org_id}/events"
        bound = wait_s + self.timeout_s + 5  # the service answers by `wait_s`; the rest is the network's
        try:
            async with asyncio.timeout(bound):
                session = await self._current_session()
                async with session.get(url, params=params, headers=self._headers) as resp:
                    if resp.status != 200:
                        raise BluetickError(f"feed answered {resp.status}: {(await resp.text())[:200]}", resp.status)
                    page: dict[str, Any] = await resp.json()
                    return page
        except TimeoutError:
            raise BluetickError(f"feed: no answer within {bound:.1f}s") from None
        except (aiohttp.ClientError, ValueError) as exc:
            raise BluetickError(f"feed failed: {type(exc).__name__}: {str(exc)[:200]}") from exc

    async def close(self) -> None:
        if self._session is not None and self._session_loop is asyncio.get_running_loop():
            await self._session.close()
        self._session = None

    async def _current_session(self) -> aiohttp.ClientSession:
        """The session of the running event loop (an agent may call asyncio.run once per message)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._session_loop is not loop:
            self._session = aiohttp.ClientSession()
            self._session_loop = loop
            self._closer = _closed_with_the_loop(self._session)
            await anext(self._closer)
        return self._session

    async def _log(self, org_id: UUID | str, payload: dict[str, Any]) -> dict[str, Any] | None:
        phone = payload.get("to_phone") or payload.get("from_phone")
        try:
            async with asyncio.timeout(self.timeout_s):
                url = f"{self.base_url}/v1/orgs/{org_id}/messages"
                session = await self._current_session()
                async with session.post(url, json=payload, headers=self._headers) as resp:
                    if resp.status == 200:
                        row: dict[str, Any] = await resp.json()
                        return row
                    reason = f"http_{resp.status}"
                    detail = (await resp.text())[:200]
        except TimeoutError:
            reason, detail = "timeout", f"no answer within {self.timeout_s:.3f}s"
        except Exception as exc:  # noqa: BLE001 - logging must never break the agent
            reason, detail = type(exc).__name__, str(exc)[:200]
        metrics.CLIENT_FAILURES.labels(reason).inc()
        log.warning("log failed reason=%s phone=%s detail=%s", reason, mask_phone(phone), detail)
        return None


class EventStream:
    """`BluetickClient.events`: an async iterator over the feed, long-polling page after page. `cursor` is where
    it stands: after the last event it gave (or the page it read last), None until the first page when it started
    at the head. A refusal (400, 401, 409: retrying cannot help) raises BluetickError; a failure to answer (a
    timeout, a lost connection, a 5xx) is retried with backoff, from the same cursor, for ever."""

    def __init__(
        self,
        client: BluetickClient,
        org_id: UUID | str,
        after: str | None,
        types: tuple[str, ...] | None,
        limit: int,
        wait_s: int,
    ) -> None:
        self.client = client
        self.org_id = org_id
        self.cursor = after
        self._types = types
        self._limit = limit
        self._wait_s = wait_s
        self._pending: list[dict[str, Any]] = []
        self._next: str | None = None

    def __aiter__(self) -> EventStream:
        return self

    async def __anext__(self) -> dict[str, Any]:
        pause = 0.5
        while not self._pending:
            if self._next is not None:  # the page given out whole: stand at its end
                self.cursor, self._next = self._next, None
            try:
                page = await self.client._feed_page(self.org_id, self.cursor, self._types, self._limit, self._wait_s)
            except BluetickError as exc:
                if exc.status is not None and exc.status < 500:
                    raise
                metrics.CLIENT_FAILURES.labels("feed").inc()
                log.warning("feed read failed, retrying in %.1fs detail=%s", pause, exc)
                await asyncio.sleep(pause * random.uniform(0.5, 1.0))
                pause = min(pause * 2, FEED_RETRY_MAX_S)
                continue
            self._pending = list(page["events"])
            self._next = page["next"]
        event = self._pending.pop(0)
        self.cursor = event["cursor"]
        return event


async def _closed_with_the_loop(session: aiohttp.ClientSession) -> AsyncIterator[None]:
    """Waits, suspended, until its event loop shuts down its async generators (asyncio.run does), then closes
    `session` there: an agent calling asyncio.run once per message leaves no session open behind it."""
    try:
        yield
    finally:
        await session.close()


def _time(value: datetime | int | str | None) -> int | str | None:
    return value.isoformat() if isinstance(value, datetime) else value


_default: BluetickClient | None = None


def default_client() -> BluetickClient:
    global _default
    if _default is None:
        _default = BluetickClient()
    return _default


def _configured_client() -> BluetickClient | None:
    """The process-wide client, or None (logged and counted) while the environment is malformed."""
    try:
        return default_client()
    except ConfigError as exc:
        metrics.CLIENT_FAILURES.labels("config_error").inc()
        log.warning("log failed reason=config_error detail=%s", exc)
        return None


async def log_outbound(**kwargs: Any) -> dict[str, Any] | None:
    """`BluetickClient.log_outbound` on a process-wide client configured from the environment."""
    client = _configured_client()
    return None if client is None else await client.log_outbound(**kwargs)


async def log_inbound(**kwargs: Any) -> dict[str, Any] | None:
    """`BluetickClient.log_inbound` on a process-wide client configured from the environment."""
    client = _configured_client()
    return None if client is None else await client.log_inbound(**kwargs)
