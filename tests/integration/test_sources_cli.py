"""`ragbot ingest --crawl`, `ragbot pin git+...`, `ragbot status`, `ragbot unpin` as an operator types
them (docs/sources.md), through the real parser and the production backends (e5, qdrant-edge,
Whoosh, SQLite) in a scratch DATA_DIR, against a static site served from a thread and a Git
repository the test creates."""

from __future__ import annotations

import asyncio
import json
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import main
from core.testing.fake_site import FakeSite, page_html

pytestmark = pytest.mark.slow


@pytest.fixture
def site() -> Iterator[FakeSite]:
    """A FakeSite on its own event loop in a thread (the CLI runs its own loop)."""
    s = FakeSite()
    s.robots = "User-agent: *\nDisallow: /guide/drafts/\n"
    s.add(
        "/guide/",
        page_html("Guide", "How the widget service works.", links=["a.html", "b.html", "drafts/x.html"]),
    )
    s.add(
        "/guide/a.html", page_html("Alerts", "Widget alerts page the on-call engineer within five minutes.")
    )
    s.add("/guide/b.html", page_html("Backups", "Widget backups run nightly at 02:00 UTC."))
    s.add("/guide/drafts/x.html", page_html("Draft", "Not for the index."))
    loop = asyncio.new_event_loop()
    ready = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(s.start())
        ready.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert ready.wait(10)
    yield s
    asyncio.run_coroutine_threadsafe(s.aclose(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)


@pytest.fixture(autouse=True)
def environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CLASSIFY_USE_MODEL", "false")  # rules only: the classifier model has its own tests


def test_a_site_and_a_repository_from_the_command_line(
    site: FakeSite, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["ingest", f"{site.url}/guide/", "--crawl", "--max-pages", "20", "--space", "ops"]) == 0
    out = capsys.readouterr().out
    assert "space ops: 3 added" in out and f"skipped {site.url}/guide/drafts/x.html: robots.txt" in out

    site.reset_counts()
    assert main(["ingest", f"{site.url}/guide/", "--crawl", "--max-pages", "20", "--space", "ops"]) == 0
    assert "3 unchanged" in capsys.readouterr().out
    assert {r.status for r in site.requests if r.path != "/robots.txt"} == {304}

    site.sitemap("/sitemap.xml", ["/guide/a.html", "/guide/b.html"])
    assert main(["ingest", f"{site.url}/sitemap.xml", "--space", "maps"]) == 0
    assert "space maps: 2 added" in capsys.readouterr().out

    repo = tmp_path / "repo"
    repo.mkdir()
    (repo / "docs").mkdir()
    (repo / "docs" / "deploy.md").write_text("# Deploying widgets\n\nRun `make deploy` on Tuesdays.\n")
    for args in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "x"]):
        subprocess.run(
            ["git", "-c", "user.name=T", "-c", "user.email=t@e.org", *args],
            cwd=repo,
            check=True,
            capture_output=True,
        )
    assert main(["pin", f"git+file://{repo}@main#path=docs/", "--space", "ops", "--every", "1h"]) == 0
    assert f"pinned git+file://{repo}@main#path=docs/ in ops (every 1 h)" in capsys.readouterr().out

    assert main(["status", "--space", "ops"]) == 0
    status = capsys.readouterr().out
    assert f"source {site.url}/guide/#crawl&max-pages=20 (site): 3 documents, 1 skipped, last run" in status
    assert f"source git+file://{repo}@main#path=docs/ (git): 1 documents" in status
    assert main(["status", "--space", "ops", "--json"]) == 0
    (space,) = json.loads(capsys.readouterr().out)
    kinds = {s["kind"]: s for s in space["sources"]}
    assert kinds["site"]["last_run"]["read"] == 0 and kinds["site"]["last_error"] is None

    assert main(["search", "when do widget backups run", "--space", "ops", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert hits[0]["source"] == f"{site.url}/guide/b.html"

    assert main(["unpin", f"git+file://{repo}@main#path=docs/", "--space", "ops"]) == 0
    assert "1 removed" in capsys.readouterr().out


def test_bounds_need_a_crawl(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "https://docs.example.com/", "--max-pages", "5", "--space", "ops"]) == 1
    assert "--max-pages, --include and --exclude need --crawl" in capsys.readouterr().err
    assert main(["ingest", "./docs", "--crawl", "--space", "ops"]) == 1
    assert "--crawl, --include and --exclude apply to http(s) URLs" in capsys.readouterr().err
    assert main(["pin", "git+https://git.example.com/r.git", "--max-pages", "5", "--space", "ops"]) == 1
    assert "--max-pages applies to sites, sitemaps and Confluence sources" in capsys.readouterr().err
