"""Settings whose effect `ragbot serve` shows (docs/configuration.md): the answer cache, the
history given with a follow-up, answers generated at once, the shutdown grace, the address it
listens on, the scheduler and its failure handling. Observed as Slack and the model server see
them (bot/testing/fake_slack.py, core/testing/fake_llm_servers.py), over HTTP and in the log.
The registry in test_settings_live.py names these tests for each variable."""

from __future__ import annotations

import json

import aiohttp
import pytest
from acceptance_harness import Deployment, json_lines
from conftest import Wiki, slack_env
from test_slack import CHANNEL, final_answer, mention, shown

from bot.testing.fake_slack import FakeSlack
from core.testing.fake_llm_servers import FakeLLMServer, Reply

KEYS = "how do I rotate the API keys?"
GATEWAY = "how do I restart the billing gateway?"


def chats(llm: FakeLLMServer) -> list[str]:
    return [r.prompt_text for r in llm.requests if r.path.endswith("/chat/completions")]


@pytest.fixture
async def ops(team: Deployment) -> Deployment:
    team.set(CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    await team.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    return team


async def test_cache_size_history_turns_scheduler_off_and_host(
    ops: Deployment, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    """ANSWER_CACHE_SIZE=1: a repeated question is answered from the cache (the default
    ANSWER_CACHE_TTL_S), until another question takes its place. ANSWER_HISTORY_TURNS=0: a
    follow-up reaches the model without the earlier question. SCHEDULER_ENABLED=false: /readyz
    says the scheduler is off. HOST: the server listens on that address only."""
    # the thread's messages are the conversation, a budget of their own (ANSWER_THREAD_CONTEXT_TOKENS):
    # off here, so that what the follow-up's prompt holds is the history's doing alone
    env = slack_env(
        slack,
        ANSWER_CACHE_SIZE="1",
        ANSWER_HISTORY_TURNS="0",
        ANSWER_THREAD_CONTEXT_TOKENS="0",
        SCHEDULER_ENABLED="false",
    )
    async with ops.server(**env, HOST="127.0.0.2") as server:
        assert server.url.startswith("http://127.0.0.2:")
        with pytest.raises(aiohttp.ClientConnectionError):
            async with aiohttp.ClientSession() as http, http.get(f"http://127.0.0.1:{server.port}/healthz"):
                pass
        status, ready = await server.get("/readyz")
        assert status == 200 and ready["checks"]["scheduler"] == {
            "state": "off",
            "detail": "SCHEDULER_ENABLED=false",
        }, ready
        assert "serve.scheduler off" in server.log

        for question, calls in ((KEYS, 1), (KEYS, 1), (GATEWAY, 2), (KEYS, 3)):
            thread = await mention(slack, server, question)
            await final_answer(slack, thread)
            assert len(chats(llm)) == calls, (question, calls)  # the third KEYS was pushed out
        event = slack.message(
            "and who approves it?", channel=CHANNEL, user="U0ALICE", ts="1690000099.000001", thread_ts=thread
        )
        await slack.send_event(f"{server.url}/slack/events", event, event_id="EvFOLLOWUP")
        await final_answer(slack, thread, count=2)
    follow_up = chats(llm)[-1]
    assert "and who approves it?" in follow_up and KEYS not in follow_up, "no history given"


async def test_concurrency_cache_ttl_and_shutdown_grace(
    ops: Deployment, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    """LLM_CONCURRENCY=2: two questions are generated at once, nobody waits in a queue (at the
    default 1 the second waits and is told its position). ANSWER_CACHE_TTL_S=0: the same question
    asked again goes to the model again. SHUTDOWN_GRACE_S=60: an answer being written when
    SIGTERM comes is finished, not cut with a "restarting" note."""
    env = slack_env(slack, LLM_CONCURRENCY="2", ANSWER_CACHE_TTL_S="0", SHUTDOWN_GRACE_S="60")
    llm.script(Reply(delay_s=1.0), Reply(delay_s=1.0))  # ~14 s each
    server = await ops.server(**env).start()
    try:
        first = await mention(slack, server, KEYS)
        second = await mention(slack, server, KEYS)
        await slack.wait_for(lambda: len(chats(llm)) >= 2, 60)
        assert not [m for m in slack.thread(CHANNEL, first) if m.buttons()], "both before the first ends"
        await final_answer(slack, first)
        await final_answer(slack, second)
        assert not [s for s in slack.statuses if "queue" in s[2]], slack.statuses

        third = await mention(slack, server, KEYS)
        await final_answer(slack, third)
        assert len(chats(llm)) == 3, "not answered from a cache"

        llm.script(Reply(delay_s=0.3))  # ~4 s
        last = await mention(slack, server, GATEWAY)
        await slack.wait_for(lambda: len(chats(llm)) == 4, 60)
    finally:
        code = await server.stop()
    assert code == 0, server.log
    final = [m for m in slack.thread(CHANNEL, last) if m.buttons()]
    assert final and "restarting" not in shown(final[-1]), [shown(m) for m in slack.thread(CHANNEL, last)]


async def test_a_failing_pin_is_retried_and_alerted_as_configured(
    ops: Deployment, slack: FakeSlack, wiki: Wiki
) -> None:
    """SCHEDULER_RETRY_BASE_S=1: the first retry comes a second after a failure.
    SCHEDULER_MAX_CONSECUTIVE_FAILURES=2: the second failure in a row alerts.
    SLACK_ALERT_CHANNEL: the alert goes to that channel."""
    url = f"{wiki.url}/runbook.html"
    await ops.ok("pin", url, "--space", "ops", "--cron", "* * * * *")  # due at the next minute
    del wiki.pages["/runbook.html"]  # from now on the wiki answers 404
    env = slack_env(
        slack,
        SCHEDULER_RETRY_BASE_S="1",
        SCHEDULER_MAX_CONSECUTIVE_FAILURES="2",
        SLACK_ALERT_CHANNEL="C0ALERTS",
    )
    async with ops.server(**env) as server:
        alerts = await slack.wait_for(
            lambda: [c for c in slack.calls_of("chat.postMessage") if c.args.get("channel") == "C0ALERTS"],
            150,
        )
        assert "2 times in a row" in alerts[0].args["text"] and url in alerts[0].args["text"], alerts
        assert "failures=1 retry_in_s=1 " in server.log, server.log[-3000:]
    (space,) = json_lines((await ops.ok("status", "--json")).out)
    assert space["pins"][0]["consecutive_failures"] >= 2, space
    assert json.dumps(space).count("404") >= 1, "the last error is kept for the operator"
