"""Field checks shared by the BSP parsers; each raises ItemError for a bad item."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from bluetick.events import Message, StatusEvent

MAX_ID_CHARS = 256
MAX_TEXT_CHARS = 65_536
# Epoch values at or above this are taken as milliseconds (in seconds it would be past the year 5000).
_EPOCH_MS_THRESHOLD = 100_000_000_000
_STATUS = re.compile(r"^[a-z][a-z_]{0,31}$")
_PHONE_NOISE = re.compile(r"[\s\-().]")


class ItemError(ValueError):
    """One item of a payload cannot be used; the items beside it still are."""


@dataclass(slots=True)
class Parsed:
    """What one webhook body holds, whatever its format."""

    format: str
    statuses: list[StatusEvent] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.statuses and not self.messages


def as_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ItemError(f"{what} must be an object")
    return value


def as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ItemError(f"{what} must be an array")
    return value


def event_time(value: Any) -> datetime:
    """A BSP's event time (unix seconds or milliseconds, as number or string, or ISO 8601) in UTC."""
    if isinstance(value, bool) or value is None:
        raise ItemError("timestamp is missing")
    if isinstance(value, str):
        raw = value.strip()
        try:
            number = float(raw)
        except ValueError:
            return _iso_time(raw)
    elif isinstance(value, int | float):
        number = float(value)
    else:
        raise ItemError("timestamp must be unix seconds or an ISO 8601 string")
    if number != number or number < 0:
        raise ItemError(f"timestamp {value!r} is not a valid time")
    if number >= _EPOCH_MS_THRESHOLD:
        number /= 1000
    try:
        return datetime.fromtimestamp(int(number), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ItemError(f"timestamp {value!r} is out of range") from None


def _iso_time(raw: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ItemError(f"timestamp {raw[:40]!r} is neither unix seconds nor ISO 8601") from None
    if parsed.tzinfo is None:
        raise ItemError(f"timestamp {raw[:40]!r} has no time zone")
    return parsed.astimezone(UTC).replace(microsecond=0)


def identifier(value: Any, what: str = "id") -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ItemError(f"{what} is missing")
    cleaned = value.strip()
    if len(cleaned) > MAX_ID_CHARS or "\x00" in cleaned:
        raise ItemError(f"{what} is not a valid id")
    return cleaned


def status_name(value: Any) -> str:
    if not isinstance(value, str) or not _STATUS.match(value.strip().lower()):
        raise ItemError("status is missing or not a status name")
    return value.strip().lower()


def phone(value: Any, what: str = "phone") -> str | None:
    """E.164 with a leading `+`, or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ItemError(f"{what} must be a string")
    digits = _PHONE_NOISE.sub("", value.strip()).removeprefix("+")
    if not digits.isdigit() or not 6 <= len(digits) <= 15:
        raise ItemError(f"{what} is not a phone number")
    return "+" + digits


def text(value: Any, what: str = "text") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ItemError(f"{what} must be a string")
    return value.replace("\x00", "\ufffd")[:MAX_TEXT_CHARS]


def _part(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    cleaned = str(value).replace("\x00", "").strip()
    return cleaned[:1000] or None


def format_error(
    code: Any = None, title: Any = None, message: Any = None, details: Any = None
) -> str:
    """`Error {code}: {title} - {message} ({details})`, leaving out the parts that are absent."""
    code_s, title_s, message_s, details_s = map(_part, (code, title, message, details))
    head = f"Error {code_s}" if code_s else "Error"
    words = " - ".join(p for p in (title_s, message_s) if p)
    reason = f"{head}: {words}" if words else head
    return f"{reason} ({details_s})" if details_s else reason
