"""How the store reaches the database: one SQL function call at a time, and what a refusal means.

The store (bluetick.store.Store) knows which function to call, with which named parameters, and what its
result becomes; a transport only carries the call: asyncpg (store/postgres.py) or PostgREST (store/supabase.py).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol


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


class Transport(Protocol):
    async def call(self, function: str, params: Mapping[str, Any]) -> Any:
        """`function(name => value, ...)` in a transaction of its own; its result as JSON values (a jsonb
        result decoded). Values are Python's: UUID, datetime, date, timedelta, lists of them, and JSON-able
        objects for jsonb. A refusal by the data raises PermanentError, a database limit ResourceError."""

    async def ping(self) -> bool:
        """Whether the database answers now."""

    async def close(self) -> None: ...
