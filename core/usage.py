"""Usage over time from the answer log: questions per day, declined and helpful rates, time to first
token. Pure: both stores fetch the facts of a window and summarise them here, so the in-memory
reference and the SQL backend cannot disagree on what a rate or a percentile means."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from core.errors import InvalidInput
from core.models import UsageDay, UsageReport

__all__ = ["AnswerFacts", "usage_window", "summarise_usage"]


@dataclass(frozen=True)
class AnswerFacts:
    """What usage needs of one logged answer."""

    asked_at: datetime
    declined: bool
    cache_hit: bool
    prefill_s: float
    up: int = 0
    down: int = 0


def usage_window(days: int, now: datetime) -> tuple[date, datetime]:
    """The first day of a ``days``-long window ending today (UTC), and its start as a datetime."""
    if days < 1:
        raise InvalidInput(f"Usage is counted over at least one day, not {days}.")
    first = now.astimezone(UTC).date() - timedelta(days=days - 1)
    return first, datetime.combine(first, time(0), tzinfo=UTC)


def _percentile(values: list[float], q: float) -> float | None:
    """Nearest-rank percentile: a value that was measured, never an interpolation."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


def summarise_usage(
    space_id: str | None, facts: Iterable[AnswerFacts], first: date, days: int
) -> UsageReport:
    """One ``UsageDay`` per day from ``first``, empty days included. Time to first token counts only
    answers the model generated: cached and declined answers have none (as in ragbot's metrics,
    ``ragbot_time_to_first_token_seconds``)."""
    buckets: dict[date, list[AnswerFacts]] = {first + timedelta(days=i): [] for i in range(days)}
    for f in facts:
        day = f.asked_at.astimezone(UTC).date()
        if day in buckets:
            buckets[day].append(f)
    out = []
    for day, items in buckets.items():
        ttft = [f.prefill_s for f in items if not f.cache_hit and not f.declined and f.prefill_s > 0]
        out.append(
            UsageDay(
                day=day,
                questions=len(items),
                declined=sum(1 for f in items if f.declined),
                up=sum(f.up for f in items),
                down=sum(f.down for f in items),
                ttft_p50_s=_percentile(ttft, 0.5),
                ttft_p90_s=_percentile(ttft, 0.9),
            )
        )
    return UsageReport(space_id, tuple(out))
