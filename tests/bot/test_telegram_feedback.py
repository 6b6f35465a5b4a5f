"""Feedback in Telegram: 👍 / 👎 buttons stored as votes (and changed), quick reasons after a
👎, and a free-text reason typed as a reply to the bot's prompt."""

from __future__ import annotations

from telegram_fixtures import ADMIN, GROUP, USER, TelegramBench, buttons, telegram_bench  # noqa: F401 - telegram_bench is the `telegram` fixture

from bot.chat.feedback import REASONS, decode


def _data(message, value: int, reason: str | None = None) -> str:  # noqa: ANN001
    for _, data in buttons(message):
        action = decode(data)
        if action and action.value == value and action.reason == reason:
            return data
    raise AssertionError(f"no button for {value} {reason} under {message.reply_markup}")


async def test_thumbs_up_is_stored_acknowledged_and_can_be_changed(telegram: TelegramBench):
    await telegram.dm("how do I deploy?")
    answer = telegram.last(USER)
    await telegram.click(answer, _data(answer, 1))
    acks = telegram.fake.calls_of("answerCallbackQuery")
    assert acks[-1].params["text"] == "Thanks for the feedback!"
    stats = await telegram.service.feedback_stats("ops")
    assert (stats.up, stats.down) == (1, 0)

    await telegram.click(answer, _data(answer, -1))
    stats = await telegram.service.feedback_stats("ops")
    assert (stats.up, stats.down) == (0, 1), "a later vote replaces the earlier one"
    assert telegram.fake.calls_of("answerCallbackQuery")[-1].params["text"] == "Your vote is updated."


async def test_thumbs_down_offers_reasons_and_a_prompt_for_free_text(telegram: TelegramBench):
    await telegram.group("@ragbot_test_bot how do I deploy?")
    answer = telegram.last(GROUP)
    await telegram.click(answer, _data(answer, -1))
    ack = telegram.fake.calls_of("answerCallbackQuery")[-1].params["text"]
    assert ack == "Thanks — noted. What was wrong with the answer?"
    # the keyboard now offers the quick reasons (and a way back to 👍)
    answer = telegram.fake.messages[(GROUP, answer.message_id)]
    reasons = [decode(d).reason for _, d in buttons(answer) if decode(d).reason]
    assert reasons == list(REASONS)
    prompt = telegram.last(GROUP)
    assert prompt.message_id != answer.message_id and "what was wrong" in prompt.text
    force = telegram.fake.calls_of("sendMessage")[-1].params["reply_markup"]
    assert force["force_reply"] is True and force["selective"] is True

    await telegram.click(answer, _data(answer, -1, "outdated"))
    assert (
        telegram.fake.calls_of("answerCallbackQuery")[-1].params["text"] == "Thanks, that helps us improve."
    )
    stats = await telegram.service.feedback_stats("ops")
    assert stats.down == 1 and stats.worst[0].reasons == ("outdated",)
    # the usual buttons come back
    answer = telegram.fake.messages[(GROUP, answer.message_id)]
    assert [decode(d).value for _, d in buttons(answer)] == [1, -1]

    # a free-text reason, replying to the prompt, joins the quick one; it is not taken as a question
    asked_before = len(telegram.chat.requests)
    await telegram.group("it says make deploy but we use ArgoCD now", reply_to=prompt.message_id)
    assert len(telegram.chat.requests) == asked_before
    stats = await telegram.service.feedback_stats("ops")
    assert stats.worst[0].reasons == ("outdated: it says make deploy but we use ArgoCD now",)
    assert telegram.last(GROUP).text == "Thanks, that helps us improve."


async def test_someone_else_replying_to_the_prompt_is_asking_a_question(telegram: TelegramBench):
    await telegram.group("@ragbot_test_bot how do I deploy?")
    answer = telegram.last(GROUP)
    await telegram.click(answer, _data(answer, -1))
    prompt = telegram.last(GROUP)
    await telegram.group("how do I roll back then?", user=ADMIN, reply_to=prompt.message_id)
    stats = await telegram.service.feedback_stats("ops")
    assert stats.worst[0].reasons == ()
    assert "make deploy" in telegram.last(GROUP).text  # answered as a question


async def test_a_forged_or_stale_button_is_answered_without_a_vote(telegram: TelegramBench):
    await telegram.dm("how do I deploy?")
    answer = telegram.last(USER)
    await telegram.click(answer, "fb:+:../../etc")
    await telegram.click(answer, "fb:+:deadbeef00000000")
    acks = telegram.fake.calls_of("answerCallbackQuery")
    assert len(acks) == 2
    assert "no longer on record" in acks[1].params["text"] and acks[1].params["show_alert"] is True
    stats = await telegram.service.feedback_stats()
    assert stats.votes == 0
