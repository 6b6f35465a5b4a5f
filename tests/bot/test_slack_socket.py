"""Socket Mode: the handler built from settings, and a whole answer over a local websocket
(``apps.connections.open`` -> ws:// on the fake Slack -> envelope -> ack -> answer)."""

from __future__ import annotations

from pathlib import Path

import pytest
from slack_fixtures import CHANNEL, USER, open_bench

from bot.settings import SlackSettings
from bot.slack.adapter import SlackAdapter
from bot.testing.fake_slack import FakeSlack
from core.errors import ConfigError
from core.testing.fake_service import make_service


async def test_socket_handler_is_built_from_settings():
    settings = SlackSettings(
        _env_file=None,
        mode="socket",
        bot_token="xoxb-1",
        app_token="xapp-1-abc",
        api_base_url="http://127.0.0.1:9/api",
    )
    adapter = SlackAdapter(settings, make_service())
    assert adapter.routes() == []  # nothing to serve over HTTP in socket mode
    handler = adapter.build_socket_handler()
    try:
        assert handler.app is adapter.app
        assert handler.app_token == "xapp-1-abc"
        assert handler.client.web_client is adapter.client
        assert handler.client.web_client.base_url == "http://127.0.0.1:9/api/"
    finally:
        await handler.close_async()


async def test_an_answer_over_socket_mode(tmp_path: Path):
    bench, close = await open_bench(tmp_path, settings={"mode": "socket", "signing_secret": None})
    fake = bench.fake
    try:
        (opened,) = fake.calls_of("apps.connections.open")
        assert opened.ok  # with the app-level token, not the bot token; the socket used its URL
        ts = bench.next_ts()
        body = fake.event_body(
            fake.mention("how do I deploy?", channel=CHANNEL, user=USER, ts=ts), event_id="EvSOCK1"
        )
        await fake.send_socket_event(body, envelope_id="env-1")
        await fake.send_socket_event(body, envelope_id="env-2")  # Slack re-sends: still one answer
        (answer,) = await bench.final(CHANNEL, ts)
        assert "[1] Deploying" in answer.block_text()
        acks = await fake.wait_for(lambda: len(fake.socket_acks) >= 2 and fake.socket_acks)
        assert {a["envelope_id"] for a in acks} == {"env-1", "env-2"}
        assert len(bench.chat.requests) == 1
    finally:
        await close()


async def test_a_bad_app_token_fails_clearly(tmp_path: Path):
    fake = FakeSlack()
    await fake.start()
    try:
        settings = SlackSettings(
            _env_file=None,
            mode="socket",
            bot_token=fake.token,
            app_token="xapp-wrong",
            api_base_url=fake.api_url,
        )
        adapter = SlackAdapter(settings, make_service())
        with pytest.raises(ConfigError, match="SLACK_APP_TOKEN"):
            await adapter.start()
        await adapter.aclose()
    finally:
        await fake.aclose()
