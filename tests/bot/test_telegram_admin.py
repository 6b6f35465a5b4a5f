"""Admin work in Telegram: commands through ``AdminCommands`` with the right people allowed,
documents ingested from chat with size and type checked before any download, command menus,
and a clear error for a bad token."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from telegram_fixtures import (  # noqa: F401 - telegram_bench is the `telegram` fixture
    ADMIN,
    GROUP,
    USER,
    TelegramBench,
    make_bench_service,
    settings_for,
    telegram_bench,
)

from bot.telegram.adapter import TelegramAdapter
from bot.testing.fake_telegram import FakeTelegram
from core.errors import ConfigError
from core.models import Binding
from core.testing.scripted_chat import ScriptedChatModel

OTHER_GROUP = -100777


async def test_admin_binds_a_group_and_the_group_then_answers(telegram: TelegramBench):
    await telegram.group("/bind ops", user=ADMIN, chat=OTHER_GROUP)
    assert "now answers from space" in telegram.last(OTHER_GROUP).text
    assert await telegram.service.binding_for("telegram", str(OTHER_GROUP)) == Binding(
        "telegram", str(OTHER_GROUP), "ops"
    )
    await telegram.group("/status", user=ADMIN, chat=OTHER_GROUP)
    assert "ops: 2 documents" in telegram.last(OTHER_GROUP).text
    await telegram.group("@ragbot_test_bot how do I deploy?", chat=OTHER_GROUP)
    assert "make deploy" in telegram.last(OTHER_GROUP).text


async def test_non_admin_is_refused_politely(telegram: TelegramBench):
    await telegram.group("/bind hr", chat=OTHER_GROUP)
    assert "only ragbot admins can do that" in telegram.last(OTHER_GROUP).text
    assert await telegram.service.binding_for("telegram", str(OTHER_GROUP)) is None
    await telegram.dm("/reindex")
    assert "only ragbot admins" in telegram.last(USER).text


async def test_group_administrators_and_store_admins_may_run_commands(telegram: TelegramBench):
    telegram.fake.set_member(OTHER_GROUP, USER, "administrator")
    await telegram.group("/bind ops", chat=OTHER_GROUP)
    assert "now answers from space" in telegram.last(OTHER_GROUP).text
    assert telegram.fake.calls_of("getChatMember")[-1].params == {"chat_id": OTHER_GROUP, "user_id": USER}
    # a group's administrator is not an admin anywhere else
    await telegram.dm("/stats")
    assert "only ragbot admins" in telegram.last(USER).text
    await telegram.service.add_admin("telegram", str(USER))
    await telegram.dm("/stats")
    assert "Feedback in" in telegram.last(USER).text


async def test_commands_for_other_bots_are_ignored(telegram: TelegramBench):
    await telegram.group("/bind@other_bot ops", user=ADMIN, chat=OTHER_GROUP)
    await telegram.group("/weather", user=ADMIN, chat=OTHER_GROUP)
    assert not telegram.fake.calls_of("sendMessage")
    await telegram.group("/bind@ragbot_test_bot ops", user=ADMIN, chat=OTHER_GROUP)
    assert "now answers from space" in telegram.last(OTHER_GROUP).text


async def test_help_and_unknown_commands(telegram: TelegramBench):
    await telegram.dm("/help")
    assert [m.text.split("\n")[0] for m in telegram.fake.bot_messages(USER)] == ["How to ask"]
    await telegram.dm("/help", user=ADMIN)
    texts = telegram.texts(ADMIN)
    assert len(texts) == 2 and "/bind <space>" in texts[1] and "/reindex" in texts[1]
    await telegram.dm("/frobnicate")
    assert "I do not know /frobnicate" in telegram.last(USER).text


async def test_admin_document_is_ingested_into_the_chats_space(telegram: TelegramBench):
    content = b"# Paging\n\nThe on-call engineer is paged through PagerDuty after five minutes.\n"
    document = telegram.fake.document(content, "paging.md", "text/markdown")
    await telegram.group("@ragbot_test_bot", user=ADMIN, document=document)
    reply = telegram.last(GROUP).text
    assert "Added paging.md to ops" in reply
    assert [c.method for c in telegram.fake.calls if c.method in ("getFile", "file:download")] == [
        "getFile",
        "file:download",
    ]
    result = await telegram.service.search("who gets paged", "ops")
    assert any("PagerDuty" in h.chunk.text for h in result.hits)
    # the same file again changes nothing
    await telegram.dm(
        None, user=ADMIN, document=telegram.fake.document(content, "paging.md", "text/markdown")
    )
    assert "already in ops unchanged" in telegram.last(ADMIN).text


async def test_too_large_and_unsupported_documents_are_refused_before_download(telegram: TelegramBench):
    big = telegram.fake.document(b"%PDF-1.4 ...", "handbook.pdf", "application/pdf", size=50 * 1024 * 1024)
    await telegram.dm(None, user=ADMIN, document=big)
    assert "handbook.pdf is 50.0 MB; the limit is 20.0 MB" in telegram.last(ADMIN).text
    image = telegram.fake.document(b"GIF89a", "diagram.gif", "image/gif")
    await telegram.dm(None, user=ADMIN, document=image)
    assert (
        "Could not add diagram.gif" in telegram.last(ADMIN).text
        and "not supported" in telegram.last(ADMIN).text
    )
    assert not telegram.fake.calls_of("getFile"), "nothing is downloaded to learn it cannot be used"


async def test_document_from_a_non_admin_is_refused(telegram: TelegramBench):
    document = telegram.fake.document(b"# Notes\n\nSome notes.\n", "notes.md", "text/markdown")
    await telegram.dm(None, document=document)
    assert "Only ragbot admins can add documents" in telegram.last(USER).text
    assert not telegram.fake.calls_of("getFile")


async def test_pin_as_a_reply_keeps_the_message_as_markdown_and_pins_it(telegram: TelegramBench):
    note = await telegram.group(
        "Escalation: page the database on-call through PagerDuty when replication lag exceeds 30 seconds.",
        user=ADMIN,
    )
    await telegram.group("/pin every 12h", user=ADMIN, reply_to=note["message"]["message_id"])
    reply = telegram.last(GROUP).text
    assert "Pinned" in reply and "refreshed every 12 h" in reply and "1 added" in reply
    pins = await telegram.service.pins("ops")
    assert len(pins) == 1 and pins[0].location.endswith(".md") and pins[0].every_s == 12 * 3600
    kept = await asyncio.to_thread(Path(pins[0].location).read_text)
    assert kept.startswith("Escalation: page the database on-call")
    result = await telegram.service.search("replication lag escalation", "ops")
    assert any("replication lag" in h.chunk.text for h in result.hits)


async def test_pin_as_a_reply_to_a_document_keeps_the_file_and_pins_it(telegram: TelegramBench):
    content = b"# Backups\n\nNightly backups go to the cold-storage bucket and are kept for 35 days.\n"
    shared = await telegram.group(
        "@ragbot_test_bot",
        user=ADMIN,
        document=telegram.fake.document(content, "backups.md", "text/markdown"),
    )
    await telegram.group("/pin", user=ADMIN, reply_to=shared["message"]["message_id"])
    assert "Pinned" in telegram.last(GROUP).text
    (pin,) = await telegram.service.pins("ops")
    assert pin.location.endswith("backups.md")
    assert await asyncio.to_thread(Path(pin.location).read_bytes) == content


async def test_start_registers_user_and_admin_command_menus(telegram: TelegramBench):
    menus = {}
    for call in telegram.fake.calls_of("setMyCommands"):
        if call.params.get("language_code"):
            continue
        scope = call.params["scope"]
        menus[(scope["type"], scope.get("chat_id"))] = [c["command"] for c in call.params["commands"]]
    admin = [
        "bind",
        "unbind",
        "pin",
        "unpin",
        "reindex",
        "status",
        "stats",
        "verify",
        "verified",
        "config",
        "help",
    ]
    assert menus[("all_private_chats", None)] == ["help", "space"]
    assert menus[("all_chat_administrators", None)] == admin
    assert menus[("chat", ADMIN)] == [*admin, "space"]


async def test_a_bad_token_fails_start_with_a_clear_config_error(tmp_path: Path):
    fake = await FakeTelegram().start()
    service = await make_bench_service(tmp_path, ScriptedChatModel())
    try:
        adapter = TelegramAdapter(settings_for(fake, bot_token="42:wrong-token"), service)
        with pytest.raises(ConfigError, match="rejected TELEGRAM_BOT_TOKEN"):
            await adapter.start()
        await adapter.aclose()
        with pytest.raises(ConfigError, match="does not look like a bot token"):
            await TelegramAdapter(settings_for(fake, bot_token="not a token"), service).start()
        with pytest.raises(ConfigError, match="TELEGRAM_WEBHOOK_SECRET"):
            TelegramAdapter(settings_for(fake, webhook_secret=None), service).routes()
    finally:
        await service.aclose()
        await fake.aclose()


async def test_alert_messages_the_configured_admins(telegram: TelegramBench):
    await telegram.adapter.alert("Pinned source https://wiki/x failed 3 times: 404 <Not Found>")
    text = telegram.last(ADMIN).text
    assert text == "⚠️ Pinned source https://wiki/x failed 3 times: 404 <Not Found>"
