"""A console test bench: the real ``Runtime`` of ``ragbot serve`` with CONSOLE_ENABLED, over a
service on the real SQL store (SQLite in tmp) with the deterministic embedder and a scripted
model, optionally with the real Slack adapter against the local fake Slack; and a client that
keeps cookies like a browser and reads pages with an HTML parser."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from selectolax.lexbor import LexborHTMLParser as HTMLParser

from bot.config_reference import env_names
from bot.llm_probe import LlmProbe
from bot.metrics import PrometheusObserver
from bot.runtime import Runtime, build_adapters
from bot.settings import ConsoleSettings, ServerSettings, Settings, SlackSettings
from bot.settings_check import adapter_plan
from bot.testing.fake_slack import FakeSlack
from core.backends.sql_store import SqlStore
from core.models import Asker, Binding, Question, Vote
from core.service import RagService
from core.testing.fake_service import make_service
from core.testing.scripted_chat import ScriptedChatModel

PASSWORD = "correct horse battery staple"
SLACK_CHANNEL = "C0OPS"
SLACK_ADMIN = "U0ADMIN"
SLACK_USER = "U0ALICE"

DOCS = {
    "deploy.md": "# Deploying\n\nTo deploy the billing service run `make deploy` from the release branch. "
    "Deploys need the on-call engineer's approval.\n",
    "rollback.md": "# Rolling back\n\nTo roll back a deploy run `make rollback VERSION=<previous>`; "
    "it takes about five minutes.\n",
}


@dataclass(frozen=True)
class Page:
    status: int
    text: str
    headers: Mapping[str, str]
    url: str
    cookies: tuple[str, ...] = ()  # Set-Cookie headers

    @property
    def html(self) -> HTMLParser:
        return HTMLParser(self.text)

    def css_text(self, selector: str) -> str:
        node = self.html.css_first(selector)
        assert node is not None, f"no {selector} on {self.url} ({self.status})"
        return node.text(separator=" ", strip=True)


class ConsoleClient:
    """A person's browser without JavaScript: cookies, forms, redirects."""

    def __init__(self, base_url: str, *, headers: Mapping[str, str] | None = None) -> None:
        self.base_url = base_url
        self.http = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True), headers=headers)

    async def aclose(self) -> None:
        await self.http.close()

    async def _page(self, response: aiohttp.ClientResponse) -> Page:
        return Page(
            response.status,
            await response.text(),
            dict(response.headers),
            str(response.url),
            tuple(response.headers.getall("Set-Cookie", [])),
        )

    async def get(self, path: str, *, follow: bool = True, **kwargs: Any) -> Page:
        async with self.http.get(self.base_url + path, allow_redirects=follow, **kwargs) as r:
            return await self._page(r)

    async def post(self, path: str, data: Mapping[str, str], *, follow: bool = False, **kwargs: Any) -> Page:
        async with self.http.post(
            self.base_url + path, data=dict(data), allow_redirects=follow, **kwargs
        ) as r:
            return await self._page(r)

    async def login(self, name: str = "alice", password: str = PASSWORD, next_path: str = "") -> Page:
        form = await self.get("/admin/login" + (f"?next={next_path}" if next_path else ""))
        token = form.html.css_first("input[name=login_token]").attributes["value"] or ""
        target = form.html.css_first("input[name=next]").attributes["value"] or ""
        return await self.post(
            "/admin/login", {"name": name, "password": password, "login_token": token, "next": target}
        )

    async def csrf(self, path: str = "/admin/spaces") -> str:
        page = await self.get(path)
        node = page.html.css_first("input[name=csrf]")
        assert node is not None, f"no CSRF token on {path}: {page.status}"
        return node.attributes["value"] or ""


@dataclass
class Seeded:
    asked: str  # an answer voted down with a reason, in ops
    liked: str  # an answer voted up, in ops
    other_space: str  # an answer in eng, no vote
    declined: str  # eng, asked within a document type it has none of
    file_pin: int
    failing_pin: int


@dataclass
class ConsoleBench:
    runtime: Runtime
    service: RagService
    chat: ScriptedChatModel
    docs: Path
    slack: FakeSlack | None = None

    @property
    def url(self) -> str:
        return self.runtime.url

    def client(self, **kwargs: Any) -> ConsoleClient:
        return ConsoleClient(self.url, **kwargs)

    async def aclose(self) -> None:
        await self.runtime.aclose(grace_s=2.0)
        if self.slack is not None:
            await self.slack.aclose()

    async def seed(self) -> Seeded:
        """What a running bot accumulates: documents in two spaces, questions, votes, pins, a binding."""
        s = self.service
        assert (await s.ingest("ops", [str(self.docs)])).ok
        assert (await s.ingest("eng", [str(self.docs / "rollback.md")])).ok
        asker = Asker("slack", SLACK_USER, SLACK_CHANNEL, "T1")
        asked = await self.ask("How do I deploy the billing service?", "ops", asker)
        liked = await self.ask("How do I roll back a deploy?", "ops", asker)
        other = await self.ask("How long does a rollback take?", "eng", None)
        declined = await self.ask("How do I restart the queue?", "eng", None, doc_type="runbook")
        await s.vote(
            Vote(asked, SLACK_USER, -1, reason="it needs the release manager, not on-call", platform="slack")
        )
        await s.vote(Vote(liked, SLACK_USER, 1, platform="slack"))
        await s.bind(Binding("slack", "C0ENG", "eng", team_id="T1"))
        file_pin, _ = await s.pin("ops", str(self.docs / "deploy.md"), pinned_by="slack:U0ADMIN")
        failing, _ = await s.pin("ops", "https://wiki.invalid/runbook?token=sekrit-pin-token-123")
        return Seeded(asked, liked, other, declined, file_pin.pin_id, failing.pin_id)

    async def ask(self, text: str, space: str, asker: Asker | None, doc_type: str | None = None) -> str:
        answer_id = ""
        question = Question(text=text, space_id=space, asker=asker, doc_type=doc_type)
        async for event in self.service.ask(question):
            answer = getattr(event, "answer", None)
            if answer is not None:
                answer_id = answer.answer_id
        assert answer_id
        return answer_id


def write_docs(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def console_bench(
    tmp_path: Path,
    *,
    console: Mapping[str, Any] | None = None,
    fake_slack: FakeSlack | None = None,
    chat: ScriptedChatModel | None = None,
    **settings: Any,
) -> ConsoleBench:
    """``ragbot serve``'s runtime with the console on, wired but not started (``bench.start()``).
    With ``fake_slack`` (started), the real Slack adapter talks to it."""
    if fake_slack is not None:
        settings["slack"] = SlackSettings(
            bot_token=fake_slack.token,
            signing_secret=fake_slack.signing_secret,
            api_base_url=fake_slack.api_url,
            admin_user_ids=[SLACK_ADMIN],
            update_budget_per_min=6000,
        )
    options = {"enabled": True, "password": PASSWORD} | dict(console or {})
    full = Settings(
        data_dir=tmp_path / "data",
        server=ServerSettings(host="127.0.0.1", port=0, shutdown_grace_s=2.0),
        console=ConsoleSettings(**options),
        **settings,
    )
    chat = chat or ScriptedChatModel("To deploy, run make deploy from the release branch [1].")
    store = SqlStore(full.sqlalchemy_url, auto_migrate=True)
    service = make_service(chat=chat, store=store, cache_ttl_s=0)
    plan = adapter_plan(full)
    runtime = Runtime(
        full,
        service,
        observer=PrometheusObserver(),
        plan=plan,
        adapters=build_adapters(full, service, plan),
        probe=LlmProbe(full.llm),
    )
    return ConsoleBench(runtime, service, chat, write_docs(tmp_path / "docs"), fake_slack)


async def open_console(tmp_path: Path, *, slack: bool = False, **kwargs: Any) -> tuple[ConsoleBench, Any]:
    """Start the bench (and a fake Slack with ``slack=True``, its channel bound to ``ops``);
    returns it and its closer."""
    fake = FakeSlack() if slack else None
    if fake is not None:
        await fake.start()
    bench = console_bench(tmp_path, fake_slack=fake, **kwargs)
    try:
        await bench.runtime.start()
        if fake is not None:
            await bench.service.bind(Binding("slack", SLACK_CHANNEL, "ops", team_id=fake.team_id))
    except BaseException:
        await bench.aclose()
        raise
    return bench, bench.aclose


def hidden_value(page: Page, name: str) -> str:
    node = page.html.css_first(f"input[name={name}]")
    assert node is not None, f"no hidden {name} on {page.url}"
    return node.attributes["value"] or ""


@pytest.fixture
def no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No variable from the caller's shell or .env file leaks into the bench's settings (import
    it into a test module and mark the module with ``usefixtures``)."""
    for name in env_names():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
