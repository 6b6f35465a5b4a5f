"""Questions in Slack, end to end: the real AsyncApp and AsyncWebClient, signed HTTP events, the
fake Slack Web API, and a RagService over deterministic fakes with real documents."""

from __future__ import annotations

from pathlib import Path

from slack_fixtures import CHANNEL, USER, SlackBench, open_bench, slack_fixture  # noqa: F401 - the fixture

from bot.testing.fake_slack import FakeSlack
from core.errors import LLMUnavailable
from core.models import Binding
from core.testing.scripted_chat import ScriptedChatModel


async def test_mention_streams_natively_and_ends_with_sources_and_buttons(slack: SlackBench):
    thread = await slack.mention("how do I deploy the billing service?")
    messages = await slack.final(CHANNEL, thread)
    fake = slack.fake

    # a sign of work first: the thread status, before any text
    status = fake.calls_of("assistant.threads.setStatus")
    start = fake.calls_of("chat.startStream")
    assert status and start and status[0].at <= start[0].at
    assert status[0].args["thread_ts"] == thread and "documents" in status[0].args["status"]
    # streamed: a thread reply for the asker, then appended pieces, then stopped with the footer
    assert start[0].args["thread_ts"] == thread
    assert start[0].args["recipient_user_id"] == USER and start[0].args["recipient_team_id"] == fake.team_id
    assert fake.calls_of("chat.appendStream"), "the answer should arrive in pieces"
    assert not fake.calls_of("chat.update")
    (answer,) = messages
    assert answer.streamed and not answer.streaming
    assert answer.text == slack.chat.reply  # the whole answer, each piece once
    footer = answer.block_text()
    assert "Sources" in footer and "[1] Deploying" in footer
    assert [b["text"]["text"] for b in answer.buttons()] == ["👍", "👎"]
    # the answer is linked: a reply in this thread continues the conversation
    turns = await slack.service.thread_turns("slack", CHANNEL, thread)
    assert [t.role for t in turns] == ["user", "assistant"]
    assert turns[0].text == "how do I deploy the billing service?"


async def test_without_native_streaming_the_placeholder_is_edited(tmp_path: Path):
    fake = FakeSlack()
    fake.refuse("chat.startStream", "not_allowed")
    fake.refuse("assistant.threads.setStatus", "not_allowed")
    bench, close = await open_bench(tmp_path, fake=fake)
    try:
        thread = await bench.mention("how do I deploy?")
        (answer,) = await bench.final(CHANNEL, thread)
        posts = fake.calls_of("chat.postMessage")
        updates = fake.calls_of("chat.update")
        # the placeholder comes first, then edits of that same message
        assert posts[0].args["text"] == "Looking through the documents…"
        assert posts[0].args["thread_ts"] == thread
        assert len(updates) >= 2 and {u.args["ts"] for u in updates} == {answer.ts}
        assert any(u.args["text"].endswith("…") for u in updates[:-1]), "partial text while streaming"
        assert "make deploy" in answer.block_text() and "[1] Deploying" in answer.block_text()
        assert answer.buttons()

        # the refusal is remembered for the workspace: the next answer does not try again
        tried = len(fake.calls_of("chat.startStream")), len(fake.calls_of("assistant.threads.setStatus"))
        thread2 = await bench.mention("and how do I roll back?")
        await bench.final(CHANNEL, thread2)
        assert (
            len(fake.calls_of("chat.startStream")),
            len(fake.calls_of("assistant.threads.setStatus")),
        ) == tried
    finally:
        await close()


async def test_streaming_refused_but_status_allowed_posts_then_edits(tmp_path: Path):
    fake = FakeSlack()
    fake.refuse("chat.startStream", "feature_not_enabled")
    bench, close = await open_bench(tmp_path, fake=fake)
    try:
        thread = await bench.mention("how do I deploy?")
        (answer,) = await bench.final(CHANNEL, thread)
        assert fake.calls_of("assistant.threads.setStatus")
        assert "make deploy" in answer.block_text() and answer.buttons()
        assert not answer.streamed
    finally:
        await close()


async def test_rate_limited_edits_still_deliver_the_final_answer(tmp_path: Path):
    fake = FakeSlack()
    fake.refuse("chat.startStream", "not_allowed")
    # every chat.update from the second on is refused twice in a row, including the final one
    fake.rate_limit("chat.update", lambda n: n in (2, 3, 5, 6), retry_after=1)
    bench, close = await open_bench(tmp_path, fake=fake)
    try:
        thread = await bench.mention("how do I deploy?")
        (answer,) = await bench.final(CHANNEL, thread, seconds=30)
        limited = [c for c in fake.calls_of("chat.update") if c.status == 429]
        assert limited, "the fake should have rate limited some edits"
        assert "make deploy from the release branch" in answer.block_text()
        assert answer.buttons() and "[1] Deploying" in answer.block_text()
        # after a 429 nobody edits before Retry-After has passed
        calls = fake.calls_of("chat.update")
        for i, call in enumerate(calls[:-1]):
            if call.status == 429:
                assert calls[i + 1].at - call.at >= 0.9
    finally:
        await close()


async def test_final_answer_survives_429_on_native_stream_stop(tmp_path: Path):
    fake = FakeSlack()
    fake.rate_limit("chat.stopStream", lambda n: n == 1, retry_after=1)
    bench, close = await open_bench(tmp_path, fake=fake)
    try:
        thread = await bench.mention("how do I deploy?")
        (answer,) = await bench.final(CHANNEL, thread, seconds=30)
        assert [c.status for c in fake.calls_of("chat.stopStream")] == [429, 200]
        assert answer.text == bench.chat.reply and answer.buttons()
    finally:
        await close()


async def test_long_answer_is_split_into_several_thread_replies(tmp_path: Path):
    paragraph = "The deploy pipeline has many steps and each one is explained here in detail [1]. " * 30
    long_reply = "\n\n".join(f"## Step {i}\n\n{paragraph}" for i in range(20))  # ~50,000 characters
    fake = FakeSlack()
    fake.refuse("chat.startStream", "not_allowed")
    chat = ScriptedChatModel(long_reply)
    bench, close = await open_bench(tmp_path, fake=fake, chat=chat)
    bench.service.answerer.llm = bench.service.answerer.llm.model_copy(update={"max_tokens": 100_000})
    try:
        thread = await bench.mention("explain the whole deploy pipeline")
        messages = await bench.final(CHANNEL, thread, seconds=30)
        assert len(messages) >= 2
        for m in messages:
            assert len(m.blocks) <= 50
            assert all(len(b["text"]["text"]) <= 3000 for b in m.blocks if b["type"] == "section")
            assert len(m.text) <= 40_000
        # nothing lost: every step heading arrives, in order, once
        text = "\n".join(m.block_text() for m in messages)
        positions = [text.index(f"*Step {i}*") for i in range(20)]
        assert positions == sorted(positions)
        assert sum(text.count(f"*Step {i}*") for i in range(20)) == 20
        assert messages[-1].buttons() and not any(m.buttons() for m in messages[:-1])
    finally:
        await close()


async def test_long_answer_streamed_natively_continues_in_more_replies(tmp_path: Path):
    paragraph = "Each stage of the deploy is described in the runbook in detail [1]. " * 20
    long_reply = "\n\n".join(f"Stage {i}: {paragraph}" for i in range(16))  # ~22,000 characters
    bench, close = await open_bench(tmp_path, chat=ScriptedChatModel(long_reply))
    bench.service.answerer.llm = bench.service.answerer.llm.model_copy(update={"max_tokens": 100_000})
    try:
        thread = await bench.mention("explain every stage")
        messages = await bench.final(CHANNEL, thread, seconds=30)
        streamed = [m for m in messages if m.streamed]
        assert len(streamed) == 1 and len(messages) >= 2
        assert len(streamed[0].text) <= 12_000
        text = streamed[0].text + "\n" + "\n".join(m.block_text() for m in messages if not m.streamed)
        for i in range(16):
            assert text.count(f"Stage {i}:") == 1
        assert messages[-1].buttons() and not streamed[0].buttons()
    finally:
        await close()


async def test_unbound_channel_tells_how_to_bind(slack: SlackBench):
    thread = await slack.mention("how do I deploy?", channel="C0NEW")
    text = await slack.reply_text("C0NEW", thread, lambda t: "not connected" in t)
    assert "/ragbot bind &lt;space&gt;" in text
    assert not slack.chat.requests


async def test_thread_follow_up_without_mention_is_answered_with_history(slack: SlackBench):
    thread = await slack.mention("how do I deploy?")
    await slack.final(CHANNEL, thread)
    ts = slack.next_ts()
    event = slack.fake.message("and who approves it?", channel=CHANNEL, user=USER, ts=ts, thread_ts=thread)
    await slack.fake.send_event(slack.url, event, event_id="EvFOLLOW1")
    await slack.final(CHANNEL, thread, count=2)
    asked = slack.chat.requests[-1]
    prompt = "\n".join(m.content for m in asked)
    assert "how do I deploy?" in prompt and "and who approves it?" in prompt


async def test_thread_reply_in_a_thread_without_the_bot_is_ignored(slack: SlackBench):
    root = slack.next_ts()
    event = slack.fake.message(
        "unrelated chatter", channel=CHANNEL, user=USER, ts=slack.next_ts(), thread_ts=root
    )
    await slack.fake.send_event(slack.url, event, event_id="EvCHATTER")
    # a mention afterwards is answered; the chatter before it got nothing
    thread = await slack.mention("how do I deploy?")
    await slack.final(CHANNEL, thread)
    assert slack.fake.thread(CHANNEL, root) == []
    assert len(slack.chat.requests) == 1


async def test_follow_ups_can_be_switched_off_per_channel(slack: SlackBench):
    await slack.service.bind(
        Binding("slack", CHANNEL, "ops", team_id=slack.fake.team_id, thread_followups=False)
    )
    thread = await slack.mention("how do I deploy?")
    await slack.final(CHANNEL, thread)
    event = slack.fake.message(
        "and who approves?", channel=CHANNEL, user=USER, ts=slack.next_ts(), thread_ts=thread
    )
    await slack.fake.send_event(slack.url, event, event_id="EvNOFOLLOW")
    # a mention in the same thread still works, and is the only other answer
    await slack.mention("who approves it?", thread_ts=thread)
    await slack.final(CHANNEL, thread, count=2)
    assert len(slack.chat.requests) == 2
    assert "and who approves?" not in "\n".join(m.content for m in slack.chat.requests[-1])


async def test_direct_message_uses_the_default_space(tmp_path: Path):
    bench, close = await open_bench(tmp_path, settings={"default_space": "ops"})
    try:
        ts = bench.next_ts()
        event = bench.fake.message(
            "how do I roll back?", channel="D0ALICE", user=USER, ts=ts, channel_type="im"
        )
        await bench.fake.send_event(bench.url, event, event_id="EvDM1")
        (answer,) = await bench.final("D0ALICE", ts)
        assert answer.text == bench.chat.reply
        assert bench.fake.calls_of("chat.startStream")[0].args["thread_ts"] == ts
    finally:
        await close()


async def test_direct_message_without_a_space_gets_the_hint(slack: SlackBench):
    ts = slack.next_ts()
    event = slack.fake.message("hello?", channel="D0ALICE", user=USER, ts=ts, channel_type="im")
    await slack.fake.send_event(slack.url, event, event_id="EvDM2")
    text = await slack.reply_text("D0ALICE", ts, lambda t: "not connected" in t)
    assert "/ragbot bind" in text


async def test_bot_messages_edits_and_other_subtypes_are_ignored(slack: SlackBench):
    fake = slack.fake
    ignored = [
        fake.message(
            "I am a bot", channel="D0ALICE", user=USER, ts=slack.next_ts(), channel_type="im", bot_id="B9"
        ),
        fake.message(
            "edited",
            channel="D0ALICE",
            user=USER,
            ts=slack.next_ts(),
            channel_type="im",
            subtype="message_changed",
        ),
        fake.message(
            "gone",
            channel="D0ALICE",
            user=USER,
            ts=slack.next_ts(),
            channel_type="im",
            subtype="message_deleted",
        ),
        fake.message("joined", channel=CHANNEL, user=USER, ts=slack.next_ts(), subtype="channel_join"),
    ]
    for i, event in enumerate(ignored):
        delivery = await fake.send_event(slack.url, event, event_id=f"EvIGN{i}")
        assert delivery.status == 200
    thread = await slack.mention("how do I deploy?")  # the one real question
    await slack.final(CHANNEL, thread)
    assert len(slack.chat.requests) == 1
    assert {m.channel for m in fake.messages.values()} == {CHANNEL}


async def test_empty_mention_gets_a_useful_reply(slack: SlackBench):
    thread = await slack.mention("")
    text = await slack.reply_text(CHANNEL, thread, lambda t: "question is empty" in t)
    assert "write what you would like to know" in text


async def test_too_long_question_is_refused_with_the_limit(slack: SlackBench):
    thread = await slack.mention("w" * 20_000)
    text = await slack.reply_text(CHANNEL, thread, lambda t: "limit is" in t)
    assert "20,000" in text and "4,000" in text
    assert not slack.chat.requests


async def test_model_failure_ends_in_a_human_message(tmp_path: Path):
    chat = ScriptedChatModel(fail_with=LLMUnavailable("connection refused"))
    bench, close = await open_bench(tmp_path, chat=chat)
    try:
        thread = await bench.mention("how do I deploy?")
        text = await bench.reply_text(CHANNEL, thread, lambda t: "language model" in t)
        assert "try again" in text
    finally:
        await close()


async def test_a_vanished_placeholder_does_not_lose_the_answer(tmp_path: Path):
    fake = FakeSlack()
    fake.refuse("chat.startStream", "not_allowed")
    fake.refuse("assistant.threads.setStatus", "not_allowed")
    fake.refuse("chat.update", "cant_update_message")  # e.g. someone deleted the placeholder
    bench, close = await open_bench(tmp_path, fake=fake)
    try:
        thread = await bench.mention("how do I deploy?")
        await bench.final(CHANNEL, thread)
        (deleted,) = await fake.wait_for(lambda: fake.calls_of("chat.delete"))
        (answer,) = fake.thread(CHANNEL, thread)  # the stale placeholder is gone
        assert deleted.args["ts"] != answer.ts
        assert "make deploy" in answer.block_text() and answer.buttons()
        turns = await bench.service.thread_turns("slack", CHANNEL, thread)
        assert len(turns) == 2
    finally:
        await close()


async def test_mentions_quoted_from_documents_never_notify(tmp_path: Path):
    reply = "The runbook says to post <!channel> and ping <@U0ONCALL> before a deploy [1]."
    bench, close = await open_bench(tmp_path, chat=ScriptedChatModel(reply))
    try:
        thread = await bench.mention("what do I do before a deploy?")
        (streamed,) = await bench.final(CHANNEL, thread)
        assert "<!channel>" not in streamed.text and "<@U0ONCALL>" not in streamed.text
        assert streamed.text.replace("\u200b", "") == reply
    finally:
        await close()
    fake = FakeSlack()
    fake.refuse("chat.startStream", "not_allowed")
    bench, close = await open_bench(tmp_path / "2", fake=fake, chat=ScriptedChatModel(reply))
    try:
        thread = await bench.mention("what do I do before a deploy?")
        (posted,) = await bench.final(CHANNEL, thread)
        assert (
            "&lt;!channel&gt;" in posted.block_text()
            and "<!channel>" not in posted.block_text() + posted.text
        )
    finally:
        await close()


async def test_a_question_waiting_for_the_model_says_so(tmp_path: Path):
    # one answer at a time (LLM concurrency 1), each streaming for ~2 s
    chat = ScriptedChatModel("To deploy, run make deploy [1]. " * 4, delay=0.1)
    bench, close = await open_bench(tmp_path, chat=chat)
    try:
        first = await bench.mention("how do I deploy?")
        await bench.fake.wait_for(lambda: bench.fake.calls_of("chat.startStream"))
        second = await bench.mention("how do I roll back?")
        statuses = await bench.fake.wait_for(
            lambda: [s for s in bench.fake.statuses if s[1] == second and "queue" in s[2]]
        )
        assert statuses[0][2] == "Waiting for the model: 1 in the queue…"
        await bench.final(CHANNEL, first)
        await bench.final(CHANNEL, second)
    finally:
        await close()


async def test_the_chat_update_budget_is_slack_update_budget_per_min(tmp_path: Path):
    """SLACK_UPDATE_BUDGET_PER_MIN: where an answer is shown by editing its placeholder, the
    edits while it is written come out of this per-minute budget; the final text still goes out
    (it draws on a reserve). The same answer, at a generous budget and at one edit a minute."""
    updates = {}
    for budget in (6000, 1):
        fake = FakeSlack()
        fake.refuse("chat.startStream", "not_allowed")
        fake.refuse("assistant.threads.setStatus", "not_allowed")
        chat = ScriptedChatModel("To deploy, run make deploy from the release branch [1]. " * 4, delay=0.05)
        bench, close = await open_bench(
            tmp_path / str(budget), fake=fake, chat=chat, settings={"update_budget_per_min": budget}
        )
        try:
            thread = await bench.mention("how do I deploy?")
            (answer,) = await bench.final(CHANNEL, thread)
            assert "make deploy" in answer.block_text() and answer.buttons()
            updates[budget] = len(fake.calls_of("chat.update"))
        finally:
            await close()
    assert updates[6000] >= 4, updates  # edits while the answer is written, then the final one
    assert updates[1] <= 2, updates  # one edit from the budget at most, then the final one
