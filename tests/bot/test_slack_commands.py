"""`/ragbot ...`: acknowledged at once, run afterwards, answered to the person only."""

from __future__ import annotations

from pathlib import Path

from slack_fixtures import ADMIN, CHANNEL, USER, SlackBench, open_bench, slack_fixture  # noqa: F401 - the fixture

from bot.testing.fake_slack import FakeSlack


async def _command(
    slack: SlackBench, text: str, *, user: str, channel: str = "C0NEW", key: str = "r1"
) -> str:
    """Send the slash command; returns the reply that arrived at its response_url."""
    delivery = await slack.fake.send_command(
        slack.url, slack.fake.command(text, user=user, channel=channel, response_key=key)
    )
    assert delivery.status == 200
    assert "Working on it" in delivery.body  # the immediate, ephemeral acknowledgement
    (reply,) = await slack.fake.wait_for(
        lambda: [c for c in slack.fake.calls_of("response_url") if c.args["key"] == key]
    )
    assert reply.args["response_type"] == "ephemeral"
    return reply.args["text"]


async def test_admin_binds_a_channel_and_it_answers_from_then_on(slack: SlackBench):
    reply = await _command(slack, "bind ops", user=ADMIN)
    assert "answers from space `ops`" in reply
    binding = await slack.service.binding_for("slack", "C0NEW", slack.fake.team_id)
    assert binding is not None and binding.space_id == "ops"
    thread = await slack.mention("how do I deploy?", channel="C0NEW")
    (answer,) = await slack.final("C0NEW", thread)
    assert "[1] Deploying" in answer.block_text()


async def test_non_admin_is_refused_politely(slack: SlackBench):
    reply = await _command(slack, "bind ops", user=USER)
    assert "only ragbot admins" in reply
    assert await slack.service.binding_for("slack", "C0NEW", slack.fake.team_id) is None


async def test_help_is_for_everyone_and_escaped_for_slack(slack: SlackBench):
    reply = await _command(slack, "help", user=USER)
    assert "`/ragbot bind &lt;space&gt;`" in reply and "/ragbot status" in reply


async def test_status_of_the_bound_space(slack: SlackBench):
    reply = await _command(slack, "status", user=ADMIN, channel=CHANNEL)
    assert "*ops*: 2 documents" in reply


async def test_admins_from_the_store_count(slack: SlackBench):
    await slack.service.add_admin("slack", "U0BOB")
    reply = await _command(slack, "unbind", user="U0BOB", channel=CHANNEL)
    assert "unbound" in reply
    assert await slack.service.binding_for("slack", CHANNEL, slack.fake.team_id) is None


async def test_workspace_admins_count_only_when_enabled(tmp_path: Path):
    for enabled, expected in ((False, "only ragbot admins"), (True, "answers from space")):
        fake = FakeSlack(workspace_admins=["U0OWNER"])
        bench, close = await open_bench(
            tmp_path / str(enabled), fake=fake, settings={"workspace_admins_are_admins": enabled}
        )
        try:
            assert expected in await _command(bench, "bind ops", user="U0OWNER")
            assert bool(fake.calls_of("users.info")) is enabled
        finally:
            await close()


async def test_a_failing_command_still_answers(slack: SlackBench):
    reply = await _command(slack, "bind not/a/space", user=ADMIN)
    assert "not a valid space name" in reply
    reply = await _command(slack, "frobnicate", user=ADMIN, key="r2")
    assert "Unknown command `frobnicate`" in reply
