"""Chat over the OpenAI-compatible ``/chat/completions`` API: vLLM (LLM_MODE=vllm, the spec's
``LLM_BASE_URL=http://vllm:8000/v1``), OpenAI itself (LLM_MODE=openai), and the llama.cpp
server that the embedded backend runs.

The request asks for a stream with ``stream_options.include_usage``, so the server sends token
counts in one last chunk (``choices: []``) before ``data: [DONE]``. The base URL includes the
API prefix (``.../v1``); requests go to ``{base}/chat/completions``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

import httpx

from core.backends.llm_http import (
    HttpChatModel,
    RetryPolicy,
    ServerReportedError,
    SseStreamReader,
    StreamIncomplete,
    as_int,
    error_detail,
    loads_object,
    messages_json,
)
from core.errors import ConfigError, LLMBadResponse
from core.models import ChatDelta, ChatMessage, ChatUsage

__all__ = ["OpenAIChatModel", "OpenAIStreamReader", "DEFAULT_OPENAI_URL", "DEFAULT_VLLM_URL"]

DEFAULT_OPENAI_URL = "https://api.openai.com/v1"
DEFAULT_VLLM_URL = "http://vllm:8000/v1"  # the service name in the spec's docker-compose example


class OpenAIStreamReader(SseStreamReader):
    """Reads ``chat.completion.chunk`` events. Text deltas are passed on as they come; the finish
    reason and the usage (which arrive in separate chunks) go out together in one last delta."""

    def __init__(self) -> None:
        super().__init__()
        self._finish_reason: str | None = None
        self._usage: ChatUsage | None = None

    def on_end_before_done(self) -> list[ChatDelta]:
        # No [DONE], but the answer had finished: some servers simply close the stream.
        if self._finish_reason is None:
            raise StreamIncomplete
        self.done = True
        return self._final()

    def _final(self) -> list[ChatDelta]:
        if self._usage is None and self._finish_reason is None:
            return []
        return [ChatDelta(usage=self._usage, finish_reason=self._finish_reason)]

    def on_data(self, data: str) -> list[ChatDelta]:
        data = data.strip()
        if data == "[DONE]":
            self.done = True
            return self._final()
        chunk = loads_object(data, self.bad)
        if chunk is None:
            return []
        if "error" in chunk or chunk.get("object") == "error":  # OpenAI / vLLM mid-stream errors
            raise ServerReportedError(error_detail(chunk) or "unknown error")
        usage = chunk.get("usage")
        if isinstance(usage, dict):
            self._usage = ChatUsage(
                as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens"))
            )
        choices = chunk.get("choices")
        if not isinstance(choices, list):
            if not isinstance(usage, dict):
                self.bad.add(data)
            return []
        deltas: list[ChatDelta] = []
        for choice in choices:
            if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                continue
            delta = choice.get("delta")
            # "content" only: reasoning servers put their thinking in "reasoning_content".
            text = delta.get("content") if isinstance(delta, dict) else None
            if isinstance(text, str) and text:
                deltas.append(ChatDelta(text=text))
            reason = choice.get("finish_reason")
            if isinstance(reason, str) and reason:
                self._finish_reason = reason
        return deltas


class OpenAIChatModel(HttpChatModel):
    """``backend`` is "openai" or "vllm" (logs and names only; the protocol is the same).

    OpenAI needs LLM_MODEL. vLLM serves one model whose id the user may not know by heart
    (``--served-model-name``), so when LLM_MODEL is empty the first request asks ``/models``."""

    backend: ClassVar[str] = "openai"

    def __init__(
        self,
        *,
        base_url: str | None = None,
        model: str | None = None,
        api_key: str | None = None,
        timeout: float = 240.0,
        retry: RetryPolicy | None = None,
        flavour: str = "openai",
        transport: httpx.AsyncBaseTransport | None = None,
        trust_env: bool = True,
    ) -> None:
        if flavour not in ("openai", "vllm", "llama.cpp"):
            raise ConfigError(f"Unknown OpenAI-compatible flavour {flavour!r}.")
        if flavour == "openai" and not model:
            raise ConfigError("LLM_MODE=openai needs LLM_MODEL (the model id, e.g. gpt-4o-mini).")
        self.backend = flavour  # type: ignore[misc]  # per instance: names and logs say which server
        default_url = DEFAULT_VLLM_URL if flavour == "vllm" else DEFAULT_OPENAI_URL
        super().__init__(
            base_url=base_url or default_url,
            model=model,
            timeout=timeout,
            retry=retry,
            api_key=api_key,
            transport=transport,
            trust_env=trust_env,
        )

    def _reader(self) -> OpenAIStreamReader:
        return OpenAIStreamReader()

    def _request(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> tuple[str, dict[str, Any]]:
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages_json(messages),
            "stream": True,
            "stream_options": {"include_usage": True},
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        if self.backend == "llama.cpp":
            # reuse the KV cache of the longest prefix this prompt shares with an earlier one: the
            # fixed system text first (core.answer.prompt) is then prefilled once, not per question.
            # llama.cpp's default today, said explicitly so a server built otherwise still does it.
            body["cache_prompt"] = True
        return "chat/completions", body

    async def _prepare(self, client: httpx.AsyncClient, deadline: float) -> None:
        if self.model:
            return
        listing = await self._get_json(client, "models", deadline)
        data = listing.get("data") if isinstance(listing, dict) else None
        ids = [m.get("id") for m in data if isinstance(m, dict)] if isinstance(data, list) else []
        ids = [i for i in ids if isinstance(i, str) and i]
        if not ids:
            raise LLMBadResponse(
                f"The server at {self.where} lists no models at {self.base_url}/models; set LLM_MODEL."
            )
        self.model = ids[0]
        self.name = f"{self.backend}:{self.model}"
