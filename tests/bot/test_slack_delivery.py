"""How Slack's requests reach the bot: signatures, retries and duplicates, shutdown, startup."""

from __future__ import annotations

import asyncio
import json
import logging
import time
from pathlib import Path

import pytest
from slack_fixtures import CHANNEL, USER, SlackBench, open_bench, slack_fixture  # noqa: F401 - the fixture

from bot.chat.claims import EventClaims
from bot.settings import SlackSettings
from bot.slack.adapter import SlackAdapter
from bot.testing.fake_slack import FakeSlack
from core.errors import ConfigError
from core.testing.fake_service import make_service
from core.testing.memory_store import MemoryStore
from core.testing.scripted_chat import ScriptedChatModel


async def test_the_same_event_twice_and_its_retries_get_one_answer(slack: SlackBench):
    ts = slack.next_ts()
    event = slack.fake.mention("how do I deploy?", channel=CHANNEL, user=USER, ts=ts)
    first, second = await asyncio.gather(
        slack.fake.send_event(slack.url, event, event_id="EvDUP1"),
        slack.fake.send_event(slack.url, event, event_id="EvDUP1"),
    )
    retry = await slack.fake.send_event(slack.url, event, event_id="EvDUP1", retry_num=1)
    assert (first.status, second.status, retry.status) == (200, 200, 200)
    await slack.final(CHANNEL, ts)
    # a later retry, after the answer, changes nothing either
    await slack.fake.send_event(slack.url, event, event_id="EvDUP1", retry_num=2)
    other = await slack.mention("and how do I roll back?")  # a new event is still answered
    await slack.final(CHANNEL, other)
    assert len(slack.chat.requests) == 2
    assert len([m for m in slack.fake.thread(CHANNEL, ts) if m.buttons()]) == 1


async def test_a_claim_in_another_process_wins():
    store = MemoryStore()
    service = make_service(store=store)
    mine, theirs = EventClaims(service, "slack:event"), EventClaims(service, "slack:event")  # two replicas
    assert await theirs.claim("Ev1")
    assert not await mine.claim("Ev1")
    assert await mine.claim("Ev2") and not await mine.claim("Ev2")


async def test_bad_signature_and_stale_timestamp_get_401(slack: SlackBench):
    event = slack.fake.mention("how do I deploy?", channel=CHANNEL, user=USER, ts=slack.next_ts())
    forged = await slack.fake.send_event(slack.url, event, event_id="EvBAD1", secret="not-the-secret")
    stale = await slack.fake.send_event(slack.url, event, event_id="EvBAD2", timestamp=int(time.time()) - 600)
    assert (forged.status, stale.status) == (401, 401)
    body = json.dumps(slack.fake.event_body(event, event_id="EvBAD3"))
    unsigned = await slack.fake.post_to_app(slack.url, body, "application/json", signed=False)
    assert unsigned.status == 401
    # nothing was answered, and the real event still goes through afterwards
    good = await slack.fake.send_event(slack.url, event, event_id="EvBAD1")
    assert good.status == 200
    await slack.final(CHANNEL, event["ts"])
    assert len(slack.chat.requests) == 1


async def test_url_verification_is_answered(slack: SlackBench):
    body = json.dumps({"token": "x", "challenge": "c-123", "type": "url_verification"})
    delivery = await slack.fake.post_to_app(slack.url, body, "application/json")
    assert delivery.status == 200 and "c-123" in delivery.body


async def test_events_are_acknowledged_before_the_answer_is_written(tmp_path: Path):
    chat = ScriptedChatModel("A slow answer [1]. " * 5, delay=0.2)
    bench, close = await open_bench(tmp_path, chat=chat)
    try:
        ts = bench.next_ts()
        event = bench.fake.mention("how do I deploy?", channel=CHANNEL, user=USER, ts=ts)
        delivery = await bench.fake.send_event(bench.url, event, event_id="EvACK")
        assert delivery.status == 200
        assert not bench.fake.calls_of("chat.stopStream")  # acknowledged while the model still writes
        await bench.final(CHANNEL, ts)
    finally:
        await close()


async def test_shutdown_closes_answers_in_flight_with_a_message(tmp_path: Path):
    chat = ScriptedChatModel("word " * 400, delay=0.05)  # ~20 s
    bench, close = await open_bench(tmp_path, chat=chat)
    try:
        ts = await bench.mention("how do I deploy?")
        await bench.fake.wait_for(lambda: bench.fake.calls_of("chat.startStream"))
        await bench.adapter.aclose(grace_s=0.2)
        (message,) = bench.fake.thread(CHANNEL, ts)
        assert not message.streaming and "restarting" in message.text
        # new events are refused while shutting down, so Slack delivers them again later
        event = bench.fake.mention("another?", channel=CHANNEL, user=USER, ts=bench.next_ts())
        refused = await bench.fake.send_event(bench.url, event, event_id="EvLATE")
        assert refused.status == 503
    finally:
        await close()


async def test_start_fails_clearly_on_a_bad_token():
    fake = FakeSlack()
    await fake.start()
    service = make_service()
    try:
        settings = SlackSettings(bot_token="xoxb-wrong", signing_secret="s", api_base_url=fake.api_url)
        adapter = SlackAdapter(settings, service)
        with pytest.raises(ConfigError, match="invalid_auth"):
            await adapter.start()
        await adapter.aclose()
    finally:
        await fake.aclose()


@pytest.mark.parametrize(
    ("options", "needs"),
    [
        ({"signing_secret": "s"}, "SLACK_BOT_TOKEN"),
        ({"bot_token": "xoxb-1"}, "SLACK_SIGNING_SECRET"),
        ({"bot_token": "xoxb-1", "mode": "socket"}, "SLACK_APP_TOKEN"),
    ],
)
def test_missing_settings_are_named(options, needs, monkeypatch):
    for var in ("SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "SLACK_APP_TOKEN", "SLACK_MODE"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(ConfigError, match=needs):
        SlackAdapter(SlackSettings(_env_file=None, **options), make_service())


async def test_alert_goes_to_the_alert_channel_or_the_admins(tmp_path: Path):
    bench, close = await open_bench(tmp_path)
    try:
        await bench.adapter.alert("Pinned source https://wiki/x failed 3 times")
        (post,) = await bench.fake.wait_for(lambda: bench.fake.calls_of("chat.postMessage"))
        assert post.args["channel"] == "DU0ADMIN" and "failed 3 times" in post.args["text"]
    finally:
        await close()
    bench, close = await open_bench(tmp_path / "2", settings={"alert_channel": "C0ALERTS"})
    try:
        await bench.adapter.alert("Pinned source failing")
        (post,) = bench.fake.calls_of("chat.postMessage")
        assert post.args["channel"] == "C0ALERTS"
    finally:
        await close()


async def test_tokens_never_reach_the_logs(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.DEBUG)
    fake = FakeSlack()
    fake.rate_limit("chat.stopStream", lambda n: n == 1, retry_after=1)
    bench, close = await open_bench(tmp_path, fake=fake)
    try:
        thread = await bench.mention("how do I deploy?")
        await bench.final(CHANNEL, thread, seconds=30)
        await bench.fake.send_event(  # and a failure path: a forged request
            bench.url,
            bench.fake.mention("x", channel=CHANNEL, user=USER, ts="1.1"),
            event_id="EvX",
            secret="bad",
        )
    finally:
        await close()
    logged = "\n".join(r.getMessage() + str(r.exc_info or "") for r in caplog.records)
    assert "slack.answer_delivered" in logged  # the logs were captured
    for secret in (fake.token, fake.signing_secret, fake.app_token):
        assert secret not in logged
