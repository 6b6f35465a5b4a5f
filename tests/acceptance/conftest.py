"""Fixtures of the acceptance tests: a team's installation, the local servers that stand in for
the language model, Slack, Telegram and a wiki, and the documents of a small handbook."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from acceptance_harness import Deployment
from aiohttp import web

from bot.testing.fake_slack import FakeSlack
from bot.testing.fake_telegram import FakeTelegram
from core.testing.fake_llm_servers import FakeLLMServer

DATA = Path(__file__).parent / "data"
REPLY = "Rotate the keys with vault write billing/keys/rotate, then deploy them [1]."

pytestmark = pytest.mark.acceptance


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/acceptance/" in str(item.fspath).replace("\\", "/"):
            item.add_marker(pytest.mark.acceptance)


@pytest.fixture
async def llm() -> AsyncIterator[FakeLLMServer]:
    """A local OpenAI-compatible server that streams a fixed reply (the embedded model has its own
    end-to-end tests); it records every prompt it is sent."""
    async with FakeLLMServer("openai", reply=REPLY) as server:
        yield server


@pytest.fixture
async def slack() -> AsyncIterator[FakeSlack]:
    fake = FakeSlack()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.aclose()


@pytest.fixture
async def telegram() -> AsyncIterator[FakeTelegram]:
    fake = await FakeTelegram().start()
    try:
        yield fake
    finally:
        await fake.aclose()


@pytest.fixture
def team(tmp_path: Path, llm: FakeLLMServer) -> Deployment:
    """An installation answering from the local model server (LLM_MODE=openai, docs/configuration.md),
    with the handbook's documents in ``./handbook``; otherwise every setting at its default.
    Journeys that do not look at document types turn the classifier's model stage off
    (``CLASSIFY_USE_MODEL=false``) to start faster; the classifier has tests of its own."""
    deployment = Deployment(
        tmp_path / "team", LLM_MODE="openai", LLM_BASE_URL=llm.base_url, LLM_MODEL=llm.model
    )
    shutil.copytree(DATA / "handbook", deployment.root / "handbook")
    return deployment


def slack_env(fake: FakeSlack, **extra: str) -> dict[str, str]:
    """What docs/deployment.md tells a Slack operator to set (the API base URL points at the fake)."""
    return {
        "SLACK_BOT_TOKEN": fake.token,
        "SLACK_SIGNING_SECRET": fake.signing_secret,
        "SLACK_API_BASE_URL": fake.api_url,
    } | extra


@dataclass
class Wiki:
    """A local web server with pages a test can change; it records every request."""

    pages: dict[str, str] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    url: str = ""
    _runner: web.AppRunner | None = None

    async def start(self) -> Wiki:
        app = web.Application()
        app.router.add_get("/{path:.*}", self._page)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def _page(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["path"]
        self.requests.append(path)
        if path not in self.pages:
            return web.Response(status=404, text="not found")
        return web.Response(text=self.pages[path], content_type="text/html")

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


@pytest.fixture
async def wiki() -> AsyncIterator[Wiki]:
    server = await Wiki(pages={"/runbook.html": (DATA / "site" / "runbook.html").read_text("utf-8")}).start()
    try:
        yield server
    finally:
        await server.aclose()
