"""`ragbot bench ...`: performance figures for docs/BENCHMARKS.md."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure performance")
    p.add_subparsers(dest="bench_command", required=True)
