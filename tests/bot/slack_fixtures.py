"""A Slack test bench: the fake Slack (bot/testing/fake_slack.py), a RagService over the
deterministic fakes with a few real Markdown documents in space ``ops``, and the real
SlackAdapter (AsyncApp + AsyncWebClient) served on a local aiohttp server."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from bot.settings import SlackSettings
from bot.slack.adapter import EVENTS_PATH, SlackAdapter
from bot.testing.fake_slack import FakeMessage, FakeSlack
from core.models import Binding
from core.service import RagService
from core.testing.fake_service import make_service
from core.testing.scripted_chat import ScriptedChatModel

CHANNEL = "C0OPS"
ADMIN = "U0ADMIN"
USER = "U0ALICE"

DOCS = {
    "deploy.md": "# Deploying\n\nTo deploy the billing service run `make deploy` from the release branch. "
    "Deploys need the on-call engineer's approval.\n",
    "rollback.md": "# Rolling back\n\nTo roll back a deploy run `make rollback VERSION=<previous>`; "
    "it takes about five minutes.\n",
}


@dataclass
class SlackBench:
    fake: FakeSlack
    adapter: SlackAdapter
    service: RagService
    chat: ScriptedChatModel
    url: str  # the app's events endpoint
    _ts: itertools.count = field(default_factory=lambda: itertools.count(1))

    def next_ts(self) -> str:
        return f"1690000000.{next(self._ts):06d}"

    async def mention(
        self, text: str, *, channel: str = CHANNEL, user: str = USER, thread_ts: str | None = None
    ) -> str:
        """@mention the bot; returns the thread the answer goes to."""
        ts = self.next_ts()
        event = self.fake.mention(text, channel=channel, user=user, ts=ts, thread_ts=thread_ts)
        delivery = await self.fake.send_event(self.url, event, event_id=f"Ev{ts.replace('.', '')}")
        assert delivery.status == 200, delivery
        return thread_ts or ts

    async def final(
        self, channel: str, thread_ts: str, *, count: int = 1, seconds: float = 15.0
    ) -> list[FakeMessage]:
        """Wait for the final answer in a thread: the message(s) up to the one with feedback buttons."""

        def done() -> list[FakeMessage] | None:
            msgs = self.fake.thread(channel, thread_ts)
            with_buttons = [m for m in msgs if m.buttons() and not m.streaming]
            return msgs if len(with_buttons) >= count else None

        return await self.fake.wait_for(done, seconds)

    async def reply_text(
        self, channel: str, thread_ts: str, predicate: Callable[[str], bool], seconds: float = 15.0
    ) -> str:
        def found() -> str | None:
            for m in self.fake.thread(channel, thread_ts):
                text = m.text + "\n" + m.block_text()
                if predicate(text):
                    return text
            return None

        return await self.fake.wait_for(found, seconds)


def write_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


async def open_bench(
    tmp_path: Path,
    *,
    chat: ScriptedChatModel | None = None,
    fake: FakeSlack | None = None,
    settings: dict[str, Any] | None = None,
    bind: bool = True,
    min_edit_interval: float = 0.05,
    service_options: dict[str, Any] | None = None,
) -> tuple[SlackBench, Callable[[], Any]]:
    """``service_options``: more arguments of ``make_service`` (a fetcher, a Git client...)."""
    fake = fake or FakeSlack()
    await fake.start()
    chat = chat or ScriptedChatModel(
        "To deploy, run make deploy from the release branch [1]. The on-call engineer approves it [1].",
        delay=0.05,
    )
    service = make_service(chat=chat, **(service_options or {}))
    await service.start()
    await service.ingest("ops", [str(write_docs(tmp_path / "docs"))])
    if bind:
        await service.bind(Binding("slack", CHANNEL, "ops", team_id=fake.team_id))
    options = {
        "bot_token": fake.token,
        "signing_secret": fake.signing_secret,
        "app_token": fake.app_token,
        "api_base_url": fake.api_url,
        "admin_user_ids": [ADMIN],
        # tests watch several edits of one answer: a budget that does not get in the way
        "update_budget_per_min": 6000,
    } | (settings or {})
    adapter = SlackAdapter(SlackSettings(**options), service, min_edit_interval=min_edit_interval)
    app = web.Application()
    app.add_routes(adapter.routes())
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await adapter.start()
    bench = SlackBench(fake, adapter, service, chat, f"http://127.0.0.1:{port}{EVENTS_PATH}")

    async def close() -> None:
        await adapter.aclose(grace_s=5.0)
        await runner.cleanup()
        await service.aclose()
        await fake.aclose()

    return bench, close


@pytest.fixture(name="slack")
async def slack_fixture(tmp_path: Path) -> AsyncIterator[SlackBench]:
    """Import ``slack_fixture`` into a test module to use the ``slack`` fixture."""
    bench, close = await open_bench(tmp_path)
    try:
        yield bench
    finally:
        await close()
