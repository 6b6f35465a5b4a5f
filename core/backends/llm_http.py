"""What every HTTP chat backend shares: reading SSE and NDJSON streams, retrying before the
first token with bounded exponential backoff, one deadline per answer, and turning transport
and server failures into ``core.errors`` with messages a person can read.

A protocol module (``llm_openai``, ``llm_ollama``, ``llm_tgi``) subclasses ``HttpChatModel``
and supplies two things: the request for a list of messages (``_request``) and a push parser
for the response body (``_reader``: one ``StreamReader`` per attempt, fed line by line).

The rules, in one place:

- Connection errors, 408/429/5xx and streams that end early are retried up to ``retries``
  times with full-jitter exponential backoff (``Retry-After`` wins when the server sends it),
  but only while nothing has been yielded: a retry after a token would repeat text. After the
  first token the same failures raise an ``LLMError`` whose message says the answer was cut off.
- ``timeout`` (LLM_TIMEOUT) is one deadline for the whole call: connecting, retries, the wait
  for the first token, any stall between chunks and the rest of the answer all fit inside it.
- Lines that cannot be read (bad JSON, unknown events) are skipped and logged once per stream,
  with a count; an error the server reports inside the stream is an error, not a bad line.
- Closing the generator (``aclose()``) or cancelling the task closes the HTTP response at
  once, so the server stops generating for nobody.
"""

from __future__ import annotations

import asyncio
import codecs
import json
import logging
import random
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any, ClassVar, Literal, Protocol, TypeVar, cast

import httpx

from core.errors import ConfigError, LLMBadResponse, LLMError, LLMRateLimited, LLMTimeout, LLMUnavailable
from core.models import ChatDelta, ChatMessage

__all__ = [
    "HttpChatModel",
    "RetryPolicy",
    "StreamReader",
    "SseStreamReader",
    "BadLines",
    "LineSplitter",
    "SseEvent",
    "SseDecoder",
    "ServerReportedError",
    "StreamIncomplete",
    "parse_retry_after",
    "error_detail",
    "display_url",
    "loads_object",
    "as_int",
    "messages_json",
]

logger = logging.getLogger(__name__)

_T = TypeVar("_T")
_DETAIL_CHARS = 200  # longest piece of a server's error body that reaches a message


# --------------------------------------------------------------------------- retry policy


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a request is retried before its first token.

    ``sleep`` and ``rng`` are here so tests can record the delays instead of waiting them."""

    retries: int = 3
    base_delay_s: float = 0.5
    max_delay_s: float = 10.0
    connect_timeout_s: float = 10.0  # a dead host fails fast and is retried, not waited on for minutes
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based): the server's Retry-After
        when it gave one, else full jitter over a capped exponential (AWS architecture blog)."""
        if retry_after is not None:
            return max(0.0, retry_after)
        return self.rng.uniform(0.0, min(self.max_delay_s, self.base_delay_s * (2**attempt)))


def parse_retry_after(value: str | None, *, now: datetime | None = None) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date; None if absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


# --------------------------------------------------------------------------- errors


class ServerReportedError(Exception):
    """The server said, inside a 200 stream, that generation failed. Raised by readers."""

    def __init__(self, detail: str, *, overloaded: bool = False) -> None:
        super().__init__(detail)
        self.detail = detail
        self.overloaded = overloaded  # TGI's "overloaded": worth a retry, like a 429


class StreamIncomplete(Exception):
    """The body ended before the protocol's final message: the connection was cut."""


class _Retryable(Exception):
    def __init__(
        self,
        kind: Literal["unreachable", "unavailable", "rate_limited"],
        detail: str,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(detail)
        self.kind = kind
        self.detail = detail
        self.retry_after = retry_after


class _DeadlineExceeded(Exception):
    pass


def _squash(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= _DETAIL_CHARS else text[: _DETAIL_CHARS - 1] + "…"


def error_detail(body: bytes | str | Mapping[str, Any] | None) -> str:
    """The human part of an error body, at most ~200 characters on one line.

    Understands ``{"error": {"message": ...}}`` (OpenAI), ``{"object": "error", "message": ...}``
    (vLLM), ``{"error": "..."}`` (Ollama, TGI), ``{"detail": ...}`` (FastAPI) and plain text."""
    if body is None:
        return ""
    obj: Any = body
    if isinstance(body, bytes | str):
        text = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        try:
            obj = json.loads(text)
        except ValueError:
            return _squash(text)
    if isinstance(obj, Mapping):
        err = obj.get("error")
        if isinstance(err, Mapping):
            message = err.get("message") or err.get("msg") or json.dumps(err, ensure_ascii=False)
            return _squash(str(message))
        if isinstance(err, str) and err:
            return _squash(err)
        for key in ("message", "detail"):
            value = obj.get(key)
            if isinstance(value, str) and value:
                return _squash(value)
            if value:
                return _squash(json.dumps(value, ensure_ascii=False))
        return _squash(json.dumps(obj, ensure_ascii=False))
    return _squash(str(obj))


def display_url(url: httpx.URL | str) -> str:
    """host:port, the way a person recognises a server, without credentials or paths."""
    url = httpx.URL(str(url))
    default = {"http": 80, "https": 443}.get(url.scheme)
    if url.port is None or url.port == default:
        return url.host
    return f"{url.host}:{url.port}"


# --------------------------------------------------------------------------- stream parsing


_EOL = re.compile(r"\r\n|\r|\n")


class LineSplitter:
    """Bytes in, lines out, as the bytes arrive. Only CR, LF and CRLF end a line (the SSE and
    NDJSON rule): ``str.splitlines`` (which httpx's ``aiter_lines`` uses) also splits on U+2028,
    U+0085 and friends, which JSON strings may carry unescaped, and would break a token in two.
    The bytes are UTF-8 whatever the Content-Type says (both formats are UTF-8 by definition)."""

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")("replace")
        self._buffer = ""

    def feed(self, data: bytes) -> list[str]:
        text = self._buffer + self._decoder.decode(data)
        lines: list[str] = []
        start = 0
        for match in _EOL.finditer(text):
            if match.group() == "\r" and match.end() == len(text):
                break  # maybe the first half of a CRLF split across two chunks
            lines.append(text[start : match.start()])
            start = match.end()
        self._buffer = text[start:]
        return lines

    def flush(self) -> list[str]:
        text = self._buffer + self._decoder.decode(b"", final=True)
        self._buffer = ""
        if text.endswith("\r"):
            text = text[:-1]
        return [text] if text else []


class BadLines:
    """Counts lines a reader skipped, keeping the first one for the log."""

    def __init__(self) -> None:
        self.count = 0
        self.example = ""

    def add(self, line: str) -> None:
        if self.count == 0:
            self.example = line[:120]
        self.count += 1


@dataclass(frozen=True)
class SseEvent:
    event: str  # "message" unless the server named it
    data: str


class SseDecoder:
    """Server-sent events, fed one line at a time (line endings already removed).

    Follows the WHATWG rules: ``data`` lines accumulate (joined with "\\n"), a blank line
    dispatches, ``:`` starts a comment, one space after the colon is dropped, ``id``/``retry``
    are ignored. One deviation: llama.cpp reports errors mid-stream as ``error: {...}`` lines,
    which are read as an event named "error" instead of being dropped."""

    def __init__(self, bad: BadLines) -> None:
        self._bad = bad
        self._data: list[str] = []
        self._event = ""

    def feed(self, line: str) -> SseEvent | None:
        if line == "":
            return self.flush()
        if line.startswith(":"):
            return None
        name, colon, value = line.partition(":")
        if colon and value.startswith(" "):
            value = value[1:]
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "error":
            self._event = "error"
            self._data.append(value)
        elif name not in ("id", "retry"):
            self._bad.add(line)
        return None

    def flush(self) -> SseEvent | None:
        """Dispatch what has accumulated (also called at the end of the body)."""
        if not self._data:
            self._event = ""
            return None
        event = SseEvent(self._event or "message", "\n".join(self._data))
        self._data, self._event = [], ""
        return event


class StreamReader(Protocol):
    """Turns the lines of one response body into deltas. ``feed`` may raise
    ``ServerReportedError``; ``finish`` (at the end of the body) raises ``StreamIncomplete``
    when the protocol's final message never came. ``done`` stops reading early."""

    bad: BadLines
    done: bool

    def feed(self, line: str) -> list[ChatDelta]: ...

    def finish(self) -> list[ChatDelta]: ...


class SseStreamReader:
    """The StreamReader of a server that streams Server-Sent Events (OpenAI-compatible, TGI):
    ``event: error`` becomes ServerReportedError, events of other names count as bad lines, and
    the data of each message goes to ``on_data``; nothing counts once ``done`` is set."""

    def __init__(self) -> None:
        self.bad = BadLines()
        self.done = False
        self._sse = SseDecoder(self.bad)

    def feed(self, line: str) -> list[ChatDelta]:
        event = self._sse.feed(line)
        return self._on_event(event) if event is not None else []

    def finish(self) -> list[ChatDelta]:
        event = self._sse.flush()
        deltas = self._on_event(event) if event is not None else []
        return deltas if self.done else deltas + self.on_end_before_done()

    def on_data(self, data: str) -> list[ChatDelta]:
        raise NotImplementedError

    def on_end_before_done(self) -> list[ChatDelta]:
        """The body ended before the protocol's last message."""
        raise StreamIncomplete

    def _on_event(self, event: SseEvent) -> list[ChatDelta]:
        if self.done:
            return []
        if event.event == "error":
            raise ServerReportedError(error_detail(event.data) or "unknown error")
        if event.event != "message":
            self.bad.add(f"event: {event.event}")
            return []
        return self.on_data(event.data)


def loads_object(text: str, bad: BadLines) -> dict[str, Any] | None:
    """A JSON object, or None (counted as a bad line) for anything else."""
    try:
        obj = json.loads(text)
    except ValueError:
        bad.add(text)
        return None
    if not isinstance(obj, dict):
        bad.add(text)
        return None
    return obj


def as_int(value: Any) -> int:
    try:
        return max(0, int(value))
    except (TypeError, ValueError):
        return 0


# --------------------------------------------------------------------------- the backend base


async def _within(deadline: float, awaitable: Awaitable[_T]) -> _T:
    try:
        async with asyncio.timeout_at(deadline):
            return await awaitable
    except TimeoutError:
        raise _DeadlineExceeded from None


_END = object()


class HttpChatModel:
    """A ``ChatModel`` over one streaming HTTP endpoint. Subclasses set ``backend`` and
    implement ``_request`` and ``_reader``; everything about failure lives here."""

    backend: ClassVar[str] = "http"

    def __init__(
        self,
        *,
        base_url: str,
        model: str | None,
        timeout: float,
        retry: RetryPolicy | None = None,
        api_key: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        trust_env: bool = True,
    ) -> None:
        try:
            url = httpx.URL(base_url)
        except (httpx.InvalidURL, TypeError) as e:
            raise ConfigError(f"LLM_BASE_URL is not a valid URL: {base_url!r}.") from e
        if url.scheme not in ("http", "https") or not url.host:
            raise ConfigError(f"LLM_BASE_URL must be an http:// or https:// URL, not {base_url!r}.")
        if timeout <= 0:
            raise ConfigError("LLM_TIMEOUT must be positive.")
        self.base_url = url
        self.model = model
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self._api_key = api_key
        self._transport = transport
        # HTTP(S)_PROXY / NO_PROXY from the environment, except for this machine's own servers.
        self._trust_env = trust_env and url.host not in ("127.0.0.1", "localhost", "::1")
        self._client: httpx.AsyncClient | None = None
        self.where = display_url(url)
        self.name = f"{self.backend}:{model}" if model else self.backend

    # -- lifecycle

    async def start(self) -> None:
        if self._client is not None:
            return
        headers = {"Accept": "text/event-stream, application/x-ndjson, application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        # Only connecting has its own timeout; every other wait is bounded by the per-call
        # deadline in stream(), which knows how much of LLM_TIMEOUT is left.
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers,
            timeout=httpx.Timeout(None, connect=min(self.retry.connect_timeout_s, self.timeout)),
            transport=self._transport,
            default_encoding="utf-8",
            trust_env=self._trust_env,
        )

    async def aclose(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    # -- what subclasses provide

    def _request(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> tuple[str, dict[str, Any]]:
        """(path relative to the base URL, JSON body)."""
        raise NotImplementedError

    def _reader(self) -> StreamReader:
        raise NotImplementedError

    async def _prepare(self, client: httpx.AsyncClient, deadline: float) -> None:
        """Called before each attempt; a subclass may look something up (see llm_openai)."""

    # -- the stream

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[ChatDelta]:
        client = self._client
        if client is None:
            raise LLMUnavailable(f"The {self.backend} language model backend is not started.")
        loop = asyncio.get_running_loop()
        started = loop.time()
        deadline = started + self.timeout
        got_text = False
        attempt = 0
        while True:
            reader = self._reader()
            try:
                async with aclosing(
                    self._attempt(client, messages, max_tokens, temperature, reader, deadline)
                ) as deltas:
                    async for delta in deltas:
                        if delta.text:
                            got_text = True
                        yield delta
                return
            except _Retryable as e:
                if got_text:
                    raise self._cut_off(e) from e
                if attempt >= self.retry.retries:
                    raise self._exhausted(e, attempt + 1) from e
                delay = self.retry.delay(attempt, e.retry_after)
                if loop.time() + delay >= deadline:
                    raise self._exhausted(e, attempt + 1, out_of_time=True) from e
                attempt += 1
                logger.warning(
                    "llm request failed, retrying backend=%s server=%s attempt=%d/%d delay_s=%.2f reason=%r cause=%r",
                    self.backend,
                    self.where,
                    attempt,
                    self.retry.retries,
                    delay,
                    e.detail,
                    _reason(e.__cause__) if e.__cause__ else "",
                )
                await self.retry.sleep(delay)
            except ServerReportedError as e:
                suffix = "; the answer was cut off" if got_text else ""
                raise LLMBadResponse(
                    f"The language model server at {self.where} reported an error: {e.detail}{suffix}."
                ) from e
            except _DeadlineExceeded:
                raise self._timed_out(got_text, loop.time() - started) from None
            finally:
                if reader.bad.count:
                    logger.warning(
                        "llm stream skipped unreadable lines backend=%s server=%s count=%d first=%r",
                        self.backend,
                        self.where,
                        reader.bad.count,
                        reader.bad.example,
                    )

    async def _attempt(
        self,
        client: httpx.AsyncClient,
        messages: Sequence[ChatMessage],
        max_tokens: int,
        temperature: float,
        reader: StreamReader,
        deadline: float,
    ) -> AsyncIterator[ChatDelta]:
        await self._prepare(client, deadline)
        path, body = self._request(messages, max_tokens=max_tokens, temperature=temperature)
        response = await self._send(client, client.build_request("POST", path, json=body), deadline)
        try:
            await self._raise_for_status(response, deadline)
            chunks = response.aiter_bytes()
            lines = LineSplitter()
            while not reader.done:
                try:
                    chunk = await _within(deadline, anext(chunks, _END))
                except httpx.TransportError as e:
                    raise _Retryable("unavailable", "the connection was lost") from e
                except httpx.HTTPError as e:
                    raise LLMBadResponse(
                        f"The language model server at {self.where} sent a body that cannot be read ({_reason(e)})."
                    ) from e
                for line in lines.flush() if chunk is _END else lines.feed(cast(bytes, chunk)):
                    for delta in _feed(reader, line):
                        yield delta
                    if reader.done:
                        break
                if chunk is _END:
                    break
            try:
                tail = reader.finish()
            except StreamIncomplete as e:
                raise _Retryable("unavailable", "the stream ended before the answer was complete") from e
            for delta in tail:
                yield delta
        finally:
            # Closing an unfinished streaming response drops the connection: the server sees the
            # client leave and stops generating.
            await response.aclose()

    async def _send(
        self, client: httpx.AsyncClient, request: httpx.Request, deadline: float
    ) -> httpx.Response:
        try:
            return await _within(deadline, client.send(request, stream=True))
        except (httpx.ConnectError, httpx.ConnectTimeout) as e:
            raise _Retryable("unreachable", _reason(e)) from e
        except httpx.TransportError as e:
            raise _Retryable("unavailable", "the connection failed") from e
        except httpx.HTTPError as e:
            raise LLMBadResponse(f"The request to {self.where} failed: {_reason(e)}.") from e

    async def _get_json(self, client: httpx.AsyncClient, path: str, deadline: float) -> Any:
        """A small GET (a model listing), with the same error translation and deadline as a stream."""
        response = await self._send(client, client.build_request("GET", path), deadline)
        try:
            await self._raise_for_status(response, deadline)
            try:
                body = await _within(deadline, response.aread())
            except httpx.TransportError as e:
                raise _Retryable("unavailable", "the connection was lost") from e
        finally:
            await response.aclose()
        try:
            return json.loads(body)
        except ValueError as e:
            raise LLMBadResponse(
                f"The server at {self.where} answered {path} with something other than JSON."
            ) from e

    async def _raise_for_status(self, response: httpx.Response, deadline: float) -> None:
        status = response.status_code
        if status < 400:
            return
        try:
            body = await _within(deadline, response.aread())
        except httpx.TransportError:
            body = b""
        detail = error_detail(body)
        shown = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        retry_after = parse_retry_after(response.headers.get("retry-after"))
        if status == 429:
            raise _Retryable("rate_limited", shown, retry_after)
        if status >= 500 or status == 408:
            raise _Retryable("unavailable", shown, retry_after if status == 503 else None)
        if status in (401, 403):
            raise LLMBadResponse(
                f"The language model server at {self.where} refused the request ({shown}); check LLM_API_KEY."
            )
        if status == 404:
            raise LLMBadResponse(
                f"The language model server at {self.where} answered {shown} for {response.request.url.path}; "
                "check LLM_BASE_URL and LLM_MODEL."
            )
        raise LLMBadResponse(f"The language model server at {self.where} rejected the request ({shown}).")

    # -- final errors

    def _exhausted(self, e: _Retryable, attempts: int, *, out_of_time: bool = False) -> LLMError:
        tried = f" Tried {attempts} times." if attempts > 1 else ""
        if out_of_time:
            tried += " There was no time left for another try within LLM_TIMEOUT."
        if e.kind == "rate_limited":
            return LLMRateLimited(
                f"The language model server at {self.where} is busy ({e.detail}).{tried} Try again in a minute.",
                retry_after=e.retry_after,
            )
        if e.kind == "unreachable":
            return LLMUnavailable(
                f"Cannot reach the language model server at {self.where} ({e.detail}).{tried}"
            )
        return LLMUnavailable(f"The language model server at {self.where} failed: {e.detail}.{tried}")

    def _cut_off(self, e: _Retryable) -> LLMError:
        message = f"The language model server at {self.where} stopped mid-answer ({e.detail}); the answer was cut off."
        if e.kind == "rate_limited":
            return LLMRateLimited(message, retry_after=e.retry_after)
        return LLMUnavailable(message)

    def _timed_out(self, got_text: bool, elapsed: float) -> LLMTimeout:
        if got_text:
            return LLMTimeout(
                f"The language model did not finish within {self.timeout:g} s (LLM_TIMEOUT, {elapsed:.0f} s spent); "
                "the answer was cut off."
            )
        return LLMTimeout(
            f"The language model at {self.where} did not start answering within {self.timeout:g} s (LLM_TIMEOUT)."
        )


def _feed(reader: StreamReader, line: str) -> list[ChatDelta]:
    try:
        return reader.feed(line)
    except ServerReportedError as e:
        # Only an explicit "overloaded" is worth another try; other reported errors would recur.
        if e.overloaded:
            raise _Retryable("rate_limited", e.detail) from e
        raise


def _reason(e: Exception) -> str:
    text = str(e) or type(e).__name__
    return _squash(text)


def messages_json(messages: Sequence[ChatMessage]) -> list[dict[str, str]]:
    return [{"role": m.role, "content": m.content} for m in messages]
