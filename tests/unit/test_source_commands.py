"""The admin commands for sources (`/ragbot pin`, `/pin`, `unpin`, `status` in Slack and Telegram:
bot/chat/commands.py) over a RagService with the real HttpFetcher and GitCli, against a local site
and a Git repository the test creates."""

from __future__ import annotations

import subprocess
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from bot.chat.commands import AdminCommands, CommandContext, parse_command
from core.backends.git_cli import GitCli
from core.backends.http_fetcher import HttpFetcher
from core.models import Binding
from core.service import RagService
from core.settings import IngestSettings
from core.testing.fake_service import make_service
from core.testing.fake_site import FakeSite, page_html

ADMIN = CommandContext(platform="slack", channel_id="C1", user_id="U1", is_admin=True)


@pytest.fixture
async def site() -> AsyncIterator[FakeSite]:
    s = FakeSite()
    s.add("/docs/", page_html("Docs", "The index.", links=["a.html", "b.html", "c.html"]))
    for name in "abc":
        s.add(f"/docs/{name}.html", page_html(f"Page {name}", f"Text of page {name} about widgets."))
    await s.start()
    yield s
    await s.aclose()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RagService]:
    s = make_service(fetcher=HttpFetcher(IngestSettings(fetch_timeout=5.0)), git=GitCli(tmp_path / "git"))
    await s.start()
    await s.bind(Binding("slack", "C1", "ops"))
    yield s
    await s.aclose()


async def run(service: RagService, text: str) -> str:
    return await AdminCommands(service).run(parse_command(text), ADMIN)


async def test_pin_a_site_with_its_bounds_then_unpin_it_by_its_url(
    site: FakeSite, service: RagService
) -> None:
    reply = await run(service, f"pin <{site.url}/docs/|docs> crawl max-pages 3 exclude */c.html every 2h")
    location = f"{site.url}/docs/#crawl&max-pages=3&exclude=*/c.html"
    assert reply.startswith(f"Pinned {location} to `ops`, refreshed every 2 h: 3 added")
    (pin,) = await service.pins("ops")
    assert pin.location == location and pin.every_s == 7200

    status = await run(service, "status")
    assert f"• site {location}: 3 documents, last run" in status and "— ok" in status

    reply = await run(service, f"unpin {site.url}/docs/")  # the URL as people know it finds the crawl
    assert reply.startswith(f"Unpinned {site.url}/docs/: 3 removed")
    assert await service.store.live_documents("ops") == {}
    assert await service.source_states("ops") == []


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "guide.md").write_text("# Guide\n\nWidgets are blue.\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@e.org", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    return repo


async def test_pin_a_repository_from_chat_but_not_a_path_of_the_server(
    service: RagService, repo: Path
) -> None:
    for refused in (f"pin git+file://{repo}", f"pin {repo}", "pin /etc"):
        assert "local paths and repositories are pinned with the CLI" in await run(service, refused)
    assert await service.pins("ops") == []
    # the CLI may: service.pin is what `ragbot pin` calls
    pin, report = await service.pin("ops", f"git+file://{repo}@main")
    assert report.ok and [o.status.value for o in report.outcomes] == ["added"]
    assert "git git+file://" in await run(service, "status")


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("pin https://x.example/ max-pages 5", "need `crawl` (or a sitemap URL)"),
        ("pin https://x.example/ crawl max-pages lots", "I do not understand `max-pages`"),
        (
            "pin confluence+https://wiki.example.com/spaces/OPS crawl",
            "For Confluence only `max-pages N` applies",
        ),
        ("pin ftp://x.example/a", "is not a source ragbot knows"),
        ("pin git+https://bot:pw@git.example.com/r.git", "must not carry a password"),
    ],
)
async def test_bad_pins_get_a_sentence(service: RagService, text: str, words: str) -> None:
    assert words in await run(service, text)
    assert await service.pins("ops") == []


async def test_help_names_the_source_kinds(service: RagService) -> None:
    text = await run(service, "help")
    assert "git+url" in text and "confluence+url" in text and "[crawl]" in text
