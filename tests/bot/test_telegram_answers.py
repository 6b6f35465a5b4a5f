"""Answers in Telegram: the real aiogram Bot and Dispatcher against the local Bot API server,
a RagService over deterministic fakes with real documents. Drafts in private chats,
throttled placeholder edits in groups, and the final answer that always arrives."""

from __future__ import annotations

import asyncio
from pathlib import Path

from telegram_fixtures import (  # noqa: F401 - telegram_bench is the `telegram` fixture
    ADMIN,
    GROUP,
    INTERVAL,
    REPLY,
    USER,
    TelegramBench,
    buttons,
    open_bench,
    telegram_bench,
)

from bot.chat.feedback import decode
from bot.testing.fake_telegram import FakeTelegram
from core.errors import LLMUnavailable
from core.models import Binding
from core.testing.scripted_chat import ScriptedChatModel

# ~10,000 characters in under 512 streamed pieces (the model's max_tokens): three messages' worth
LONG_REPLY = "\n\n".join(
    f"Paragraph {i}: run-make-deploy-for-the-billing-service-then-wait-for-every-check-to-pass [1]."
    for i in range(120)
)


def _finals(fake: FakeTelegram, chat_id: int) -> list:
    return [c for c in fake.calls_of("sendMessage") if c.params["chat_id"] == chat_id]


async def test_private_question_streams_drafts_then_final_with_sources_and_keyboard(telegram: TelegramBench):
    await telegram.dm("how do I deploy the billing service?")
    fake = telegram.fake
    drafts = [c for c in fake.calls_of("sendMessageDraft") if c.params["chat_id"] == USER]
    assert len(drafts) >= 2, "the answer should be previewed while it streams"
    assert all(c.params["draft_id"] != 0 for c in drafts)
    assert len({c.params["draft_id"] for c in drafts}) == 1  # one animated draft per answer
    # drafts grow, and never come faster than the chat's budget allows
    gaps = [b.at - a.at for a, b in zip(drafts, drafts[1:], strict=False)]
    assert all(g >= INTERVAL * 0.8 for g in gaps), gaps
    assert fake.calls_of("sendChatAction")[0].params["action"] == "typing"

    final = telegram.last(USER)
    assert "make deploy" in final.text and "billing" in final.text
    assert (
        final.parse_mode == "HTML"
        and "<b>billing</b>" in final.raw
        and "<code>make deploy</code>" in final.raw
    )
    assert "Sources" in final.text and "1. Deploying" in final.text
    votes = [decode(data) for _, data in buttons(final)]
    assert [v.value for v in votes] == [1, -1]
    assert all(len(data.encode()) <= 64 for _, data in buttons(final))
    # the final message comes after the last draft: drafts are only previews
    assert _finals(fake, USER)[-1].at > drafts[-1].at


async def test_group_mention_gets_placeholder_throttled_edits_and_final(telegram: TelegramBench):
    raw = await telegram.group("@ragbot_test_bot how do I deploy the billing service?")
    fake = telegram.fake
    question_id = raw["message"]["message_id"]
    sent = _finals(fake, GROUP)
    assert len(sent) == 1, "the answer replaces its placeholder: one message in the group"
    assert sent[0].params["reply_parameters"]["message_id"] == question_id
    placeholder = sent[0].result["message_id"]
    edits = [c for c in fake.calls_of("editMessageText") if c.params["message_id"] == placeholder]
    assert len(edits) >= 3
    assert len(edits) < len(REPLY.split()), "edits are throttled, not one per token"
    gaps = [b.at - a.at for a, b in zip(edits, edits[1:], strict=False)]
    assert all(g >= INTERVAL * 0.8 for g in gaps), gaps
    assert not fake.calls_of("sendMessageDraft"), "drafts work in private chats only"

    final = telegram.last(GROUP)
    assert final.message_id == placeholder
    assert "make deploy" in final.text and "Sources" in final.text
    assert "…" not in final.text.splitlines()[0][-2:]
    assert len(buttons(final)) == 2


async def test_concurrent_answers_in_one_group_share_the_edit_budget(telegram: TelegramBench):
    first = telegram.fake.user_message(GROUP, USER, "@ragbot_test_bot how do I deploy?")
    second = telegram.fake.user_message(GROUP, ADMIN, "@ragbot_test_bot how do I roll back?")
    await asyncio.gather(telegram.feed(first), telegram.feed(second))
    edits = telegram.fake.calls_of("editMessageText")
    assert len({c.params["message_id"] for c in edits}) == 2
    times = sorted(c.at for c in edits)
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(g >= INTERVAL * 0.8 for g in gaps), "two answers in one chat must not double its edit rate"
    assert sum(1 for m in telegram.fake.bot_messages(GROUP) if buttons(m)) == 2


async def test_flood_control_mid_answer_still_delivers_the_final_answer(tmp_path: Path):
    chat = ScriptedChatModel(REPLY, delay=0.03)
    async for bench in open_bench(tmp_path, chat=chat):
        fake = bench.fake
        # the second edit is refused with a 429 (retry after 1 s), and so is the first attempt at the final
        fake.flood(
            "editMessageText", 1, when=lambda p, f=fake: "…" in p["text"] and f.calls_of("editMessageText")
        )
        fake.flood("editMessageText", 1, when=lambda p: "…" not in p["text"])
        await bench.group("@ragbot_test_bot how do I deploy?")
        refused = fake.calls_of("editMessageText", ok=False)
        assert len(refused) == 2 and all(c.status == 429 for c in refused)
        final = bench.last(GROUP)
        assert "make deploy" in final.text and "Sources" in final.text and buttons(final)
        # after the 429 nobody edits the chat before retry_after has passed
        blocked_at = refused[0].at
        later = [c for c in fake.calls_of("editMessageText") if c.at > blocked_at]
        assert later and min(c.at for c in later) - blocked_at >= 0.9


async def test_flood_control_on_the_private_final_message_is_waited_out(tmp_path: Path):
    async for bench in open_bench(tmp_path):
        bench.fake.flood("sendMessage", 1, times=2)
        await bench.dm("how do I deploy?")
        assert len(bench.fake.calls_of("sendMessage", ok=False)) == 2
        final = bench.last(USER)
        assert "make deploy" in final.text and buttons(final)


async def test_long_answer_is_split_with_the_keyboard_on_the_last_part(tmp_path: Path):
    async for bench in open_bench(tmp_path, chat=ScriptedChatModel(LONG_REPLY)):
        await bench.dm("tell me everything about deploys")
        parts = bench.fake.bot_messages(USER)
        assert len(parts) >= 3
        assert all(len(p.text.encode("utf-16-le")) // 2 <= 4096 for p in parts)
        assert [bool(buttons(p)) for p in parts] == [False] * (len(parts) - 1) + [True]
        joined = "\n\n".join(p.text for p in parts)
        for i in (0, 57, 119):
            assert f"Paragraph {i}:" in joined
        assert "Sources" in parts[-1].text
        # every part is remembered as showing the answer: a reply to any of them continues it
        for part in parts:
            thread = await bench.service.thread_of_message("telegram", str(USER), str(part.message_id))
            assert thread is not None


async def test_long_answer_in_a_group_fills_the_placeholder_then_adds_parts(tmp_path: Path):
    async for bench in open_bench(tmp_path, chat=ScriptedChatModel(LONG_REPLY)):
        await bench.group("@ragbot_test_bot tell me everything about deploys")
        parts = bench.fake.bot_messages(GROUP)
        assert len(parts) >= 3
        assert parts[0].text.startswith("Paragraph 0:")
        assert [bool(buttons(p)) for p in parts] == [False] * (len(parts) - 1) + [True]


async def test_message_not_modified_is_tolerated(tmp_path: Path):
    async for bench in open_bench(tmp_path):
        fake = bench.fake
        fake.fail(
            "editMessageText",
            description="Bad Request: message is not modified: specified new message content and reply markup "
            "are exactly the same as a current content and reply markup of the message",
            times=3,
            when=lambda p: "…" in p["text"],
        )
        await bench.group("@ragbot_test_bot how do I deploy?")
        assert len(fake.calls_of("editMessageText", ok=False)) >= 1
        final = bench.last(GROUP)
        assert "make deploy" in final.text and buttons(final)
        assert [m.text for m in fake.bot_messages(GROUP)] == [final.text], "no error message, no duplicate"


async def test_entity_parse_error_falls_back_to_plain_text(tmp_path: Path):
    async for bench in open_bench(tmp_path):
        fake = bench.fake
        fake.fail(
            "sendMessage",
            description='Bad Request: can\'t parse entities: Unsupported start tag "code" at byte offset 31',
            when=lambda p: p.get("parse_mode") == "HTML" and "make deploy" in p["text"],
        )
        await bench.dm("how do I deploy?")
        final = bench.last(USER)
        assert final.parse_mode is None
        assert "run make deploy from the release branch" in final.text  # the words, without the markup
        assert "<code>" not in final.text and buttons(final)


async def test_follow_up_reply_continues_the_conversation(telegram: TelegramBench):
    first = await telegram.group("@ragbot_test_bot how do I deploy the billing service?")
    answer = telegram.last(GROUP)
    await telegram.group("and how long does a rollback take?", reply_to=answer.message_id)
    # the model was shown the first question and answer as history
    last_request = telegram.chat.requests[-1]
    joined = "\n".join(m.content for m in last_request)
    assert "how do I deploy the billing service?" in joined
    second = telegram.last(GROUP)
    thread = await telegram.service.thread_of_message("telegram", str(GROUP), str(second.message_id))
    assert thread == str(first["message"]["message_id"])


async def test_group_message_not_for_the_bot_is_ignored(telegram: TelegramBench):
    await telegram.group("anyone knows how to deploy?")
    await telegram.group("@someone_else how do I deploy?")
    assert not telegram.fake.calls_of("sendMessage")
    assert not telegram.chat.requests


async def test_unbound_group_gets_the_bind_hint(telegram: TelegramBench):
    await telegram.group("@ragbot_test_bot how do I deploy?", chat=-100999)
    reply = telegram.last(-100999)
    assert "/bind <space>" in reply.text
    assert not telegram.chat.requests


async def test_mention_without_a_question_gets_a_hint(telegram: TelegramBench):
    await telegram.group("@ragbot_test_bot")
    assert "Ask your question after the mention" in telegram.last(GROUP).text
    assert not telegram.chat.requests


async def test_russian_question_gets_russian_ui_texts(tmp_path: Path):
    chat = ScriptedChatModel("Запустите `make deploy` из релизной ветки [1].", delay=0.01)
    async for bench in open_bench(tmp_path, chat=chat):
        await bench.group("@ragbot_test_bot как задеплоить биллинг?")
        placeholder = bench.fake.calls_of("sendMessage")[0]
        assert placeholder.params["text"] == "Ищу в документах…"
        final = bench.last(GROUP)
        assert "Источники" in final.text


async def test_model_failure_ends_in_a_visible_message(tmp_path: Path):
    chat = ScriptedChatModel(REPLY, fail_with=LLMUnavailable("connection refused"))
    async for bench in open_bench(tmp_path, chat=chat):
        await bench.group("@ragbot_test_bot how do I deploy?")
        messages = bench.fake.bot_messages(GROUP)
        assert len(messages) == 1  # the placeholder, now telling what happened
        assert "cannot reach the language model" in messages[0].text
        await bench.dm("how do I deploy?")
        assert "cannot reach the language model" in bench.last(USER).text


async def test_private_chat_space_choice_and_hints(tmp_path: Path):
    async for bench in open_bench(tmp_path, default_space=None, dm_spaces=["ops"]):
        await bench.dm("how do I deploy?")
        assert "/space NAME" in bench.last(USER).text and "ops" in bench.last(USER).text
        await bench.dm("/space")
        assert "has no space chosen" in bench.last(USER).text
        await bench.dm("/space secret-hr")
        assert "not open for direct questions" in bench.last(USER).text
        await bench.dm("/space ops")
        assert "from ops" in bench.last(USER).text
        binding = await bench.service.binding_for("telegram", str(USER))
        assert binding == Binding("telegram", str(USER), "ops")
        await bench.dm("how do I deploy?")
        assert "make deploy" in bench.last(USER).text
        # admins may choose any space
        await bench.dm("/space secret-hr", user=ADMIN)
        assert "secret-hr" in bench.last(ADMIN).text and "no documents yet" in bench.last(ADMIN).text


async def test_sticker_photo_and_voice_in_private_chat_get_a_useful_reply(telegram: TelegramBench):
    sticker = {
        "file_id": "S1",
        "file_unique_id": "SU1",
        "type": "regular",
        "width": 512,
        "height": 512,
        "is_animated": False,
        "is_video": False,
    }
    await telegram.dm(None, extra={"sticker": sticker})
    assert "I answer text questions" in telegram.last(USER).text
    photo = [{"file_id": "P1", "file_unique_id": "PU1", "width": 90, "height": 90}]
    await telegram.dm(None, extra={"photo": photo})
    voice = {"file_id": "V1", "file_unique_id": "VU1", "duration": 3}
    await telegram.dm(None, extra={"voice": voice})
    assert len(telegram.fake.bot_messages(USER)) == 3
    assert not telegram.chat.requests


async def test_a_chat_that_refuses_drafts_still_gets_the_answer(tmp_path: Path):
    async for bench in open_bench(tmp_path):
        bench.fake.fail("sendMessageDraft", description="Bad Request: method is not available", times=100)
        await bench.dm("how do I deploy?")
        assert len(bench.fake.calls_of("sendMessageDraft", ok=None)) == 1, "one refusal turns drafts off"
        final = bench.last(USER)
        assert "make deploy" in final.text and buttons(final)


async def test_a_group_that_becomes_a_supergroup_keeps_its_space(telegram: TelegramBench):
    old, new = -4001, -1004001
    await telegram.service.bind(Binding("telegram", str(old), "ops"))
    await telegram.group(None, chat=old, extra={"migrate_to_chat_id": new})
    assert await telegram.service.binding_for("telegram", str(old)) is None
    assert (await telegram.service.binding_for("telegram", str(new))).space_id == "ops"
    assert not telegram.fake.calls_of("sendMessage")
