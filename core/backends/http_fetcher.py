"""Downloads documents over http(s) for ingestion (``core.ports.Fetcher``), with httpx.

One deadline (INGEST_FETCH_TIMEOUT) covers the whole download: connecting, redirects and the
body, so a server that drips bytes cannot hold an ingest run. The size limit is checked
against Content-Length first and enforced again while streaming, so an oversized or endless
body is cut off at ``max_bytes`` instead of being read into memory. Every failure becomes a
``SourceUnreachable`` (or ``FileTooLarge``) whose message says what went wrong in plain words."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import ssl
from collections.abc import AsyncIterator, Iterator
from urllib.parse import urlsplit

import httpx

from core.errors import FileTooLarge, SourceDenied, SourceNotFound, SourceUnreachable
from core.ports import Fetched
from core.settings import IngestSettings
from core.text import describe_size

__all__ = ["HttpFetcher"]

log = logging.getLogger(__name__)

_ACCEPT = (
    "text/html, text/markdown;q=0.95, text/plain;q=0.9, application/pdf;q=0.9, "
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document;q=0.9, */*;q=0.5"
)
_STATUS_REASONS = {
    401: "the page needs a login",
    403: "access is forbidden",
    404: "the page does not exist",
    410: "the page was removed",
    429: "the server is rate-limiting requests; try again later",
}


class HttpFetcher:
    def __init__(
        self,
        settings: IngestSettings | None = None,
        *,
        max_redirects: int = 5,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        settings = settings or IngestSettings()
        self.timeout = settings.fetch_timeout
        self.user_agent = settings.user_agent
        self.max_redirects = max_redirects
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        if self._client is not None:
            return
        # Proxy variables are honoured (trust_env): documents often live behind a corporate proxy.
        self._client = httpx.AsyncClient(
            headers={"User-Agent": self.user_agent, "Accept": _ACCEPT},
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=True,
            max_redirects=self.max_redirects,
            transport=self._transport,
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def fetch(
        self, url: str, *, max_bytes: int, etag: str | None = None, last_modified: str | None = None
    ) -> Fetched:
        client = self._started()
        _check_url(url)
        headers = {}
        if etag:
            headers["If-None-Match"] = etag
        if last_modified:
            headers["If-Modified-Since"] = last_modified
        with _translated(url, self.timeout, self.max_redirects):
            async with asyncio.timeout(self.timeout):
                return await self._download(client, url, max_bytes, headers)

    async def stream(self, url: str, *, max_bytes: int) -> AsyncIterator[bytes]:
        """The body in pieces; ``max_bytes`` bounds what is read, the caller may stop sooner.
        The deadline covers each piece, not the whole body: a reader that stops early (a sitemap
        read up to --max-pages URLs) never waits for the rest."""
        client = self._started()
        _check_url(url)
        read = 0
        with _translated(url, self.timeout, self.max_redirects):
            async with client.stream("GET", url) as response:
                if response.status_code >= 400:
                    raise _status_error(url, response)
                pieces = response.aiter_bytes()
                while True:
                    async with asyncio.timeout(self.timeout):
                        chunk = await anext(pieces, None)
                    if chunk is None:
                        return
                    read += len(chunk)
                    if read > max_bytes:
                        raise FileTooLarge(
                            f"{_short(url)} is larger than the {describe_size(max_bytes)} limit; reading stopped."
                        )
                    yield chunk

    def _started(self) -> httpx.AsyncClient:
        if self._client is None:
            raise RuntimeError("HttpFetcher.start() must be called before fetch()")
        return self._client

    async def _download(
        self, client: httpx.AsyncClient, url: str, max_bytes: int, headers: dict[str, str]
    ) -> Fetched:
        async with client.stream("GET", url, headers=headers) as response:
            if response.status_code == 304:
                return Fetched(
                    url=str(response.url), content=b"", content_type="", status=304,
                    etag=response.headers.get("etag"), last_modified=response.headers.get("last-modified"),
                )  # fmt: skip
            if response.status_code >= 400:
                raise _status_error(url, response)
            declared = response.headers.get("content-length", "")
            if declared.isdigit() and int(declared) > max_bytes:
                raise FileTooLarge(
                    f"{_short(url)} is {describe_size(int(declared))}, over the {describe_size(max_bytes)} "
                    "limit (INGEST_MAX_FILE_MB)."
                )
            body = bytearray()
            async for chunk in response.aiter_bytes():
                body += chunk
                if len(body) > max_bytes:
                    # Leaving the block closes the response: the rest is never downloaded.
                    raise FileTooLarge(
                        f"{_short(url)} is larger than the {describe_size(max_bytes)} limit "
                        "(INGEST_MAX_FILE_MB); the download was stopped."
                    )
            media_type = response.headers.get("content-type", "").split(";", 1)[0].strip().lower()
            log.debug(
                "fetched url=%s status=%d bytes=%d type=%s", _short(str(response.url)), response.status_code,
                len(body), media_type,
            )  # fmt: skip
            return Fetched(
                url=str(response.url),
                content=bytes(body),
                content_type=media_type or "application/octet-stream",
                status=response.status_code,
                etag=response.headers.get("etag"),
                last_modified=response.headers.get("last-modified"),
            )


def _check_url(url: str) -> None:
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = f"{scheme}:" if scheme else "a URL without a scheme"
        raise SourceUnreachable(
            f"Only http:// and https:// URLs can be fetched, not {shown} ({_short(url)})."
        )
    if not parts.hostname:
        raise SourceUnreachable(f"{url!r} is not a valid URL: it has no host name.")


def _short(url: str) -> str:
    """The URL without its query and fragment: those may carry tokens, and are noise in messages."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path}"


def _status_error(url: str, response: httpx.Response) -> SourceUnreachable:
    code = response.status_code
    reason = _STATUS_REASONS.get(code) or ("the server failed" if code >= 500 else "the request was refused")
    message = f"{_short(url)} answered HTTP {code} {response.reason_phrase}: {reason}.".replace("  ", " ")
    if code in (401, 403):
        return SourceDenied(message)
    if code in (404, 410):
        return SourceNotFound(message)
    return SourceUnreachable(message)


@contextlib.contextmanager
def _translated(url: str, timeout: float, max_redirects: int) -> Iterator[None]:
    """httpx's exceptions -> a ``SourceUnreachable`` whose message says what went wrong."""
    try:
        yield
    except (TimeoutError, httpx.TimeoutException) as e:
        raise SourceUnreachable(
            f"{_short(url)} did not answer within {timeout:g} s (INGEST_FETCH_TIMEOUT)."
        ) from e
    except httpx.TooManyRedirects as e:
        raise SourceUnreachable(
            f"{_short(url)} redirected more than {max_redirects} times (a redirect loop?)."
        ) from e
    except httpx.UnsupportedProtocol as e:
        raise SourceUnreachable(f"{_short(url)} redirected to a URL that is not http:// or https://.") from e
    except httpx.ConnectError as e:
        raise SourceUnreachable(_connect_failure(url, e)) from e
    except httpx.RemoteProtocolError as e:
        raise SourceUnreachable(
            f"{_short(url)}: the server closed the connection or sent a malformed response."
        ) from e
    except httpx.DecodingError as e:
        raise SourceUnreachable(f"{_short(url)}: the server sent a body that cannot be decompressed.") from e
    except httpx.HTTPError as e:
        raise SourceUnreachable(f"{_short(url)}: download failed ({type(e).__name__}: {e}).") from e


def _connect_failure(url: str, error: httpx.ConnectError) -> str:
    host = urlsplit(url).hostname or url
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"Cannot connect to {host} securely: its TLS certificate is not trusted ({cause.verify_message})."
        if isinstance(cause, ssl.SSLError):
            return f"Cannot connect to {host}: the TLS handshake failed ({cause.reason or cause})."
        if isinstance(cause, socket.gaierror):
            return f"Cannot find the host {host}: the name does not resolve."
        if isinstance(cause, ConnectionRefusedError):
            return f"{host} refused the connection (nothing is listening on that port)."
        cause = cause.__cause__ or cause.__context__
    text = str(error)
    if "Name or service not known" in text or "nodename nor servname" in text or "name resolution" in text:
        return f"Cannot find the host {host}: the name does not resolve."
    if "SSL" in text or "certificate" in text.lower():
        return f"Cannot connect to {host}: TLS error ({text})."
    if "refused" in text.lower():
        return f"{host} refused the connection (nothing is listening on that port)."
    return f"Cannot connect to {host}: {text or type(error).__name__}."
