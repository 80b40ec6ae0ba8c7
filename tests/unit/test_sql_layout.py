"""Where the SQL lives: released migrations never change, and every function has one current definition.

docs/design.md, Migrations: a versioned migration changes tables, columns, indexes and types; function bodies live
once, by subject, in the repeatable files of `sql/functions/` (and the analysts' in `sql/analytics/`).
"""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path

from bluetick.store import SQL

ROOT = Path(__file__).resolve().parents[2]
PACKAGE_SQL = Path(str(SQL))
RELEASED = ROOT / "tests" / "fixtures" / "sql_934dae0" / "migrations"  # 0001-0013 as released
# The one function a released migration keeps: the generated column message_logs.status is computed by it, and
# Postgres does not recompute stored values when a body is replaced, so a change to it is a new migration that
# rewrites the column, never a repeatable file.
STAYS_IN_MIGRATIONS = {"bluetick_status_of"}

DEFINITION = re.compile(r"^\s*create\s+(?:or\s+replace\s+)?function\s+(?:public\.)?(\w+)\s*\(", re.I | re.M)


def definitions(text: str) -> list[tuple[str, int]]:
    """(name, number of input arguments) of each function `text` creates: what Postgres tells overloads apart by,
    as far as bluetick's functions go (no two of them share a name and an arity)."""
    found = []
    for match in DEFINITION.finditer(text):
        depth, i = 1, match.end()
        while depth:
            depth += {"(": 1, ")": -1}.get(text[i], 0)
            i += 1
        args = [a.strip() for a in _top_level_split(text[match.end() : i - 1]) if a.strip()]
        inputs = [a for a in args if not re.match(r"out\s", a, re.I)]
        found.append((match.group(1).lower(), len(inputs)))
    return found


def _top_level_split(text: str) -> list[str]:
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if ch == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    return [*parts, text[start:]]


def released(path: Path) -> bool:
    return path.parent.name == "migrations" and (RELEASED / path.name).exists()


def sql_tree() -> list[Path]:
    return sorted(PACKAGE_SQL.glob("*/*.sql"))


def test_released_migrations_are_byte_identical():
    for old in sorted(RELEASED.glob("*.sql")):
        assert (PACKAGE_SQL / "migrations" / old.name).read_bytes() == old.read_bytes(), f"{old.name} was edited"


def test_every_function_has_one_current_definition_outside_the_released_migrations():
    where: dict[tuple[str, int], list[str]] = defaultdict(list)
    for path in sql_tree():
        if not released(path):
            for key in definitions(path.read_text()):
                where[key].append(f"{path.parent.name}/{path.name}")
    twice = {f"{name}/{arity}": files for (name, arity), files in where.items() if len(files) > 1}
    assert not twice, f"defined in more than one place (keep the one in sql/functions/): {twice}"


def test_new_migrations_change_tables_not_functions():
    for path in sorted((PACKAGE_SQL / "migrations").glob("*.sql")):
        if not released(path):
            assert not definitions(path.read_text()), (
                f"{path.name} defines a function: put its body in sql/functions/ (a repeatable file by subject)"
            )


def test_every_function_of_the_released_migrations_lives_on_in_sql_functions():
    in_migrations = {key for path in sorted(RELEASED.glob("*.sql")) for key in definitions(path.read_text())}
    in_functions = {
        key for path in sorted((PACKAGE_SQL / "functions").glob("*.sql")) for key in definitions(path.read_text())
    }
    kept_back = {key for key in in_migrations if key[0] in STAYS_IN_MIGRATIONS}
    assert in_migrations - kept_back <= in_functions, (
        f"only in a migration: {sorted(in_migrations - kept_back - in_functions)}"
    )
    assert not kept_back & in_functions, "bluetick_status_of stays in 0001: the generated column status needs it"


def test_the_merge_is_defined_in_one_file():
    files = {f"{p.parent.name}/{p.name}" for p in sql_tree() if "function bluetick_apply_batch" in p.read_text()}
    assert {f for f in files if not f.startswith("migrations/")} == {"functions/apply_batch.sql"}
