"""The webhook inbox: bodies not turned completely into events, kept as received and replayed later.

docs/design.md, The webhook inbox.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any
from uuid import UUID

from bluetick import payloads
from bluetick.auth import form_fields
from bluetick.events import Fact, Message, StatusEvent
from bluetick.payloads.common import Parsed, storable
from bluetick.store import PermanentError, Store
from bluetick.store.records import InboxItem, KeptBody, Reparsed

MAX_DETAIL_CHARS = 500
MAX_CONTENT_TYPE_CHARS = 200
REPLAY_PAGE = 100  # kept bodies replayed in one SQL call
FORM_CONTENT_TYPE = "application/x-www-form-urlencoded"
REFUSED = "refused"  # the reason of a body whose events the database refused


def why_kept(parsed: Parsed) -> tuple[str, str | None] | None:
    """(reason, detail) when `parsed` does not hold the whole body, else None."""
    if parsed.format == "unknown":
        return "unknown", None
    for reason, parts in (("skipped", parsed.errors), ("unread", parsed.unread)):
        if parts:
            more = f" (and {len(parts) - 1} more)" if len(parts) > 1 else ""
            return reason, storable(parts[0][:MAX_DETAIL_CHARS] + more)
    return None


def keep(org_id: UUID, parsed: Parsed, body: bytes, content_type: str | None, received_at: datetime) -> KeptBody | None:
    """The inbox row for `body`, or None when its events say everything it holds."""
    why = why_kept(parsed)
    if why is None:
        return None
    return replace(received(org_id, parsed.format, body, content_type, received_at), reason=why[0], detail=why[1])


def received(org_id: UUID, format: str, body: bytes, content_type: str | None, received_at: datetime) -> KeptBody:
    """`body` as the inbox would keep it were the database to refuse its events (`refused` adds the reason)."""
    shown_type = storable(content_type[:MAX_CONTENT_TYPE_CHARS]) if content_type is not None else None
    return KeptBody(org_id, received_at, shown_type, format, REFUSED, None, body)


def refused(body: KeptBody, error: PermanentError) -> KeptBody:
    """The inbox row for `body` once the database refused its events with `error`."""
    return replace(body, reason=REFUSED, detail=_refusal(error))


def _refusal(error: PermanentError) -> str:
    """A refusal as an inbox row's detail: its SQLSTATE and message."""
    return storable(str(error)[:MAX_DETAIL_CHARS])


def is_form(content_type: str | None) -> bool:
    return (content_type or "").split(";")[0].strip().lower() == FORM_CONTENT_TYPE


@dataclass(slots=True)
class ReplayReport:
    bodies: int = 0
    replayed: int = 0  # now turned completely into events, marked replayed
    still_kept: int = 0  # parsed again, still not completely
    forms: int = 0  # form bodies (Twilio's) among them
    not_json: int = 0
    refused: int = 0  # bodies whose events the database still refuses, left kept with the reason
    messages: int = 0
    statuses: int = 0
    formats: dict[str, int] = field(default_factory=dict)  # replayed bodies by their format now

    def text(self) -> str:
        """What `bluetick inbox replay` prints."""
        lines = [
            f"bodies read again: {self.bodies}",
            f"replayed (now complete): {self.replayed}"
            + "".join(f", {fmt} {n}" for fmt, n in sorted(self.formats.items())),
            f"still kept: {self.still_kept}",
            f"events applied: messages {self.messages}, statuses {self.statuses}",
        ]
        if self.forms:
            lines.append(f"form bodies among them: {self.forms}")
        if self.not_json:
            lines.append(f"not JSON: {self.not_json} not replayed")
        if self.refused:
            lines.append(f"of them refused by the database again: {self.refused}")
        return "\n".join(lines)


def summary_table(groups: list[dict[str, Any]]) -> str:
    """What `bluetick inbox` prints: the rows of bluetick_inbox_summary as a table."""
    if not groups:
        return "the inbox is empty"
    head = ("format", "reason", "kept", "replayed", "oldest", "newest")
    rows = [head] + [tuple(str(g[c])[:19].replace("T", " ") for c in head) for g in groups]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows)


@dataclass(frozen=True, slots=True)
class _Reread:
    """One kept body parsed again: its events and its row's update."""

    messages: list[Message]
    statuses: list[StatusEvent]
    facts: list[Fact]
    update: Reparsed


async def replay(store: Store, org_id: UUID | None, since: datetime | None) -> ReplayReport:
    """Parse every kept body again with today's parsers and apply what they read, a page per SQL call.

    Idempotent: events merge by the merge rules, and a body marked replayed is not read again. The events
    carry no delivery id, since the body's first post may have claimed it for the part then understood. A page
    the database refuses is applied body by body; a body whose events it still refuses stays kept (`refused`).
    """
    report = ReplayReport()
    after = 0
    while rows := await store.inbox_kept(org_id, since, after, REPLAY_PAGE):
        after = rows[-1]["id"]
        page = [reread for row in rows if (reread := _reread(row, report)) is not None]
        try:
            await _apply(store, page, report)
        except PermanentError:
            for reread in page:
                try:
                    await _apply(store, [reread], report)
                except PermanentError as exc:
                    left = replace(reread.update, reason=REFUSED, detail=_refusal(exc), replayed=False)
                    await store.apply_batch([], [], [left])
                    report.still_kept += 1
                    report.refused += 1
    return report


def _reread(row: dict[str, Any], report: ReplayReport) -> _Reread | None:
    report.bodies += 1
    parsed = _parse_again(row, report)
    if parsed is None:
        return None
    why = why_kept(parsed)
    if why is None:
        update = Reparsed(row["id"], parsed.format, row["reason"], row["detail"], replayed=True)
    else:
        update = Reparsed(row["id"], parsed.format, why[0], why[1], replayed=False)
    messages = [replace(m, receipt_id=None) for m in parsed.messages]
    statuses = [replace(s, receipt_id=None) for s in parsed.statuses]
    return _Reread(messages, statuses, parsed.facts, update)


async def _apply(store: Store, page: list[_Reread], report: ReplayReport) -> None:
    """Apply `page` in one SQL call; count it once committed."""
    messages = [m for reread in page for m in reread.messages]
    statuses = [s for reread in page for s in reread.statuses]
    facts = [f for reread in page for f in reread.facts]
    updates: list[InboxItem] = [reread.update for reread in page]
    await store.apply_batch(messages, statuses, updates, facts)
    report.messages += len(messages)
    report.statuses += len(statuses)
    for reread in page:
        if reread.update.replayed:
            report.replayed += 1
            report.formats[reread.update.format] = report.formats.get(reread.update.format, 0) + 1
        else:
            report.still_kept += 1


def _parse_again(row: dict[str, Any], report: ReplayReport) -> Parsed | None:
    body = base64.b64decode(row["body"])
    received_at = datetime.fromisoformat(row["received_at"])
    if is_form(row["content_type"]):
        report.forms += 1
        return payloads.parse_form(UUID(row["org_id"]), form_fields(body), received_at)
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        report.not_json += 1
        return None
    return payloads.parse(UUID(row["org_id"]), doc, received_at=received_at)
