"""`ragbot bench llm`: the embedded models through ragbot and through the raw server.

For each model and an English and a Russian question over the demo documents:
- through ragbot: ``RagService.ask`` end to end (retrieval, context, prompt, streaming), with the
  HTTP wire timed underneath, so ragbot's own overhead is measured directly rather than as the
  difference of two noisy prefills: (request sent - question asked - retrieval) + (delta handed
  to the caller - chunk off the socket);
- the raw server: the very same messages posted straight to llama.cpp's OpenAI endpoint;
- tokens/s both ways, and the gap between each chunk arriving and its delta reaching the caller.
ragbot asks first, with a prompt the server has not seen; the raw request then disables
llama.cpp's prompt cache (``cache_prompt: false``), so neither path is helped by the other.
"""

from __future__ import annotations

import json
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import httpx

from bot.bootstrap import build_chat_model, build_service
from bot.settings import Settings
from core.models import AnswerDone, ChatDelta, ChatMessage, Question, TextDelta
from core.settings import AnswerSettings, LLMSettings

__all__ = ["run"]

DEMO_DOCS = Path(__file__).resolve().parents[2] / "examples" / "docs" / "sds-local-volume"

QUESTIONS = (
    ("en", "How do I create a LocalStorageClass for thick LVM volumes?"),
    ("ru", "Как включить модуль sds-local-volume?"),
)


class _WireClock(httpx.AsyncBaseTransport):
    """Timestamps the request leaving and every body chunk arriving."""

    def __init__(self) -> None:
        self.inner = httpx.AsyncHTTPTransport()
        self.sent_at: float | None = None
        self.chunks: list[tuple[float, bytes]] = []

    def reset(self) -> None:
        self.sent_at, self.chunks = None, []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/chat/completions"):
            self.sent_at = time.perf_counter()
        response = await self.inner.handle_async_request(request)
        inner, chunks = response.stream, self.chunks

        class Timed(httpx.AsyncByteStream):
            async def __aiter__(self) -> AsyncIterator[bytes]:
                async for chunk in inner:  # type: ignore[union-attr]
                    chunks.append((time.perf_counter(), chunk))
                    yield chunk

            async def aclose(self) -> None:
                await inner.aclose()  # type: ignore[union-attr]

        response.stream = Timed()
        return response

    async def aclose(self) -> None:
        await self.inner.aclose()


def _content_arrivals(chunks: list[tuple[float, bytes]]) -> list[float]:
    """When each SSE event carrying answer text came off the socket."""
    times, buffer = [], b""
    for t, chunk in chunks:
        buffer += chunk
        while b"\n\n" in buffer:
            event, buffer = buffer.split(b"\n\n", 1)
            for line in event.split(b"\n"):
                if line.startswith(b"data: ") and line[6:].strip() != b"[DONE]":
                    obj = json.loads(line[6:])
                    if any((c.get("delta") or {}).get("content") for c in obj.get("choices") or []):
                        times.append(t)
    return times


class _Recorder:
    """The chat model as the answerer sees it, noting what it was asked and when it yielded."""

    def __init__(self, inner) -> None:  # noqa: ANN001 - the embedded ChatModel
        self.inner = inner
        self.name = inner.name
        self.messages: list[ChatMessage] = []
        self.yields: list[float] = []

    async def start(self) -> None:
        await self.inner.start()

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[ChatDelta]:
        self.messages, self.yields = list(messages), []
        async for delta in self.inner.stream(messages, max_tokens=max_tokens, temperature=temperature):
            if delta.text:
                self.yields.append(time.perf_counter())
            yield delta


async def _raw(
    client: httpx.AsyncClient, address: str, key: str, messages: list[ChatMessage], max_tokens: int
) -> dict:
    body = {
        "messages": [{"role": m.role, "content": m.content} for m in messages],
        "stream": True,
        "stream_options": {"include_usage": True},
        "max_tokens": max_tokens,
        "temperature": 0.1,
        # llama.cpp keeps prompts in a host-memory cache across requests and slots: without this
        # the raw path would reuse the prefill of ragbot's identical request made just before
        "cache_prompt": False,
    }
    first = last = None
    n = 0
    began = time.perf_counter()
    async with client.stream(
        "POST", f"{address}/v1/chat/completions", json=body, headers={"Authorization": f"Bearer {key}"}
    ) as response:
        async for line in response.aiter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                obj = json.loads(line[6:])
                if any((c.get("delta") or {}).get("content") for c in obj.get("choices") or []):
                    last = time.perf_counter()
                    first = first or last
                if obj.get("usage"):
                    n = obj["usage"]["completion_tokens"]
    return {
        "ttft_s": round((first or began) - began, 3),
        "decode_tok_s": round((n - 1) / (last - first), 2)
        if first and last and last > first and n > 1
        else None,
    }


async def _one_model(model: str, docs: Path, max_tokens: int) -> dict:
    wire = _WireClock()
    with tempfile.TemporaryDirectory(prefix="ragbot-bench-llm-") as tmp:
        settings = Settings(
            data_dir=Path(tmp),
            database_url=None,
            llm=LLMSettings(model=model, max_tokens=max_tokens),
            answer=AnswerSettings(cache_ttl_s=0),
        )
        settings.data_dir.joinpath("models").mkdir(parents=True, exist_ok=True)
        chat = build_chat_model(settings, transport=wire)
        recorder = _Recorder(chat)
        service = build_service(settings, chat=recorder)
        began = time.perf_counter()
        await service.start()
        start_s = time.perf_counter() - began
        rows = []
        try:
            await service.ingest("bench", [str(docs)])
            async with httpx.AsyncClient(timeout=None, trust_env=False) as client:
                for lang, text in QUESTIONS:
                    wire.reset()
                    asked = time.perf_counter()
                    first_delta = None
                    answer = None
                    async for event in service.ask(Question(text, "bench")):
                        if isinstance(event, TextDelta) and first_delta is None:
                            first_delta = time.perf_counter()
                        elif isinstance(event, AnswerDone):
                            answer = event.answer
                    arrivals = _content_arrivals(wire.chunks)
                    gaps = [(y - a) * 1000 for a, y in zip(arrivals, recorder.yields, strict=False)]
                    before_send = (wire.sent_at - asked) - answer.timings.retrieval_s
                    raw = await _raw(client, chat.address, chat.api_key, recorder.messages, max_tokens)
                    rows.append(
                        {
                            "lang": lang,
                            "question": text,
                            "answer_lang": answer.lang,
                            "cites": [s.n for s in answer.sources if s.cited],
                            "retrieval_ms": round(answer.timings.retrieval_s * 1000, 1),
                            "ragbot_ttft_s": round(first_delta - asked, 3),
                            "ragbot_ttft_beyond_retrieval_s": round(
                                first_delta - asked - answer.timings.retrieval_s, 3
                            ),
                            "raw_ttft_s": raw["ttft_s"],
                            "ragbot_decode_tok_s": round(answer.timings.tokens_per_s, 2),
                            "raw_decode_tok_s": raw["decode_tok_s"],
                            "prompt_tokens": answer.timings.prompt_tokens,
                            "overhead_before_request_ms": round(before_send * 1000, 1),
                            "delivery_gap_ms_p50": round(statistics.median(gaps), 3) if gaps else None,
                            "delivery_gap_ms_max": round(max(gaps), 3) if gaps else None,
                            "overhead_beyond_retrieval_ms": round(
                                before_send * 1000 + (max(gaps) if gaps else 0), 1
                            ),
                            "answer": answer.text[:400],
                        }
                    )
        finally:
            await service.aclose()
            await wire.aclose()
    return {"model": model, "start_s": round(start_s, 1), "questions": rows}


async def run(
    models: Sequence[str] = ("qwen2.5-coder-1.5b", "qwen2.5-coder-0.5b"), max_tokens: int = 256
) -> dict:
    return {"max_tokens": max_tokens, "models": [await _one_model(m, DEMO_DOCS, max_tokens) for m in models]}
