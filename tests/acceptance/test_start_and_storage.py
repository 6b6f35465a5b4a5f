"""`ragbot serve` over each storage docs/configuration.md offers (the default SQLite, an explicit
SQLite URL, PostgreSQL), a question asked while it is still starting, and a restart in the middle
of an answer."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path

import pytest
from acceptance_harness import Deployment, json_lines
from conftest import slack_env
from test_slack import CHANNEL, final_answer, mention, next_ts, shown

from bot.testing.fake_slack import FakeSlack
from core.testing.fake_llm_servers import FakeLLMServer, Reply


async def answered_journey(ops: Deployment, slack: FakeSlack) -> None:
    """Ingest, bind, serve, ask in Slack, vote; the vote counted by the CLI."""
    await ops.ok("ingest", "./handbook", "--space", "ops")
    await ops.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    async with ops.server(**slack_env(slack)) as server:
        thread = await mention(slack, server, "how do I rotate the API keys?")
        final = await final_answer(slack, thread)
        assert "vault write billing/keys/rotate" in shown(final)
        up = next(b for b in final.buttons() if b["action_id"].endswith("_up"))
        await slack.send_interaction(
            f"{server.url}/slack/events", slack.button_click(final, up, user="U0BOB")
        )
        await slack.wait_for(lambda: any("Thanks" in m.text for m in slack.ephemeral("U0BOB")), 60)
    stats = json_lines((await ops.ok("feedback", "stats", "--space", "ops", "--json")).out)
    assert (stats["answers"], stats["up"]) == (1, 1), stats


@pytest.mark.parametrize(
    "database_url",
    ["", "sqlite:///data/ragbot.db", "sqlite:///{root}/elsewhere/ragbot.db"],
    ids=["default", "relative sqlite URL", "absolute sqlite URL"],
)
async def test_serve_runs_on_sqlite_however_the_url_is_written(
    team: Deployment, slack: FakeSlack, database_url: str
) -> None:
    team.set(CLASSIFY_USE_MODEL="false")
    if database_url:
        (team.root / "elsewhere").mkdir()
        team.set(DATABASE_URL=database_url.format(root=team.root))
    await answered_journey(team, slack)
    expected = team.root / ("elsewhere" if "elsewhere" in database_url else "data") / "ragbot.db"
    assert expected.is_file()


@pytest.mark.postgres
async def test_serve_runs_on_postgresql(team: Deployment, slack: FakeSlack, postgres_url: str) -> None:
    team.set(CLASSIFY_USE_MODEL="false", DATABASE_URL=postgres_url)
    await team.ok("db", "upgrade")  # docs/deployment.md: compose runs it before the bot
    await answered_journey(team, slack)
    assert not (team.root / "data" / "ragbot.db").exists(), "nothing went to SQLite"


async def test_a_restart_in_the_middle_of_an_answer_loses_and_duplicates_nothing(
    team: Deployment, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    """SIGTERM while an answer streams: the person's message is closed with a word (not left
    hanging), the process exits cleanly; after the restart Slack's retry of the same event is not
    answered a second time, and the next question is answered as usual."""
    team.set(CLASSIFY_USE_MODEL="false", SHUTDOWN_GRACE_S="1")
    await team.ok("ingest", "./handbook", "--space", "ops")
    await team.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    llm.script(Reply(delay_s=1.0))  # slow: the answer is still being written when the signal comes
    server = await team.server(**slack_env(slack)).start()
    ts = next_ts()
    event = slack.mention("how do I rotate the API keys?", channel=CHANNEL, user="U0ALICE", ts=ts)
    event_id = f"Ev{ts.replace('.', '')}"
    assert (await slack.send_event(f"{server.url}/slack/events", event, event_id=event_id)).status == 200
    await slack.wait_for(lambda: slack.calls_of("chat.startStream", "chat.postMessage"), 60)
    assert await server.stop() == 0, server.log
    closed = slack.thread(CHANNEL, ts)
    assert closed and "restarting" in shown(closed[-1]), [shown(m) for m in closed]

    async with team.server(**slack_env(slack)) as again:
        retry = await slack.send_event(f"{again.url}/slack/events", event, event_id=event_id, retry_num=1)
        assert retry.status == 200
        thread = await mention(slack, again, "how do I rotate the API keys?")
        await final_answer(slack, thread)
    assert not [m for m in slack.thread(CHANNEL, ts) if m.buttons()], "the retried event got no second answer"
    stats = json_lines((await team.ok("feedback", "stats", "--space", "ops", "--json")).out)
    assert stats["answers"] == 1, "the cut answer was not recorded as an answer; the new one was"


@pytest.mark.llm
async def test_a_question_asked_while_the_server_starts_is_answered_once(
    team: Deployment, slack: FakeSlack, request: pytest.FixtureRequest
) -> None:
    """The default language model (embedded, llama.cpp) takes 10-60 s to start. A mention sent
    the moment /healthz answers is acknowledged at once and answered when the model is up, once,
    without Slack having to deliver it again."""
    team.unset("LLM_MODE", "LLM_BASE_URL", "LLM_MODEL")
    team.set(CLASSIFY_USE_MODEL="false", LLM_MAX_TOKENS="48")
    # the model file is assembled once per machine (README); share it with the other LLM tests
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    models = Path(cache.mkdir("ragbot-models")) if cache is not None else team.root / "models-cache"
    models.mkdir(parents=True, exist_ok=True)
    (team.root / "data").mkdir(parents=True)
    os.symlink(models, team.root / "data" / "models", target_is_directory=True)
    await team.ok("ingest", "./handbook", "--space", "ops")
    await team.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")

    server = team.server(**slack_env(slack))
    await server.start(ready=False)
    try:
        status, body = await server.get("/readyz")
        assert status == 503 and "service: starting" in json.dumps(body), body
        thread = await mention(slack, server, "how do I rotate the API keys?")
        final = await final_answer(slack, thread, seconds=600)
        assert shown(final).strip()
        await asyncio.sleep(1)
        answers = [m for m in slack.thread(CHANNEL, thread) if m.buttons()]
        assert len(answers) == 1, [shown(m) for m in answers]
        assert (await server.get("/readyz"))[0] == 200
    finally:
        await server.stop()
