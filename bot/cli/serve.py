"""`ragbot serve`: the long-running service (HTTP server, chat adapters, scheduler)."""

from __future__ import annotations

import argparse

from bot.settings import Settings

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("serve", help="run the bot: HTTP server, Slack/Telegram adapters, scheduler")
    p.set_defaults(handler=serve)


async def serve(args: argparse.Namespace, settings: Settings) -> int:
    from bot.server import run  # noqa: PLC0415 - written in the runtime issue

    return await run(settings)
