"""The only place that talks to a database: one SQL function call per batch."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol
from uuid import UUID

from bluetick.auth import OrgSecrets
from bluetick.events import Message, StatusEvent

SQL_DIR = Path(__file__).resolve().parents[3] / "sql"


class PermanentError(Exception):
    """The database refused the batch's data itself; retrying the same data cannot succeed."""


class ResourceError(Exception):
    """The batch ran into a database limit (locks, memory); smaller batches may succeed."""


# SQLSTATE classes: 22 data exception and 23 integrity violation come from the data itself;
# 53 insufficient resources and 54 program limit exceeded, from the batch's size.
PERMANENT_CLASSES = ("22", "23")
RESOURCE_CLASSES = ("53", "54")


def classify(sqlstate: str | None, message: str) -> Exception | None:
    """The pipeline's view of a database error, or None for a transient one."""
    kind = (sqlstate or "")[:2]
    if kind in PERMANENT_CLASSES:
        return PermanentError(f"{sqlstate}: {message}")
    if kind in RESOURCE_CLASSES:
        return ResourceError(f"{sqlstate}: {message}")
    return None


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
    async def prepare(self) -> None:
        """Make the database ready (migrations); raises while it cannot be reached."""

    async def org_secrets(self) -> dict[UUID, OrgSecrets]: ...

    async def apply_batch(self, messages: list[Message], statuses: list[StatusEvent]) -> BatchResult: ...

    async def purge(self, max_age: timedelta) -> PurgeResult: ...

    async def ping(self) -> bool: ...

    async def close(self) -> None: ...


def batch_result(doc: dict[str, Any]) -> BatchResult:
    rows = {(UUID(row["org_id"]), row["bsp_msg_id"]): row for row in doc["messages"]}
    return BatchResult(rows=rows, updated=int(doc["updated"]), parked=int(doc["parked"]))


def org_secrets_of(rows: list[dict[str, Any]]) -> dict[UUID, OrgSecrets]:
    return {
        UUID(row["org_id"]): OrgSecrets(
            meta_app_secret=row.get("meta_app_secret"),
            aisensy_secret=row.get("aisensy_secret"),
            url_token=row.get("url_token"),
            verify_token=row.get("verify_token"),
            api_token=row.get("api_token"),
        )
        for row in rows
    }


SUPABASE_MIGRATIONS = SQL_DIR.parent / "supabase" / "migrations"


def supabase_migration_name(path: Path) -> str:
    """`0002_merge.sql` -> `20250101000002_merge.sql`: the Supabase CLI's version is the file's own number."""
    number, _, rest = path.name.partition("_")
    return f"20250101{int(number):06d}_{rest}"


def write_supabase_layout() -> list[Path]:
    """Link every SQL file into supabase/migrations (for `supabase db push`); sql/ stays the one source."""
    SUPABASE_MIGRATIONS.mkdir(parents=True, exist_ok=True)
    for stale in SUPABASE_MIGRATIONS.glob("*.sql"):
        stale.unlink()
    links = []
    for source in migration_files():
        link = SUPABASE_MIGRATIONS / supabase_migration_name(source)
        link.symlink_to(Path("../..") / source.relative_to(SQL_DIR.parent))
        links.append(link)
    return links


def migration_files() -> list[Path]:
    """Schema first, then the analysts' views and functions that read it; each file is rerunnable."""
    return sorted((SQL_DIR / "migrations").glob("*.sql")) + sorted((SQL_DIR / "analytics").glob("*.sql"))
