"""Turn any supported webhook body into typed events (see `Parsed`)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

from bluetick.payloads import aisensy, gupshup, interakt, meta, twilio, wati
from bluetick.payloads.common import ItemError, Parsed, receipt_time

__all__ = ["ItemError", "Parsed", "parse", "parse_form"]


def parse(org_id: UUID, doc: Any, received_at: datetime | None = None) -> Parsed:
    """Dispatch on the body's shape; an unknown shape yields `Parsed(format="unknown")`.

    `received_at` is when bluetick received the body (now when None, or an inbox row's time on replay): the time
    of a status whose format gives it none, so such a status is never dropped.
    """
    if not isinstance(doc, dict):
        return Parsed(format="unknown")
    at = receipt_time(received_at)
    if meta.looks_like(doc):
        return meta.parse(org_id, doc, at, "gupshup_v3" if gupshup.looks_like_v3(doc) else "meta")
    if aisensy.looks_like(doc):
        return aisensy.parse(org_id, doc, at)
    if gupshup.looks_like(doc):
        return gupshup.parse(org_id, doc, at)
    if wati.looks_like(doc):
        return wati.parse(org_id, doc, at)
    if interakt.looks_like(doc):
        return interakt.parse(org_id, doc, at)
    if meta.looks_flat(doc):
        return meta.parse_flat(org_id, doc, at)
    return Parsed(format="unknown")


def parse_form(org_id: UUID, form: Iterable[tuple[str, str]], received_at: datetime | None = None) -> Parsed:
    """Dispatch a form-encoded body's fields (Twilio's); a form of no known BSP yields `Parsed(format="unknown")`.

    `received_at` (None: now) is the time of what the form gives no time for.
    """
    fields = twilio.fields_of(form)
    if twilio.looks_like(fields):
        return twilio.parse(org_id, fields, receipt_time(received_at))
    return Parsed(format="unknown")
