"""👍 / 👎 under answers: real button payloads from the posted blocks, votes in the store."""

from __future__ import annotations

from slack_fixtures import CHANNEL, USER, SlackBench, slack_fixture  # noqa: F401 - the fixture

from bot.chat.feedback import decode


async def _answered(slack: SlackBench, question: str = "how do I deploy?"):
    thread = await slack.mention(question)
    (answer,) = await slack.final(CHANNEL, thread)
    answer_id = decode(answer.buttons()[0]["value"]).answer_id
    return answer, answer_id


async def _click(slack: SlackBench, message, action_id: str, *, user: str = USER, key: str = "r1"):
    button = next(b for b in message.buttons() if b["action_id"] == action_id)
    delivery = await slack.fake.send_interaction(
        slack.url, slack.fake.button_click(message, button, user=user, response_key=key)
    )
    assert delivery.status == 200


async def test_thumbs_up_is_stored_and_acknowledged_to_the_person(slack: SlackBench):
    answer, answer_id = await _answered(slack)
    await _click(slack, answer, "ragbot_vote_up")
    (ack,) = await slack.fake.wait_for(lambda: slack.fake.ephemeral(USER))
    assert ack.text == "Thanks for the feedback!" and ack.thread_ts == answer.thread_ts
    stats = await slack.service.feedback_stats("ops")
    assert (stats.up, stats.down) == (1, 0)


async def test_thumbs_down_offers_reasons_and_the_vote_can_change(slack: SlackBench):
    answer, answer_id = await _answered(slack)
    await _click(slack, answer, "ragbot_vote_up")
    await slack.fake.wait_for(lambda: slack.fake.ephemeral(USER))
    await _click(slack, answer, "ragbot_vote_down")
    acks = await slack.fake.wait_for(lambda: (a := slack.fake.ephemeral(USER)) and len(a) == 2 and a)
    reasons = acks[1]
    assert reasons.text == "Your vote is updated."
    labels = [b["text"]["text"] for b in reasons.buttons()]
    assert labels == ["Wrong", "Outdated", "Incomplete", "Bad sources", "Wrong language", "Other…"]
    stats = await slack.service.feedback_stats("ops")
    assert (stats.up, stats.down) == (0, 1)  # changed, not added

    # a quick reason replaces the question with a thank-you and is stored with the vote
    await _click(slack, reasons, "ragbot_reason_outdated", key="r-reason")
    (reply,) = await slack.fake.wait_for(lambda: slack.fake.calls_of("response_url"))
    assert reply.args["replace_original"] is True and "helps us improve" in reply.args["text"]
    stats = await slack.service.feedback_stats("ops")
    assert stats.worst[0].answer_id == answer_id and stats.worst[0].reasons == ("outdated",)


async def test_other_reason_opens_a_modal_and_stores_the_text(slack: SlackBench):
    answer, answer_id = await _answered(slack)
    await _click(slack, answer, "ragbot_vote_down")
    (reasons,) = await slack.fake.wait_for(lambda: slack.fake.ephemeral(USER))
    assert reasons.text.startswith("Thanks — noted.")
    await _click(slack, reasons, "ragbot_reason_other")
    (view,) = await slack.fake.wait_for(lambda: slack.fake.views)
    assert view["blocks"][0]["element"]["type"] == "plain_text_input"
    values = {
        "reason": {"text": {"type": "plain_text_input", "value": "The  make target\nwas renamed last week"}}
    }
    delivery = await slack.fake.send_interaction(
        slack.url, slack.fake.view_submission(view, user=USER, values=values)
    )
    assert delivery.status == 200
    acks = await slack.fake.wait_for(lambda: (a := slack.fake.ephemeral(USER)) and len(a) == 2 and a)
    assert "helps us improve" in acks[1].text and acks[1].channel == CHANNEL
    stats = await slack.service.feedback_stats("ops")
    assert stats.worst[0].reasons == ("The make target was renamed last week",)


async def test_russian_answers_get_russian_acknowledgements(slack: SlackBench):
    slack.chat.reply = "Чтобы развернуть сервис, выполните make deploy из ветки релиза [1]."
    answer, _ = await _answered(slack, "как развернуть сервис биллинга?")
    await _click(slack, answer, "ragbot_vote_down")
    (reasons,) = await slack.fake.wait_for(lambda: slack.fake.ephemeral(USER))
    assert reasons.text.startswith("Спасибо")
    assert "Устарело" in [b["text"]["text"] for b in reasons.buttons()]
    await _click(slack, reasons, "ragbot_reason_outdated")
    (reply,) = await slack.fake.wait_for(lambda: slack.fake.calls_of("response_url"))
    assert reply.args["text"].startswith("Спасибо")


async def test_a_vote_on_a_forgotten_answer_is_explained(slack: SlackBench):
    answer, answer_id = await _answered(slack)
    button = dict(answer.buttons()[0], value="fb:+:0000000000000000")
    message = answer.__class__(
        **{
            **answer.__dict__,
            "blocks": [{"type": "actions", "block_id": "ragbot_feedback", "elements": [button]}],
        }
    )
    await _click(slack, message, "ragbot_vote_up")
    (ack,) = await slack.fake.wait_for(lambda: slack.fake.ephemeral(USER))
    assert "no longer on record" in ack.text
