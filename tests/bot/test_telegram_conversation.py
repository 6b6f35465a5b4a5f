"""In the conversation, on Telegram (docs/chat.md): the message a question replies to and the group
messages the bot saw reach the model as conversation; a group can answer privately (in the
asker's private chat) or every question. The real aiogram Bot and Dispatcher against the local
Bot API server."""

from __future__ import annotations

from pathlib import Path

import pytest
from telegram_fixtures import ADMIN, GROUP, USER, TelegramBench, buttons, open_bench

from core.testing.scripted_chat import ScriptedChatModel

BOB = 3003
REPLY = "Create the LVMVolumeGroup on the node, then delete the pod [1]."
BOT = "@ragbot_test_bot"


@pytest.fixture
async def telegram(tmp_path: Path):
    (tmp_path / "docs").mkdir(parents=True)
    (tmp_path / "docs" / "pvc.md").write_text(
        "# PVC stuck in Pending\n\nA PersistentVolumeClaim stays Pending with FailedScheduling when its "
        "StorageClass local-thick has no LVMVolumeGroup on the node.\n",
        encoding="utf-8",
    )
    async for bench in open_bench(tmp_path, chat=ScriptedChatModel(REPLY, delay=0.01)):
        yield bench


def prompt_of(telegram: TelegramBench) -> str:
    return telegram.chat.requests[-1][-1].content


async def test_a_question_replying_to_a_message_gets_that_message_as_conversation(telegram: TelegramBench):
    said = await telegram.group(
        "pvc/data-billing-0 stays Pending: FailedScheduling, storageClassName local-thick", user=BOB
    )
    await telegram.group(f"{BOT} how do we fix this?", reply_to=said["message"]["message_id"])
    prompt = prompt_of(telegram)
    assert "The conversation the question was asked in" in prompt
    assert "pvc/data-billing-0 stays Pending: FailedScheduling" in prompt
    final = telegram.last(GROUP)
    assert "1. PVC stuck in Pending" in final.text  # searched for what "this" is


async def test_recent_group_messages_the_bot_saw_reach_the_model(telegram: TelegramBench):
    await telegram.group("the billing deploy is stuck since the morning", user=BOB)
    await telegram.group("pvc data-billing-0 stays Pending, FailedScheduling", user=ADMIN)
    await telegram.group("+1 same on staging", user=BOB)
    assert not telegram.chat.requests  # chatter, not questions for the bot
    await telegram.group(f"{BOT} how do we fix this?")
    prompt = prompt_of(telegram)
    for text in (
        "the billing deploy is stuck since the morning",
        "pvc data-billing-0 stays Pending, FailedScheduling",
        "+1 same on staging",
    ):
        assert text in prompt
    assert prompt.count("how do we fix this?") == 1  # the question itself is not its own conversation


async def test_a_document_replied_to_is_read_for_the_answer_and_not_ingested(telegram: TelegramBench):
    before = (await telegram.service.status("ops")).documents
    log = b"2026-11-28 10:31 billing-worker OOMKilled: memory limit 512Mi exceeded\n"
    document = telegram.fake.document(log, "worker.log", "text/plain")
    shared = await telegram.group(None, user=BOB, document=document)
    await telegram.group(f"{BOT} why does it restart?", reply_to=shared["message"]["message_id"])
    prompt = prompt_of(telegram)
    assert "[file worker.log]" in prompt and "OOMKilled: memory limit 512Mi exceeded" in prompt
    assert (await telegram.service.status("ops")).documents == before


async def test_private_visibility_answers_in_the_askers_private_chat(telegram: TelegramBench):
    await telegram.group("/config visibility private", user=ADMIN)
    assert "visibility private" in telegram.last(GROUP).text
    await telegram.group(f"{BOT} how do I deploy the billing service?")

    private = telegram.fake.bot_messages(USER)
    assert (
        "Your question in Team" in private[0].text
        and "how do I deploy the billing service?" in private[0].text
    )
    final = private[-1]
    assert "LVMVolumeGroup" in final.text and len(buttons(final)) == 2
    note = telegram.last(GROUP)
    assert "I sent you the answer in a private message" in note.text
    assert "LVMVolumeGroup" not in "\n".join(telegram.texts(GROUP))


async def test_private_visibility_tells_someone_who_never_started_the_bot_how_to(telegram: TelegramBench):
    await telegram.group("/config visibility private", user=ADMIN)
    telegram.fake.never_started(BOB)
    await telegram.group(f"{BOT} how do I deploy the billing service?", user=BOB)
    note = telegram.last(GROUP)
    assert "Telegram does not let me write to you first" in note.text and "press Start" in note.text
    assert not telegram.chat.requests, "no answer is generated that nobody could read"


async def test_questions_mode_answers_open_questions_only(telegram: TelegramBench):
    await telegram.group("how do I deploy the billing service?")
    assert not telegram.chat.requests  # mention mode, the default
    await telegram.group("/config mode questions", user=ADMIN)
    assert "mode questions" in telegram.last(GROUP).text

    await telegram.group("спасибо, всё заработало", user=BOB)
    said = await telegram.group("the deploy is red again", user=BOB)
    await telegram.group("how do I deploy it?", reply_to=said["message"]["message_id"])  # to Bob
    assert not telegram.chat.requests
    asked = await telegram.group("how do I deploy the billing service?")
    assert len(telegram.chat.requests) == 1
    final = telegram.last(GROUP)
    assert final.reply_to == asked["message"]["message_id"] and "Sources" in final.text
