"""A Telegram test bench: the local Bot API server (``fake_telegram``), a RagService over the
deterministic fakes with a few real Markdown documents in space ``ops``, and the real
TelegramAdapter (aiogram Bot + Dispatcher) pointed at the fake.

Updates are fed with ``dp.feed_update`` (which waits for the handlers), so the adapter runs in
webhook mode without a webhook URL here: no polling competes for the updates. The polling and
webhook tests start their own adapters."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiogram.types import Update

from bot.settings import TelegramSettings
from bot.telegram.adapter import TelegramAdapter
from bot.testing.fake_telegram import TOKEN, FakeTelegram, StoredMessage
from core.models import Binding
from core.service import RagService
from core.testing.fake_service import make_service
from core.testing.scripted_chat import ScriptedChatModel

ADMIN = 1001
USER = 2002
GROUP = -1001234567890
SECRET = "s3cret-token_for-tests"
INTERVAL = 0.2  # TELEGRAM_EDIT_INTERVAL_S in tests: the same throttling, five times faster

DOCS = {
    "deploy.md": "# Deploying\n\nTo deploy the billing service run `make deploy` from the release branch. "
    "Deploys need the on-call engineer's approval.\n",
    "rollback.md": "# Rolling back\n\nTo roll back a deploy run `make rollback VERSION=<previous>`; "
    "it takes about five minutes.\n",
}
REPLY = (
    "To deploy the **billing** service, run `make deploy` from the release branch [1]. "
    "The on-call engineer approves every deploy, and a rollback takes about five minutes."
)


def settings_for(fake: FakeTelegram, **overrides: Any) -> TelegramSettings:
    values: dict[str, Any] = {
        "bot_token": TOKEN,
        "api_base_url": fake.base_url,
        "mode": "webhook",
        "webhook_secret": SECRET,
        "admin_user_ids": [ADMIN],
        "default_space": "ops",
        "dm_spaces": ["ops", "hr"],
        "edit_interval_s": INTERVAL,
    }
    values.update(overrides)
    return TelegramSettings(**values)


async def make_bench_service(tmp_path: Path, chat: ScriptedChatModel) -> RagService:
    service = make_service(chat=chat, uploads_dir=tmp_path / "uploads", concurrency=8, cache_ttl_s=0)
    await service.start()
    docs = tmp_path / "docs"
    docs.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    report = await service.ingest("ops", [str(docs)])
    assert report.ok, report
    await service.bind(Binding("telegram", str(GROUP), "ops"))
    return service


@dataclass
class TelegramBench:
    fake: FakeTelegram
    adapter: TelegramAdapter
    service: RagService
    chat: ScriptedChatModel

    async def feed(self, raw: dict[str, Any]) -> None:
        bot = self.adapter.bot
        await self.adapter.dispatcher.feed_update(bot, Update.model_validate(raw, context={"bot": bot}))

    async def dm(self, text: str | None, *, user: int = USER, **kwargs: Any) -> dict[str, Any]:
        raw = self.fake.user_message(user, user, text, **kwargs)
        await self.feed(raw)
        return raw

    async def group(
        self, text: str | None, *, user: int = USER, chat: int = GROUP, **kwargs: Any
    ) -> dict[str, Any]:
        raw = self.fake.user_message(chat, user, text, **kwargs)
        await self.feed(raw)
        return raw

    async def click(self, message: StoredMessage, data: str, *, user: int = USER) -> None:
        await self.feed(self.fake.callback(message.chat_id, message.message_id, user, data))

    def last(self, chat_id: int) -> StoredMessage:
        return self.fake.bot_messages(chat_id)[-1]

    def texts(self, chat_id: int) -> list[str]:
        return [m.text for m in self.fake.bot_messages(chat_id)]


def buttons(message: StoredMessage) -> list[tuple[str, str]]:
    """(text, callback_data) of every inline button under a message."""
    rows = (message.reply_markup or {}).get("inline_keyboard", [])
    return [(b["text"], b["callback_data"]) for row in rows for b in row]


async def open_bench(
    tmp_path: Path, *, chat: ScriptedChatModel | None = None, **settings: Any
) -> AsyncIterator[TelegramBench]:
    fake = await FakeTelegram().start()
    chat = chat or ScriptedChatModel(REPLY, delay=0.03)  # ~0.8 s of streaming
    service = await make_bench_service(tmp_path, chat)
    adapter = TelegramAdapter(settings_for(fake, **settings), service)
    await adapter.start()
    try:
        yield TelegramBench(fake, adapter, service, chat)
    finally:
        await adapter.aclose(grace_s=2.0)
        await service.aclose()
        await fake.aclose()


@pytest.fixture(name="telegram")
async def telegram_bench(tmp_path: Path) -> AsyncIterator[TelegramBench]:
    async for bench in open_bench(tmp_path):
        yield bench
