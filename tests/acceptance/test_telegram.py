"""Telegram, as docs/deployment.md sets it up: long polling (the default) or a webhook with a
secret, private chats and groups, the same chain as in Slack, and an admin's document upload.
The local Bot API server (bot/testing/fake_telegram.py) serves getUpdates and keeps what the bot
sends, parsed as Telegram parses it."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from acceptance_harness import Deployment, Server, json_lines
from conftest import REPLY

from bot.testing.fake_telegram import TOKEN, FakeTelegram, StoredMessage
from core.testing.fake_llm_servers import FakeLLMServer, Reply

ALEX = 4242  # a person; their private chat has the same id
GROUP = -1001234567890
SECRET = "webhook-secret_for-the-tests"


def telegram_env(fake: FakeTelegram, **extra: str) -> dict[str, str]:
    return {"TELEGRAM_BOT_TOKEN": TOKEN, "TELEGRAM_API_BASE_URL": fake.base_url} | extra


def buttons(message: StoredMessage) -> list[dict[str, Any]]:
    markup = message.reply_markup or {}
    return [b for row in markup.get("inline_keyboard", []) for b in row]


async def answer_in(
    fake: FakeTelegram, chat_id: int, *, count: int = 1, within: float = 60.0
) -> StoredMessage:
    """The ``count``-th message of the bot in a chat that carries the feedback buttons."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        found = [
            m
            for m in fake.bot_messages(chat_id)
            if any(b.get("callback_data", "").startswith("fb:") for b in buttons(m))
        ]
        if len(found) >= count:
            return found[count - 1]
        if loop.time() > deadline:
            raise AssertionError(
                f"no answer with buttons in chat {chat_id}: {[m.text for m in fake.bot_messages(chat_id)]}"
            )
        await asyncio.sleep(0.1)


async def webhook(server: Server, update: dict[str, Any], secret: str = SECRET) -> int:
    status, _ = await server.post(
        "/telegram/webhook",
        json.dumps(update),
        {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": secret},
    )
    return status


async def test_a_private_chat_question_streams_and_a_thumbs_down_reason_is_counted(
    team: Deployment, telegram: FakeTelegram, llm: FakeLLMServer
) -> None:
    team.set(CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    llm.script(Reply(delay_s=0.25))
    async with team.server(**telegram_env(telegram, TELEGRAM_DEFAULT_SPACE="ops")):
        telegram.user_message(ALEX, ALEX, "how do I rotate the API keys?")
        final = await answer_in(telegram, ALEX)
        assert REPLY.split(" [")[0] in final.text and "Rotating the API keys" in final.text
        assert telegram.calls_of("sendMessageDraft"), "the answer is shown while it is written"

        down = next(b for b in buttons(final) if b["callback_data"].startswith("fb:-:"))
        telegram.callback(ALEX, final.message_id, ALEX, down["callback_data"])
        prompt = await telegram.wait_for(
            "sendMessage", where=lambda c: "force_reply" in json.dumps(c.params.get("reply_markup", {}))
        )
        prompt_id = prompt[-1].result["message_id"]
        telegram.user_message(ALEX, ALEX, "the vault path changed last week", reply_to=prompt_id)
        await telegram.wait_for("sendMessage", where=lambda c: "that helps" in str(c.params.get("text")))

    stats = json_lines((await team.ok("feedback", "stats", "--space", "ops", "--json")).out)
    assert (stats["answers"], stats["down"]) == (1, 1)
    assert stats["worst"][0]["reasons"] == ["the vault path changed last week"], stats


async def test_a_group_on_a_webhook_is_bound_by_its_admin_and_answers_mentions(
    team: Deployment, telegram: FakeTelegram
) -> None:
    team.set(CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    telegram.set_member(GROUP, ALEX, "administrator")
    env = telegram_env(telegram, TELEGRAM_MODE="webhook", TELEGRAM_WEBHOOK_SECRET=SECRET)
    async with team.server(**env) as server:
        forged = telegram.user_message(GROUP, 777, "@ragbot_test_bot how do I rotate the API keys?")
        assert await webhook(server, forged, secret="wrong") == 401

        assert await webhook(server, telegram.user_message(GROUP, ALEX, "/bind ops")) == 200
        await telegram.wait_for(
            "sendMessage", where=lambda c: "now answers from space" in str(c.params.get("text"))
        )
        question = telegram.user_message(GROUP, 777, "@ragbot_test_bot how do I rotate the API keys?")
        assert await webhook(server, question) == 200
        final = await answer_in(telegram, GROUP)
        assert "vault write billing/keys/rotate" in final.text
        assert telegram.calls_of("editMessageText"), "a placeholder, then edits"


async def test_an_admins_upload_is_ingested_and_a_broken_pdf_gets_a_message(
    team: Deployment, telegram: FakeTelegram, llm: FakeLLMServer
) -> None:
    team.set(CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    env = telegram_env(telegram, TELEGRAM_DEFAULT_SPACE="ops", TELEGRAM_ADMIN_USER_IDS=json.dumps([ALEX]))
    async with team.server(**env):
        doc = b"# Ledger backups\n\nLedger backups are kept for 35 days in the cold-storage bucket ledger-bak.\n"
        upload = telegram.document(doc, "ledger-backups.md", "text/markdown")
        telegram.user_message(ALEX, ALEX, document=upload)
        await telegram.wait_for(
            "sendMessage", where=lambda c: "ledger-backups.md" in str(c.params.get("text"))
        )

        broken = telegram.document(b"%PDF-1.7\nnot really a pdf", "broken.pdf", "application/pdf")
        telegram.user_message(ALEX, ALEX, document=broken)
        told = await telegram.wait_for(
            "sendMessage", where=lambda c: "broken.pdf" in str(c.params.get("text"))
        )
        assert (
            "could not" in told[-1].params["text"].lower() or "не удалось" in told[-1].params["text"].lower()
        )

        telegram.user_message(ALEX, ALEX, "how long are ledger backups kept?")
        await answer_in(telegram, ALEX)
    prompt = [r for r in llm.requests if r.path.endswith("/chat/completions")][-1].prompt_text
    assert "kept for 35 days in the cold-storage bucket" in prompt
    (space,) = json_lines((await team.ok("status", "--json")).out)
    assert space["documents"] == 4, "the upload joined the three handbook pages; the broken PDF did not"
