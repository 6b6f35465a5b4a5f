"""Slack, as docs/deployment.md sets it up: `ragbot serve` with the bot token and signing secret,
Slack posting events to /slack/events. The local Slack (bot/testing/fake_slack.py) signs what it
sends like Slack and keeps what the bot posts, so a test reads the thread as a person would."""

from __future__ import annotations

import itertools
import json

import pytest
from acceptance_harness import Deployment, Server, json_lines
from conftest import REPLY, slack_env

from bot.testing.fake_slack import FakeMessage, FakeSlack
from core.testing.fake_llm_servers import FakeLLMServer, Reply

CHANNEL = "C0123"
ADMIN = "U0ADMIN"
ALICE = "U0ALICE"
_ts = itertools.count(1)


def next_ts() -> str:
    return f"1690000000.{next(_ts):06d}"


async def mention(
    fake: FakeSlack,
    server: Server,
    text: str,
    *,
    thread_ts: str | None = None,
    channel: str = CHANNEL,
    user: str = ALICE,
) -> str:
    """@mention the bot; the thread the answer goes to."""
    ts = next_ts()
    event = fake.mention(text, channel=channel, user=user, ts=ts, thread_ts=thread_ts)
    delivery = await fake.send_event(f"{server.url}/slack/events", event, event_id=f"Ev{ts.replace('.', '')}")
    assert delivery.status == 200, delivery
    return thread_ts or ts


async def final_answer(
    fake: FakeSlack, thread_ts: str, *, count: int = 1, seconds: float = 60.0, channel: str = CHANNEL
) -> FakeMessage:
    """The message that ends the ``count``-th answer in a thread: the one with feedback buttons."""

    def done() -> list[FakeMessage] | None:
        finished = [m for m in fake.thread(channel, thread_ts) if m.buttons() and not m.streaming]
        return finished if len(finished) >= count else None

    return (await fake.wait_for(done, seconds))[count - 1]


def shown(message: FakeMessage) -> str:
    return message.text + "\n" + message.block_text()


async def command(
    fake: FakeSlack, server: Server, text: str, *, user: str = ADMIN, channel: str = CHANNEL, key: str = "r1"
) -> str:
    """A /ragbot slash command; the reply the person sees (through the command's response_url)."""
    before = len(fake.calls_of("response_url", "chat.postEphemeral"))
    delivery = await fake.send_command(
        f"{server.url}/slack/events", fake.command(text, user=user, channel=channel, response_key=key)
    )
    assert delivery.status == 200, delivery
    calls = await fake.wait_for(
        lambda: (c := fake.calls_of("response_url", "chat.postEphemeral"))[before:] and c, 60
    )
    return str(calls[-1].args.get("text", ""))


@pytest.fixture
def ops(team: Deployment) -> Deployment:
    team.set(CLASSIFY_USE_MODEL="false")
    return team


@pytest.mark.parametrize("team_flag", [[], ["--team", "T0FAKE"]], ids=["without --team", "with --team"])
async def test_a_channel_bound_from_the_cli_answers_there(
    ops: Deployment, slack: FakeSlack, llm: FakeLLMServer, team_flag: list[str]
) -> None:
    """README: `ragbot bind --platform slack --channel C0123 --space ops`, then a mention in C0123
    is answered from ops (without --team the binding serves the channel in its workspace)."""
    await ops.ok("ingest", "./handbook", "--space", "ops")
    await ops.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops", *team_flag)
    async with ops.server(**slack_env(slack)) as server:
        thread = await mention(slack, server, "how do I rotate the API keys?")
        final = await final_answer(slack, thread)
    assert "vault write billing/keys/rotate" in shown(final)
    assert "Rotating the API keys" in shown(final), "the sources are shown"
    assert "not connected to a document space" not in json.dumps([m.text for m in slack.messages.values()])


async def test_an_admin_binds_a_channel_with_the_slash_command(ops: Deployment, slack: FakeSlack) -> None:
    await ops.ok("ingest", "./handbook", "--space", "ops")
    async with ops.server(**slack_env(slack, SLACK_ADMIN_USER_IDS=json.dumps([ADMIN]))) as server:
        thread = await mention(slack, server, "how do I rotate the API keys?", channel="C0NEW")
        hint = await slack.wait_for(
            lambda: [m for m in slack.thread("C0NEW", thread) if "/ragbot bind" in m.text], 60
        )
        assert "not connected to a document space" in hint[0].text

        refused = await command(slack, server, "bind ops", user=ALICE, channel="C0NEW")
        assert "only ragbot admins" in refused
        reply = await command(slack, server, "bind ops", channel="C0NEW", key="r2")
        assert "now answers from space `ops`" in reply

        thread = await mention(slack, server, "how do I rotate the API keys?", channel="C0NEW")
        final = await final_answer(slack, thread, channel="C0NEW")
        assert "vault write billing/keys/rotate" in shown(final)


async def test_mention_reaction_stream_sources_feedback_and_stats(
    ops: Deployment, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    """The whole chain a person sees: a reaction at once, the answer streaming, the sources and
    buttons, a thumbs-down with a reason; the vote then shows in `ragbot feedback stats` and in
    the chat's `/ragbot stats`."""
    await ops.ok("ingest", "./handbook", "--space", "ops")
    await ops.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    llm.script(Reply(delay_s=0.25))  # the fixed reply, a word every 250 ms: about 3.5 s in all
    env = slack_env(slack, SLACK_ADMIN_USER_IDS=json.dumps([ADMIN]))
    async with ops.server(**env) as server:
        thread = await mention(slack, server, "how do I rotate the API keys?")
        final = await final_answer(slack, thread)

        methods = [c.method for c in slack.calls]
        reaction = ("assistant.threads.setStatus", "chat.postMessage", "chat.startStream")
        first = next(m for m in methods if m != "auth.test")
        assert first in reaction, methods[:5]
        assert sum(m in ("chat.appendStream", "chat.update") for m in methods) >= 2, (
            "the answer is shown while it is written"
        )
        assert REPLY.split(" [")[0] in shown(final)
        assert "Rotating the API keys" in shown(final)

        down = next(b for b in final.buttons() if b["action_id"].endswith("_down"))
        await slack.send_interaction(
            f"{server.url}/slack/events", slack.button_click(final, down, user=ALICE)
        )
        reasons = await slack.wait_for(lambda: [m for m in slack.ephemeral(ALICE) if m.buttons()], 60)
        outdated = next(b for b in reasons[-1].buttons() if "outdated" in b["value"])
        await slack.send_interaction(
            f"{server.url}/slack/events",
            slack.button_click(reasons[-1], outdated, user=ALICE, response_key="r9"),
        )
        await slack.wait_for(
            lambda: any("that helps" in str(c.args.get("text")) for c in slack.calls_of("response_url")), 60
        )

        stats = json_lines((await ops.ok("feedback", "stats", "--space", "ops", "--json")).out)
        assert (stats["answers"], stats["votes"], stats["down"]) == (1, 1, 1), stats
        assert stats["worst"][0]["reasons"] == ["outdated"], stats

        reply = await command(slack, server, "stats", key="r10")
        assert "1 answers, 1 votes" in reply and "outdated" in reply, reply


async def test_a_reply_in_the_bots_thread_is_answered_with_what_was_asked_before(
    ops: Deployment, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    await ops.ok("ingest", "./handbook", "--space", "ops")
    await ops.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    async with ops.server(**slack_env(slack)) as server:
        thread = await mention(slack, server, "how do I rotate the API keys?")
        await final_answer(slack, thread)
        ts = next_ts()
        event = slack.message("and who approves it?", channel=CHANNEL, user=ALICE, ts=ts, thread_ts=thread)
        await slack.send_event(f"{server.url}/slack/events", event, event_id=f"Ev{ts.replace('.', '')}")
        await final_answer(slack, thread, count=2)
    chats = [r for r in llm.requests if r.path.endswith("/chat/completions")]
    assert len(chats) == 2
    follow_up = chats[1].prompt_text
    assert "how do I rotate the API keys?" in follow_up and "and who approves it?" in follow_up
