"""Whole sites (``URL#crawl``) and sitemaps, read through the ``Fetcher`` port.

A crawl starts at a URL and follows links that stay under its prefix (``/guide/`` for
``https://docs.example.com/guide/``; the folder of a file-like start URL). Both obey robots.txt
(RFC 9309: no robots.txt or a 4xx means everything is allowed; a 5xx means nothing is, so the run
fails and the previous version keeps serving; the Crawl-delay for ``ragbot`` or ``*`` is honoured),
follow canonical links that stay under the prefix, skip pages that say ``noindex``, read each page
once (a page reached by two URLs, or redirected to one already read, counts once), and go no
further than --max-pages (CRAWL_MAX_PAGES), with CRAWL_CONCURRENCY requests in flight and
CRAWL_DELAY_S between their starts.

Re-reading is cheap: a page read before is asked for with its ETag / Last-Modified, and a 304
costs no body (its links come from the cursor); a sitemap page whose ``lastmod`` has not moved
is not asked for at all (docs/sources.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Iterable
from fnmatch import fnmatchcase
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import unquote, urlsplit
from urllib.robotparser import RobotFileParser

from core.errors import CoreError, FileTooLarge, SourceDenied, SourceNotFound, SourceUnreachable
from core.ingest.extract import SUPPORTED_EXTENSIONS
from core.ingest.formats.links import PageLinks, page_links
from core.ingest.formats.sitemap import SitemapEntry, SitemapReader
from core.ingest.kinds import RawDocument, SyncContext, SyncRun
from core.ingest.locations import Kind, SourceSpec
from core.ingest.sources import normalise_url
from core.models import DocOutcome, OutcomeStatus
from core.ports import Fetched, Fetcher
from core.settings import CrawlSettings

__all__ = ["WebReader", "prefix_of"]

log = logging.getLogger(__name__)

ROBOTS_AGENT = "ragbot"
_ROBOTS_MAX_BYTES = 512 * 1024  # RFC 9309 lets crawlers stop at 500 KiB
_SITEMAP_MAX_BYTES = 50 * 1024 * 1024  # the sitemaps.org limit for one (uncompressed) sitemap file
_SITEMAP_DEPTH = 3  # an index of indexes of sitemaps, no deeper
# links to these are assets, not documents: not worth a request
_ASSETS = frozenset(
    ".png .jpg .jpeg .gif .svg .webp .ico .bmp .tif .tiff .css .js .mjs .map .json .xml .rss .atom .zip .gz "
    ".tgz .tar .bz2 .xz .7z .rar .exe .dmg .msi .deb .rpm .apk .iso .bin .woff .woff2 .ttf .otf .eot .mp3 "
    ".mp4 .webm .avi .mov .wav .ogg .csv .xls .xlsx .ppt .pptx .doc .odt .rtf .epub".split()
)
_HTML_TYPES = ("text/html", "application/xhtml+xml")

# Tests replace this to see the waits the crawl asks for without waiting.
_sleep = asyncio.sleep


def prefix_of(url: str) -> str:
    """The part of the site a crawl of ``url`` stays in: its folder. ``/guide/`` stays in
    ``/guide/``, ``/guide/index.html`` too, and ``/guide`` (no extension: a folder without its
    slash) in ``/guide/``."""
    parts = urlsplit(url)
    path = parts.path or "/"
    if not path.endswith("/"):
        last = path.rsplit("/", 1)[-1]
        path = path.rsplit("/", 1)[0] + "/" if "." in last else path + "/"
    return f"{parts.scheme}://{parts.netloc}{path}"


class _Pace:
    """At most ``concurrency`` requests in flight, their starts at least ``delay_s`` apart."""

    def __init__(self, concurrency: int, delay_s: float) -> None:
        self._slots = asyncio.Semaphore(concurrency)
        self.delay_s = delay_s
        self._next = 0.0
        self._lock = asyncio.Lock()

    @contextlib.asynccontextmanager
    async def slot(self) -> AsyncIterator[None]:
        async with self._slots:
            if self.delay_s > 0:
                async with self._lock:
                    now = time.monotonic()
                    wait = max(0.0, self._next - now)
                    self._next = max(now, self._next) + self.delay_s
                if wait > 0:
                    await _sleep(wait)
            yield


class _Robots:
    def __init__(self, lines: list[str] | None) -> None:
        self._parser: RobotFileParser | None = None
        if lines is not None:
            self._parser = RobotFileParser()
            self._parser.parse(lines)

    def allowed(self, url: str) -> bool:
        return self._parser is None or self._parser.can_fetch(ROBOTS_AGENT, url)

    @property
    def crawl_delay(self) -> float:
        if self._parser is None:
            return 0.0
        delay = self._parser.crawl_delay(ROBOTS_AGENT)
        return float(delay) if delay else 0.0


class WebReader:
    def __init__(self, fetcher: Fetcher, settings: CrawlSettings | None = None) -> None:
        self.fetcher = fetcher
        self.settings = settings or CrawlSettings()

    async def read(self, ctx: SyncContext) -> SyncRun:
        run = SyncRun()
        robots = await self._robots(ctx.spec.url, run)
        pace = _Pace(self.settings.concurrency, max(self.settings.delay_s, robots.crawl_delay))
        if ctx.spec.kind is Kind.SITE:
            await _Crawl(self, ctx, run, robots, pace).run()
        else:
            await _Sitemap(self, ctx, run, robots, pace).run()
        return run

    def limit(self, spec: SourceSpec) -> int:
        return spec.max_pages or self.settings.max_pages

    async def _robots(self, url: str, run: SyncRun) -> _Robots:
        parts = urlsplit(url)
        robots_url = f"{parts.scheme}://{parts.netloc}/robots.txt"
        run.requests += 1
        try:
            fetched = await self.fetcher.fetch(robots_url, max_bytes=_ROBOTS_MAX_BYTES)
        except (SourceDenied, SourceNotFound):
            return _Robots(None)  # RFC 9309 2.3.1.3: "unavailable", everything is allowed
        except FileTooLarge:
            return _Robots(None)
        except SourceUnreachable as e:
            raise SourceUnreachable(
                f"Cannot read {parts.netloc} (robots.txt, asked for first): {e.message}"
            ) from e
        if (
            not fetched.content_type.startswith("text/")
            and fetched.content_type != "application/octet-stream"
        ):
            return _Robots(None)  # an HTML error page served as robots.txt
        text = fetched.content.decode("utf-8", errors="replace")
        return _Robots(text.splitlines())


class _Pages:
    """What crawls and sitemaps share: reading one page, its canonical URL, duplicates."""

    def __init__(
        self, reader: WebReader, ctx: SyncContext, run: SyncRun, robots: _Robots, pace: _Pace
    ) -> None:
        self.reader = reader
        self.ctx = ctx
        self.spec = ctx.spec
        self.out = run
        self.robots = robots
        self.pace = pace
        self.host = urlsplit(ctx.spec.url).netloc
        self.produced: dict[str, str] = {}  # doc_id -> the URL it was read from
        self.read_count = 0

    async def fetch(self, url: str, item: dict[str, Any] | None) -> Fetched:
        etag = item.get("etag") if item else None
        last_modified = item.get("lm") if item else None
        async with self.pace.slot():
            self.out.requests += 1
            return await self.reader.fetcher.fetch(
                url, max_bytes=self.ctx.max_bytes, etag=etag, last_modified=last_modified
            )

    def outcome(self, url: str, status: OutcomeStatus, reason: str, doc_id: str = "") -> None:
        self.out.outcomes.append(DocOutcome(url, status, doc_id, reason=reason))

    def included(self, url: str) -> bool:
        return (not self.spec.include or _matches(url, self.spec.include)) and not _matches(
            url, self.spec.exclude
        )

    def usable_item(self, url: str) -> dict[str, Any] | None:
        """The cursor entry of ``url`` when its hints may be used: its document is still live."""
        item = self.ctx.items.get(url)
        if item is None:
            return None
        doc = item.get("doc")
        return dict(item) if doc is None or doc in self.ctx.live else None

    async def page(
        self, url: str, *, within: str | None, extra: dict[str, Any] | None = None, is_start: bool = False
    ) -> PageLinks | None:
        """Read one page (conditionally when the cursor has its validators); record its item and
        document. Returns its links (None when it has none to give). ``within``: the prefix a
        crawl stays under; a sitemap passes None (its pages may lie anywhere on the host)."""
        item = self.usable_item(url)
        previous = dict(self.ctx.items.get(url) or {})
        previous_doc = previous.get("doc")
        # When a page cannot be read this time, the links it had last time keep the crawl whole,
        # so pages reached only through it are not pruned for a passing failure.
        remembered = PageLinks(tuple(previous.get("links", ())), None, False, False)
        try:
            fetched = await self.fetch(url, item)
        except SourceNotFound as e:  # gone: its document goes too (when pruning)
            if is_start:
                raise
            self.outcome(url, OutcomeStatus.SKIPPED, e.message)
            return None
        except SourceDenied as e:
            if is_start:
                raise
            self.outcome(url, OutcomeStatus.SKIPPED, e.message)
            if previous_doc in self.ctx.live:
                self.out.kept.add(previous_doc)  # a login wall may be passing: keep what we had
            return remembered
        except CoreError as e:  # too large, timeouts, 5xx, redirect loops: its live version stays
            if is_start and not previous:
                raise
            self.outcome(url, OutcomeStatus.FAILED, e.message, previous_doc or "")
            if previous_doc in self.ctx.live:
                self.out.kept.add(previous_doc)
            return remembered
        finally:
            self.read_count += 1
            if self.ctx.progress:
                self.ctx.progress("read", self.read_count, max(self.read_count, self.expected()))
        if fetched.status == 304 and item is not None:
            self.out.items[url] = item | (extra or {})
            doc = item.get("doc")
            if doc:
                self.out.unchanged.add(doc)
                self.produced.setdefault(doc, url)
            return PageLinks(tuple(item.get("links", ())), None, False, False)
        return self._fresh(url, fetched, within, extra or {})

    def expected(self) -> int:
        return 0

    def _fresh(
        self, url: str, fetched: Fetched, within: str | None, extra: dict[str, Any]
    ) -> PageLinks | None:
        final = normalise_url(fetched.url)
        if final != url and not self._inside(final, within):
            self.outcome(
                url, OutcomeStatus.SKIPPED, f"it redirects to {final}, outside the part of the site read"
            )
            return None
        validators = {"etag": fetched.etag, "lm": fetched.last_modified} | extra
        validators = {k: v for k, v in validators.items() if v}
        media = fetched.content_type
        links = PageLinks((), None, False, False)
        if media in _HTML_TYPES:
            links = page_links(fetched.content.decode("utf-8", errors="replace"), final)
        elif not _is_document(final, media):
            self.outcome(url, OutcomeStatus.SKIPPED, f"not a document ({media})")
            self.out.items[url] = {"doc": None, **validators}
            return None
        doc_url = final
        if links.canonical:
            canonical = normalise_url(links.canonical)
            if urlsplit(canonical).netloc == self.host and self._inside(canonical, within):
                doc_url = canonical
        entry: dict[str, Any] = {
            "doc": None,
            **validators,
            "links": list(links.links) if not links.nofollow else [],
        }
        if links.noindex:
            self.outcome(url, OutcomeStatus.SKIPPED, "the page asks not to be indexed (noindex)")
        elif not self.included(doc_url):
            pass  # read for its links only (--include names the pages to keep)
        elif doc_url in self.produced:
            self.outcome(url, OutcomeStatus.SKIPPED, f"the same page as {self.produced[doc_url]}")
        else:
            self.produced[doc_url] = url
            entry["doc"] = doc_url
            self.out.docs.append(
                RawDocument(doc_url, doc_url, _doc_name(doc_url), fetched.content, media or None, item=url)
            )
        self.out.items[url] = entry
        return links if not links.nofollow else PageLinks((), links.canonical, links.noindex, True)

    def _inside(self, url: str, within: str | None) -> bool:
        if within is None:
            return urlsplit(url).netloc == self.host
        return url.startswith(within) or url + "/" == within


class _Crawl(_Pages):
    async def run(self) -> None:
        start = self.spec.url
        self.prefix = prefix_of(start)
        self.limit = self.reader.limit(self.spec)
        self.queued: set[str] = set()
        self.queue: asyncio.Queue[str] = asyncio.Queue()
        self.truncated = False
        self._enqueue([start], force=True)
        first = await self.queue.get()
        await self._visit(first, is_start=True)
        self.queue.task_done()
        workers = [asyncio.create_task(self._work()) for _ in range(self.reader.settings.concurrency)]
        try:
            await self.queue.join()
        finally:
            for w in workers:
                w.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
        if self.truncated:
            self.out.complete = False
            self.outcome(
                self.spec.location,
                OutcomeStatus.SKIPPED,
                f"the site has more than {self.limit} pages: the rest were not read (raise --max-pages "
                "or CRAWL_MAX_PAGES), and nothing was pruned",
            )

    def expected(self) -> int:
        return len(self.queued)

    async def _work(self) -> None:
        while True:
            url = await self.queue.get()
            try:
                await self._visit(url)
            except Exception:  # one page must not stop the crawl; the run reports it
                log.exception("crawl.page_failed url=%s", url)
                self.outcome(url, OutcomeStatus.FAILED, "an unexpected error while reading this page")
            finally:
                self.queue.task_done()

    async def _visit(self, url: str, is_start: bool = False) -> None:
        if not self.robots.allowed(url):
            if is_start:
                raise SourceDenied(f"robots.txt of {self.host} asks crawlers not to read {url}.")
            self.outcome(url, OutcomeStatus.SKIPPED, "robots.txt asks crawlers not to read it")
            return
        links = await self.page(url, within=self.prefix, is_start=is_start)
        if links is not None:
            self._enqueue(links.links)

    def _enqueue(self, urls: Iterable[str], force: bool = False) -> None:
        for raw in urls:
            url = normalise_url(raw)
            if url in self.queued:
                continue
            if not force and (
                not url.startswith(self.prefix) or _is_asset(url) or _matches(url, self.spec.exclude)
            ):
                continue
            if len(self.queued) >= self.limit:
                self.truncated = True
                return
            self.queued.add(url)
            self.queue.put_nowait(url)


class _Sitemap(_Pages):
    async def run(self) -> None:
        self.limit = self.reader.limit(self.spec)
        entries, truncated = await self._entries()
        self.total = len(entries)
        if truncated:
            self.out.complete = False
            self.outcome(
                self.spec.location,
                OutcomeStatus.SKIPPED,
                f"the sitemap lists more than {self.limit} pages: only the first {self.limit} were read "
                "(raise --max-pages or CRAWL_MAX_PAGES), and nothing was pruned",
            )
        await asyncio.gather(*(self._one(entry) for entry in entries))

    def expected(self) -> int:
        return self.total

    async def _one(self, entry: SitemapEntry) -> None:
        try:
            await self._read_entry(entry)
        except Exception:  # one page must not stop the others; the run reports it
            log.exception("sitemap.page_failed url=%s", entry.loc)
            self.outcome(entry.loc, OutcomeStatus.FAILED, "an unexpected error while reading this page")

    async def _read_entry(self, entry: SitemapEntry) -> None:
        url = normalise_url(entry.loc)
        if not self.robots.allowed(url):
            self.outcome(url, OutcomeStatus.SKIPPED, "robots.txt asks crawlers not to read it")
            return
        item = self.usable_item(url)
        if item is not None and entry.lastmod and item.get("lastmod") == entry.lastmod and item.get("doc"):
            self.out.items[url] = item  # listed as unchanged: not even asked for
            self.out.unchanged.add(item["doc"])
            self.produced.setdefault(item["doc"], url)
            return
        extra = {"lastmod": entry.lastmod} if entry.lastmod else {}
        await self.page(url, within=None, extra=extra)

    async def _entries(self) -> tuple[list[SitemapEntry], bool]:
        """The page entries of the sitemap (following an index), up to the limit; and whether
        there were more."""
        pages: list[SitemapEntry] = []
        seen: set[str] = set()
        pending: list[tuple[str, int]] = [(self.spec.url, 0)]
        while pending:
            url, depth = pending.pop(0)
            try:
                async for entry in self._stream(url):
                    loc = normalise_url(entry.loc)
                    if urlsplit(loc).scheme not in ("http", "https") or urlsplit(loc).netloc != self.host:
                        continue  # the protocol allows only URLs of the sitemap's own host
                    if entry.index:
                        if depth + 1 < _SITEMAP_DEPTH and loc not in seen:
                            seen.add(loc)
                            pending.append((loc, depth + 1))
                        continue
                    if loc in seen or _is_asset(loc) or not self.included(loc):
                        continue
                    if len(pages) >= self.limit:
                        return pages, True
                    seen.add(loc)
                    pages.append(entry)
            except CoreError as e:
                if url == self.spec.url:
                    raise
                self.out.complete = False  # a part of the list is missing: prune nothing
                self.outcome(url, OutcomeStatus.FAILED, e.message)
        return pages, False

    async def _stream(self, url: str) -> AsyncIterator[SitemapEntry]:
        reader = SitemapReader(_short(url))
        self.out.requests += 1
        async with (
            self.pace.slot(),
            contextlib.aclosing(self.reader.fetcher.stream(url, max_bytes=_SITEMAP_MAX_BYTES)) as body,
        ):
            async for piece in body:
                reader.feed(piece)
                for entry in reader.entries():
                    yield entry
        reader.close()
        for entry in reader.entries():
            yield entry


def _matches(url: str, globs: Iterable[str]) -> bool:
    parts = urlsplit(url)
    path = unquote(parts.path) + (f"?{parts.query}" if parts.query else "")
    return any(fnmatchcase(url if "://" in g else path, g) for g in globs)


def _suffix(url: str) -> str:
    return PurePosixPath(urlsplit(url).path).suffix.lower()


def _is_asset(url: str) -> bool:
    return _suffix(url) in _ASSETS


def _is_document(url: str, media: str) -> bool:
    """A response worth extracting: a type ``extract`` reads, or a vague type and a known extension."""
    if media.startswith("text/") and media not in ("text/css", "text/javascript", "text/csv", "text/xml"):
        return True
    if media in (
        "application/pdf",
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ):
        return True
    return _suffix(url) in SUPPORTED_EXTENSIONS


def _doc_name(url: str) -> str:
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    return unquote(segments[-1]) if segments else (parts.hostname or "index")


def _short(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}{parts.path}"
