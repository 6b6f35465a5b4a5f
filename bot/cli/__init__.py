"""The `ragbot` command: one parser, one sub-module per group of commands."""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bot.cli import admin, bench, classify, config, documents, evaluate, serve, verified
from bot.logs import configure_logging
from bot.settings import load_settings
from core.errors import CoreError

__all__ = ["main", "build_parser"]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="ragbot", description="A self-hosted team assistant that answers from your documents."
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log at DEBUG level")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (documents, admin, evaluate, bench, serve, classify, config, verified):
        module.register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        settings = load_settings()
    except CoreError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 2
    configure_logging("DEBUG" if args.verbose else settings.log_level, settings.log_format)
    try:
        return asyncio.run(args.handler(args, settings)) or 0
    except CoreError as e:
        print(f"error: {e.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
