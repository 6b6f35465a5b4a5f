"""Observability: the Grafana dashboard queries only series the service exposes, and the logs of a
running service (both formats, DEBUG level, Slack and Telegram answering) never show a secret."""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from bot.bootstrap import build_chat_model
from bot.config_reference import env_names
from bot.llm_probe import LlmProbe
from bot.logs import configure_logging
from bot.metrics import PrometheusObserver
from bot.runtime import Runtime, build_adapters
from bot.settings import ServerSettings, Settings, SlackSettings, TelegramSettings
from bot.settings_check import adapter_plan, check_settings
from bot.slack.adapter import EVENTS_PATH
from bot.testing.fake_slack import FakeSlack
from bot.testing.fake_telegram import FakeTelegram
from core.errors import LLMTimeout
from core.models import Binding, Vote
from core.settings import LLMSettings
from core.testing.fake_llm_servers import FakeLLMServer
from core.testing.fake_service import final_answer, make_service
from core.testing.scripted_chat import ScriptedChatModel

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "ragbot.json"
DOC = "# Deploying\n\nTo deploy the billing service run `make deploy` from the release branch.\n"

# The series the dashboard must show (the spec's figures and the service's health).
REQUIRED = {
    "ragbot_questions_total",  # questions, and cache hits by its label
    "ragbot_retrieval_seconds_bucket",
    "ragbot_time_to_first_token_seconds_bucket",
    "ragbot_decode_seconds_bucket",
    "ragbot_decode_tokens_per_second_bucket",
    "ragbot_context_tokens_bucket",
    "ragbot_generation_queue_length",
    "ragbot_answers_citing_total",
    "ragbot_answers_declined_total",
    "ragbot_feedback_votes_total",
    "ragbot_ingest_runs_total",
    "ragbot_errors_total",
}


def panels(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from panels(item.get("panels") or [])


def dashboard_queries() -> dict[str, set[str]]:
    """Panel title -> the ragbot metrics its queries read."""
    board = json.loads(DASHBOARD.read_text(encoding="utf-8"))
    assert board["uid"] == "ragbot" and board["panels"]
    found: dict[str, set[str]] = {}
    for panel in panels(board["panels"]):
        for target in panel.get("targets") or []:
            names = set(re.findall(r"\bragbot_[a-z0-9_]+", target["expr"]))
            assert names, f"{panel['title']}: a query without a ragbot metric"
            found.setdefault(panel["title"], set()).update(names)
    return found


async def test_every_metric_the_dashboard_queries_is_exposed(tmp_path: Path) -> None:
    observer = PrometheusObserver()
    chat = ScriptedChatModel("Run make deploy from the release branch [1].")
    service = make_service(chat=chat)
    service.observer = observer
    observer.watch_queue(lambda: service.queue_length)
    observer.watch_components(lambda: {"service": True, "llm": True})
    observer.watch_scheduler(lambda: True)
    (tmp_path / "deploy.md").write_text(DOC, encoding="utf-8")
    (tmp_path / "empty.md").write_text("", encoding="utf-8")
    await service.start()
    try:
        assert (await service.ingest("ops", [str(tmp_path / "deploy.md")])).ok
        assert not (await service.ingest("ops", [str(tmp_path / "empty.md")])).ok  # a failed document
        first = await final_answer(service, "How do I deploy the billing service?")  # cache miss, cites [1]
        await final_answer(service, "How do I deploy the billing service?")  # cache hit
        await final_answer(service, "How do I deploy?", space="nothing-here")  # declined: no documents
        with pytest.raises(Exception):  # noqa: B017 - any CoreError: it is counted by code
            await final_answer(service, "   ")
        chat.fail_after = (2, LLMTimeout("the model stopped answering"))
        cut = await final_answer(service, "And how do I roll back the billing service?")
        assert cut.answer.interrupted
        await service.vote(Vote(first.answer.answer_id, "U1", 1))
        await service.vote(Vote(first.answer.answer_id, "U2", -1, reason="too short"))
    finally:
        await service.aclose()

    exposed = {
        sample.name
        for family in text_string_to_metric_families(observer.exposition().decode())
        for sample in family.samples
    }
    queried = dashboard_queries()
    for title, names in queried.items():
        assert names <= exposed, (
            f"panel {title!r} queries {sorted(names - exposed)}, which /metrics does not expose"
        )
    all_queried = set().union(*queried.values())
    assert REQUIRED <= all_queried, f"no panel for {sorted(REQUIRED - all_queried)}"
    board = DASHBOARD.read_text()
    assert 'cache=\\"hit\\"' in board, "the cache hit rate has its panel"


async def test_answers_from_verified_answers_are_counted_apart_from_the_model_timings(tmp_path: Path) -> None:
    observer = PrometheusObserver()
    service = make_service(chat=ScriptedChatModel("Run make deploy [1]."))
    service.observer = observer
    (tmp_path / "deploy.md").write_text(DOC, encoding="utf-8")
    await service.start()
    try:
        await service.ingest("ops", [str(tmp_path / "deploy.md")])
        await service.verify_answer("ops", "How do I deploy?", "Merge a release PR.", author="cli:dana")
        served = await final_answer(service, "how do I deploy")
        assert served.answer.verified is not None
    finally:
        await service.aclose()

    samples = {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(observer.exposition().decode())
        for s in family.samples
    }
    assert samples[("ragbot_answers_verified_total", (("space", "ops"),))] == 1.0
    assert samples[("ragbot_questions_total", (("cache", "miss"), ("space", "ops")))] == 1.0
    assert samples[("ragbot_answer_seconds_count", ())] == 0.0  # no model time to count
    assert samples[("ragbot_retrieval_seconds_count", ())] == 0.0


# -- logs -----------------------------------------------------------------------------------------

SLACK_TOKEN = "xoxb-4242424242-4242424242424-ZzYyXxWwVvUuTtSsRrQqPp"
SLACK_SECRET = "8f14e45fceea167a5a36dedd4bea2543"
TELEGRAM_TOKEN = "987654321:AAF-secretTokenValue_0123456789abcdefXYZ"
WEBHOOK_SECRET = "whsec_0123456789abcdef"
LLM_KEY = "sk-llm-0123456789abcdefghij"
DB_PASSWORD = "pgpass0123456789"
SECRETS = {
    "SLACK_BOT_TOKEN": SLACK_TOKEN,
    "SLACK_SIGNING_SECRET": SLACK_SECRET,
    "TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN,
    "the secret part of TELEGRAM_BOT_TOKEN": TELEGRAM_TOKEN.split(":", 1)[1],
    "TELEGRAM_WEBHOOK_SECRET": WEBHOOK_SECRET,
    "LLM_API_KEY": LLM_KEY,
    "the password in DATABASE_URL": DB_PASSWORD,
}
GROUP = -1001234567890
CHANNEL = "C0OPS"


@pytest.fixture
def own_logging(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """configure_logging replaces the root handlers; give them back afterwards."""
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    quiet = {name: logging.getLogger(name).level for name in logging.root.manager.loggerDict}
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    for name, value in quiet.items():
        logging.getLogger(name).setLevel(value)


@pytest.mark.parametrize("fmt", ["kv", "json"])
async def test_logs_never_show_a_secret(
    tmp_path: Path, fmt: str, capsys: pytest.CaptureFixture[str], own_logging: None
) -> None:
    slack = FakeSlack(token=SLACK_TOKEN, signing_secret=SLACK_SECRET)
    await slack.start()
    telegram = await FakeTelegram(token=TELEGRAM_TOKEN).start()
    llm = await FakeLLMServer(
        "openai", api_key=LLM_KEY, model="fake-model", reply="Run make deploy [1]."
    ).start()
    settings = Settings(
        data_dir=tmp_path / "data",
        database_url=f"postgresql+psycopg://ragbot:{DB_PASSWORD}@db.internal:5432/ragbot",
        log_format=fmt,
        server=ServerSettings(host="127.0.0.1", port=0),
        slack=SlackSettings(bot_token=SLACK_TOKEN, signing_secret=SLACK_SECRET, api_base_url=slack.api_url),
        telegram=TelegramSettings(
            bot_token=TELEGRAM_TOKEN,
            mode="webhook",
            webhook_secret=WEBHOOK_SECRET,
            webhook_url="https://bot.example.com/telegram/webhook",
            api_base_url=telegram.base_url,
            edit_interval_s=0.2,
        ),
        llm=LLMSettings(mode="vllm", base_url=llm.base_url, model="fake-model", api_key=LLM_KEY),
    )
    configure_logging("DEBUG", settings.log_format)
    observer = PrometheusObserver()
    service = make_service(chat=build_chat_model(settings), cache_ttl_s=0)  # the real vLLM backend
    service.observer = observer
    plan = adapter_plan(settings)
    runtime = Runtime(
        settings,
        service,
        observer=observer,
        plan=plan,
        adapters=build_adapters(settings, service, plan),
        probe=LlmProbe(settings.llm),
        warnings=check_settings(settings),
    )
    try:
        await runtime.start()
        assert runtime.readiness.ready, runtime.readiness.reasons()
        (tmp_path / "deploy.md").write_text(DOC, encoding="utf-8")
        await service.ingest("ops", [str(tmp_path / "deploy.md")])
        await service.bind(Binding("slack", CHANNEL, "ops", team_id=slack.team_id))
        await service.bind(Binding("telegram", str(GROUP), "ops"))
        # one answer through each platform, over the runtime's own HTTP routes
        event = slack.mention("how do I deploy?", channel=CHANNEL, user="U0ALICE", ts="1690000000.000001")
        delivery = await slack.send_event(f"{runtime.url}{EVENTS_PATH}", event, event_id="Ev1")
        assert delivery.status == 200
        await slack.wait_for(lambda: [m for m in slack.thread(CHANNEL, "1690000000.000001") if m.buttons()])
        update = telegram.user_message(GROUP, 2002, "@ragbot_test_bot how do I deploy?")
        headers = {"X-Telegram-Bot-Api-Secret-Token": WEBHOOK_SECRET}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{runtime.url}/telegram/webhook", json=update, headers=headers) as r:
                assert r.status == 200
        await telegram.wait_for("editMessageText", where=lambda c: "reply_markup" in c.params)
    finally:
        await runtime.aclose()
        await llm.aclose()
        await telegram.aclose()
        await slack.aclose()
    logged = capsys.readouterr().err
    # the capture is real: the start, both platforms and the LLM probe are in it
    for expected in (
        "serve.adapter slack: on (http mode)",
        "serve.adapter telegram: on (webhook mode)",
        "serve.ready",
    ):
        assert expected in logged
    assert len(logged.splitlines()) > 30
    for what, secret in SECRETS.items():
        assert secret not in logged, f"{what} appears in the log"
    if fmt == "json":
        for line in logged.splitlines():
            record = json.loads(line)
            assert {"ts", "level", "logger", "msg"} <= set(record)
