"""Verified answers in Telegram, through the real aiogram dispatcher and the local Bot API server:
answered from a verified answer with its mark and no model call, "did not help" bringing a
generated answer, and admins verifying by replying /verify to an answer or with /verify Q => A."""

from __future__ import annotations

from telegram_fixtures import ADMIN, GROUP, USER, TelegramBench, buttons, telegram_bench  # noqa: F401 - telegram_bench is the `telegram` fixture

from bot.chat.feedback import decode
from core.service import DID_NOT_HELP

RIGHT = "Deploys go through the release train now: open a release PR and merge it."


async def test_a_verified_answer_is_sent_marked_with_its_buttons_and_no_model_call(telegram: TelegramBench):
    await telegram.service.verify_answer(
        "ops", "How do I deploy the billing service?", RIGHT, author="console:alice"
    )
    await telegram.dm("how do I deploy the billing service")
    answer = telegram.last(USER)
    assert telegram.chat.requests == []
    assert "Verified answer" in answer.text and "alice" in answer.text and "release train" in answer.text
    assert [text for text, _ in buttons(answer)] == ["👍", "🔄 Did not help"]


async def test_russian_asker_sees_the_mark_in_russian_and_the_language_of_the_answer(telegram: TelegramBench):
    await telegram.service.verify_answer(
        "ops", "Как развернуть сервис биллинга?", "Через release train.", author="cli:bob"
    )
    await telegram.dm("как развернуть сервис биллинга")
    answer = telegram.last(USER)
    assert "Проверенный ответ" in answer.text and "bob" in answer.text
    assert [text for text, _ in buttons(answer)][1] == "🔄 Не помогло"


async def test_did_not_help_brings_a_generated_answer(telegram: TelegramBench):
    await telegram.service.verify_answer(
        "ops", "How do I deploy the billing service?", RIGHT, author="console:alice"
    )
    await telegram.group("@ragbot_test_bot how do I deploy the billing service?")
    verified = telegram.last(GROUP)
    fallback = next(data for text, data in buttons(verified) if text.startswith("🔄"))

    await telegram.click(verified, fallback)

    assert telegram.fake.calls_of("answerCallbackQuery")[-1].params["text"].startswith("Here is an answer")
    generated = telegram.last(GROUP)
    assert generated.message_id != verified.message_id
    assert "make deploy" in generated.text and "Verified" not in generated.text
    assert [decode(d).value for _, d in buttons(generated)] == [1, -1]
    assert len(telegram.chat.requests) == 1
    stats = await telegram.service.feedback_stats("ops")
    assert stats.down == 1 and stats.worst[0].reasons == (DID_NOT_HELP,)
    # the verified answer's buttons now say the 👎 was taken
    verified = telegram.fake.messages[(GROUP, verified.message_id)]
    assert [decode(d).value for _, d in buttons(verified)] == [1, -1]


async def test_an_admin_endorses_an_answer_by_replying_verify(telegram: TelegramBench):
    await telegram.group("@ragbot_test_bot how do I deploy the billing service?", user=ADMIN)
    generated = telegram.last(GROUP)
    await telegram.group("/verify", user=ADMIN, reply_to=generated.message_id)
    assert "Saved as the verified answer" in telegram.last(GROUP).text
    [saved] = await telegram.service.verified_answers("ops")
    assert saved.author == f"telegram:{ADMIN}" and saved.from_answer_id and "make deploy" in saved.text

    asked = len(telegram.chat.requests)
    await telegram.dm("How do I deploy the billing service?")
    assert len(telegram.chat.requests) == asked and "Verified answer" in telegram.last(USER).text


async def test_an_admin_corrects_an_answer_by_replying_verify_with_the_text(telegram: TelegramBench):
    await telegram.group("@ragbot_test_bot how do I deploy the billing service?", user=USER)
    generated = telegram.last(GROUP)
    await telegram.group(f"/verify {RIGHT}", user=ADMIN, reply_to=generated.message_id)
    [saved] = await telegram.service.verified_answers("ops")
    assert (saved.question, saved.text) == ("how do I deploy the billing service?", RIGHT)


async def test_verify_with_question_and_answer_and_the_list(telegram: TelegramBench):
    await telegram.group("/verify Who approves deploys? => The on-call engineer.", user=ADMIN)
    assert "Saved as the verified answer" in telegram.last(GROUP).text
    await telegram.group("/verified", user=ADMIN)
    assert "Who approves deploys?" in telegram.last(GROUP).text


async def test_people_who_are_not_admins_cannot_verify(telegram: TelegramBench):
    await telegram.group("@ragbot_test_bot how do I deploy the billing service?", user=USER)
    generated = telegram.last(GROUP)
    await telegram.group("/verify", user=USER, reply_to=generated.message_id)
    await telegram.group("/verify Q? => A.", user=USER)
    assert await telegram.service.verified_answers() == []
    assert "only ragbot admins" in telegram.last(GROUP).text
