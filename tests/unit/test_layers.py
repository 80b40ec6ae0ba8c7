"""The store is at the bottom: importing it, or any module of it, loads nothing of bluetick above it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "bluetick"
BELOW_THE_STORE = {"config", "events", "jsoncodec", "logs"}  # what the store may use

IMPORT_THE_STORE = """
import json, pkgutil, sys
import bluetick.store
for module in pkgutil.walk_packages(bluetick.store.__path__, "bluetick.store."):
    __import__(module.name)
print(json.dumps(sorted(sys.modules)))
"""


def above_the_store() -> set[str]:
    """Every top-level module and package of bluetick but the store and what it may use: a new one is above."""
    names = {p.stem for p in SRC.glob("*.py")} | {p.parent.name for p in SRC.glob("*/__init__.py")}
    return {f"bluetick.{name}" for name in names - {"__init__", "store"} - BELOW_THE_STORE}


def loaded_by_the_store() -> set[str]:
    """The modules a fresh interpreter holds after importing bluetick.store and each of its modules."""
    done = subprocess.run([sys.executable, "-c", IMPORT_THE_STORE], capture_output=True, text=True, check=True)
    return set(json.loads(done.stdout))


def test_the_store_imports_nothing_above_it():
    above = above_the_store()
    assert {"bluetick.payloads", "bluetick.auth", "bluetick.app", "bluetick.service", "bluetick.customers",
            "bluetick.inbox", "bluetick.report", "bluetick.pipeline", "bluetick.cli"} <= above  # fmt: skip
    loaded = loaded_by_the_store()
    assert "bluetick.store.postgres" in loaded and "bluetick.store.supabase" in loaded
    assert sorted(m for m in loaded if ".".join(m.split(".")[:2]) in above) == []
