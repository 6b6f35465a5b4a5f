"""Whole sites (`--crawl`) and sitemaps, end to end through RagService.ingest/pin: the real
HttpFetcher against a static site on 127.0.0.1 (core/testing/fake_site.py) with robots.txt,
redirects, canonical links, ETag/Last-Modified and 304s; the deterministic indexes and embedder."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from core.backends.http_fetcher import HttpFetcher
from core.ingest.kinds import web as web_kind
from core.ingest.locations import with_options
from core.models import OutcomeStatus, SearchFilters
from core.service import RagService
from core.settings import CrawlSettings, IngestSettings
from core.testing.fake_service import make_service
from core.testing.fake_site import FakeSite, page_html

SPACE = "docs"


def guide_site() -> FakeSite:
    site = FakeSite()
    site.robots = "User-agent: *\nDisallow: /guide/private/\n"
    links = ["install.html", "configure.html", "sub/deep.html", "old.html", "private/secret.html", "gone.html",
             "logo.png", "/blog/post.html", "https://elsewhere.example/x.html", "alias.html", "hidden.html"]  # fmt: skip
    site.add("/guide/", page_html("Guide", "Welcome to the guide of the Frobnicator.", links=links))
    site.add("/guide/install.html", page_html("Installing", "Run apt-get install frobnicator on every node."))
    site.add(
        "/guide/configure.html",
        page_html("Configuring", "Set FROB_LEVEL to 3 in /etc/frob.conf.", links=["sub/deep.html"]),
    )
    site.add("/guide/sub/deep.html", page_html("Deep", "The deep page explains the frob cache eviction."))
    site.redirects["/guide/old.html"] = (301, "/guide/install.html")
    site.add("/guide/private/secret.html", page_html("Secret", "Nobody should index this."))
    # the same page under another URL, declaring the original as canonical
    site.add(
        "/guide/alias.html",
        page_html("Configuring", "Set FROB_LEVEL to 3 in /etc/frob.conf.", canonical="/guide/configure.html"),
    )
    site.add(
        "/guide/hidden.html",
        page_html("Hidden", "Drafts are not for search.", head='<meta name="robots" content="noindex">'),
    )
    site.add("/guide/logo.png", b"\x89PNG....", content_type="image/png")
    site.add("/blog/post.html", page_html("Blog", "Outside the guide."))
    return site


@pytest.fixture
async def site() -> AsyncIterator[FakeSite]:
    s = guide_site()
    await s.start()
    yield s
    await s.aclose()


async def open_service(**options) -> RagService:
    crawl = options.pop("crawl", None)
    ingest = options.pop("ingest", None) or IngestSettings(fetch_timeout=5.0)
    service = make_service(
        fetcher=HttpFetcher(ingest, max_redirects=3), crawl=crawl, ingest=ingest, **options
    )
    await service.start()
    return service


@pytest.fixture
async def service() -> AsyncIterator[RagService]:
    s = await open_service()
    yield s
    await s.aclose()


def crawl_of(site: FakeSite, path: str = "/guide/", **options) -> str:
    return with_options(site.url + path, crawl=True, **options)


def by_status(report, status: OutcomeStatus) -> list[str]:
    return sorted(o.source for o in report.outcomes if o.status is status)


async def test_a_crawl_stays_under_the_prefix_obeys_robots_and_reads_each_page_once(
    site: FakeSite, service: RagService
) -> None:
    report = await service.ingest(SPACE, [crawl_of(site)])

    base = site.url + "/guide/"
    assert by_status(report, OutcomeStatus.ADDED) == [
        base, base + "configure.html", base + "install.html", base + "sub/deep.html"
    ]  # fmt: skip
    skipped = {o.source: o.reason for o in report.outcomes if o.status is OutcomeStatus.SKIPPED}
    assert "robots.txt" in skipped[base + "private/secret.html"]
    assert "not found" in skipped[base + "gone.html"] or "404" in skipped[base + "gone.html"]
    assert "same page as" in skipped[base + "alias.html"]  # its canonical URL was read already
    assert "noindex" in skipped[base + "hidden.html"]
    assert report.ok, report.failed
    # nothing outside the prefix, no assets, nothing robots.txt forbids was even asked for
    asked = {r.path for r in site.requests}
    assert {"/blog/post.html", "/guide/logo.png", "/guide/private/secret.html"}.isdisjoint(asked)
    # each document is cited by its own URL
    live = await service.store.live_documents(SPACE)
    assert live[base + "install.html"].source == base + "install.html"
    assert live[base + "install.html"].title == "Installing"
    hits = await service.search("frob cache eviction", SPACE)
    assert hits.hits[0].chunk.source == base + "sub/deep.html"
    assert "Docs footer" not in hits.hits[0].chunk.text  # the page's chrome is not content


async def test_an_unchanged_site_is_re_read_with_conditional_requests_and_writes_nothing(
    site: FakeSite, service: RagService
) -> None:
    first = await service.ingest(SPACE, [crawl_of(site)])
    embedded = len(service.embedder.calls)
    site.reset_counts()

    again = await service.ingest(SPACE, [crawl_of(site)])

    assert by_status(again, OutcomeStatus.UNCHANGED) == by_status(first, OutcomeStatus.ADDED)
    assert again.chunks_written == 0 and len(service.embedder.calls) == embedded
    page_requests = [r for r in site.requests if r.path != "/robots.txt"]
    ok = [r for r in page_requests if r.status == 200]
    assert all(r.conditional for r in page_requests if r.path.endswith((".html", "/")) and r.status != 404)
    assert ok == [], f"every page known before answered 304: {ok}"
    assert site.bytes_sent < 200  # robots.txt and 404 pages only


async def test_a_changed_page_is_the_only_one_read_and_written_again(
    site: FakeSite, service: RagService
) -> None:
    await service.ingest(SPACE, [crawl_of(site)])
    site.change("/guide/install.html", page_html("Installing", "Run snap install frobnicator --classic."))
    site.reset_counts()

    report = await service.ingest(SPACE, [crawl_of(site)])

    base = site.url + "/guide/"
    assert by_status(report, OutcomeStatus.UPDATED) == [base + "install.html"]
    assert len(by_status(report, OutcomeStatus.UNCHANGED)) == 3
    # (twice: old.html redirects there, and a redirect is only known by asking)
    assert {r.path for r in site.requests if r.status == 200} == {"/robots.txt", "/guide/install.html"}
    hits = await service.search("snap install classic", SPACE)
    assert "snap install" in hits.hits[0].chunk.text


async def test_a_page_removed_from_the_site_is_pruned_by_the_pin_only(
    site: FakeSite, service: RagService
) -> None:
    pin, _ = await service.pin(SPACE, crawl_of(site))
    del site.pages["/guide/sub/deep.html"]

    plain = await service.ingest(SPACE, [crawl_of(site)])  # no --prune: kept
    assert by_status(plain, OutcomeStatus.REMOVED) == []
    run = await service.refresh_pin(pin)

    assert run.report is not None and by_status(run.report, OutcomeStatus.REMOVED) == [
        site.url + "/guide/sub/deep.html"
    ]
    assert site.url + "/guide/sub/deep.html" not in await service.store.live_documents(SPACE)
    assert run.error is None and run.pin.consecutive_failures == 0
    (state,) = await service.source_states(SPACE)
    assert (state.kind, state.documents, state.last_error) == ("site", 3, None)


async def test_max_pages_bounds_the_crawl_and_then_nothing_is_pruned(
    site: FakeSite, service: RagService
) -> None:
    pin, full = await service.pin(SPACE, crawl_of(site))
    assert full.count(OutcomeStatus.ADDED) == 4
    site.reset_counts()

    report = await service.ingest(SPACE, [crawl_of(site, max_pages=2)], prune=True)

    assert len([r for r in site.requests if r.path != "/robots.txt"]) == 2
    assert "more than 2 pages" in " ".join(o.reason for o in report.outcomes)
    assert by_status(report, OutcomeStatus.REMOVED) == []
    assert len(await service.store.live_documents(SPACE)) == 4


async def test_include_and_exclude_choose_the_pages_kept(site: FakeSite, service: RagService) -> None:
    report = await service.ingest(SPACE, [crawl_of(site, include=["/guide/*.html"], exclude=["*/sub/*"])])

    assert by_status(report, OutcomeStatus.ADDED) == [
        site.url + "/guide/configure.html", site.url + "/guide/install.html"
    ]  # fmt: skip
    assert "/guide/sub/deep.html" not in {r.path for r in site.requests}  # excluded: not even read
    assert "/guide/" in {r.path for r in site.requests}  # read for its links, not kept


async def test_a_site_without_validators_is_read_again_but_writes_nothing(
    site: FakeSite, service: RagService
) -> None:
    site.validators = False
    await service.ingest(SPACE, [crawl_of(site)])
    embedded = len(service.embedder.calls)

    again = await service.ingest(SPACE, [crawl_of(site)])

    assert again.count(OutcomeStatus.UNCHANGED) == 4 and again.chunks_written == 0
    assert len(service.embedder.calls) == embedded


async def test_a_new_pipeline_reads_every_page_again(
    site: FakeSite, service: RagService, monkeypatch
) -> None:
    await service.ingest(SPACE, [crawl_of(site)])
    monkeypatch.setattr("core.ingest.pipeline.PASSAGE_FORMAT", "another format")
    site.reset_counts()

    again = await service.ingest(SPACE, [crawl_of(site)])

    assert again.count(OutcomeStatus.UPDATED) == 4  # hints of the old pipeline were not trusted
    assert not any(r.conditional for r in site.requests)


async def test_spaces_keep_their_own_state_of_one_site(site: FakeSite, service: RagService) -> None:
    await service.ingest("a", [crawl_of(site)])
    other = await service.ingest("b", [crawl_of(site)])
    assert other.count(OutcomeStatus.ADDED) == 4  # space b knew nothing of what a read
    assert [s.space_id for s in await service.source_states()] == ["a", "b"]


# -- sitemaps ---------------------------------------------------------------------------------------


async def test_a_sitemap_re_sync_asks_only_for_pages_whose_lastmod_moved(
    site: FakeSite, service: RagService
) -> None:
    paths = ["/guide/install.html", "/guide/configure.html", "/guide/sub/deep.html", "/blog/post.html"]
    site.sitemap("/sitemap.xml", paths)
    first = await service.ingest(SPACE, [site.url + "/sitemap.xml"])
    assert first.count(OutcomeStatus.ADDED) == 4  # a sitemap lists pages anywhere on its host
    site.reset_counts()

    unchanged = await service.ingest(SPACE, [site.url + "/sitemap.xml"])
    assert unchanged.count(OutcomeStatus.UNCHANGED) == 4
    assert sorted(r.path for r in site.requests) == ["/robots.txt", "/sitemap.xml"]  # no page asked for

    site.change("/blog/post.html", page_html("Blog", "A new post about frob levels."))
    site.reset_counts()
    changed = await service.ingest(SPACE, [site.url + "/sitemap.xml"])
    assert by_status(changed, OutcomeStatus.UPDATED) == [site.url + "/blog/post.html"]
    assert sorted(r.path for r in site.requests) == ["/blog/post.html", "/robots.txt", "/sitemap.xml"]


async def test_a_sitemap_index_is_followed(site: FakeSite, service: RagService) -> None:
    site.sitemap("/sitemaps/guide.xml", ["/guide/install.html", "/guide/configure.html"])
    site.sitemap("/sitemaps/blog.xml", ["/blog/post.html"])
    site.sitemap_index("/sitemap_index.xml", ["/sitemaps/guide.xml", "/sitemaps/blog.xml"])
    report = await service.ingest(SPACE, [site.url + "/sitemap_index.xml"])
    assert report.count(OutcomeStatus.ADDED) == 3 and report.ok


async def test_a_sitemap_of_ten_million_urls_is_read_only_as_far_as_max_pages(
    site: FakeSite, service: RagService
) -> None:
    written = {"bytes": 0, "finished": False}

    async def huge(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "application/xml"})
        await response.prepare(request)
        await response.write(
            b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        )
        for start in range(0, 10_000_000, 1000):
            rows = "".join(f"<url><loc>{site.url}/p/{i}.html</loc></url>" for i in range(start, start + 1000))
            await response.write(rows.encode())
            written["bytes"] += len(rows)
        await response.write(b"</urlset>")
        written["finished"] = True
        return response

    site.handlers["/sitemap.xml"] = huge
    for i in range(5):
        site.add(f"/p/{i}.html", page_html(f"Page {i}", f"Text of page number {i} about frobs."))

    report = await service.ingest(SPACE, [with_options(site.url + "/sitemap.xml", max_pages=5)])

    assert report.count(OutcomeStatus.ADDED) == 5
    assert "more than 5 pages" in " ".join(
        o.reason for o in report.outcomes if o.status is OutcomeStatus.SKIPPED
    )
    assert not written["finished"] and written["bytes"] < 50_000_000  # the 700 MB list was not read


# -- bad input --------------------------------------------------------------------------------------


async def test_an_unreachable_site_fails_with_a_message_and_loses_nothing(
    site: FakeSite, service: RagService
) -> None:
    await service.ingest(SPACE, [crawl_of(site)])
    location = crawl_of(site)
    await site.aclose()  # nothing listens there any more

    report = await service.ingest(SPACE, [location], prune=True)

    (failure,) = report.failed
    assert failure.source == location and "refused the connection" in failure.reason
    assert len(await service.store.live_documents(SPACE)) == 4  # still serving
    (state,) = await service.source_states(SPACE)
    assert state.failing and "refused" in state.last_error and state.documents == 4


@pytest.mark.parametrize(("status", "words"), [(401, "needs a login"), (403, "forbidden")])
async def test_a_start_page_behind_a_login_says_so(
    site: FakeSite, service: RagService, status: int, words: str
) -> None:
    site.statuses["/guide/"] = status
    report = await service.ingest(SPACE, [crawl_of(site)])
    (failure,) = report.failed
    assert f"HTTP {status}" in failure.reason and words in failure.reason


async def test_a_redirect_loop_is_named(site: FakeSite, service: RagService) -> None:
    site.redirects["/loop/"] = (302, "/loop/a")
    site.redirects["/loop/a"] = (302, "/loop/")
    report = await service.ingest(SPACE, [crawl_of(site, "/loop/")])
    (failure,) = report.failed
    assert "redirected more than 3 times" in failure.reason and "loop" in failure.reason


async def test_a_page_over_the_size_limit_fails_alone(site: FakeSite) -> None:
    service = await open_service(ingest=IngestSettings(max_file_mb=0.01, fetch_timeout=5.0))
    try:
        site.add("/guide/install.html", page_html("Installing", "word " * 5000))
        report = await service.ingest(SPACE, [crawl_of(site)])
    finally:
        await service.aclose()
    # the page, and old.html that redirects to it
    assert by_status(report, OutcomeStatus.FAILED) == [
        site.url + "/guide/install.html",
        site.url + "/guide/old.html",
    ]
    assert all("over the 10 KB limit (INGEST_MAX_FILE_MB)" in f.reason for f in report.failed)
    assert report.count(OutcomeStatus.ADDED) == 3


async def test_a_failing_robots_txt_reads_nothing(site: FakeSite, service: RagService) -> None:
    site.statuses["/robots.txt"] = 503
    report = await service.ingest(SPACE, [crawl_of(site)])
    (failure,) = report.failed
    assert "robots.txt" in failure.reason and "503" in failure.reason
    assert [r.path for r in site.requests] == ["/robots.txt"]


async def test_a_sitemap_that_is_not_one_says_so(site: FakeSite, service: RagService) -> None:
    site.add("/sitemap.xml", "<html><body>Oops</body></html>")
    report = await service.ingest(SPACE, [site.url + "/sitemap.xml"])
    (failure,) = report.failed
    assert "is not a sitemap" in failure.reason


# -- settings ---------------------------------------------------------------------------------------


async def test_crawl_max_pages_is_the_default_bound(site: FakeSite) -> None:
    service = await open_service(crawl=CrawlSettings(max_pages=3))
    try:
        await service.ingest(SPACE, [crawl_of(site)])
    finally:
        await service.aclose()
    assert len([r for r in site.requests if r.path != "/robots.txt"]) == 3


async def test_crawl_concurrency_bounds_the_requests_in_flight(site: FakeSite) -> None:
    in_flight = {"now": 0, "max": 0}
    for i in range(12):
        path = f"/many/{i}.html"

        async def slow(request: web.Request, i: int = i) -> web.StreamResponse:
            in_flight["now"] += 1
            in_flight["max"] = max(in_flight["max"], in_flight["now"])
            await asyncio.sleep(0.05)
            in_flight["now"] -= 1
            return web.Response(text=page_html(f"Many {i}", f"Page {i} of many."), content_type="text/html")

        site.handlers[path] = slow
    site.add("/many/", page_html("Many", "An index.", links=[f"{i}.html" for i in range(12)]))
    for concurrency, expected in ((2, lambda m: m == 2), (6, lambda m: m > 2)):
        in_flight["max"] = 0
        service = await open_service(crawl=CrawlSettings(concurrency=concurrency))
        try:
            report = await service.ingest(f"s{concurrency}", [crawl_of(site, "/many/")])
        finally:
            await service.aclose()
        assert report.count(OutcomeStatus.ADDED) == 13
        assert expected(in_flight["max"]), (concurrency, in_flight["max"])


async def test_crawl_delay_spaces_the_requests_and_robots_may_ask_for_more(
    site: FakeSite, monkeypatch: pytest.MonkeyPatch
) -> None:
    waits: list[float] = []

    async def record(seconds: float) -> None:
        waits.append(seconds)

    def gaps() -> list[float]:
        # the waits are recorded, not slept, so each request's start is booked one delay after
        # the one before: the waits grow by the delay
        return [round(b - a) for a, b in zip(waits, waits[1:], strict=False)]

    monkeypatch.setattr(web_kind, "_sleep", record)
    service = await open_service(crawl=CrawlSettings(delay_s=30.0, concurrency=1))
    try:
        await service.ingest(SPACE, [crawl_of(site)])
        assert len(waits) >= 5 and set(gaps()) == {30}
        waits.clear()
        site.robots = "User-agent: ragbot\nCrawl-delay: 90\n"
        await service.ingest("other", [crawl_of(site)])
        assert len(waits) >= 5 and set(gaps()) == {90}
    finally:
        await service.aclose()


async def test_the_search_of_one_space_never_sees_a_site_read_into_another(
    site: FakeSite, service: RagService
) -> None:
    await service.ingest("a", [crawl_of(site)])
    result = await service.retriever.search("frob cache eviction", SearchFilters("b"))
    assert result.hits == []


async def test_reindex_reads_a_site_as_a_whole_not_page_by_page(site: FakeSite, service: RagService) -> None:
    await service.ingest(SPACE, [crawl_of(site)])
    site.reset_counts()

    report = await service.reindex(SPACE)

    assert report.count(OutcomeStatus.UNCHANGED) == 4 and report.chunks_written == 0
    assert len(await service.store.live_documents(SPACE)) == 4  # no page became a document of its own
    assert all(r.conditional for r in site.requests if r.status == 304) and site.count(status=200) == 1
