"""`ragbot serve`'s runtime: health, readiness and metrics over real HTTP, the degraded mode when
the language model server is down, start-up checks, and graceful shutdown with answers in flight.

The runtime runs in-process over the deterministic fakes (``make_service``), with the real
adapters against the local fake Telegram; the last tests run the real ``ragbot serve`` command
in a subprocess (the one that loads the embedder is marked slow)."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from bot.bootstrap import build_chat_model
from bot.chat.messages import error_text
from bot.config_reference import env_names
from bot.llm_probe import LlmProbe
from bot.metrics import PrometheusObserver
from bot.runtime import Runtime, build_adapters, build_runtime
from bot.server import serve_until_stopped
from bot.settings import ServerSettings, Settings, SlackSettings, TelegramSettings
from bot.settings_check import adapter_plan, check_settings
from bot.testing.fake_telegram import TOKEN, FakeTelegram
from core.errors import ConfigError, IndexUnavailable, LLMUnavailable
from core.models import Binding
from core.ports import ChatModel
from core.service import RagService
from core.settings import LLMSettings, QdrantSettings, SchedulerSettings
from core.testing.fake_llm_servers import FakeLLMServer
from core.testing.fake_service import final_answer, make_service
from core.testing.scripted_chat import ScriptedChatModel

DOC = (
    "# Deploying\n\nTo deploy the billing service run `make deploy` from the release branch. "
    "Deploys need the on-call engineer's approval.\n"
)
REPLY = "Run make deploy from the release branch [1]."
GROUP = -1001234567890
ADMIN = 1001
SECRET = "webhook-secret_for-tests"


@pytest.fixture(autouse=True)
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable from the caller's shell or .env file leaks into these settings."""
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


def make_settings(tmp_path: Path, **sections: Any) -> Settings:
    sections.setdefault("server", ServerSettings(host="127.0.0.1", port=0, shutdown_grace_s=5.0))
    return Settings(data_dir=tmp_path / "data", **sections)


async def ready_service(tmp_path: Path, chat: ChatModel, observer: PrometheusObserver) -> RagService:
    service = make_service(chat=chat, cache_ttl_s=0)
    service.observer = observer  # what build_service(observer=...) does for the real backends
    docs = tmp_path / "docs"
    docs.mkdir(exist_ok=True)
    (docs / "deploy.md").write_text(DOC, encoding="utf-8")
    return service


def runtime_for(
    settings: Settings, service: RagService, observer: PrometheusObserver, **kwargs: Any
) -> Runtime:
    plan = adapter_plan(settings)
    return Runtime(
        settings,
        service,
        observer=observer,
        plan=plan,
        adapters=kwargs.pop("adapters", build_adapters(settings, service, plan)),
        probe=LlmProbe(settings.llm),
        **kwargs,
    )


async def get(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as http, http.get(url) as response:
        body = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, body


def samples(exposition: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """The Prometheus text parsed by prometheus_client's own parser: (name, labels) -> value."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- health, readiness, metrics ---------------------------------------------------------------


async def test_without_tokens_it_serves_health_readiness_and_metrics(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    observer = PrometheusObserver()
    chat = ScriptedChatModel(REPLY)
    service = await ready_service(tmp_path, chat, observer)
    runtime = runtime_for(settings, service, observer)
    assert runtime.adapters == []
    await runtime.start()
    try:
        assert chat.started, "the runtime starts the service, model included"
        status, body = await get(f"{runtime.url}/healthz")
        assert (status, body) == (200, {"status": "ok"})
        status, body = await get(f"{runtime.url}/readyz")
        assert status == 200 and body["ready"] is True and body["reasons"] == []
        checks = body["checks"]
        assert checks["slack"] == {"state": "off", "detail": "SLACK_BOT_TOKEN not set"}
        assert checks["telegram"] == {"state": "off", "detail": "TELEGRAM_BOT_TOKEN not set"}
        assert checks["service"]["state"] == checks["llm"]["state"] == checks["scheduler"]["state"] == "ok"
        async with aiohttp.ClientSession() as http, http.post(f"{runtime.url}/slack/events", data=b"{}") as r:
            assert r.status == 404, "no adapter, no route"

        before = samples((await get(f"{runtime.url}/metrics"))[1])
        assert not any(name == "ragbot_questions_total" for name, _ in before)
        assert (await service.ingest("ops", [str(tmp_path / "docs")])).ok
        done = await final_answer(service, "How do I deploy the billing service?")
        assert done.answer.cites_any

        async with aiohttp.ClientSession() as http, http.get(f"{runtime.url}/metrics") as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/plain; version=")
            after = samples(await response.text())
        assert after[("ragbot_questions_total", (("cache", "miss"), ("space", "ops")))] == 1.0
        for histogram in (
            "ragbot_retrieval_seconds",
            "ragbot_time_to_first_token_seconds",
            "ragbot_decode_seconds",
            "ragbot_context_tokens",
            "ragbot_answer_seconds",
            "ragbot_queue_wait_seconds",
        ):
            assert after[(f"{histogram}_count", ())] == 1.0, histogram
        assert after[("ragbot_answers_citing_total", ())] == 1.0
        assert after[("ragbot_ingest_runs_total", (("result", "ok"),))] == 1.0
        assert after[("ragbot_generation_queue_length", ())] == 0.0
        assert after[("ragbot_ready", ())] == 1.0
        assert after[("ragbot_component_up", (("component", "llm"),))] == 1.0
        assert after[("ragbot_scheduler_leader", ())] == 1.0, "the only replica holds the scheduler lease"
        assert ("ragbot_component_up", (("component", "slack"),)) not in after, "off is not down"
    finally:
        await runtime.aclose()
    assert not chat.started, "closing the runtime closes the service"


class GatedChat(ScriptedChatModel):
    """A model that takes as long to start as the test wants (the embedded one takes ~30 s)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.release = asyncio.Event()

    async def start(self) -> None:
        await self.release.wait()
        await super().start()


async def test_while_the_model_loads_it_is_alive_not_ready_and_answers_once_it_is_loaded(
    tmp_path: Path,
) -> None:
    """The adapters start as soon as the store is open: a question asked while the models load
    is taken at once (no 503, no waiting for the platform to deliver it again) and answered once
    the model is up."""
    fake = await FakeTelegram().start()
    settings = make_settings(
        tmp_path,
        telegram=TelegramSettings(
            bot_token=TOKEN, mode="webhook", webhook_secret=SECRET, api_base_url=fake.base_url
        ),
    )
    observer = PrometheusObserver()
    chat = GatedChat(REPLY)
    service = await ready_service(tmp_path, chat, observer)
    await service.bind(Binding("telegram", str(GROUP), "ops"))
    assert (await service.ingest("ops", [str(tmp_path / "docs")])).ok
    runtime = runtime_for(settings, service, observer)
    starting = asyncio.create_task(runtime.start())
    try:
        while not fake.calls_of("getMe"):  # noqa: ASYNC110 - the adapter starts before the models
            await asyncio.sleep(0.01)
        assert (await get(f"{runtime.url}/healthz"))[0] == 200
        status, body = await get(f"{runtime.url}/readyz")
        assert status == 503
        assert "service: starting (store, indexes, embedder, language model)" in body["reasons"]
        update = fake.user_message(GROUP, 2002, "@ragbot_test_bot how do I deploy the billing service?")
        headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{runtime.url}/telegram/webhook", json=update, headers=headers) as r:
                assert r.status == 200, "taken at once, not refused"
        await fake.wait_for("sendMessage")  # the placeholder: the person sees it is being handled
        assert not chat.requests, "no answer before the model is loaded"
        chat.release.set()
        await starting
        assert (await get(f"{runtime.url}/readyz"))[0] == 200
        await fake.wait_for("editMessageText", where=lambda c: "make deploy" in c.params.get("text", ""))
        answers = [m for m in fake.bot_messages(GROUP) if "make deploy" in m.text]
        assert len(answers) == 1 and len(chat.requests) == 1, "answered once"
    finally:
        chat.release.set()
        await asyncio.gather(starting, return_exceptions=True)
        await runtime.aclose()
        await fake.aclose()


# -- the language model server down: the degraded mode ---------------------------------------


async def test_an_unreachable_llm_server_is_a_degraded_mode_not_a_crash(tmp_path: Path) -> None:
    port = free_port()  # nothing listens here yet
    llm = LLMSettings(mode="vllm", base_url=f"http://127.0.0.1:{port}/v1", model="fake-model", retries=0)
    settings = make_settings(tmp_path, llm=llm)
    observer = PrometheusObserver()
    chat = build_chat_model(settings)  # the real OpenAI-compatible backend
    service = await ready_service(tmp_path, chat, observer)
    runtime = runtime_for(settings, service, observer)
    await runtime.start()
    server: web.AppRunner | None = None
    try:
        assert (await get(f"{runtime.url}/healthz"))[0] == 200
        status, body = await get(f"{runtime.url}/readyz")
        assert status == 503
        (reason,) = body["reasons"]
        assert reason.startswith(f"llm: down (cannot reach vllm at http://127.0.0.1:{port}/v1")
        # everything but answering works: ingestion, and the question gets a clear message
        assert (await service.ingest("ops", [str(tmp_path / "docs")])).ok
        with pytest.raises(LLMUnavailable) as caught:
            await final_answer(service, "How do I deploy the billing service?")
        assert "Cannot reach the language model server" in caught.value.message
        assert error_text(caught.value, "en") == error_text(LLMUnavailable("x"), "en"), (
            "the chat layer's 'cannot reach' text"
        )
        metrics = samples(observer.exposition().decode())
        assert metrics[("ragbot_errors_total", (("code", "llm_unavailable"),))] == 1.0
        assert metrics[("ragbot_component_up", (("component", "llm"),))] == 0.0
        assert metrics[("ragbot_ready", ())] == 0.0

        # the server comes up: the next probe makes the service ready
        app = web.Application()

        async def models(request: web.Request) -> web.Response:
            return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model"}]})

        app.router.add_get("/v1/models", models)
        server = web.AppRunner(app)
        await server.setup()
        await web.TCPSite(server, "127.0.0.1", port).start()
        await runtime.check_llm()
        assert (await get(f"{runtime.url}/readyz"))[0] == 200
    finally:
        await runtime.aclose()
        if server is not None:
            await server.cleanup()


async def test_the_probe_names_what_is_wrong_with_the_llm_server() -> None:
    async with FakeLLMServer("openai", api_key="right-key", model="served-model") as server:
        probe = LlmProbe(LLMSettings(mode="vllm", base_url=server.base_url, api_key="wrong-key"))
        assert "refused the API key (LLM_API_KEY): HTTP 401" in (await probe.check() or "")
        probe = LlmProbe(
            LLMSettings(mode="vllm", base_url=server.base_url, api_key="right-key", model="other")
        )
        assert await probe.check() == f"vllm at {server.base_url} serves served-model, not LLM_MODEL=other"
        probe = LlmProbe(
            LLMSettings(mode="vllm", base_url=server.base_url, api_key="right-key", model="served-model")
        )
        assert await probe.check() is None
        assert server.requests[-1].headers["Authorization"] == "Bearer right-key"
    assert await LlmProbe(LLMSettings()).check() is None, "the embedded model is not probed over HTTP"


# -- settings checked before anything starts ------------------------------------------------------


def test_settings_problems_are_listed_all_at_once(tmp_path: Path) -> None:
    settings = make_settings(
        tmp_path,
        slack=SlackSettings(bot_token="xoxb-1-2-abc"),
        telegram=TelegramSettings(bot_token="not-a-token", mode="webhook"),
        llm=LLMSettings(mode="ollama"),
    )
    with pytest.raises(ConfigError) as caught:
        build_runtime(settings)
    message = caught.value.message
    assert "5 setting(s) to fix" in message
    assert "SLACK_BOT_TOKEN is set in HTTP mode (SLACK_MODE=http) without SLACK_SIGNING_SECRET" in message
    assert "TELEGRAM_BOT_TOKEN does not look like a bot token" in message
    assert "TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET" in message
    assert "LLM_MODE=ollama needs LLM_BASE_URL" in message and "LLM_MODE=ollama needs LLM_MODEL" in message
    assert "xoxb-1-2-abc" not in message and "not-a-token" not in message, "no secret in an error message"
    assert not (tmp_path / "data").exists(), "nothing was built"


def test_adapters_are_on_when_their_token_is_set(tmp_path: Path) -> None:
    plan = adapter_plan(
        make_settings(
            tmp_path, telegram=TelegramSettings(bot_token=TOKEN), slack=SlackSettings(signing_secret="s")
        )
    )
    assert [p.describe() for p in plan] == [
        "slack: off (SLACK_BOT_TOKEN not set)",
        "telegram: on (polling mode)",
    ]
    warnings = check_settings(
        make_settings(
            tmp_path, slack=SlackSettings(signing_secret="s"), telegram=TelegramSettings(bot_token=TOKEN)
        )
    )
    assert warnings == ["SLACK_SIGNING_SECRET set but SLACK_BOT_TOKEN is not: Slack stays off."]


async def test_an_unreachable_qdrant_server_stops_the_start_with_its_reason(tmp_path: Path) -> None:
    port = free_port()
    settings = make_settings(
        tmp_path,
        qdrant=QdrantSettings(url=f"http://127.0.0.1:{port}", timeout=2.0),
        scheduler=SchedulerSettings(enabled=False),
    )
    runtime = build_runtime(settings)  # the real backends, nothing started yet
    with pytest.raises(IndexUnavailable) as caught:
        await serve_until_stopped(runtime, asyncio.Event())
    assert f"http://127.0.0.1:{port}" in caught.value.message and "unreachable" in caught.value.message
    assert runtime._runner is None, "the HTTP server was closed again"


async def test_a_token_the_platform_refuses_stops_the_start(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    fake_telegram.fail("getMe", status=401, description="Unauthorized")
    runtime, _ = await telegram_runtime(tmp_path, fake_telegram, ScriptedChatModel(REPLY), grace_s=1)
    with pytest.raises(ConfigError) as caught:
        await serve_until_stopped(runtime, asyncio.Event())
    assert "Telegram rejected TELEGRAM_BOT_TOKEN" in caught.value.message
    assert runtime._runner is None and not runtime.service.chat.started, "everything started was closed"


# -- graceful shutdown ----------------------------------------------------------------------------


async def telegram_runtime(
    tmp_path: Path, fake: FakeTelegram, chat: ScriptedChatModel, grace_s: float
) -> tuple[Runtime, RagService]:
    settings = make_settings(
        tmp_path,
        server=ServerSettings(host="127.0.0.1", port=0, shutdown_grace_s=grace_s),
        telegram=TelegramSettings(
            bot_token=TOKEN,
            mode="webhook",
            webhook_secret=SECRET,
            api_base_url=fake.base_url,
            admin_user_ids=[ADMIN],
            edit_interval_s=0.2,
        ),
    )
    observer = PrometheusObserver()
    service = await ready_service(tmp_path, chat, observer)
    runtime = runtime_for(settings, service, observer)
    assert [a.name for a in runtime.adapters] == ["telegram"]
    return runtime, service


@pytest.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram().start()
    yield fake
    await fake.aclose()


async def post_update(runtime: Runtime, update: dict[str, Any]) -> int:
    headers = {"X-Telegram-Bot-Api-Secret-Token": SECRET}
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{runtime.url}/telegram/webhook", json=update, headers=headers) as response:
            return response.status


async def test_shutdown_closes_an_answer_in_flight_with_a_message(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    words = [f"w{i}" for i in range(300)]
    slow = ScriptedChatModel(" ".join(words), delay=0.05)  # ~15 s: far longer than the grace
    runtime, service = await telegram_runtime(tmp_path, fake_telegram, slow, grace_s=0.3)
    stop = asyncio.Event()
    serving = asyncio.create_task(serve_until_stopped(runtime, stop))
    try:
        while not runtime.readiness.ready:  # noqa: ASYNC110
            assert not serving.done(), serving
            await asyncio.sleep(0.01)
        await service.ingest("ops", [str(tmp_path / "docs")])
        await service.bind(Binding("telegram", str(GROUP), "ops"))
        update = fake_telegram.user_message(GROUP, 2002, "@ragbot_test_bot how do I deploy?")
        assert await post_update(runtime, update) == 200
        await fake_telegram.wait_for("editMessageText")  # the answer is streaming
        url = runtime.url

        stop.set()  # what SIGTERM does in `ragbot serve`
        await asyncio.wait_for(serving, 30)
    finally:
        stop.set()
        await asyncio.gather(serving, return_exceptions=True)
    last = fake_telegram.bot_messages(GROUP)[-1]
    assert error_text(asyncio.CancelledError(), "en") in last.text, last.text  # "... restarting ..."
    assert words[-1] not in last.text, "the answer was stopped, not finished"
    assert not slow.started, "the service is closed"
    with pytest.raises(aiohttp.ClientConnectionError):
        await get(f"{url}/healthz")


async def test_shutdown_lets_answers_finish_within_the_grace(
    tmp_path: Path, fake_telegram: FakeTelegram
) -> None:
    chat = ScriptedChatModel(REPLY + " It takes about ten minutes.", delay=0.05)
    runtime, service = await telegram_runtime(tmp_path, fake_telegram, chat, grace_s=20)
    await runtime.start()
    try:
        await service.ingest("ops", [str(tmp_path / "docs")])
        await service.bind(Binding("telegram", str(GROUP), "ops"))
        update = fake_telegram.user_message(GROUP, 2002, "@ragbot_test_bot how do I deploy?")
        assert await post_update(runtime, update) == 200
        await fake_telegram.wait_for("sendMessage")  # the placeholder: the answer has begun
    finally:
        await runtime.aclose()
    last = fake_telegram.bot_messages(GROUP)[-1]
    assert "It takes about ten minutes." in last.text, last.text
    assert error_text(asyncio.CancelledError(), "en") not in last.text


async def test_scheduler_alerts_go_through_every_running_adapter(
    tmp_path: Path, fake_telegram: FakeTelegram, caplog: pytest.LogCaptureFixture
) -> None:
    runtime, _ = await telegram_runtime(tmp_path, fake_telegram, ScriptedChatModel(REPLY), grace_s=1)
    await runtime.start()
    try:
        assert runtime.scheduler is not None and runtime.scheduler.alert == runtime.alert
        await runtime.alert("https://wiki.example.com/runbook failed 3 times in a row")
        sent = fake_telegram.calls_of("sendMessage")
        assert [c.params["chat_id"] for c in sent] == [ADMIN]
        assert "wiki.example.com/runbook failed 3 times" in sent[0].params["text"]
    finally:
        await runtime.aclose()
    lonely = runtime_for(make_settings(tmp_path), make_service(), PrometheusObserver())
    await lonely.alert("nobody to tell")
    assert "alert.undelivered: no chat adapter is running" in caplog.text


# -- the real command ----------------------------------------------------------------------------


def ragbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """The installed `ragbot` console script of this virtualenv."""
    script = Path(sys.executable).with_name("ragbot")
    assert script.is_file(), "ragbot is not installed in this environment (pip install -e .)"
    return subprocess.Popen(
        [str(script), *args],
        env={"PATH": os.environ.get("PATH", ""), "HOME": str(cwd), **env},
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_ragbot_serve_exits_1_with_the_settings_to_fix(tmp_path: Path) -> None:
    process = ragbot(
        "serve", env={"SLACK_BOT_TOKEN": "xoxb-123-456-secretvalue", "DATA_DIR": str(tmp_path)}, cwd=tmp_path
    )
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "error: ragbot serve cannot start, 1 setting(s) to fix" in stderr
    assert "SLACK_SIGNING_SECRET" in stderr and "secretvalue" not in stderr


@pytest.mark.slow
async def test_ragbot_serve_starts_serves_and_stops_on_sigterm(tmp_path: Path) -> None:
    """The real command, real backends (SQLite, qdrant-edge, Whoosh, the e5 embedder) and the real
    vLLM backend against a local fake vLLM server; no chat tokens."""
    port = free_port()
    api_key = "sk-fake-llm-key-0123456789"
    async with FakeLLMServer("openai", api_key=api_key, model="fake-model") as llm:
        env = {
            "DATA_DIR": str(tmp_path / "data"),
            "PORT": str(port),
            "LLM_MODE": "vllm",
            "LLM_BASE_URL": llm.base_url,
            "LLM_MODEL": "fake-model",
            "LLM_API_KEY": api_key,
            "HF_HUB_OFFLINE": "1",
        }
        process = ragbot("serve", env=env, cwd=tmp_path)
        try:
            url = f"http://127.0.0.1:{port}"
            for _ in range(1200):  # up to 2 minutes for imports and models
                assert process.poll() is None, process.communicate()[1]
                try:
                    status, body = await get(f"{url}/readyz")
                    if status == 200:
                        break
                except aiohttp.ClientConnectionError:
                    pass
                await asyncio.sleep(0.1)
            assert body["ready"] is True, body
            status, text = await get(f"{url}/metrics")
            assert status == 200 and 'ragbot_component_up{component="llm"} 1.0' in text
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.to_thread(process.communicate, timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, stderr
    assert "serve.adapter slack: off (SLACK_BOT_TOKEN not set)" in stderr
    assert "serve.adapter telegram: off (TELEGRAM_BOT_TOKEN not set)" in stderr
    assert "serve.stopped" in stderr
    assert api_key not in stderr
