"""Local HTTP servers that speak the streaming protocols of real LLM servers, byte for byte, so
the real HTTP backends (httpx, SSE and NDJSON framing, error translation) run unchanged in tests.

- ``protocol="openai"``: ``POST /v1/chat/completions`` (SSE ``data: {chunk}``, a role chunk, one
  chunk per piece, a finish chunk, a usage chunk with ``choices: []`` when
  ``stream_options.include_usage``, ``data: [DONE]``) and ``GET /v1/models``. ``error_style``
  chooses OpenAI's ``{"error": {...}}`` or vLLM's ``{"object": "error", "message": ...}`` bodies.
- ``protocol="ollama"``: ``POST /api/chat`` (NDJSON, final object ``done: true`` with
  ``done_reason``, ``prompt_eval_count``, ``eval_count``; errors ``{"error": "..."}``).
- ``protocol="tgi"``: ``POST /generate_stream`` (SSE ``data:{...}`` without the space, as axum
  writes it; tokens with ``special``; a final event with ``generated_text`` and ``details``;
  errors ``{"error", "error_type"}``).

Each request takes the next scripted scenario (``script(...)``), or a normal ``Reply`` when the
script is empty: ``Reply`` (with optional delays, garbage lines, CRLF, comments, multi-line
data), ``HttpError`` (any status, body and headers, e.g. 429 with Retry-After), ``StreamError``
(an error reported inside a 200 stream), ``Stall`` (silence after some pieces) and ``Cut`` (the
connection dropped after some pieces). Requests are recorded; ``client_gone`` is set when a
client disconnects while the server is still writing.
"""

from __future__ import annotations

import asyncio
import json
import socket
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

__all__ = [
    "FakeLLMServer",
    "Reply",
    "HttpError",
    "StreamError",
    "Stall",
    "Cut",
    "Scenario",
    "RecordedRequest",
    "DEFAULT_REPLY",
]

Protocol = Literal["openai", "ollama", "tgi"]

DEFAULT_REPLY = "Paris is the capital of France [1]."


@dataclass(frozen=True)
class Reply:
    pieces: Sequence[str] | None = None  # None: the server's reply, split into words
    finish_reason: str = "stop"  # "stop" or "length" (also forced when max_tokens cuts the pieces)
    usage: bool = True  # send token counts (openai: only if the request asked for them)
    delay_s: float = 0.0  # before each piece
    garbage: Sequence[str] = ()  # raw lines written after the first piece
    crlf: bool = False  # CRLF line endings
    comments: bool = False  # SSE comment lines (keep-alives) before each event
    split_data: bool = False  # SSE: each JSON spread over several data: lines
    done_marker: bool = True  # openai: end with data: [DONE]


@dataclass(frozen=True)
class HttpError:
    status: int
    message: str = "something went wrong"
    body: Mapping[str, Any] | str | None = None  # None: the protocol's usual error body
    headers: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class StreamError:
    after: int = 0  # pieces sent before the error
    message: str = "generation failed"
    error_type: str = "generation"  # tgi: "overloaded" asks for a retry


@dataclass(frozen=True)
class Stall:
    after: int = 0  # pieces sent before going silent
    seconds: float = 3600.0  # or until the server closes


@dataclass(frozen=True)
class Cut:
    after: int = 1  # pieces sent before the connection is dropped


Scenario = Reply | HttpError | StreamError | Stall | Cut


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: Mapping[str, str]
    body: Mapping[str, Any]

    @property
    def prompt_text(self) -> str:
        """Everything the model was shown: message contents (openai, ollama) or inputs (tgi)."""
        if "messages" in self.body:
            return "\n".join(str(m.get("content", "")) for m in self.body["messages"])
        return str(self.body.get("inputs", ""))


class FakeLLMServer:
    def __init__(
        self,
        protocol: Protocol,
        *,
        reply: str = DEFAULT_REPLY,
        model: str = "fake-model",
        error_style: Literal["openai", "vllm"] = "openai",
        api_key: str | None = None,  # when set, requests without "Bearer <api_key>" get 401
    ) -> None:
        self.protocol = protocol
        self.reply = reply
        self.model = model
        self.error_style = error_style
        self.api_key = api_key
        self.requests: list[RecordedRequest] = []
        self.disconnects = 0
        self.client_gone = asyncio.Event()
        self._script: deque[Scenario] = deque()
        self._closing = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle

    async def start(self) -> FakeLLMServer:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._handle)
        app.router.add_get("/v1/models", self._models)
        app.router.add_post("/api/chat", self._handle)
        app.router.add_post("/generate_stream", self._handle)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.bind(("127.0.0.1", 0))
        self.port = sock.getsockname()[1]
        await web.SockSite(self._runner, sock).start()
        return self

    async def aclose(self) -> None:
        self._closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeLLMServer:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def base_url(self) -> str:
        """What LLM_BASE_URL would be for this server."""
        return f"{self.url}/v1" if self.protocol == "openai" else self.url

    def script(self, *scenarios: Scenario) -> None:
        self._script.extend(scenarios)

    # -- handlers

    async def _models(self, request: web.Request) -> web.StreamResponse:
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.headers), {}))
        if denied := self._denied(request):
            return denied
        return web.json_response({"object": "list", "data": [{"id": self.model, "object": "model"}]})

    def _denied(self, request: web.Request) -> web.Response | None:
        if self.api_key is None or request.headers.get("Authorization") == f"Bearer {self.api_key}":
            return None
        return self._error_response(HttpError(401, "invalid api key"))

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.requests.append(RecordedRequest(request.method, request.path, dict(request.headers), body))
        if denied := self._denied(request):
            return denied
        scenario = self._script.popleft() if self._script else Reply()
        if isinstance(scenario, HttpError):
            return self._error_response(scenario)
        stream = _Stream(self, request, body, scenario)
        try:
            return await stream.run()
        except (ConnectionResetError, ConnectionError):
            self.disconnects += 1
            self.client_gone.set()
            return stream.response

    def _error_response(self, error: HttpError) -> web.Response:
        body = error.body if error.body is not None else self._error_body(error.message, error.status)
        headers = dict(error.headers)
        if isinstance(body, str):
            return web.Response(status=error.status, text=body, headers=headers)
        return web.json_response(body, status=error.status, headers=headers)

    def _error_body(self, message: str, status: int, error_type: str = "generation") -> dict[str, Any]:
        if self.protocol == "openai":
            if self.error_style == "vllm":
                return {
                    "object": "error",
                    "message": message,
                    "type": "BadRequestError",
                    "param": None,
                    "code": status,
                }
            return {
                "error": {"message": message, "type": "invalid_request_error", "param": None, "code": None}
            }
        if self.protocol == "tgi":
            kind = {422: "validation", 429: "overloaded"}.get(status, error_type)
            return {"error": message, "error_type": kind}
        return {"error": message}


class _Stream:
    """One streamed response, in the framing of the server's protocol."""

    def __init__(
        self, server: FakeLLMServer, request: web.Request, body: Mapping[str, Any], scenario: Scenario
    ):
        self.server = server
        self.request = request
        self.body = body
        self.scenario = scenario
        self.reply = scenario if isinstance(scenario, Reply) else Reply()
        self.eol = "\r\n" if self.reply.crlf else "\n"
        self.response = web.StreamResponse(
            headers={
                "Content-Type": "application/x-ndjson"
                if server.protocol == "ollama"
                else "text/event-stream; charset=utf-8",
                "Cache-Control": "no-cache",
            }
        )
        recorded = RecordedRequest("POST", request.path, {}, body)
        self.prompt_tokens = len(recorded.prompt_text.split())

    def _pieces(self) -> tuple[list[str], str]:
        if self.reply.pieces is not None:
            pieces = list(self.reply.pieces)
        else:
            words = self.server.reply.split(" ")
            pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        limit = self._max_tokens()
        finish = self.reply.finish_reason
        if limit is not None and len(pieces) > limit:
            pieces, finish = pieces[:limit], "length"
        return pieces, finish

    def _max_tokens(self) -> int | None:
        if self.server.protocol == "ollama":
            value = (self.body.get("options") or {}).get("num_predict")
        elif self.server.protocol == "tgi":
            value = (self.body.get("parameters") or {}).get("max_new_tokens")
        else:
            value = self.body.get("max_tokens")
        return int(value) if isinstance(value, int) and value > 0 else None

    async def run(self) -> web.StreamResponse:
        pieces, finish = self._pieces()
        scenario = self.scenario
        send = len(pieces)
        if isinstance(scenario, StreamError | Stall | Cut):
            send = min(scenario.after, len(pieces))
        await self.response.prepare(self.request)
        if self.server.protocol == "openai":
            await self._event({"delta": {"role": "assistant", "content": ""}, "finish_reason": None})
        for i, piece in enumerate(pieces[:send]):
            if self.reply.delay_s:
                await asyncio.sleep(self.reply.delay_s)
            last = i == len(pieces) - 1 and not isinstance(scenario, StreamError | Stall | Cut)
            await self._piece(i, piece, last=last, finish=finish, text="".join(pieces))
            if i == 0:
                for line in self.reply.garbage:
                    await self._raw(line + self.eol + (self.eol if self.server.protocol != "ollama" else ""))
        if isinstance(scenario, StreamError):
            await self._stream_error(scenario)
        elif isinstance(scenario, Stall):
            try:
                await asyncio.wait_for(self.server._closing.wait(), scenario.seconds)
            except TimeoutError:
                pass
        elif isinstance(scenario, Cut):
            transport = self.request.transport
            if transport is not None:
                transport.close()  # mid-body: the client sees an incomplete chunked message
            return self.response
        else:
            await self._finish(pieces, finish)
        await self.response.write_eof()
        return self.response

    # -- framing

    async def _raw(self, text: str) -> None:
        await self.response.write(text.encode("utf-8"))

    async def _sse(self, payload: str) -> None:
        prefix = "data:" if self.server.protocol == "tgi" else "data: "
        out = f": keep-alive{self.eol}{self.eol}" if self.reply.comments else ""
        lines = payload.split("\n") if self.reply.split_data else [payload]
        out += "".join(f"{prefix}{line}{self.eol}" for line in lines) + self.eol
        await self._raw(out)

    async def _json(self, obj: Mapping[str, Any]) -> None:
        if self.server.protocol == "ollama":
            await self._raw(json.dumps(obj, ensure_ascii=False) + self.eol)
        else:
            indent = 1 if self.reply.split_data else None
            await self._sse(json.dumps(obj, ensure_ascii=False, indent=indent))

    async def _event(self, choice: Mapping[str, Any], usage: Mapping[str, int] | None = None) -> None:
        """An OpenAI chat.completion.chunk."""
        chunk: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": self.server.model,
            "choices": [{"index": 0, "logprobs": None, **choice}] if choice else [],
        }
        if usage is not None:
            chunk["usage"] = usage
        await self._json(chunk)

    async def _piece(self, i: int, piece: str, *, last: bool, finish: str, text: str) -> None:
        protocol = self.server.protocol
        if protocol == "openai":
            await self._event({"delta": {"content": piece}, "finish_reason": None})
        elif protocol == "ollama":
            message = {"role": "assistant", "content": piece}
            await self._json(
                {"model": self.server.model, "created_at": _NOW, "message": message, "done": False}
            )
        elif last and finish == "length":
            # TGI's final event carries the last generated token; with "length" that is a real token.
            await self._json(
                self._tgi_final(
                    i, {"id": 1000 + i, "text": piece, "logprob": -0.5, "special": False}, text, i + 1, finish
                )
            )
        else:
            token = {"id": 1000 + i, "text": piece, "logprob": -0.5, "special": False}
            await self._json({"index": i + 1, "token": token, "generated_text": None, "details": None})

    def _tgi_final(
        self, i: int, token: Mapping[str, Any], text: str, generated: int, finish: str
    ) -> dict[str, Any]:
        details: dict[str, Any] = {
            "finish_reason": "eos_token" if finish == "stop" else finish,
            "generated_tokens": generated,
            "seed": None,
            "input_length": self.prompt_tokens,
        }
        return {
            "index": i + 1,
            "token": token,
            "generated_text": text,
            "details": details if self.reply.usage else None,
        }

    async def _finish(self, pieces: list[str], finish: str) -> None:
        protocol = self.server.protocol
        n = len(pieces)
        if protocol == "openai":
            await self._event({"delta": {}, "finish_reason": finish})
            wants_usage = bool((self.body.get("stream_options") or {}).get("include_usage"))
            if self.reply.usage and wants_usage:
                usage = {
                    "prompt_tokens": self.prompt_tokens,
                    "completion_tokens": n,
                    "total_tokens": self.prompt_tokens + n,
                }
                await self._event({}, usage=usage)
            if self.reply.done_marker:
                await self._sse("[DONE]")
        elif protocol == "ollama":
            final: dict[str, Any] = {
                "model": self.server.model,
                "created_at": _NOW,
                "message": {"role": "assistant", "content": ""},
                "done_reason": finish,
                "done": True,
                "total_duration": 1_000_000,
                "load_duration": 1_000,
            }
            if self.reply.usage:
                final.update(
                    prompt_eval_count=self.prompt_tokens,
                    prompt_eval_duration=1000,
                    eval_count=n,
                    eval_duration=1000,
                )
            await self._json(final)
        elif finish != "length" or not pieces:
            eos = {"id": 151645, "text": "<|im_end|>", "logprob": -0.1, "special": True}
            await self._json(self._tgi_final(n, eos, "".join(pieces), n + 1, finish))

    async def _stream_error(self, error: StreamError) -> None:
        protocol = self.server.protocol
        if protocol == "ollama":
            await self._json({"error": error.message})
        elif protocol == "tgi":
            await self._json({"error": error.message, "error_type": error.error_type})
        elif self.server.error_style == "vllm":
            await self._json(
                {"object": "error", "message": error.message, "type": "InternalServerError", "code": 500}
            )
        else:
            await self._json(
                {"error": {"message": error.message, "type": "server_error", "param": None, "code": None}}
            )


_NOW = "2025-01-01T00:00:00.000000Z"
