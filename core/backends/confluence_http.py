"""The Confluence REST API over httpx (``core.ports.ConfluenceClient``), Cloud and Data Center.

Credentials come from settings only, never from URLs: Cloud takes the account's e-mail and an API
token as HTTP basic auth (CONFLUENCE_USER + CONFLUENCE_API_TOKEN); Data Center takes a personal
access token as a bearer token (CONFLUENCE_TOKEN). They travel in the Authorization header, which
httpx never logs, and no message here quotes them.

A 429 (or a 503 with Retry-After) is waited out as the server asks, up to ``max_wait_s`` a time
and ``retries`` times; 401, 403 and 404 become ``SourceDenied`` / ``SourceNotFound`` with what to
check; anything that is not JSON (a login page, a proxy's error page) is said to be so."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

import httpx

from core.errors import SourceDenied, SourceNotFound, SourceUnreachable
from core.settings import ConfluenceSettings

__all__ = ["ConfluenceHttp"]

log = logging.getLogger(__name__)

# Tests replace this to see the waits a 429 asks for without waiting.
_sleep = asyncio.sleep


class ConfluenceHttp:
    def __init__(
        self,
        settings: ConfluenceSettings | None = None,
        *,
        timeout: float = 30.0,
        user_agent: str = "ragbot",
        retries: int = 4,
        max_wait_s: float = 120.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.settings = settings or ConfluenceSettings()
        self.timeout = timeout
        self.user_agent = user_agent
        self.retries = retries
        self.max_wait_s = max_wait_s
        self._transport = transport
        self._client: httpx.AsyncClient | None = None

    @property
    def scheme(self) -> str:
        """How requests authenticate: "pat" (Data Center token), "basic" (Cloud) or "anonymous"."""
        s = self.settings
        if s.token is not None and s.token.get_secret_value():
            return "pat"
        if s.user and s.api_token is not None and s.api_token.get_secret_value():
            return "basic"
        return "anonymous"

    async def start(self) -> None:
        if self._client is not None:
            return
        headers = {"User-Agent": self.user_agent, "Accept": "application/json"}
        auth: httpx.Auth | None = None
        if self.scheme == "pat":
            headers["Authorization"] = f"Bearer {self.settings.token.get_secret_value()}"  # type: ignore[union-attr]
        elif self.scheme == "basic":
            auth = httpx.BasicAuth(self.settings.user or "", self.settings.api_token.get_secret_value())  # type: ignore[union-attr]
        self._client = httpx.AsyncClient(
            headers=headers,
            auth=auth,
            timeout=httpx.Timeout(self.timeout),
            follow_redirects=True,
            max_redirects=5,
            transport=self._transport,
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    async def get(self, url: str, params: Mapping[str, str] | None = None) -> dict[str, Any]:
        if self._client is None:
            await self.start()
        assert self._client is not None
        host = urlsplit(url).netloc
        for attempt in range(self.retries + 1):
            try:
                response = await self._client.get(url, params=dict(params) if params else None)
            except httpx.TimeoutException as e:
                raise SourceUnreachable(
                    f"Confluence at {host} did not answer within {self.timeout:g} s."
                ) from e
            except httpx.TooManyRedirects as e:
                raise SourceUnreachable(f"Confluence at {host} redirected more than 5 times.") from e
            except httpx.ConnectError as e:
                raise SourceUnreachable(f"Cannot connect to Confluence at {host} ({_reason(e)}).") from e
            except httpx.HTTPError as e:
                raise SourceUnreachable(
                    f"Confluence at {host}: the request failed ({type(e).__name__})."
                ) from e
            wait = _retry_after(response)
            if response.status_code in (429, 503) and attempt < self.retries and wait is not None:
                wait = min(wait, self.max_wait_s)
                log.info(
                    "confluence.rate_limited host=%s status=%d wait_s=%.1f", host, response.status_code, wait
                )
                await _sleep(wait)
                continue
            if response.status_code == 429 and attempt < self.retries:
                await _sleep(min(2.0**attempt, self.max_wait_s))
                continue
            return self._json(response, host)
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _json(self, response: httpx.Response, host: str) -> dict[str, Any]:
        code = response.status_code
        if code == 401:
            if self.scheme == "anonymous":
                raise SourceDenied(
                    f"Confluence at {host} needs a login (HTTP 401): set CONFLUENCE_USER and "
                    "CONFLUENCE_API_TOKEN (Cloud) or CONFLUENCE_TOKEN (Data Center)."
                )
            raise SourceDenied(
                f"Confluence at {host} refused the credentials (HTTP 401): check CONFLUENCE_USER and "
                "CONFLUENCE_API_TOKEN (Cloud) or CONFLUENCE_TOKEN (Data Center)."
            )
        if code == 403:
            raise SourceDenied(f"Confluence at {host} does not let these credentials read it (HTTP 403).")
        if code == 404:
            raise SourceNotFound(
                f"Confluence at {host} has no {urlsplit(str(response.url)).path} (HTTP 404)."
            )
        if code == 429:
            raise SourceUnreachable(
                f"Confluence at {host} kept rate-limiting requests (HTTP 429) after {self.retries} retries; "
                "try again later."
            )
        if code >= 400:
            raise SourceUnreachable(f"Confluence at {host} answered HTTP {code} {response.reason_phrase}.")
        try:
            data = response.json()
        except ValueError as e:
            kind = response.headers.get("content-type", "").split(";")[0] or "no content type"
            raise SourceUnreachable(
                f"Confluence at {host} did not answer with JSON ({kind}): is this the wiki's address, "
                "and is there a login page or a proxy in the way?"
            ) from e
        if not isinstance(data, dict):
            raise SourceUnreachable(f"Confluence at {host} answered with something other than a JSON object.")
        return data


def _retry_after(response: httpx.Response) -> float | None:
    value = response.headers.get("retry-after", "").strip()
    if not value:
        return None
    try:
        return max(float(value), 0.0)
    except ValueError:
        return None  # an HTTP date: rare from Confluence; the exponential wait applies


def _reason(error: httpx.ConnectError) -> str:
    text = str(error)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "the name does not resolve"
    if "refused" in text.lower():
        return "the connection was refused"
    return text or type(error).__name__
