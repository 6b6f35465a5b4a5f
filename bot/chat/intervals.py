"""Refresh intervals as people write them, in chat (`/ragbot pin URL every 6h`) and on the
command line (`ragbot pin URL --every 6h`): one parser, so both accept the same words."""

from __future__ import annotations

import re

from core.errors import InvalidInput

__all__ = ["parse_interval", "describe_interval", "MIN_INTERVAL_S"]

MIN_INTERVAL_S = 60  # SCHEDULER_DEFAULT_EVERY_S has the same floor (core/settings.py)
_UNITS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}
_INTERVAL = re.compile(r"\s*(\d{1,9})\s*([smhd]?)\s*")


def parse_interval(text: str) -> int:
    """'30m', '6h', '1d', '90s' or plain seconds -> seconds; ``InvalidInput`` below a minute or
    for anything else."""
    m = _INTERVAL.fullmatch(text.lower())
    if not m:
        raise InvalidInput(f"'{text}' is not an interval: use e.g. 30m, 6h or 1d.")
    seconds = int(m.group(1)) * _UNITS[m.group(2)]
    if seconds < MIN_INTERVAL_S:
        raise InvalidInput("The refresh interval must be at least a minute.")
    return seconds


def describe_interval(seconds: int) -> str:
    """6 * 3600 -> 'every 6 h', 1800 -> 'every 30 min', 90 -> 'every 90 s'."""
    if seconds % 86400 == 0:
        return f"every {seconds // 86400} d"
    if seconds % 3600 == 0:
        return f"every {seconds // 3600} h"
    if seconds % 60 == 0:
        return f"every {seconds // 60} min"
    return f"every {seconds} s"
