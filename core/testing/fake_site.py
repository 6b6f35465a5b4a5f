"""A static web site on 127.0.0.1 for tests and ``ragbot bench sources``: pages, robots.txt,
sitemaps (and sitemap indexes) with lastmod, redirects, per-path status codes, and HTTP
validators: every page has an ETag and a Last-Modified, and a conditional request for an unchanged
page gets 304 without a body, as a real static server (nginx, a CDN) answers. Every request is
recorded, so a test or a benchmark sees exactly what a crawl cost the site."""

from __future__ import annotations

import hashlib
import html
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web

__all__ = ["FakeSite", "SitePage", "SiteRequest", "page_html"]

T0 = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass
class SitePage:
    body: bytes
    content_type: str = "text/html; charset=utf-8"
    modified: datetime = T0

    @property
    def etag(self) -> str:
        return '"' + hashlib.sha256(self.body).hexdigest()[:20] + '"'


@dataclass(frozen=True)
class SiteRequest:
    path: str  # with its query
    status: int
    conditional: bool  # sent If-None-Match or If-Modified-Since
    bytes_sent: int


def page_html(
    title: str, text: str, *, links: Iterable[str] = (), canonical: str | None = None, head: str = ""
) -> str:
    """A page as documentation sites write them: a nav, a main with the content, a footer."""
    nav = "".join(f'<li><a href="{html.escape(href)}">{html.escape(href)}</a></li>' for href in links)
    canon = f'<link rel="canonical" href="{html.escape(canonical)}">' if canonical else ""
    paragraphs = "".join(f"<p>{html.escape(p)}</p>" for p in text.split("\n\n") if p.strip())
    return (
        f'<!DOCTYPE html><html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>'
        f"{canon}{head}</head><body><nav><ul>{nav}</ul></nav><main><h1>{html.escape(title)}</h1>{paragraphs}"
        "</main><footer>Docs footer</footer></body></html>"
    )


@dataclass
class FakeSite:
    pages: dict[str, SitePage] = field(default_factory=dict)
    redirects: dict[str, tuple[int, str]] = field(default_factory=dict)
    statuses: dict[str, int] = field(default_factory=dict)  # path -> a status to answer instead
    handlers: dict[str, Handler] = field(default_factory=dict)  # path -> a handler of the test's own
    robots: str | None = None  # None: /robots.txt is 404
    validators: bool = True  # False: no ETag / Last-Modified, never 304 (a dynamic site)
    requests: list[SiteRequest] = field(default_factory=list)
    url: str = ""

    def __post_init__(self) -> None:
        self._runner: web.AppRunner | None = None

    # -- content ----------------------------------------------------------------------------------

    def add(
        self, path: str, body: str | bytes, *, content_type: str = "text/html; charset=utf-8",
        modified: datetime | None = None,
    ) -> SitePage:  # fmt: skip
        data = body.encode() if isinstance(body, str) else body
        page = SitePage(data, content_type, modified or T0)
        self.pages[path] = page
        return page

    def change(self, path: str, body: str | bytes, *, at: datetime | None = None) -> None:
        """New content, a later Last-Modified (and so a new ETag and sitemap lastmod)."""
        old = self.pages[path]
        self.add(path, body, content_type=old.content_type, modified=at or old.modified + timedelta(days=1))

    def sitemap(self, path: str, paths: Sequence[str], *, lastmod: bool = True) -> None:
        """A sitemap of ``paths`` (their lastmod is their page's Last-Modified), re-rendered on every request."""

        async def serve(request: web.Request) -> web.StreamResponse:
            rows = []
            for p in paths:
                mod = ""
                if lastmod and p in self.pages:
                    mod = f"<lastmod>{self.pages[p].modified.strftime('%Y-%m-%dT%H:%M:%S+00:00')}</lastmod>"
                rows.append(f"<url><loc>{html.escape(self.url + p)}</loc>{mod}</url>")
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                '<urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">' + "".join(rows) + "</urlset>"
            )
            return web.Response(text=body, content_type="application/xml")

        self.handlers[path] = serve

    def sitemap_index(self, path: str, sitemaps: Sequence[str]) -> None:
        async def serve(request: web.Request) -> web.StreamResponse:
            rows = "".join(f"<sitemap><loc>{html.escape(self.url + p)}</loc></sitemap>" for p in sitemaps)
            body = (
                '<?xml version="1.0" encoding="UTF-8"?>'
                f'<sitemapindex xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">{rows}</sitemapindex>'
            )
            return web.Response(text=body, content_type="application/xml")

        self.handlers[path] = serve

    # -- what happened ----------------------------------------------------------------------------

    def count(self, *, status: int | None = None, path: str | None = None) -> int:
        return sum(
            1
            for r in self.requests
            if (status is None or r.status == status) and (path is None or r.path == path)
        )

    def reset_counts(self) -> None:
        self.requests.clear()

    @property
    def bytes_sent(self) -> int:
        return sum(r.bytes_sent for r in self.requests)

    # -- serving ----------------------------------------------------------------------------------

    async def start(self) -> str:
        app = web.Application()
        app.router.add_route("GET", "/{tail:.*}", self._serve)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _serve(self, request: web.Request) -> web.StreamResponse:
        path = request.path_qs
        conditional = "If-None-Match" in request.headers or "If-Modified-Since" in request.headers
        response = await self._answer(request, path)
        size = len(response.body) if isinstance(response, web.Response) and response.body else 0
        self.requests.append(SiteRequest(path, response.status, conditional, size))
        return response

    async def _answer(self, request: web.Request, path: str) -> web.StreamResponse:
        if path in self.statuses:
            return web.Response(status=self.statuses[path], text=f"status {self.statuses[path]}")
        if path in self.redirects:
            status, target = self.redirects[path]
            return web.Response(status=status, headers={"Location": target})
        if path in self.handlers:
            return await self.handlers[path](request)
        if path == "/robots.txt":
            if self.robots is None:
                return web.Response(status=404, text="not found")
            return web.Response(text=self.robots, content_type="text/plain")
        page = self.pages.get(path)
        if page is None:
            return web.Response(
                status=404, text="<html><body><h1>Not found</h1></body></html>", content_type="text/html"
            )
        if not self.validators:
            return web.Response(body=page.body, headers={"Content-Type": page.content_type})
        headers = {"ETag": page.etag, "Last-Modified": format_datetime(page.modified, usegmt=True)}
        if _not_modified(request, page):
            return web.Response(status=304, headers=headers)
        return web.Response(body=page.body, headers={"Content-Type": page.content_type, **headers})


def _not_modified(request: web.Request, page: SitePage) -> bool:
    """RFC 9110 13.2.2: If-None-Match decides when present; else If-Modified-Since."""
    tags = request.headers.get("If-None-Match")
    if tags is not None:
        return page.etag in [t.strip() for t in tags.split(",")] or tags.strip() == "*"
    since = request.headers.get("If-Modified-Since")
    if since:
        try:
            return page.modified <= parsedate_to_datetime(since)
        except (TypeError, ValueError):
            return False
    return False
