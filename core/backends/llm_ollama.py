"""Chat over Ollama's native ``/api/chat`` (LLM_MODE=ollama, ``LLM_BASE_URL=http://ollama:11434``).

The native API rather than Ollama's OpenAI shim, because only it takes ``keep_alive`` (the spec:
keep the model warm, so a question does not pay for loading it) and ``options.num_ctx`` (the
shim runs every model at Ollama's small default context, which silently truncates RAG prompts).

The body is NDJSON: one object per line with ``message.content``; the last has ``done: true``,
``done_reason``, ``prompt_eval_count`` and ``eval_count``. Errors are ``{"error": "..."}``, as
the whole body of a 4xx/5xx or as a line in the middle of a 200 stream.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from core.backends.llm_http import (
    BadLines,
    HttpChatModel,
    RetryPolicy,
    ServerReportedError,
    StreamIncomplete,
    as_int,
    error_detail,
    loads_object,
    messages_json,
)
from core.errors import ConfigError
from core.models import ChatDelta, ChatMessage, ChatUsage

__all__ = ["OllamaChatModel", "OllamaStreamReader", "DEFAULT_OLLAMA_URL"]

DEFAULT_OLLAMA_URL = "http://ollama:11434"
_SECONDS = re.compile(r"-?\d+")


class OllamaStreamReader:
    def __init__(self) -> None:
        self.bad = BadLines()
        self.done = False

    def feed(self, line: str) -> list[ChatDelta]:
        if self.done or not line.strip():
            return []
        obj = loads_object(line, self.bad)
        if obj is None:
            return []
        if "error" in obj:
            raise ServerReportedError(error_detail(obj) or "unknown error")
        message = obj.get("message")
        text = message.get("content") if isinstance(message, dict) else None
        deltas = [ChatDelta(text=text)] if isinstance(text, str) and text else []
        if obj.get("done") is True:
            self.done = True
            # prompt_eval_count is left out when the whole prompt came from Ollama's cache.
            usage = ChatUsage(as_int(obj.get("prompt_eval_count")), as_int(obj.get("eval_count")))
            reason = obj.get("done_reason")
            deltas.append(ChatDelta(usage=usage, finish_reason=reason if isinstance(reason, str) else "stop"))
        elif not isinstance(message, dict):
            self.bad.add(line)
        return deltas

    def finish(self) -> list[ChatDelta]:
        if not self.done:
            raise StreamIncomplete
        return []


class OllamaChatModel(HttpChatModel):
    backend: ClassVar[str] = "ollama"

    def __init__(
        self,
        *,
        model: str | None,
        base_url: str | None = None,
        num_ctx: int = 8192,
        keep_alive: str = "30m",
        timeout: float = 240.0,
        retry: RetryPolicy | None = None,
        api_key: str | None = None,  # for an Ollama behind an authenticating proxy
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not model:
            raise ConfigError(
                "LLM_MODE=ollama needs LLM_MODEL: a model pulled into Ollama, e.g. qwen2.5:7b-instruct."
            )
        super().__init__(
            base_url=base_url or DEFAULT_OLLAMA_URL,
            model=model,
            timeout=timeout,
            retry=retry,
            api_key=api_key,
            transport=transport,
        )
        self.num_ctx = num_ctx
        # Ollama reads a bare number as seconds (-1: forever) and a string as a Go duration ("30m").
        self.keep_alive: int | str = int(keep_alive) if _SECONDS.fullmatch(keep_alive.strip()) else keep_alive

    def _reader(self) -> OllamaStreamReader:
        return OllamaStreamReader()

    def _request(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages_json(messages),
            "stream": True,
            "keep_alive": self.keep_alive,
            "options": {"num_predict": max_tokens, "num_ctx": self.num_ctx, "temperature": temperature},
        }
        return "api/chat", body
