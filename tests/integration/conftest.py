"""Fixtures shared by the integration tests (the session's database fixtures are in tests/conftest.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import asyncpg
import pytest


@pytest.fixture
async def conn(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    """A plain asyncpg connection to the embedded test database (jsonb as text), for the analytics tests."""
    connection = await asyncpg.connect(dsn)
    yield connection
    await connection.close()
