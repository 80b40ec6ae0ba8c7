"""Supabase over its REST API: every call is an RPC to the same SQL functions the Postgres backend calls."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

import httpx
from postgrest.exceptions import APIError
from supabase import AsyncClient, AsyncClientOptions, acreate_client

from bluetick.store import Store
from bluetick.store.transport import classify


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


class PostgrestTransport:
    """PostgREST RPC through the supabase client: the parameters travel as a JSON object."""

    def __init__(self, client: AsyncClient) -> None:
        self._client = client

    @classmethod
    async def connect(cls, url: str, key: str, timeout_s: float) -> PostgrestTransport:
        options = AsyncClientOptions(
            postgrest_client_timeout=timeout_s, auto_refresh_token=False, persist_session=False
        )
        return cls(await acreate_client(url, key, options=options))

    async def call(self, function: str, params: Mapping[str, Any]) -> Any:
        try:
            response = await self._client.rpc(function, {k: _json(v) for k, v in params.items()}).execute()
        except APIError as exc:  # PostgREST passes the database's SQLSTATE through as the code
            refined = classify(exc.code, exc.message or "")
            if refined is not None:
                raise refined from exc
            raise
        return response.data

    async def ping(self) -> bool:
        try:
            return bool(await self.call("bluetick_ping", {}))
        except (APIError, httpx.HTTPError):
            return False

    async def close(self) -> None:
        await self._client.postgrest.aclose()


class SupabaseStore(Store):
    """The store over Supabase's REST API; `prepare` checks that bluetick's SQL is installed (it does not migrate:
    Supabase's schema is applied with its SQL editor or CLI)."""

    def __init__(self, transport: PostgrestTransport) -> None:
        super().__init__(transport)
        self._prepared = False

    @classmethod
    async def connect(cls, url: str, key: str, timeout_s: float) -> SupabaseStore:
        return cls(await PostgrestTransport.connect(url, key, timeout_s))

    async def prepare(self) -> None:
        if self._prepared:
            return
        try:
            await self.transport.call("bluetick_ping", {})
        except APIError as exc:
            if exc.code in ("PGRST202", "42883", "42501"):
                raise SupabaseSetupError(
                    "bluetick's SQL is not installed in this Supabase project or not executable by the "
                    "service role: run the files of src/bluetick/sql/ in the SQL editor, or `supabase db push`"
                ) from exc
            raise
        self._prepared = True


def _json(value: Any) -> Any:
    """A parameter as PostgREST reads it: ids and times as text, an interval in seconds, jsonb as it is."""
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return f"{int(value.total_seconds())} seconds"
    if isinstance(value, list | tuple):
        return [_json(item) for item in value]
    return value
