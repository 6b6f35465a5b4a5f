"""How updates reach the adapter: real long polling against the fake's getUpdates, a webhook
through aiogram's SimpleRequestHandler on an aiohttp server (wrong secret -> 401), and the
guarantees around them: duplicates answered once, one failing update does not stop the others,
and shutdown closes answers in flight with a message."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest
from aiogram.types import Update
from aiohttp import web
from telegram_fixtures import (  # noqa: F401 - telegram_bench is the `telegram` fixture
    GROUP,
    REPLY,
    SECRET,
    USER,
    TelegramBench,
    buttons,
    make_bench_service,
    open_bench,
    settings_for,
    telegram_bench,
)

from bot.telegram.adapter import WEBHOOK_PATH, TelegramAdapter
from bot.testing.fake_telegram import FakeTelegram
from core.service import RagService
from core.testing.scripted_chat import ScriptedChatModel


@pytest.fixture
async def fake() -> AsyncIterator[FakeTelegram]:
    server = await FakeTelegram().start()
    yield server
    await server.aclose()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RagService]:
    svc = await make_bench_service(tmp_path, ScriptedChatModel(REPLY, delay=0.01))
    yield svc
    await svc.aclose()


async def test_long_polling_answers_and_survives_a_failing_update(fake: FakeTelegram, service: RagService):
    adapter = TelegramAdapter(settings_for(fake, mode="polling"), service)
    await adapter.start()
    try:
        assert fake.calls_of("deleteWebhook"), "a leftover webhook would block getUpdates"
        # an update whose handling crashes (the store fails) must not stop polling
        broken = service.store.binding_for

        async def explode(*args, **kwargs):  # noqa: ANN002, ANN003
            service.store.binding_for = broken
            raise RuntimeError("database went away")

        service.store.binding_for = explode
        fake.user_message(USER, USER, "how do I deploy?")
        await fake.wait_for("sendMessage", where=lambda c: "went wrong on my side" in c.params["text"])
        fake.user_message(USER, USER, "how do I deploy, really?")
        await fake.wait_for(
            "sendMessage", where=lambda c: "make deploy" in c.params["text"] and "reply_markup" in c.params
        )
        polls = fake.calls_of("getUpdates")
        assert polls[-1].params["offset"] > polls[0].params.get("offset", 0)
        assert set(polls[0].params["allowed_updates"]) == {"message", "callback_query"}
    finally:
        await adapter.aclose()
    assert adapter._polling is None


async def test_an_update_delivered_twice_or_to_two_replicas_is_answered_once(telegram: TelegramBench):
    def finals() -> list:
        return [c for c in telegram.fake.calls_of("sendMessage") if "reply_markup" in c.params]

    raw = telegram.fake.user_message(USER, USER, "how do I deploy?")
    await telegram.feed(raw)
    await telegram.feed(raw)  # Telegram re-delivering: a slow webhook answer, a retry
    assert len(finals()) == 1
    # a second replica behind the same webhook shares the store: the update is claimed already
    replica = TelegramAdapter(settings_for(telegram.fake), telegram.service)
    await replica.start()
    try:
        bot = replica.bot
        await replica.dispatcher.feed_update(bot, Update.model_validate(raw, context={"bot": bot}))
        assert len(finals()) == 1
        other = telegram.fake.user_message(USER, USER, "and how do I roll back?")
        await replica.dispatcher.feed_update(bot, Update.model_validate(other, context={"bot": bot}))
        assert len(finals()) == 2
    finally:
        await replica.aclose()


async def _serve(adapter: TelegramAdapter) -> tuple[web.AppRunner, str]:
    app = web.Application()
    app.add_routes(adapter.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    return runner, f"http://127.0.0.1:{port}{WEBHOOK_PATH}"


async def test_webhook_checks_the_secret_and_answers(fake: FakeTelegram, service: RagService):
    adapter = TelegramAdapter(
        settings_for(fake, webhook_url="https://bot.example.com/telegram/webhook"), service
    )
    runner, url = await _serve(adapter)
    await adapter.start()
    try:
        registered = fake.calls_of("setWebhook")[0].params
        assert registered["url"] == "https://bot.example.com/telegram/webhook"
        assert registered["secret_token"] == SECRET
        raw = fake.user_message(GROUP, USER, "@ragbot_test_bot how do I deploy?")
        async with aiohttp.ClientSession() as http:
            for headers in ({}, {"X-Telegram-Bot-Api-Secret-Token": "guess"}):
                async with http.post(url, json=raw, headers=headers) as resp:
                    assert resp.status == 401
            assert not fake.calls_of("sendMessage"), "an update with a wrong secret is not handled"
            good = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
            async with http.post(url, json=raw, headers=good) as resp:
                assert resp.status == 200
            async with http.post(url, json=raw, headers=good) as resp:  # Telegram retrying
                assert resp.status == 200
        await fake.wait_for("editMessageText", where=lambda c: "reply_markup" in c.params)
        assert len(fake.calls_of("sendMessage")) == 1, "the retried update is answered once"
        # two replicas share the store: the other one sees the update claimed
        claimed = await service.store.acquire(
            f"telegram:update:{raw['update_id']}", owner="replica-2", ttl_s=60
        )
        assert claimed is False
    finally:
        await adapter.aclose()
        await runner.cleanup()


async def test_shutdown_closes_an_answer_in_flight_with_a_message(tmp_path: Path):
    slow = ScriptedChatModel(" ".join(["word"] * 400), delay=0.05)
    async for bench in open_bench(tmp_path, chat=slow):
        raw = bench.fake.user_message(GROUP, USER, "@ragbot_test_bot tell me a long story")
        feeding = asyncio.create_task(bench.feed(raw))
        await bench.fake.wait_for("editMessageText")  # streaming has begun
        await bench.adapter.aclose(grace_s=0.1)
        await asyncio.wait({feeding}, timeout=5)
        last = bench.last(GROUP)
        assert "restarting" in last.text and not buttons(last)
        # new updates are not taken any more
        await bench.group("@ragbot_test_bot anyone there?")
        assert len(bench.fake.bot_messages(GROUP)) == 1


async def test_shutdown_waits_for_answers_that_finish_within_the_grace(tmp_path: Path):
    async for bench in open_bench(tmp_path):
        raw = bench.fake.user_message(USER, USER, "how do I deploy?")
        feeding = asyncio.create_task(bench.feed(raw))
        await bench.fake.wait_for("sendChatAction")
        await bench.adapter.aclose(grace_s=10)
        assert feeding.done()
        final = bench.last(USER)
        assert "make deploy" in final.text and buttons(final)
