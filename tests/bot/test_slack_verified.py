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
