"""HttpFetcher against a real aiohttp server on 127.0.0.1: real HTTP framing, redirects,
chunked and compressed bodies, slow servers, refused connections and TLS failures."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from core.backends.http_fetcher import HttpFetcher
from core.errors import FileTooLarge, SourceUnreachable, UnsupportedType
from core.ingest.extract import extract
from core.settings import IngestSettings

KB = 1024
MB = 1024 * KB
PAGE = b"<html><head><title>Status</title></head><body><main><h1>All good</h1><p>Nothing to do.</p></main></body></html>"


@dataclass
class Stream:
    """What the endless handler managed to send before the client hung up."""

    written: int = 0
    finished: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
async def server() -> AsyncIterator[tuple[str, Stream]]:
    stream = Stream()

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=PAGE, content_type="text/html", charset="utf-8")

    async def user_agent(request: web.Request) -> web.Response:
        return web.Response(text=request.headers.get("User-Agent", ""))

    async def redirect(request: web.Request) -> web.Response:
        hops = int(request.match_info["hops"])
        raise web.HTTPFound("/page.html" if hops == 0 else f"/hop/{hops - 1}")

    async def loop(request: web.Request) -> web.Response:
        raise web.HTTPFound("/loop")

    async def to_ftp(request: web.Request) -> web.Response:
        raise web.HTTPMovedPermanently("ftp://127.0.0.1/file.md")

    async def status(request: web.Request) -> web.Response:
        code = int(request.match_info["code"])
        return web.Response(status=code, text="error page body")

    async def slow(request: web.Request) -> web.Response:
        await asyncio.sleep(60)
        return web.Response(text="too late")

    async def drip(request: web.Request) -> web.StreamResponse:
        # a byte every 50 ms, forever: no single read ever times out
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        for _ in range(10_000):
            await response.write(b".")
            await asyncio.sleep(0.05)
        return response

    async def big_declared(request: web.Request) -> web.Response:
        return web.Response(body=b"x" * (2 * MB), content_type="text/plain")

    async def endless(request: web.Request) -> web.StreamResponse:
        # chunked, no Content-Length: only counting while streaming can stop it
        response = web.StreamResponse(headers={"Content-Type": "text/plain"})
        await response.prepare(request)
        try:
            while stream.written < 512 * MB:
                await response.write(b"y" * (64 * KB))
                stream.written += 64 * KB
        except (ConnectionResetError, ConnectionError, RuntimeError):
            pass
        finally:
            stream.finished.set()
        return response

    async def gzip_bomb(request: web.Request) -> web.Response:
        response = web.Response(body=b"z" * (8 * MB), content_type="text/plain")
        response.enable_compression(web.ContentCoding.gzip)
        return response

    async def binary(request: web.Request) -> web.Response:
        return web.Response(body=bytes(range(256)) * 4, content_type="application/octet-stream")

    async def png(request: web.Request) -> web.Response:
        return web.Response(body=b"\x89PNG\r\n\x1a\n" + b"\x00" * 32, content_type="image/png")

    app = web.Application()
    app.router.add_get("/page.html", page)
    app.router.add_get("/ua", user_agent)
    app.router.add_get("/hop/{hops}", redirect)
    app.router.add_get("/loop", loop)
    app.router.add_get("/to-ftp", to_ftp)
    app.router.add_get("/status/{code}", status)
    app.router.add_get("/slow", slow)
    app.router.add_get("/drip", drip)
    app.router.add_get("/big-declared", big_declared)
    app.router.add_get("/endless", endless)
    app.router.add_get("/gzip-bomb", gzip_bomb)
    app.router.add_get("/binary", binary)
    app.router.add_get("/logo.png", png)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield f"http://{host}:{port}", stream
    await runner.cleanup()


async def _fetcher(fetch_timeout: float) -> AsyncIterator[HttpFetcher]:
    fetcher = HttpFetcher(
        IngestSettings(fetch_timeout=fetch_timeout, user_agent="ragbot-test/1.0"), max_redirects=3
    )
    await fetcher.start()
    yield fetcher
    await fetcher.aclose()


@pytest.fixture
async def fetcher() -> AsyncIterator[HttpFetcher]:
    # generous: a loaded machine must not turn an answer of the local server into a timeout
    async for f in _fetcher(30.0):
        yield f


@pytest.fixture
async def impatient() -> AsyncIterator[HttpFetcher]:
    """INGEST_FETCH_TIMEOUT=1, for the servers that take longer on purpose."""
    async for f in _fetcher(1.0):
        yield f


async def test_html_page(server: tuple[str, Stream], fetcher: HttpFetcher) -> None:
    base, _ = server
    fetched = await fetcher.fetch(f"{base}/page.html", max_bytes=MB)
    assert fetched.url == f"{base}/page.html"
    assert fetched.content == PAGE
    assert fetched.content_type == "text/html"  # "; charset=utf-8" dropped
    assert extract(fetched.content, name="page.html", media_type=fetched.content_type).text == (
        "# All good\n\nNothing to do."
    )


async def test_user_agent_is_sent(server: tuple[str, Stream], fetcher: HttpFetcher) -> None:
    base, _ = server
    assert (await fetcher.fetch(f"{base}/ua", max_bytes=KB)).content == b"ragbot-test/1.0"


async def test_redirects_are_followed_and_the_final_url_reported(
    server: tuple[str, Stream], fetcher: HttpFetcher
) -> None:
    base, _ = server
    fetched = await fetcher.fetch(f"{base}/hop/2", max_bytes=MB)  # hop/2 -> hop/1 -> hop/0 -> page
    assert fetched.url == f"{base}/page.html" and fetched.content == PAGE


async def test_too_many_redirects(server: tuple[str, Stream], fetcher: HttpFetcher) -> None:
    base, _ = server
    with pytest.raises(SourceUnreachable, match="redirected more than 3 times"):
        await fetcher.fetch(f"{base}/hop/3", max_bytes=MB)
    with pytest.raises(SourceUnreachable, match="redirected more than 3 times"):
        await fetcher.fetch(f"{base}/loop", max_bytes=MB)


async def test_redirect_to_another_scheme(server: tuple[str, Stream], fetcher: HttpFetcher) -> None:
    base, _ = server
    with pytest.raises(SourceUnreachable, match="not http:// or https://"):
        await fetcher.fetch(f"{base}/to-ftp", max_bytes=MB)


@pytest.mark.parametrize(
    ("code", "message"),
    [
        (404, "answered HTTP 404 Not Found: the page does not exist."),
        (403, "answered HTTP 403 Forbidden: access is forbidden."),
        (500, "answered HTTP 500 Internal Server Error: the server failed."),
        (503, "answered HTTP 503 Service Unavailable: the server failed."),
        (418, "answered HTTP 418 I'm a Teapot: the request was refused."),
    ],
)
async def test_error_statuses(
    server: tuple[str, Stream], fetcher: HttpFetcher, code: int, message: str
) -> None:
    base, _ = server
    with pytest.raises(SourceUnreachable) as raised:
        await fetcher.fetch(f"{base}/status/{code}?token=s3cret#frag", max_bytes=MB)
    assert raised.value.message == f"{base}/status/{code} {message}"  # no query: it may hold a token


async def test_slow_server_times_out(server: tuple[str, Stream], impatient: HttpFetcher) -> None:
    base, _ = server
    with pytest.raises(SourceUnreachable) as raised:
        await impatient.fetch(f"{base}/slow", max_bytes=MB)
    assert raised.value.message == f"{base}/slow did not answer within 1 s (INGEST_FETCH_TIMEOUT)."


async def test_dripping_body_hits_the_overall_deadline(
    server: tuple[str, Stream], impatient: HttpFetcher
) -> None:
    base, _ = server
    with pytest.raises(SourceUnreachable, match="did not answer within 1 s"):
        await impatient.fetch(f"{base}/drip", max_bytes=MB)


async def test_declared_size_over_the_limit(server: tuple[str, Stream], fetcher: HttpFetcher) -> None:
    base, _ = server
    with pytest.raises(FileTooLarge) as raised:
        await fetcher.fetch(f"{base}/big-declared", max_bytes=MB)
    assert (
        raised.value.message == f"{base}/big-declared is 2.0 MB, over the 1.0 MB limit (INGEST_MAX_FILE_MB)."
    )
    assert len((await fetcher.fetch(f"{base}/big-declared", max_bytes=2 * MB)).content) == 2 * MB


async def test_undeclared_size_is_cut_off_while_streaming(
    server: tuple[str, Stream], fetcher: HttpFetcher
) -> None:
    base, stream = server
    with pytest.raises(FileTooLarge, match="larger than the 1.0 MB limit .* the download was stopped"):
        await fetcher.fetch(f"{base}/endless", max_bytes=MB)
    # the server notices the hang-up long before it could send its 512 MB
    await asyncio.wait_for(stream.finished.wait(), timeout=30)
    assert stream.written < 64 * MB


async def test_compressed_body_counts_unpacked_bytes(
    server: tuple[str, Stream], fetcher: HttpFetcher
) -> None:
    base, _ = server
    with pytest.raises(FileTooLarge, match="larger than the 1.0 MB limit"):
        await fetcher.fetch(f"{base}/gzip-bomb", max_bytes=MB)
    fetched = await fetcher.fetch(f"{base}/gzip-bomb", max_bytes=8 * MB)
    assert fetched.content == b"z" * (8 * MB)


async def test_binary_bodies_arrive_intact(server: tuple[str, Stream], fetcher: HttpFetcher) -> None:
    base, _ = server
    fetched = await fetcher.fetch(f"{base}/binary", max_bytes=MB)
    assert fetched.content == bytes(range(256)) * 4
    assert fetched.content_type == "application/octet-stream"
    png = await fetcher.fetch(f"{base}/logo.png", max_bytes=MB)
    assert png.content_type == "image/png"
    with pytest.raises(UnsupportedType, match="image/png"):
        extract(png.content, name="logo.png", media_type=png.content_type)


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("ftp://example.org/a.md", "Only http:// and https:// URLs can be fetched, not ftp:"),
        ("file:///etc/passwd", "Only http:// and https:// URLs can be fetched, not file:"),
        ("example.org/page", "Only http:// and https:// URLs can be fetched, not a URL without a scheme"),
        ("http:///path-only", "is not a valid URL: it has no host name"),
    ],
)
async def test_only_http_urls(fetcher: HttpFetcher, url: str, message: str) -> None:
    with pytest.raises(SourceUnreachable, match=message):
        await fetcher.fetch(url, max_bytes=MB)


async def test_connection_refused(fetcher: HttpFetcher) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # free now, and nothing listens once the socket closes
    with pytest.raises(SourceUnreachable, match="127.0.0.1 refused the connection"):
        await fetcher.fetch(f"http://127.0.0.1:{port}/", max_bytes=MB)


async def test_tls_to_a_plain_http_server(server: tuple[str, Stream], fetcher: HttpFetcher) -> None:
    base, _ = server
    with pytest.raises(SourceUnreachable, match="Cannot connect to 127.0.0.1: the TLS handshake failed"):
        await fetcher.fetch(base.replace("http://", "https://") + "/page.html", max_bytes=MB)


async def test_unknown_host(fetcher: HttpFetcher) -> None:
    # .invalid never resolves (RFC 2606); the resolver answers at once, no network needed
    with pytest.raises(SourceUnreachable, match="Cannot find the host no-such-host.invalid"):
        await fetcher.fetch("http://no-such-host.invalid/doc.md", max_bytes=MB)


async def test_fetch_needs_start() -> None:
    with pytest.raises(RuntimeError, match="start"):
        await HttpFetcher(IngestSettings()).fetch("http://127.0.0.1/", max_bytes=1)
