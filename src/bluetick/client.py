"""The helper the AI agent calls to log its messages; it never raises and never waits past its bound.

    from bluetick.client import log_outbound
    await log_outbound(org_id=ORG, bsp_msg_id=wamid, to_phone="+919876543210",
                       msg_kind="AI_REPLY_FREEFORM", body=reply_text)

Settings come from the agent's environment, as declared by `ClientSettings`. A malformed one makes
`BluetickClient()` raise a ConfigError naming it; the process-wide `log_outbound` / `log_inbound` never
raise: they log that error, count it and return None, so the conversation goes on.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any
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
    ) -> dict[str, Any] | None:
        """Log a reply the BSP accepted, to a phone, a BSUID or both; the stored row, or None if it could not be
        logged in time."""
        return await self._log(
            org_id,
            {
                "bsp_msg_id": bsp_msg_id,
                "direction": "OUTBOUND",
                "to_phone": to_phone,
                "to_user_id": to_user_id,
                "msg_kind": msg_kind,
                "body": body,
                "sent_at": _time(sent_at),
                "metadata": metadata,
            },
        )

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
