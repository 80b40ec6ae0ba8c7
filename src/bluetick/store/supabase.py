"""Supabase over its REST API: every call is an RPC to the same SQL functions the Postgres backend calls."""

from __future__ import annotations

import base64
import binascii
import json
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from postgrest.exceptions import APIError
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from bluetick.events import Message, StatusEvent
from bluetick.store import classify
from bluetick.store.records import (
    BatchResult,
    Customer,
    Erasure,
    InboxItem,
    PurgeResult,
    ReportRefresh,
    RetentionResult,
)

log = logging.getLogger("bluetick.store")


class SupabaseSetupError(RuntimeError):
    """The Supabase project cannot serve bluetick as configured; the message says what to change."""


def key_role(key: str) -> str | None:
    """The role a Supabase API key acts as: a legacy JWT's `role` claim, or the new key's prefix."""
    if key.startswith("sb_secret_"):
        return "service_role"
    if key.startswith("sb_publishable_"):
        return "anon"
    parts = key.split(".")
    if len(parts) != 3:
        return None
    padded = parts[1] + "=" * (-len(parts[1]) % 4)
    try:
        claims = json.loads(base64.urlsafe_b64decode(padded))
    except (binascii.Error, ValueError):
        return None
    role = claims.get("role") if isinstance(claims, dict) else None
    return role if isinstance(role, str) else None


class SupabaseStore:
    def __init__(self, client: AsyncClient) -> None:
        self._client = client
        self._prepared = False

    @classmethod
    async def connect(cls, url: str, key: str, timeout_s: float) -> SupabaseStore:
        options = AsyncClientOptions(
            postgrest_client_timeout=timeout_s, auto_refresh_token=False, persist_session=False
        )
        return cls(await acreate_client(url, key, options=options))

    async def prepare(self) -> None:
        """Check that the schema is there; Supabase's schema is applied with its SQL editor or CLI."""
        if self._prepared:
            return
        try:
            await self._rpc("bluetick_ping", {})
        except APIError as exc:
            if exc.code in ("PGRST202", "42883", "42501"):
                raise SupabaseSetupError(
                    "bluetick's SQL is not installed in this Supabase project or not executable by the "
                    "service role: run the files of src/bluetick/sql/ in the SQL editor, or `supabase db push`"
                ) from exc
            raise
        self._prepared = True

    async def org_secrets(self) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = await self._rpc("bluetick_org_secrets", {})
        return rows

    async def apply_batch(
        self, messages: list[Message], statuses: list[StatusEvent], inbox: Sequence[InboxItem] = ()
    ) -> BatchResult:
        params = {
            "p_messages": [m.to_json() for m in messages],
            "p_statuses": [s.to_json() for s in statuses],
            "p_inbox": [k.to_json() for k in inbox],
        }
        return BatchResult.of(await self._rpc("bluetick_apply_batch", params))

    async def purge(self, max_age: timedelta) -> PurgeResult:
        doc = await self._rpc("bluetick_purge", {"p_max_age": _interval(max_age)})
        return PurgeResult.of(doc)

    async def purge_inbox(self, max_age: timedelta) -> int:
        doc = await self._rpc("bluetick_purge_inbox", {"p_max_age": _interval(max_age)})
        return int(doc["inbox"])

    async def inbox_summary(self, org_id: UUID | None, since: datetime | None) -> list[dict[str, Any]]:
        params = {"p_org_id": _text(org_id), "p_since": _text(since)}
        rows: list[dict[str, Any]] = await self._rpc("bluetick_inbox_summary", params)
        return rows

    async def inbox_kept(
        self, org_id: UUID | None, since: datetime | None, after: int, limit: int
    ) -> list[dict[str, Any]]:
        params = {"p_org_id": _text(org_id), "p_since": _text(since), "p_after": after, "p_limit": limit}
        rows: list[dict[str, Any]] = await self._rpc("bluetick_inbox_kept", params)
        return rows

    async def forget_customer(self, org_id: UUID, customer: Customer, limit: int, erasure_id: int | None) -> Erasure:
        params = {
            "p_org": str(org_id),
            "p_phone": customer.phone,
            "p_user_id": customer.user_id,
            "p_limit": limit,
            "p_erasure_id": erasure_id,
        }
        return Erasure.of(await self._rpc("bluetick_forget_customer", params))

    async def export_customer(self, org_id: UUID, customer: Customer) -> dict[str, Any]:
        params = {"p_org": str(org_id), "p_phone": customer.phone, "p_user_id": customer.user_id}
        doc: dict[str, Any] = await self._rpc("bluetick_export_customer", params)
        return doc

    async def retention_batch(self, default_days: int | None, limit: int) -> RetentionResult:
        params = {"p_default_days": default_days, "p_limit": limit}
        return RetentionResult.of(await self._rpc("bluetick_retention_batch", params))

    async def refresh_reports(self, orgs: int, hours: int, skip: Sequence[UUID] = ()) -> ReportRefresh:
        params = {"p_orgs": orgs, "p_max_hours": hours, "p_skip": [str(org) for org in skip]}
        return ReportRefresh.of(await self._rpc("bluetick_report_refresh_some", params))

    async def ping(self) -> bool:
        try:
            return bool(await self._rpc("bluetick_ping", {}))
        except (APIError, httpx.HTTPError):
            return False

    async def close(self) -> None:
        await self._client.postgrest.aclose()

    async def _rpc(self, function: str, params: dict[str, Any]) -> Any:
        try:
            response = await self._client.rpc(function, params).execute()
        except APIError as exc:  # PostgREST passes the database's SQLSTATE through as the code
            refined = classify(exc.code, exc.message or "")
            if refined is not None:
                raise refined from exc
            raise
        return response.data


def _interval(age: timedelta) -> str:
    return f"{int(age.total_seconds())} seconds"


def _text(value: UUID | datetime | None) -> str | None:
    if isinstance(value, datetime):
        return value.isoformat()
    return None if value is None else str(value)
