"""Verified answers in Slack, through the real slack-bolt app and the local Slack server: a
question that means the same as a verified one is answered from it at once, marked with who
verified it and when, with no model call; "did not help" under it brings a generated answer to
the same thread; admins write verified answers with `/ragbot verify`."""

from __future__ import annotations

from slack_fixtures import ADMIN, CHANNEL, USER, SlackBench, slack_fixture  # noqa: F401 - the fixture

from bot.chat.feedback import decode
from core.service import DID_NOT_HELP

RIGHT = "Deploys go through the release train now: open a release PR and merge it [1]."


async def _verify(slack: SlackBench, question: str = "How do I deploy the billing service?") -> None:
    live = await slack.service.store.live_documents("ops")
    deploy = next(r.doc_id for r in live.values() if r.source.endswith("deploy.md"))
    sources = await slack.service.document_sources("ops", [deploy])
    await slack.service.verify_answer("ops", question, RIGHT, author="console:alice", sources=sources)


async def test_a_verified_answer_is_posted_marked_and_without_a_model_call(slack: SlackBench):
    await _verify(slack)
    thread = await slack.mention("how do I deploy the billing service")
    (answer,) = await slack.final(CHANNEL, thread)

    assert slack.chat.requests == []
    shown = answer.text + "\n" + answer.block_text()
    assert "release train" in shown
    assert "Verified answer" in shown and "alice" in shown
    assert "[1] Deploying" in shown  # its source, as verified
    labels = [b["text"]["text"] for b in answer.buttons()]
    assert labels == ["👍", "🔄 Did not help"]


async def test_did_not_help_brings_a_generated_answer_to_the_thread(slack: SlackBench):
    await _verify(slack)
    thread = await slack.mention("how do I deploy the billing service")
    (verified,) = await slack.final(CHANNEL, thread)
    button = next(b for b in verified.buttons() if b["action_id"] == "ragbot_did_not_help")

    delivery = await slack.fake.send_interaction(
        slack.url, slack.fake.button_click(verified, button, user=USER)
    )
    assert delivery.status == 200

    messages = await slack.final(CHANNEL, thread, count=2)
    generated = [m for m in messages if m.buttons()][-1]
    assert "make deploy from the release branch" in generated.text + generated.block_text()
    assert [b["text"]["text"] for b in generated.buttons()] == ["👍", "👎"]
    assert len(slack.chat.requests) == 1
    # the model was asked the question alone, not as a follow-up to the answer that did not help
    prompt = "\n".join(m.content for m in slack.chat.requests[0])
    assert "release train" not in prompt
    stats = await slack.service.feedback_stats("ops")
    assert stats.down == 1 and stats.worst[0].reasons == (DID_NOT_HELP,)


async def test_an_admin_verifies_with_the_slash_command_and_the_next_question_gets_it(slack: SlackBench):
    await slack.fake.send_command(
        slack.url,
        slack.fake.command(
            # as Slack sends it: `>` escaped
            "verify How do I deploy the billing service? =&gt; Open a release PR and merge it.",
            user=ADMIN,
            channel=CHANNEL,
        ),
    )
    (reply,) = await slack.fake.wait_for(lambda: slack.fake.calls_of("response_url"))
    assert "verified answer" in reply.args["text"].lower()
    [saved] = await slack.service.verified_answers("ops")
    assert (saved.question, saved.text, saved.author) == (
        "How do I deploy the billing service?",
        "Open a release PR and merge it.",
        f"slack:{ADMIN}",
    )

    thread = await slack.mention("How do I deploy the billing service?")
    (answer,) = await slack.final(CHANNEL, thread)
    assert "Open a release PR" in answer.text + answer.block_text()
    assert decode(answer.buttons()[0]["value"]) is not None and slack.chat.requests == []


async def test_people_who_are_not_admins_cannot_verify(slack: SlackBench):
    await slack.fake.send_command(
        slack.url, slack.fake.command("verify Q? =&gt; A.", user=USER, channel=CHANNEL)
    )
    (reply,) = await slack.fake.wait_for(lambda: slack.fake.calls_of("response_url"))
    assert "only ragbot admins" in reply.args["text"]
    assert await slack.service.verified_answers() == []


async def test_an_admins_thumbs_down_becomes_a_verified_answer_through_the_modal(slack: SlackBench):
    thread = await slack.mention("how do I deploy the billing service?", user=ADMIN)
    (answer,) = await slack.final(CHANNEL, thread)
    down = next(b for b in answer.buttons() if b["action_id"] == "ragbot_vote_down")
    await slack.fake.send_interaction(slack.url, slack.fake.button_click(answer, down, user=ADMIN))
    (ack,) = await slack.fake.wait_for(lambda: slack.fake.ephemeral(ADMIN))
    offer = next(b for b in ack.buttons() if b["action_id"] == "ragbot_verify")
    assert offer["text"]["text"] == "✍️ Write the right answer"

    await slack.fake.send_interaction(slack.url, slack.fake.button_click(ack, offer, user=ADMIN))
    (view,) = await slack.fake.wait_for(lambda: slack.fake.views)
    fields = {b["block_id"]: b["element"] for b in view["blocks"] if b["type"] == "input"}
    assert fields["question"]["initial_value"] == "how do I deploy the billing service?"
    assert "make deploy" in fields["answer"]["initial_value"]  # the answer voted on, to edit
    values = {
        "question": {"text": {"type": "plain_text_input", "value": "How do I deploy the billing service?"}},
        "answer": {"text": {"type": "plain_text_input", "value": RIGHT}},
    }
    await slack.fake.send_interaction(slack.url, slack.fake.view_submission(view, user=ADMIN, values=values))

    acks = await slack.fake.wait_for(lambda: (a := slack.fake.ephemeral(ADMIN)) and len(a) == 2 and a)
    assert "Saved as a verified answer" in acks[1].text
    [saved] = await slack.service.verified_answers("ops")
    assert (saved.text, saved.author, saved.from_answer_id) == (
        RIGHT,
        f"slack:{ADMIN}",
        decode(down["value"]).answer_id,
    )
    assert [s.location.rsplit("/", 1)[-1] for s in saved.sources] == ["deploy.md"]  # what the answer cited

    asked = len(slack.chat.requests)
    thread = await slack.mention("How do I deploy the billing service?")
    (again,) = await slack.final(CHANNEL, thread)
    assert "release train" in again.text + again.block_text() and len(slack.chat.requests) == asked


async def test_people_who_are_not_admins_are_not_offered_to_verify(slack: SlackBench):
    thread = await slack.mention("how do I deploy the billing service?")
    (answer,) = await slack.final(CHANNEL, thread)
    down = next(b for b in answer.buttons() if b["action_id"] == "ragbot_vote_down")
    await slack.fake.send_interaction(slack.url, slack.fake.button_click(answer, down, user=USER))
    (ack,) = await slack.fake.wait_for(lambda: slack.fake.ephemeral(USER))
    assert "ragbot_verify" not in [b["action_id"] for b in ack.buttons()]
    # a forged click on the offer opens nothing
    forged = {
        "type": "button",
        "action_id": "ragbot_verify",
        "value": decode(down["value"]).answer_id,
        "text": {"type": "plain_text", "text": "x"},
    }
    blocks = [*ack.blocks, {"type": "actions", "block_id": "ragbot_verify:en", "elements": [forged]}]
    message = ack.__class__(**{**ack.__dict__, "blocks": blocks})
    await slack.fake.send_interaction(slack.url, slack.fake.button_click(message, forged, user=USER))
    acks = await slack.fake.wait_for(lambda: (a := slack.fake.ephemeral(USER)) and len(a) == 2 and a)
    assert "only ragbot admins" in acks[1].text and slack.fake.views == []
