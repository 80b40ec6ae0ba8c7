"""The bench's results format: a recorded run's JSON renders to the table recorded beside it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.report import render

RESULTS = Path(__file__).resolve().parents[2] / "bench" / "results"
RECORDED = sorted(p for p in RESULTS.glob("bench-*.json") if p.with_suffix(".md").exists())


@pytest.mark.parametrize("recorded", RECORDED, ids=[p.stem for p in RECORDED])
def test_recorded_run_renders_to_its_recorded_table(recorded: Path) -> None:
    assert render(json.loads(recorded.read_text())) == recorded.with_suffix(".md").read_text()
