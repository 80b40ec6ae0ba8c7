"""The bench's sections, each a coroutine that measures one thing and returns its part of the results."""

from collections.abc import Awaitable, Callable
from typing import Any

from bench.harness import Bench
from bench.sections import (
    analytics,
    apply,
    baseline,
    campaigns,
    events,
    ingest,
    memory,
    profile,
    report,
    retention,
    scale,
    seed,
    soak,
)

RUNNERS: dict[str, Callable[[Bench], Awaitable[dict[str, Any]]]] = {
    "ingest": ingest.run,
    "apply": apply.run,
    "analytics": analytics.run,
    "report": report.run,
    "memory": memory.run,
    "profile": profile.run,
    "scale": scale.run,
    "seed": seed.run,
    "soak": soak.run,
    "retention": retention.run,
    "events": events.run,
    "campaigns": campaigns.run,
    "baseline": baseline.run,
}
