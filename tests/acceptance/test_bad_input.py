"""Bad input gets one clear message and loses nothing: malformed settings, unknown commands, a
question of 20,000 characters or none, a broken PDF, a file over the size limit, malformed Slack
requests, a setting asking for what is not installed. The process keeps serving."""

from __future__ import annotations

import json
import os
import sqlite3

from acceptance_harness import Deployment, json_lines
from conftest import slack_env
from test_slack import ADMIN, CHANNEL, command, final_answer, mention, shown

from bot.testing.fake_slack import FakeSlack

LONG_QUESTION = ("how do I rotate the API keys " * 700)[:20_000]


async def test_a_malformed_setting_is_one_line_naming_the_variable(team: Deployment) -> None:
    result = await team.cli("spaces", env={"LLM_TIMEOUT": "abc"})
    assert result.code == 2, str(result)
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: LLM_TIMEOUT='abc': expected a valid number"), lines
    assert "Traceback" not in result.text


async def test_every_malformed_setting_is_listed_at_once_and_serve_does_not_start(team: Deployment) -> None:
    bad = {"RETRIEVAL_TOP_K": "0", "SLACK_ADMIN_USER_IDS": "U012", "PORT": "eighty", "LOG_FORMAT": "yaml"}
    result = await team.cli("serve", env=bad)
    assert result.code == 2, str(result)
    assert "4 setting(s) cannot be read" in result.err
    for name in bad:
        assert f"  - {name}" in result.err, name
    assert "Traceback" not in result.text


async def test_a_secret_is_never_echoed_in_the_message(team: Deployment) -> None:
    result = await team.cli("spaces", env={"SLACK_ADMIN_USER_IDS": "[", "LLM_API_KEY": "sk-very-secret"})
    assert result.code == 2 and "sk-very-secret" not in result.text


async def test_an_unknown_command_is_refused_with_the_list_of_commands(team: Deployment) -> None:
    result = await team.cli("frobnicate")
    assert result.code == 2
    assert "invalid choice: 'frobnicate'" in result.err and "ingest" in result.err


async def test_questions_of_20000_characters_or_none_get_a_message(
    team: Deployment, slack: FakeSlack
) -> None:
    team.set(CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    cli = await team.cli("ask", LONG_QUESTION, "--space", "ops")
    assert cli.code == 1 and "error: The question is 20,000 characters long; the limit is 4,000" in cli.err

    await team.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    env = slack_env(slack, SLACK_ADMIN_USER_IDS=json.dumps([ADMIN]))
    async with team.server(**env) as server:
        thread = await mention(slack, server, LONG_QUESTION)
        told = await slack.wait_for(
            lambda: [m for m in slack.thread(CHANNEL, thread) if "20,000" in shown(m)], 60
        )
        assert "the limit is 4,000" in shown(told[0])
        empty = await mention(slack, server, "")
        told = await slack.wait_for(
            lambda: [m for m in slack.thread(CHANNEL, empty) if "empty" in shown(m)], 60
        )
        assert "write what you would like to know" in shown(told[0])

        unknown = await command(slack, server, "frobnicate")
        assert "Unknown command `frobnicate`" in unknown and "/ragbot bind" in unknown

        # the process keeps serving
        thread = await mention(slack, server, "how do I rotate the API keys?")
        assert "vault write" in shown(await final_answer(slack, thread))


async def test_a_broken_pdf_and_a_50_mb_file_are_reported_and_the_rest_is_ingested(team: Deployment) -> None:
    team.set(CLASSIFY_USE_MODEL="false")
    (team.root / "handbook" / "broken.pdf").write_bytes(b"%PDF-1.7\n1 0 obj << /Type /Catalog >>\ngarbage")
    huge = team.root / "handbook" / "huge.md"
    huge.touch()
    os.truncate(huge, 50 * 1024 * 1024)  # sparse: 50 MB on paper, nothing on disk
    result = await team.cli("ingest", "./handbook", "--space", "ops")
    assert result.code == 1, str(result)
    assert "3 added" in result.out and "2 failed" in result.out, result.out
    assert (
        "broken.pdf" in result.out
        and "huge.md is 50.0 MB, over the 20.0 MB limit (INGEST_MAX_FILE_MB)" in result.out
    )
    (space,) = json_lines((await team.ok("status", "--json")).out)
    assert space["documents"] == 3


async def test_malformed_or_unsigned_slack_requests_are_refused_and_serving_goes_on(
    team: Deployment, slack: FakeSlack
) -> None:
    team.set(CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    await team.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    async with team.server(**slack_env(slack)) as server:
        url = f"{server.url}/slack/events"
        unsigned = await slack.post_to_app(
            url, json.dumps({"type": "event_callback"}), "application/json", signed=False
        )
        assert unsigned.status == 401
        forged = await slack.post_to_app(url, "{}", "application/json", secret="not-the-secret")
        assert forged.status == 401
        garbage = await slack.post_to_app(url, "{not json", "application/json")
        assert garbage.status == 400, garbage
        odd = await slack.send_event(url, {"type": "app_mention", "channel": CHANNEL}, event_id="EvODD")
        assert odd.status == 200, "acknowledged, nothing to answer"
        thread = await mention(slack, server, "how do I rotate the API keys?")
        assert "vault write" in shown(await final_answer(slack, thread))
    assert "slack.bad_request" in server.log and "Traceback" not in server.log


async def test_rerank_without_a_model_stops_the_start_with_the_reason(team: Deployment) -> None:
    team.set(RETRIEVAL_RERANK="true")
    search = await team.cli("search", "keys", "--space", "ops")
    assert search.code == 1 and "no re-ranking model is installed" in search.err, str(search)
    server = team.server()
    await server.launch()
    assert await server.wait_exit() != 0
    assert "RETRIEVAL_RERANK_MODEL" in server.log


async def test_a_vote_that_fails_tells_the_person_and_the_operators_log(
    team: Deployment, slack: FakeSlack
) -> None:
    """The feedback table is broken under a running server (a DBA renamed it): a thumbs-up then
    gets "something went wrong" in Slack, and the operator finds the failure, with its cause, in
    the log; the bot goes on answering."""
    team.set(CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    await team.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    async with team.server(**slack_env(slack)) as server:
        thread = await mention(slack, server, "how do I rotate the API keys?")
        final = await final_answer(slack, thread)
        with sqlite3.connect(team.root / "data" / "ragbot.db") as db:
            db.execute("ALTER TABLE feedback RENAME TO feedback_moved")
        up = next(b for b in final.buttons() if b["action_id"].endswith("_up"))
        await slack.send_interaction(
            f"{server.url}/slack/events", slack.button_click(final, up, user="U0BOB")
        )
        told = await slack.wait_for(
            lambda: [m for m in slack.ephemeral("U0BOB") if "went wrong" in m.text], 60
        )
        assert "The error is logged" in told[0].text
        assert "slack.vote_failed" in server.log and "feedback" in server.log.split("slack.vote_failed", 1)[1]
        thread = await mention(slack, server, "how do I rotate the API keys?")
        assert "vault write" in shown(await final_answer(slack, thread))
