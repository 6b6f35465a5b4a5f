"""The local Telegram Bot API server the adapter tests run against.

It lives in ``bot.telegram.fake_api`` (as the LLM fakes live in ``core.testing`` and the fake
Slack in ``bot.slack.fake_api``) because the streaming benchmark, ``bot.bench.telegram_stream``,
runs against it too and must not import from ``tests/``."""

from bot.telegram.fake_api import (
    TOKEN,
    Call,
    EntityParseError,
    FakeTelegram,
    StoredMessage,
    parse_telegram_html,
)

__all__ = ["FakeTelegram", "Call", "StoredMessage", "parse_telegram_html", "EntityParseError", "TOKEN"]
