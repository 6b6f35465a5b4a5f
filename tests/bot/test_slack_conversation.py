"""In the conversation (docs/chat.md): the thread a mention is called into is read and given to the
model, a channel can answer privately or every question, and Slack's assistant thread and App
Home show what the bot offers. The real AsyncApp and AsyncWebClient against the local Slack."""

from __future__ import annotations

import itertools
import logging
from pathlib import Path
from typing import Any

import pytest
from slack_fixtures import ADMIN, CHANNEL, USER, SlackBench, open_bench

from bot.testing.fake_slack import FakeMessage
from core.testing.scripted_chat import ScriptedChatModel

PVC_DOC = (
    "# PVC stuck in Pending\n\nA PersistentVolumeClaim stays Pending with FailedScheduling when its "
    "StorageClass local-thick has no LVMVolumeGroup on the node. Create the LVMVolumeGroup, then delete "
    "the pod so that it is scheduled again.\n"
)
REPLY = "Create the LVMVolumeGroup on the node, then delete the pod [1]."
BOB, CAROL = "U0BOB", "U0CAROL"
_events = itertools.count(1)


@pytest.fixture
async def slack(tmp_path: Path):
    """The Slack bench with a page about PVCs stuck in Pending beside the deploy pages."""
    (tmp_path / "docs").mkdir(parents=True)
    (tmp_path / "docs" / "pvc.md").write_text(PVC_DOC, encoding="utf-8")
    bench, close = await open_bench(
        tmp_path, chat=ScriptedChatModel(REPLY, delay=0.01), settings={"default_space": "ops"}
    )
    try:
        yield bench
    finally:
        await close()


async def send(slack: SlackBench, event: dict[str, Any]) -> None:
    delivery = await slack.fake.send_event(slack.url, event, event_id=f"EvConv{next(_events)}")
    assert delivery.status == 200, delivery


async def command(slack: SlackBench, text: str, *, user: str = ADMIN, channel: str = CHANNEL) -> str:
    key = f"cmd{next(_events)}"
    await slack.fake.send_command(
        slack.url, slack.fake.command(text, user=user, channel=channel, response_key=key)
    )
    (reply,) = await slack.fake.wait_for(
        lambda: [c for c in slack.fake.calls_of("response_url") if c.args["key"] == key]
    )
    return reply.args["text"]


async def thread_of_three(slack: SlackBench) -> str:
    """Three people discuss a stuck deploy in a thread; returns the thread's ts."""
    parent = slack.next_ts()
    slack.fake.say("the billing deploy is stuck since the morning", channel=CHANNEL, user=USER, ts=parent)
    slack.fake.say(
        "kubectl says pvc/data-billing-0 stays Pending: FailedScheduling, storageClassName local-thick",
        channel=CHANNEL,
        user=BOB,
        ts=slack.next_ts(),
        thread_ts=parent,
    )
    slack.fake.say("+1, same on staging", channel=CHANNEL, user=CAROL, ts=slack.next_ts(), thread_ts=parent)
    return parent


def shown(message: FakeMessage) -> str:
    return message.text + "\n" + message.block_text()


# -- the thread above a mention ------------------------------------------------------------------


async def test_a_mention_under_a_discussion_reads_the_thread_and_searches_for_its_topic(slack: SlackBench):
    parent = await thread_of_three(slack)
    await slack.mention("how do we fix this?", thread_ts=parent)
    (answer,) = await slack.final(CHANNEL, parent)

    (read,) = slack.fake.calls_of("conversations.replies")
    assert read.args["channel"] == CHANNEL and read.args["ts"] == parent
    assert float(read.args["latest"]) > float(parent)  # up to the mention, not past it
    prompt = slack.chat.requests[-1][-1].content
    assert "The conversation the question was asked in" in prompt
    assert f"{USER}: the billing deploy is stuck since the morning" in prompt
    assert f"{BOB}: kubectl says pvc/data-billing-0 stays Pending" in prompt
    assert f"{CAROL}: +1, same on staging" in prompt
    assert prompt.index("[1] PVC stuck in Pending") < prompt.index(
        f"{BOB}: kubectl"
    )  # sources, then the talk
    # retrieval searched for what "this" is: the PVC page is the answer's first source
    assert "[1] PVC stuck in Pending" in answer.block_text()


async def test_a_rate_limited_thread_read_is_skipped_and_the_question_still_answered(
    slack: SlackBench, caplog: pytest.LogCaptureFixture
):
    slack.fake.rate_limit("conversations.replies", lambda n: True, retry_after=30)
    parent = await thread_of_three(slack)
    with caplog.at_level(logging.WARNING, logger="bot.slack.threads"):
        await slack.mention("how do we fix this?", thread_ts=parent)
        (answer,) = await slack.final(CHANNEL, parent)
    assert REPLY.split(" [")[0] in answer.text
    assert len(slack.fake.calls_of("conversations.replies")) == 1  # not retried: no wait on the answer
    assert "The conversation the question was asked in" not in slack.chat.requests[-1][-1].content
    assert any(
        "slack.thread_unread" in r.getMessage() and "ratelimited" in r.getMessage() for r in caplog.records
    )


async def test_a_long_thread_is_read_page_by_page(slack: SlackBench):
    slack.fake.replies_page_max = 2  # as Slack caps some apps' pages
    parent = slack.next_ts()
    slack.fake.say("message 0 about the ingress controller", channel=CHANNEL, user=USER, ts=parent)
    for i in range(1, 5):
        slack.fake.say(
            f"message {i} about the ingress", channel=CHANNEL, user=BOB, ts=slack.next_ts(), thread_ts=parent
        )
    await slack.mention("where is this described?", thread_ts=parent)
    await slack.final(CHANNEL, parent)
    pages = slack.fake.calls_of("conversations.replies")
    assert len(pages) == 3 and [p.args.get("cursor") for p in pages][1:] == ["cur:2", "cur:4"]
    prompt = slack.chat.requests[-1][-1].content
    assert all(f"message {i} about the ingress" in prompt for i in range(5))


async def test_a_file_in_the_thread_is_read_for_that_answer_and_not_ingested(slack: SlackBench):
    before = (await slack.service.status("ops")).documents
    log = b"2026-11-28 10:31 billing-worker OOMKilled: memory limit 512Mi exceeded\n"
    shared = slack.fake.upload("worker.log", log)
    parent = slack.next_ts()
    slack.fake.say(
        "the worker keeps restarting, log attached", channel=CHANNEL, user=USER, ts=parent, files=[shared]
    )
    await slack.mention("why does it restart?", thread_ts=parent)
    await slack.final(CHANNEL, parent)
    prompt = slack.chat.requests[-1][-1].content
    assert "[file worker.log]" in prompt and "OOMKilled: memory limit 512Mi exceeded" in prompt
    (download,) = slack.fake.calls_of("file_download")
    assert download.ok  # fetched with the bot token
    assert (await slack.service.status("ops")).documents == before


async def test_a_mention_that_starts_a_thread_reads_nothing(slack: SlackBench):
    thread = await slack.mention("how do I deploy the billing service?")
    await slack.final(CHANNEL, thread)
    assert not slack.fake.calls_of("conversations.replies")


# -- per-channel settings: private answers, questions mode ----------------------------------------


async def test_private_visibility_answers_the_asker_alone_and_share_posts_it(slack: SlackBench):
    reply = await command(slack, "config visibility private")
    assert "visibility `private`" in reply
    parent = await thread_of_three(slack)
    await slack.mention("how do we fix this?", thread_ts=parent)

    def private_answer() -> FakeMessage | None:
        return next((m for m in slack.fake.ephemeral(USER) if m.buttons()), None)

    answer = await slack.fake.wait_for(private_answer, 15)
    notes = [c.args["text"] for c in slack.fake.calls_of("chat.postEphemeral")]
    assert "Only you can see this answer" in notes[0]  # the first reaction, to the asker only
    assert answer.thread_ts == parent and "LVMVolumeGroup" in shown(answer)
    assert not slack.fake.thread(CHANNEL, parent), "nothing in the thread for everyone"
    assert not slack.fake.calls_of("chat.startStream", "chat.update", "assistant.threads.setStatus")

    share = next(b for b in answer.buttons() if b["action_id"] == "ragbot_share")
    assert share["text"]["text"] == "Share in thread"
    delivery = await slack.fake.send_interaction(
        slack.url, slack.fake.button_click(answer, share, user=USER, response_key="share1")
    )
    assert delivery.status == 200
    (posted,) = await slack.fake.wait_for(lambda: slack.fake.thread(CHANNEL, parent), 15)
    assert f"Shared by <@{USER}>" in posted.block_text() and "LVMVolumeGroup" in shown(posted)
    assert [b["text"]["text"] for b in posted.buttons()] == ["👍", "👎"]
    # the private copy goes (response_url, delete_original)
    await slack.fake.wait_for(lambda: answer.ts not in slack.fake.messages, 15)
    # the shared answer is part of the thread now: a reply continues the conversation
    turns = await slack.service.thread_turns("slack", CHANNEL, parent)
    assert turns and turns[-1].role == "assistant"


async def test_questions_mode_answers_questions_and_ignores_thanks(slack: SlackBench):
    thanks_ts, question_ts = slack.next_ts(), slack.next_ts()
    await send(
        slack,
        slack.fake.say("how do I deploy the billing service?", channel=CHANNEL, user=USER, ts=question_ts),
    )
    # mention mode (the default): a plain question is left to people
    await slack.final(CHANNEL, await slack.mention("how do I roll back?"))
    assert not slack.fake.thread(CHANNEL, question_ts)

    assert "mode `questions`" in await command(slack, "config mode questions")
    await send(slack, slack.fake.say("thanks, all good", channel=CHANNEL, user=BOB, ts=thanks_ts))
    asked = slack.next_ts()
    await send(
        slack, slack.fake.say("how do I deploy the billing service?", channel=CHANNEL, user=USER, ts=asked)
    )
    (answer,) = await slack.final(CHANNEL, asked)
    assert answer.thread_ts == asked
    assert not slack.fake.thread(CHANNEL, thanks_ts)
    # a question to someone else is theirs
    to_bob = slack.next_ts()
    await send(slack, slack.fake.say(f"<@{BOB}> how do I deploy it?", channel=CHANNEL, user=USER, ts=to_bob))
    again = slack.next_ts()
    await send(slack, slack.fake.say("how do I roll back a deploy?", channel=CHANNEL, user=CAROL, ts=again))
    await slack.final(CHANNEL, again)
    assert not slack.fake.thread(CHANNEL, to_bob)


async def test_the_channels_document_type_and_language_apply(slack: SlackBench, tmp_path: Path):
    reply = await command(slack, "config type runbook lang ru")
    assert "document type: `runbook`" in reply and "language when a question does not tell: ru" in reply
    binding = await slack.service.binding_for("slack", CHANNEL, slack.fake.team_id)
    assert (binding.doc_type, binding.lang, binding.mode) == ("runbook", "ru", "mention")
    # nothing in the space is a runbook; the question's words do not say which language
    thread = await slack.mention("make deploy")
    (answer,) = await slack.final(CHANNEL, thread)
    assert "В этом пространстве пока нет документов" in shown(answer) and not slack.chat.requests
    # a question that names a type searches that one instead of the channel's
    guide = tmp_path / "guide" / "deploy-guide.md"
    guide.parent.mkdir()
    guide.write_text("# Deploy guide\n\nRun make deploy from the release branch.\n", encoding="utf-8")
    await slack.service.ingest("ops", [str(guide)], doc_type="howto")
    thread = await slack.mention("howto: make deploy")
    (answer,) = await slack.final(CHANNEL, thread)
    assert "[1] Deploy guide" in answer.block_text()
    # asked in the channel's language (and, the scripted model answering in English, again firmly)
    assert "Ответь на вопрос по-русски" in slack.chat.requests[0][-1].content


async def test_config_refuses_bad_values_and_non_admins(slack: SlackBench):
    assert "'loud' is not a mode: use mention or questions." in await command(slack, "config mode loud")
    assert "is not a document type" in await command(slack, "config type memes")
    assert "only ragbot admins" in await command(slack, "config mode questions", user=USER)
    assert "not bound" in await command(slack, "config mode questions", channel="C0NOWHERE")
    binding = await slack.service.binding_for("slack", CHANNEL, slack.fake.team_id)
    assert binding.mode == "mention"


# -- the assistant thread and App Home --------------------------------------------------------------


async def test_an_assistant_thread_gets_the_prompts_an_admin_set(slack: SlackBench):
    reply = await command(
        slack, 'config prompts "How do I deploy the billing service?" "How do I roll back?"'
    )
    assert (
        "suggested prompts (set by an admin): How do I deploy the billing service?; How do I roll back?"
        in reply
    )
    await send(
        slack,
        slack.fake.assistant_thread_started(user=USER, channel="D0ALICE", thread_ts="1690000100.000001"),
    )
    (call,) = await slack.fake.wait_for(lambda: slack.fake.suggested_prompts, 15)
    assert call["channel_id"] == "D0ALICE" and call["thread_ts"] == "1690000100.000001"
    assert [p["message"] for p in call["prompts"]] == [
        "How do I deploy the billing service?",
        "How do I roll back?",
    ]


async def test_without_chosen_prompts_the_most_asked_questions_are_suggested(slack: SlackBench):
    for question in ("how do I roll back?", "How do I deploy?", "how do I deploy"):
        await slack.final(CHANNEL, await slack.mention(question))
    await send(
        slack,
        slack.fake.assistant_thread_started(user=USER, channel="D0ALICE", thread_ts="1690000200.000001"),
    )
    (call,) = await slack.fake.wait_for(lambda: slack.fake.suggested_prompts, 15)
    # "how do I deploy" is the same question (answered from the cache, logged under its first wording)
    assert [p["message"] for p in call["prompts"]] == ["How do I deploy?", "how do I roll back?"]


async def test_the_first_question_of_an_assistant_thread_names_it(slack: SlackBench):
    thread_ts = "1690000300.000001"
    asked = slack.next_ts()
    event = slack.fake.message(
        "How do I roll back a deploy of the billing service?",
        channel="D0ALICE",
        user=USER,
        ts=asked,
        thread_ts=thread_ts,
        channel_type="im",
    )
    await send(slack, event)
    await slack.final("D0ALICE", thread_ts)
    title = await slack.fake.wait_for(lambda: slack.fake.titles.get(("D0ALICE", thread_ts)), 15)
    assert title == "How do I roll back a deploy of the billing service?"


async def test_app_home_shows_how_to_ask_and_the_bound_channels(slack: SlackBench):
    await command(slack, "config mode questions")
    await send(slack, slack.fake.app_home_opened(user=USER))
    view = await slack.fake.wait_for(lambda: slack.fake.home_views.get(USER), 15)
    text = "\n".join(b["text"]["text"] for b in view["blocks"] if isinstance(b.get("text"), dict))
    assert "How to ask" in text and "Mention me" in text
    assert f"<#{CHANNEL}> → `ops`: answers every question, in the thread" in text


async def test_binding_again_keeps_the_channels_settings(slack: SlackBench):
    await command(slack, "config mode questions visibility private")
    assert "now answers from space `docs2`" in await command(slack, "bind docs2")
    binding = await slack.service.binding_for("slack", CHANNEL, slack.fake.team_id)
    assert (binding.space_id, binding.mode, binding.visibility) == ("docs2", "questions", "private")


async def test_a_private_answer_is_not_shared_once_the_channel_answers_from_another_space(slack: SlackBench):
    await command(slack, "config visibility private")
    thread = await slack.mention("how do I deploy?")
    answer = await slack.fake.wait_for(
        lambda: next((m for m in slack.fake.ephemeral(USER) if m.buttons()), None), 15
    )
    await command(slack, "bind hr")
    share = next(b for b in answer.buttons() if b["action_id"] == "ragbot_share")
    await slack.fake.send_interaction(
        slack.url, slack.fake.button_click(answer, share, user=USER, response_key="s2")
    )
    refusal = await slack.fake.wait_for(
        lambda: next((m for m in slack.fake.ephemeral(USER) if "another space" in m.text), None), 15
    )
    assert refusal.thread_ts == thread
    assert not slack.fake.thread(CHANNEL, thread), "nothing was posted for everyone"
