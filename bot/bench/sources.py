"""Benchmark: keeping a whole site and a whole Git repository in sync (``ragbot bench sources``).

A generated documentation site of ``pages`` pages (core/testing/fake_site.py: ETag,
Last-Modified, 304s, a sitemap with lastmod, robots.txt) on 127.0.0.1, and a generated Git
repository of ``files`` Markdown files (the real ``git``), each read by the production wiring
(``bot.bootstrap.build_service``: e5 embedder, qdrant-edge, Whoosh, SQLite, the doc_type
classifier) in a scratch DATA_DIR, three ways: a crawl (``URL#crawl``), the sitemap, the
repository (``git+file://``). For each: the first ingestion (the baseline), a re-sync with nothing
changed, and a re-sync after ``changed`` of the pages or files changed. Reported per run: wall
time and its share of the first ingestion, the requests the site served (by status) or the git
fetches, documents read, written, unchanged.

The numbers are of one shared 2-core machine: the three runs of a source follow each other, so
load affects them alike (docs/BENCHMARKS.md)."""

from __future__ import annotations

import asyncio
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bot.bootstrap import build_service
from bot.settings import Settings
from core.ingest.locations import with_options
from core.models import IngestReport, OutcomeStatus
from core.service import RagService
from core.testing.fake_site import FakeSite, page_html

__all__ = ["run"]

_WORDS = (
    "cluster node volume backup restore deploy rollback alert metric dashboard quota token secret rotate "
    "gateway proxy certificate renew schedule replica shard index query latency throughput cache session "
    "queue worker retry timeout limit budget owner review release branch merge pipeline artifact registry "
    "image container kernel network firewall port route policy audit log trace sample export import"
).split()
_SECTIONS = 20


def _text(rng: random.Random, n: int, salt: str = "") -> str:
    """A page of prose: three paragraphs of 40-60 words, unique per page."""
    paragraphs = []
    for k in range(3):
        words = [rng.choice(_WORDS) for _ in range(rng.randint(40, 60))]
        paragraphs.append(f"Topic {n}.{k}{salt}: " + " ".join(words).capitalize() + ".")
    return "\n\n".join(paragraphs)


def build_site(pages: int, seed: int = 7) -> FakeSite:
    rng = random.Random(seed)
    site = FakeSite()
    site.robots = "User-agent: *\nDisallow: /docs/private/\n"
    per = -(-pages // _SECTIONS)
    sections = [f"s{k:02d}/" for k in range(_SECTIONS)]
    site.add("/docs/", page_html("Documentation", "All sections of the handbook.", links=sections))
    paths = ["/docs/"]
    for k in range(_SECTIONS):
        members = [f"/docs/s{k:02d}/p{i:04d}.html" for i in range(k * per, min((k + 1) * per, pages))]
        site.add(
            f"/docs/s{k:02d}/",
            page_html(f"Section {k}", f"Pages of section {k}.", links=[m.rsplit("/", 1)[1] for m in members]),
        )
        paths.append(f"/docs/s{k:02d}/")
        for j, path in enumerate(members):
            n = int(path[-9:-5])
            neighbours = [members[(j + 1) % len(members)].rsplit("/", 1)[1], "../", "/docs/"]
            site.add(path, page_html(f"Page {n}", _text(rng, n), links=neighbours))
            paths.append(path)
    site.sitemap("/sitemap.xml", paths)
    return site


def build_repo(root: Path, files: int, seed: int = 11) -> Path:
    rng = random.Random(seed)
    repo = root / "handbook"
    for i in range(files):
        path = repo / "docs" / f"area{i % _SECTIONS:02d}" / f"note{i:04d}.md"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"# Note {i}\n\n{_text(rng, i)}\n", encoding="utf-8")
    (repo / "docs" / "logo.png").write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)))
    _git(repo, "init", "-q", "-b", "main")
    _commit(repo, "first")
    return repo


def _git(repo: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=bench", "-c", "user.email=bench@example.org", *args],
        cwd=repo, check=True, capture_output=True,
    )  # fmt: skip


def _commit(repo: Path, message: str) -> None:
    _git(repo, "add", "-A")
    _git(repo, "commit", "-q", "-m", message)


async def _timed(service: RagService, space: str, location: str) -> tuple[IngestReport, float]:
    started = time.perf_counter()
    report = await service.ingest(space, [location], prune=True)
    return report, time.perf_counter() - started


def _row(report: IngestReport, seconds: float, first: float | None, extra: dict[str, Any]) -> dict[str, Any]:
    row = {
        "seconds": round(seconds, 2),
        "share_of_first": round(seconds / first, 4) if first else 1.0,
        "added": report.count(OutcomeStatus.ADDED),
        "updated": report.count(OutcomeStatus.UPDATED),
        "unchanged": report.count(OutcomeStatus.UNCHANGED),
        "removed": report.count(OutcomeStatus.REMOVED),
        "skipped": report.count(OutcomeStatus.SKIPPED),
        "failed": report.count(OutcomeStatus.FAILED),
        "chunks_written": report.chunks_written,
    }
    return row | extra


async def _web(
    service: RagService, site: FakeSite, space: str, location: str, changed: int
) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    first = None
    rng = random.Random(space)
    for phase in ("first", "unchanged", "changed"):
        if phase == "changed":
            chosen = rng.sample([p for p in site.pages if p.endswith(".html")], changed)
            for path in chosen:
                edit = f"<p>Edited for the {space} re-sync: {' '.join(rng.choices(_WORDS, k=12))}.</p></main>"
                site.change(path, site.pages[path].body.decode().replace("</main>", edit, 1))
        site.reset_counts()
        print(f"bench sources: {space} {phase} ...", file=sys.stderr, flush=True)
        report, seconds = await _timed(service, space, location)
        first = first or seconds
        state = next(s for s in await service.source_states(space))
        statuses: dict[str, int] = {}
        for r in site.requests:
            statuses[str(r.status)] = statuses.get(str(r.status), 0) + 1
        rows[phase] = _row(
            report,
            seconds,
            first,
            {
                "requests": len(site.requests),
                "requests_by_status": dict(sorted(statuses.items())),
                "bytes_served": site.bytes_sent,
                "documents_read": state.cursor.get("last_run", {}).get("read"),
            },
        )
    return rows


async def _repo(service: RagService, repo: Path, files: int, changed: int) -> dict[str, Any]:
    rows: dict[str, Any] = {}
    first = None
    location = f"git+file://{repo}@main#path=docs/"
    for phase in ("first", "unchanged", "changed"):
        if phase == "changed":
            rng = random.Random(5)
            for i in rng.sample(range(files), changed):
                path = repo / "docs" / f"area{i % _SECTIONS:02d}" / f"note{i:04d}.md"
                path.write_text(
                    f"# Note {i}\n\n{_text(random.Random(i), i, salt=' (edited)')}\n", encoding="utf-8"
                )
            await asyncio.to_thread(_commit, repo, "edit 1%")
        print(f"bench sources: git {phase} ...", file=sys.stderr, flush=True)
        report, seconds = await _timed(service, "repo", location)
        first = first or seconds
        (state,) = await service.source_states("repo")
        last = state.cursor.get("last_run", {})
        rows[phase] = _row(
            report, seconds, first, {"git_fetches": last.get("requests"), "documents_read": last.get("read")}
        )
    return rows


async def run(pages: int = 1000, files: int = 1000, changed: float = 0.01) -> dict[str, Any]:
    n_pages = max(1, round(pages * changed))
    n_files = max(1, round(files * changed))
    site = build_site(pages)
    await site.start()
    with tempfile.TemporaryDirectory(prefix="ragbot-bench-sources-") as tmp:
        repo = await asyncio.to_thread(build_repo, Path(tmp), files)
        settings = Settings(data_dir=Path(tmp) / "data")
        service = build_service(settings)
        await service.start(chat=False)
        try:
            crawl = await _web(service, site, "crawl", with_options(site.url + "/docs/", crawl=True), n_pages)
            sitemap = await _web(service, site, "sitemap", site.url + "/sitemap.xml", n_pages)
            git = await _repo(service, repo, files, n_files)
        finally:
            await service.aclose()
            await site.aclose()
    return {
        "site_pages": len(site.pages),
        "repo_files": files,
        "changed_pages": n_pages,
        "changed_files": n_files,
        "crawl_concurrency": settings.crawl.concurrency,
        "crawl_delay_s": settings.crawl.delay_s,
        "crawl": crawl,
        "sitemap": sitemap,
        "git": git,
    }
