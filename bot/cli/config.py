"""`ragbot config docs|env`: the configuration reference, rendered from the settings models.

    ragbot config docs > docs/configuration.md
    ragbot config env  > .env.example

Also runs without the CLI wiring: ``python -m bot.cli.config docs``."""

from __future__ import annotations

import argparse
import sys

from bot.config_reference import render_env_example, render_markdown
from bot.settings import Settings

__all__ = ["register", "render"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "config", help="print the configuration reference (docs/configuration.md, .env.example)"
    )
    p.add_argument("what", choices=["docs", "env"], help="docs: Markdown reference; env: .env.example")
    p.set_defaults(handler=show)


def render(what: str) -> str:
    return render_markdown() if what == "docs" else render_env_example()


async def show(args: argparse.Namespace, settings: Settings) -> int:
    sys.stdout.write(render(args.what))
    return 0


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m bot.cli.config")
    parser.add_argument("what", choices=["docs", "env"])
    sys.stdout.write(render(parser.parse_args().what))
