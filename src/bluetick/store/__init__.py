"""The only place that talks to a database: one SQL function call per batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from bluetick.events import Message, StatusEvent

SQL_DIR = Path(__file__).resolve().parents[3] / "sql"


class PermanentError(Exception):
    """The database refused the batch's data itself; retrying the same data cannot succeed."""


@dataclass(frozen=True, slots=True)
class BatchResult:
    rows: dict[tuple[UUID, str], dict[str, Any]]
    updated: int
    parked: int


@dataclass(frozen=True, slots=True)
class PurgeResult:
    parked: int
    receipts: int


class Store(Protocol):
    async def apply_batch(self, messages: list[Message], statuses: list[StatusEvent]) -> BatchResult: ...

    async def purge(self, max_age: timedelta) -> PurgeResult: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def batch_result(doc: dict[str, Any]) -> BatchResult:
    rows = {(UUID(row["org_id"]), row["bsp_msg_id"]): row for row in doc["messages"]}
    return BatchResult(rows=rows, updated=int(doc["updated"]), parked=int(doc["parked"]))


def migration_files() -> list[Path]:
    """Schema first, then the analysts' views and functions that read it; each file is rerunnable."""
    return sorted((SQL_DIR / "migrations").glob("*.sql")) + sorted((SQL_DIR / "analytics").glob("*.sql"))
