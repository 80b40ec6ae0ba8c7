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


def test_wait_shares_leave_out_the_sample_count_and_add_up_over_repeats() -> None:
    from bench import waits
    from bench.report import _waits

    run = {"samples": 10, "CPU": 6, "IO:WalSync": 3, "Lock:advisory": 1}
    assert waits.shares(run) == [("CPU", 0.6), ("IO:WalSync", 0.3), ("Lock:advisory", 0.1)]
    assert waits.busy_backends(run) == 1.0
    results = {"ingest": {"runs": {"bare aiohttp": [{}], "bluetick durable": [{"pg_waits": run}, {"pg_waits": run}]}}}
    assert _waits(results)[-1] == "| bluetick durable | 1.00 | CPU 60%, IO:WalSync 30%, Lock:advisory 10% |"
