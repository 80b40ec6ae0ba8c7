"""Field checks shared by the BSP parsers; each raises ItemError for a bad item.

An event time (a status's, a message's `sent_at`) later than now plus `MAX_FUTURE_SKEW` is refused: retention ages a
row by that time, so a message "sent" in 2099 would keep its text for ever. The skew allows a sender's clock that runs
a little ahead of bluetick's."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar
from uuid import UUID

from bluetick.events import Direction, EventKind, Fact, Message, StatusEvent, UnstorableJson, storable_tree
from bluetick.events import storable as storable  # the one cleaning, where the parsers and the inbox find it

T = TypeVar("T")

MAX_ID_CHARS = 256
DELETION_SUFFIX = "#deleted"  # the id of a `deleted` status's REVOKE row: the message's id and this
MAX_TEXT_CHARS = 65_536
MAX_ANSWER_ERRORS = 20  # skipped items an answer names; it counts them all
MAX_ANSWER_ERROR_CHARS = 200
MAX_FUTURE_SKEW = timedelta(minutes=15)  # how far past now an event time may be (a sender's clock ahead of ours)
# Epoch values at or above this are taken as milliseconds (in seconds it would be past the year 5000).
_EPOCH_MS_THRESHOLD = 100_000_000_000
_FAST_DIGITS = 18  # a longer number takes the general path (int() refuses strings past 4,300 digits)
_FAST_LIMIT = 10**_FAST_DIGITS
_STATUS = re.compile(r"^[a-z][a-z_]{0,31}$")
_PHONE_NOISE = re.compile(r"[\s\-().]")
# E.164: a country code (never starting with 0) and the number, 8 to 15 digits in all; six digits are not a phone.
_PHONE_DIGITS = re.compile(r"^[1-9][0-9]{7,14}$")
# A WhatsApp business-scoped user id: a country code, a period, up to 128 letters and digits (IN.2081978709342942);
# a parent BSUID has ENT between them (US.ENT.11815799212886844830).
_BSUID = re.compile(r"^[A-Z]{2}(\.ENT)?\.[A-Za-z0-9]{1,128}$")


class ItemError(ValueError):
    """One item of a payload cannot be used; the items beside it still are."""


@dataclass(slots=True)
class Parsed:
    """What one webhook body holds, whatever its format."""

    format: str
    statuses: list[StatusEvent] = field(default_factory=list)
    messages: list[Message] = field(default_factory=list)
    facts: list[Fact] = field(default_factory=list)  # preferences, template and account updates, group receipts, links
    errors: list[str] = field(default_factory=list)  # items skipped, each named with why
    unread: list[str] = field(default_factory=list)  # parts understood to exist but not read (an unknown topic)

    @property
    def empty(self) -> bool:
        return not self.statuses and not self.messages and not self.facts

    @property
    def complete(self) -> bool:
        """Whether every part of the body became events: else the body is kept in the inbox."""
        return self.format != "unknown" and not self.errors and not self.unread

    def skipped_answer(self) -> dict[str, Any]:
        """What an answer says of the skipped items: the first MAX_ANSWER_ERRORS, each cut to MAX_ANSWER_ERROR_CHARS
        (a body of junk items would otherwise be answered with many times its size), and how many in all."""
        shown = [e[:MAX_ANSWER_ERROR_CHARS] for e in self.errors[:MAX_ANSWER_ERRORS]]
        return {"skipped": shown, "skipped_count": len(self.errors)}


def as_dict(value: Any, what: str) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise ItemError(f"{what} must be an object")
    return value


def each_item(
    parsed: Parsed,
    items: Any,
    where: str,
    parse_item: Callable[[Any, str], None],
    *,
    what: str | None = None,
    at: str | None = None,
) -> None:
    """`parse_item(item, place)` for each item of the array `items`, its place being `where[i]`: an item it refuses
    (ItemError) is recorded under its place and the next is parsed. `items` that is not an array is one error,
    `{what} must be an array`, recorded under `at` (both `where` unless given)."""
    try:
        listed = as_list(items, what or where)
    except ItemError as exc:
        parsed.errors.append(f"{at or where}: {exc}")
        return
    for i, item in enumerate(listed):
        place = f"{where}[{i}]"
        try:
            parse_item(item, place)
        except ItemError as exc:
            parsed.errors.append(f"{place}: {exc}")


def as_object(value: Any) -> dict[str, Any]:
    """`value` if it is an object, else an empty one: for a part that is only context."""
    return value if isinstance(value, dict) else {}


def as_list(value: Any, what: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ItemError(f"{what} must be an array")
    return value


def event_time(value: Any, what: str = "timestamp") -> datetime:
    """When something happened, as `read_time` reads it; refused when later than now plus MAX_FUTURE_SKEW."""
    found = read_time(value, what)
    if found > datetime.now(UTC) + MAX_FUTURE_SKEW:
        raise ItemError(f"{what} {repr(value)[:40]} is in the future")
    return found


def read_time(value: Any, what: str = "timestamp") -> datetime:
    """A time (unix seconds or milliseconds, as number or string, or ISO 8601) in UTC, whenever it is."""
    whole = value
    if isinstance(value, str) and len(value) <= _FAST_DIGITS and value.isascii() and value.isdigit():
        whole = int(value)  # the common case, as Meta sends it: "1700000000"
    if type(whole) is int and 0 <= whole < _FAST_LIMIT:  # whole seconds or milliseconds, no float on the way
        try:
            return datetime.fromtimestamp(whole // 1000 if whole >= _EPOCH_MS_THRESHOLD else whole, tz=UTC)
        except (OverflowError, OSError, ValueError):
            raise ItemError(f"{what} {repr(value)[:40]} is out of range") from None
    if isinstance(value, bool) or value is None:
        raise ItemError(f"{what} is missing")
    if not isinstance(value, str | int | float):
        raise ItemError(f"{what} must be unix seconds or an ISO 8601 string")
    shown = repr(value)[:40]
    try:
        number = float(value.strip() if isinstance(value, str) else value)
    except ValueError:
        return _iso_time(str(value).strip(), what, shown)
    except OverflowError:
        raise ItemError(f"{what} {shown} is out of range") from None
    if number != number or number < 0:
        raise ItemError(f"{what} {shown} is not a valid time")
    if number >= _EPOCH_MS_THRESHOLD:
        number /= 1000
    try:
        return datetime.fromtimestamp(int(number), tz=UTC)
    except (OverflowError, OSError, ValueError):
        raise ItemError(f"{what} {shown} is out of range") from None


def _iso_time(raw: str, what: str, shown: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ItemError(f"{what} {shown} is neither unix seconds nor ISO 8601") from None
    if parsed.tzinfo is None:
        raise ItemError(f"{what} {shown} has no time zone")
    try:
        return parsed.astimezone(UTC).replace(microsecond=0)
    except OverflowError:
        raise ItemError(f"{what} {shown} is out of range") from None


def stamped(value: Any, received_at: datetime, what: str = "timestamp") -> datetime:
    """`value` as an event time, or `received_at` when the event gives none: a status is never dropped for lack
    of a time. A time that is present but unreadable is still an ItemError."""
    if value is None or value == "":
        return received_at
    return event_time(value, what)


def receipt_time(received_at: datetime | None) -> datetime:
    """When bluetick received a body, in UTC and whole seconds; now when not given."""
    return (received_at or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)


def storable_json(value: dict[str, Any], what: str = "metadata") -> dict[str, Any]:
    """`value` with every key and text `storable`; ItemError naming `what` when Postgres jsonb cannot hold it."""
    try:
        cleaned: dict[str, Any] = storable_tree(value)
    except UnstorableJson as exc:
        raise ItemError(f"{what} {exc}") from None
    return cleaned


def identifier(value: Any, what: str = "id") -> str:
    if (
        type(value) is str
        and 0 < len(value) <= MAX_ID_CHARS
        and value.isascii()
        and "\x00" not in value
        and not value[0].isspace()
        and not value[-1].isspace()
    ):
        return value  # the common case: nothing to strip or replace
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value.strip():
        raise ItemError(f"{what} is missing")
    cleaned = value.strip()
    if len(cleaned) > MAX_ID_CHARS or storable(cleaned) != cleaned:
        raise ItemError(f"{what} is not a valid id")
    return cleaned


def status_name(value: Any) -> str:
    if not isinstance(value, str) or not _STATUS.match(value.strip().lower()):
        raise ItemError("status is missing or not a status name")
    return value.strip().lower()


def phone(value: Any, what: str = "phone") -> str | None:
    """E.164 with a leading `+` (8 to 15 digits, the first 1-9), or None when absent."""
    if value is None or value == "":
        return None
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise ItemError(f"{what} must be a string")
    digits = _PHONE_NOISE.sub("", value.strip()).removeprefix("+")
    if not _PHONE_DIGITS.match(digits):
        raise ItemError(f"{what} is not a phone number")
    return "+" + digits


def user_id(value: Any, what: str = "user_id") -> str | None:
    """A business-scoped user id (BSUID) as given, or None when absent."""
    if value is None or value == "":
        return None
    if not isinstance(value, str) or not _BSUID.match(value.strip()):
        raise ItemError(f"{what} is not a WhatsApp user id (like IN.2081978709342942)")
    return value.strip()


def customer(value: Any, what: str, unread: list[str]) -> tuple[str | None, str | None]:
    """A customer's `from` as (phone, BSUID): a customer who adopted a username is named by their BSUID there
    (2025-26); anything else is noted in `unread`, never fatal."""
    found = lenient(phone, value, what)
    if found is not None or value is None or value == "":
        return found, None
    bsuid = lenient(user_id, value, what)
    if bsuid is None:
        unread.append(f"{what}: neither a phone number nor a WhatsApp user id")
    return None, bsuid


MAX_LABEL_CHARS = 512  # a template's name, language or category, a campaign's id or name


def label(value: Any, what: str) -> str | None:
    """A template's or campaign's name, id, language or category: text of 1 to MAX_LABEL_CHARS characters (None
    when absent); ItemError names `what` otherwise."""
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value.strip()) <= MAX_LABEL_CHARS:
        raise ItemError(f"{what} must be a string of 1 to {MAX_LABEL_CHARS} characters")
    return value.strip()


def lenient(check: Callable[[Any, str], T | None], value: Any, what: str) -> T | None:
    """`check(value, what)`, or None when the value is unusable: for a field that is only context."""
    try:
        return check(value, what)
    except ItemError:
        return None


def text(value: Any, what: str = "text") -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ItemError(f"{what} must be a string")
    return storable(value[:MAX_TEXT_CHARS])


def msg_kind(value: Any, what: str = "msg_kind") -> str | None:
    """A message kind: free text of 1 to 64 characters."""
    if value is None:
        return None
    if not isinstance(value, str) or not 0 < len(value.strip()) <= 64 or storable(value) != value:
        raise ItemError(f"{what} must be a string of 1 to 64 characters")
    return value.strip()


def _part(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    cleaned = storable(str(value)).replace("\ufffd", "").strip()
    return cleaned[:1000] or None


def format_error(code: Any = None, title: Any = None, message: Any = None, details: Any = None) -> str:
    """`Error {code}: {title} - {message} ({details})`, leaving out the parts that are absent."""
    code_s, title_s, message_s, details_s = map(_part, (code, title, message, details))
    head = f"Error {code_s}" if code_s else "Error"
    words = " - ".join(p for p in (title_s, message_s) if p)
    reason = f"{head}: {words}" if words else head
    return f"{reason} ({details_s})" if details_s else reason


def deletion(
    org_id: UUID, bsp_msg_id: str, ts: datetime, customer_phone: str | None, customer_user_id: str | None = None
) -> Message:
    """A `deleted` status (On-Premises API, Gupshup v2): the customer deleted, for everyone, message `bsp_msg_id`
    they had sent. Stored as the Cloud API stores the same fact, a `revoke` message: an INBOUND `REVOKE` row about
    `bsp_msg_id`, under the id `<bsp_msg_id>#deleted` (the status has no id of its own; a repeat is the same row)."""
    return Message(
        org_id=org_id,
        bsp_msg_id=f"{bsp_msg_id}{DELETION_SUFFIX}",
        direction=Direction.INBOUND,
        msg_kind=EventKind.REVOKE.value,
        from_phone=customer_phone,
        sent_at=ts,
        customer_user_id=customer_user_id,
        ref_bsp_msg_id=bsp_msg_id,
    )
