"""Git repositories as sources, end to end through RagService: a repository the test creates with
the real `git` (Debian's package; .ci/run installs it), read by GitCli through `git+file://`, and
a hanging HTTP server for the timeout."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest
from aiohttp import web

from bot.scheduler import PinScheduler
from core.backends.git_cli import GitCli
from core.errors import InvalidInput
from core.ingest.kinds.git import forge_url
from core.ingest.locations import parse
from core.models import OutcomeStatus
from core.ports import GitEntry
from core.service import RagService
from core.settings import IngestSettings, SchedulerSettings
from core.testing.fake_service import make_service

SPACE = "eng"


def git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", "-c", "user.name=Test", "-c", "user.email=test@example.org", *args],
        cwd=repo, check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip


def write(repo: Path, path: str, content: str | bytes) -> None:
    target = repo / path
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_bytes(content.encode() if isinstance(content, str) else content)


def commit(repo: Path, message: str = "change") -> str:
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", message)
    return git(repo, "rev-parse", "HEAD")


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    repo = tmp_path / "handbook"
    repo.mkdir()
    git(repo, "init", "-q", "-b", "main")
    write(repo, "README.md", "# Handbook\n\nThe team's handbook lives in docs/.\n")
    write(repo, "docs/deploy.md", "# Deploying\n\nRun `make deploy` from the release branch.\n")
    write(repo, "docs/rollback.rst", "Rolling back\n============\n\nRun make rollback VERSION=previous.\n")
    write(repo, "docs/oncall.adoc", "= On call\n\n== Paging\n\nThe pager rotates every Monday at 10:00.\n")
    write(repo, "docs/notes.txt", "Release notes are kept in the wiki.\n")
    write(
        repo,
        "docs/api/index.html",
        "<html><body><main><h1>API</h1><p>The API listens on port 8443.</p></main></body></html>",
    )
    write(repo, "docs/diagram.png", b"\x89PNG\r\n\x1a\n\x00\x00binary")
    write(repo, "docs/.github/template.md", "# Hidden\n\nNot a document.\n")
    write(repo, "docs/build.py", "print('not a document')\n")
    commit(repo, "first")
    return repo


class CountingGit(GitCli):
    """The real GitCli, counting the blobs each run reads."""

    def __init__(self, cache: Path, **kw) -> None:
        super().__init__(cache, **kw)
        self.blobs_read: list[int] = []

    async def read_blobs(self, remote: str, blobs: Sequence[str]) -> dict[str, bytes]:
        self.blobs_read.append(len(blobs))
        return await super().read_blobs(remote, blobs)


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[RagService]:
    s = make_service(git=CountingGit(tmp_path / "git-cache"))
    await s.start()
    yield s
    await s.aclose()


def location(repo: Path, suffix: str = "") -> str:
    return f"git+file://{repo}{suffix}"


def by_status(report, status: OutcomeStatus) -> list[str]:
    return sorted(o.doc_id.rsplit(":", 1)[-1] for o in report.outcomes if o.status is status)


async def test_a_repository_folder_is_ingested_with_each_format(repo: Path, service: RagService) -> None:
    report = await service.ingest(SPACE, [location(repo, "@main#path=docs/")])

    assert by_status(report, OutcomeStatus.ADDED) == [
        "docs/api/index.html", "docs/deploy.md", "docs/notes.txt", "docs/oncall.adoc", "docs/rollback.rst"
    ]  # fmt: skip
    assert report.ok
    live = await service.store.live_documents(SPACE)
    doc_id = f"git+file://{repo}@main:docs/oncall.adoc"
    # a repository on no known forge: the citation names the repository and the path
    assert live[doc_id].source == doc_id and live[doc_id].title == "On call"
    hits = await service.search("when does the pager rotate", SPACE)
    assert hits.hits[0].chunk.doc_id == doc_id and "Paging" in hits.hits[0].chunk.section


async def test_an_unchanged_repository_reads_no_file(repo: Path, service: RagService) -> None:
    await service.ingest(SPACE, [location(repo)])
    embedded = len(service.embedder.calls)

    again = await service.ingest(SPACE, [location(repo)])

    assert again.count(OutcomeStatus.UNCHANGED) == 6 and again.chunks_written == 0
    assert len(service.embedder.calls) == embedded
    git_client = service.sources.readers["git"].git
    assert git_client.blobs_read == [6]  # the first run only: the second read no blob


async def test_a_re_sync_reads_only_the_files_changed_between_the_commits(
    repo: Path, service: RagService
) -> None:
    pin, first = await service.pin(SPACE, location(repo, "@main"))
    write(repo, "docs/deploy.md", "# Deploying\n\nRun `make deploy` from main; the release branch is gone.\n")
    write(repo, "docs/new.md", "# Access\n\nAsk in #it-help for VPN access.\n")
    (repo / "docs" / "notes.txt").unlink()
    commit(repo, "second")

    run = await service.refresh_pin(pin)

    report = run.report
    assert report is not None and run.error is None
    assert by_status(report, OutcomeStatus.UPDATED) == ["docs/deploy.md"]
    assert by_status(report, OutcomeStatus.ADDED) == ["docs/new.md"]
    assert by_status(report, OutcomeStatus.REMOVED) == ["docs/notes.txt"]
    assert report.count(OutcomeStatus.UNCHANGED) == 4
    assert service.sources.readers["git"].git.blobs_read == [6, 2]
    (state,) = await service.source_states(SPACE)
    assert state.cursor["state"]["commit"] == git(repo, "rev-parse", "HEAD") and state.documents == 6


async def test_a_branch_is_read_as_named(repo: Path, service: RagService) -> None:
    git(repo, "checkout", "-q", "-b", "release")
    write(repo, "docs/deploy.md", "# Deploying\n\nOn the release branch deploys are frozen.\n")
    commit(repo, "freeze")
    git(repo, "checkout", "-q", "main")

    await service.ingest(SPACE, [location(repo, "@release#path=docs/deploy.md")])

    hits = await service.search("deploys are frozen", SPACE)
    assert hits.hits and hits.hits[0].chunk.doc_id.endswith("@release:docs/deploy.md")
    assert len(await service.store.live_documents(SPACE)) == 1


async def test_a_binary_file_with_a_document_name_fails_alone(repo: Path, service: RagService) -> None:
    write(repo, "docs/scan.md", b"\x00\x01\x02PK\x03\x04 binary payload \x00\xff")
    commit(repo)
    report = await service.ingest(SPACE, [location(repo)])
    (failure,) = report.failed
    assert "binary" in failure.reason and failure.doc_id.endswith(":docs/scan.md")
    assert report.count(OutcomeStatus.ADDED) == 6


async def test_a_file_over_the_size_limit_is_not_read(repo: Path, tmp_path: Path) -> None:
    write(repo, "docs/huge.md", "# Huge\n\n" + "word " * 5000)
    commit(repo)
    service = make_service(git=CountingGit(tmp_path / "cache"), ingest=IngestSettings(max_file_mb=0.01))
    await service.start()
    try:
        report = await service.ingest(SPACE, [location(repo)])
    finally:
        await service.aclose()
    (failure,) = report.failed
    assert "docs/huge.md is 24 KB, over the 10 KB limit" in failure.reason
    assert report.count(OutcomeStatus.ADDED) == 6


@pytest.mark.parametrize(
    ("suffix", "words"),
    [
        ("@no-such-branch", "There is no branch or tag 'no-such-branch'"),
        ("#path=nowhere/", "nowhere/ does not exist in"),
    ],
)
async def test_bad_branches_and_folders_are_named(
    repo: Path, service: RagService, suffix: str, words: str
) -> None:
    report = await service.ingest(SPACE, [location(repo, suffix)])
    (failure,) = report.failed
    assert words in failure.reason


async def test_a_missing_repository_or_host_says_so_and_keeps_what_was_ingested(
    repo: Path, service: RagService, tmp_path: Path
) -> None:
    pin, _ = await service.pin(SPACE, location(repo))
    moved = tmp_path / "moved"
    await asyncio.to_thread(repo.rename, moved)

    run = await service.refresh_pin(pin)

    assert run.error is not None and "There is no Git repository at file://" in run.error
    assert len(await service.store.live_documents(SPACE)) == 6  # still serving
    report = await service.ingest(SPACE, ["git+https://127.0.0.1:9/org/repo.git"])
    (failure,) = report.failed
    assert "refused the connection" in failure.reason or "did not answer" in failure.reason


def test_a_password_in_a_git_url_is_refused() -> None:
    with pytest.raises(InvalidInput, match="must not carry a password or token"):
        parse("git+https://bot:s3cret@git.example.com/org/repo.git")


async def test_a_password_in_a_url_is_reported_not_used(service: RagService) -> None:
    report = await service.ingest(SPACE, ["git+https://bot:s3cret@git.example.com/org/repo.git"])
    (failure,) = report.failed
    assert "s3cret" not in failure.reason and "credential helper" in failure.reason


async def test_git_timeout_stops_a_hanging_fetch(tmp_path: Path) -> None:
    release = asyncio.Event()

    async def hang(request: web.Request) -> web.StreamResponse:
        await release.wait()
        return web.Response(status=404)

    app = web.Application()
    app.router.add_route("GET", "/{tail:.*}", hang)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    service = make_service(git=GitCli(tmp_path / "cache", timeout_s=1.0))
    await service.start()
    try:
        report = await service.ingest(SPACE, [f"git+http://127.0.0.1:{port}/org/repo.git"])
    finally:
        release.set()
        await service.aclose()
        await runner.cleanup()
    (failure,) = report.failed
    assert "took longer than 1 s (GIT_TIMEOUT_S)" in failure.reason


def test_citations_link_to_the_file_on_known_forges_at_the_commit() -> None:
    sha = "0123456789abcdef0123456789abcdef01234567"
    assert forge_url("https://github.com/org/repo.git", sha, "docs/a b.md") == (
        f"https://github.com/org/repo/blob/{sha}/docs/a%20b.md"
    )
    assert forge_url("ssh://git@gitlab.example.com/group/sub/repo.git", sha, "x.md") == (
        f"https://gitlab.example.com/group/sub/repo/-/blob/{sha}/x.md"
    )
    assert (
        forge_url("https://gitea.example.org/o/r.git", sha, "x.md")
        == f"https://gitea.example.org/o/r/src/commit/{sha}/x.md"
    )
    assert (
        forge_url("https://codeberg.org/o/r", sha, "x.md")
        == f"https://codeberg.org/o/r/src/commit/{sha}/x.md"
    )
    assert forge_url("https://git.example.com/o/r.git", sha, "x.md") is None
    assert forge_url("file:///srv/r.git", sha, "x.md") is None


async def test_listing_keeps_regular_files_under_the_folder(repo: Path, tmp_path: Path) -> None:
    (repo / "docs" / "link.md").symlink_to("deploy.md")
    commit(repo)
    client = GitCli(tmp_path / "cache")
    sha = await client.fetch(f"file://{repo}", None)
    entries = await client.list_files(f"file://{repo}", sha, "docs")
    paths = {e.path for e in entries}
    assert "docs/deploy.md" in paths and "README.md" not in paths and "docs/link.md" not in paths
    assert all(isinstance(e, GitEntry) and len(e.blob) == 40 for e in entries)
    blobs = await client.read_blobs(f"file://{repo}", [e.blob for e in entries if e.path == "docs/deploy.md"])
    assert list(blobs.values()) == [(repo / "docs" / "deploy.md").read_bytes()]


async def test_a_repository_that_keeps_failing_alerts_the_admins(
    repo: Path, service: RagService, tmp_path: Path
) -> None:
    """As for any pin: the scheduler retries, and the third failure in a row tells the admins."""
    alerts: list[str] = []

    async def alert(text: str) -> None:
        alerts.append(text)

    pin, _ = await service.pin(SPACE, location(repo, "@main"))
    await asyncio.to_thread(repo.rename, tmp_path / "gone")
    scheduler = PinScheduler(service, SchedulerSettings(max_consecutive_failures=3), alert=alert)
    runs = [await scheduler.run_now(pin) for _ in range(3)]  # as its retries would run it (not started)
    assert [r.alert for r in runs if r is not None] == [False, False, True]
    (text,) = alerts
    assert pin.location in text and "3 times in a row" in text and "There is no Git repository" in text
    assert len(await service.store.live_documents(SPACE)) == 6  # the previous version still serves


async def test_a_bug_while_reading_is_reported_logged_and_loses_nothing(
    repo: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    class Broken(GitCli):
        fail = False

        async def list_files(self, remote: str, commit: str, under: str | None) -> list[GitEntry]:
            if self.fail:
                raise KeyError("mode")  # what a parser bug would raise
            return await super().list_files(remote, commit, under)

    git_client = Broken(tmp_path / "cache")
    service = make_service(git=git_client)
    await service.start()
    try:
        await service.ingest(SPACE, [location(repo)])
        git_client.fail = True
        report = await service.ingest(SPACE, [location(repo)], prune=True)
        (state,) = await service.source_states(SPACE)
        live = await service.store.live_documents(SPACE)
    finally:
        await service.aclose()
    (failure,) = report.failed
    assert "unexpected error while reading this source (KeyError)" in failure.reason
    assert state.last_error == failure.reason and len(live) == 6
    assert "source.crashed" in caplog.text and "KeyError" in caplog.text  # the traceback is in the log
