"""The Ollama backend against a local server speaking Ollama's native /api/chat NDJSON stream."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from core.backends.llm_http import RetryPolicy
from core.backends.llm_ollama import OllamaChatModel, OllamaStreamReader
from core.errors import ConfigError, LLMBadResponse, LLMUnavailable
from core.models import ChatDelta, ChatMessage, ChatUsage
from core.testing.fake_llm_servers import Cut, FakeLLMServer, HttpError, Reply, StreamError

MESSAGES = [ChatMessage("system", "Answer from the context."), ChatMessage("user", "Столица Франции?")]


async def no_sleep(_: float) -> None:
    return None


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer("ollama", reply="Столица Франции — Париж [1].") as s:
        yield s


def make(server: FakeLLMServer, **kw: object) -> OllamaChatModel:
    args: dict[str, object] = {"base_url": server.base_url, "model": "qwen2.5:7b-instruct", "timeout": 30.0}
    args.update(kw)
    return OllamaChatModel(retry=RetryPolicy(sleep=no_sleep), **args)  # type: ignore[arg-type]


async def collect(model: OllamaChatModel, max_tokens: int = 64, temperature: float = 0.1) -> list[ChatDelta]:
    await model.start()
    try:
        return [d async for d in model.stream(MESSAGES, max_tokens=max_tokens, temperature=temperature)]
    finally:
        await model.aclose()


async def test_streams_text_and_usage_from_the_final_object(server) -> None:
    deltas = await collect(make(server))
    assert "".join(d.text for d in deltas) == "Столица Франции — Париж [1]."
    assert len([d for d in deltas if d.text]) == 5
    assert deltas[-1] == ChatDelta(
        usage=ChatUsage(prompt_tokens=6, completion_tokens=5), finish_reason="stop"
    )


async def test_request_uses_native_options_and_keep_alive(server) -> None:
    await collect(make(server, num_ctx=4096, keep_alive="30m"), max_tokens=256, temperature=0.3)
    (request,) = server.requests
    assert request.path == "/api/chat"
    assert request.body["model"] == "qwen2.5:7b-instruct"
    assert request.body["stream"] is True
    assert request.body["keep_alive"] == "30m"
    assert request.body["options"] == {"num_predict": 256, "num_ctx": 4096, "temperature": 0.3}
    assert request.body["messages"][1] == {"role": "user", "content": "Столица Франции?"}


@pytest.mark.parametrize(
    ("keep_alive", "sent"), [("30m", "30m"), ("-1", -1), ("600", 600), ("1h30m", "1h30m")]
)
async def test_keep_alive_numbers_are_sent_as_seconds(server, keep_alive: str, sent: object) -> None:
    await collect(make(server, keep_alive=keep_alive))
    assert server.requests[0].body["keep_alive"] == sent


async def test_num_predict_reached_is_length(server) -> None:
    deltas = await collect(make(server), max_tokens=2)
    assert "".join(d.text for d in deltas) == "Столица Франции"
    assert deltas[-1].finish_reason == "length"


async def test_model_not_pulled_is_a_bad_response_with_ollamas_words(server) -> None:
    server.script(HttpError(404, 'model "qwen2.5:7b-instruct" not found, try pulling it first'))
    with pytest.raises(LLMBadResponse) as info:
        await collect(make(server))
    assert "try pulling it first" in info.value.message


async def test_error_in_the_middle_of_the_stream(server) -> None:
    server.script(StreamError(after=2, message="llama runner process has terminated"))
    with pytest.raises(LLMBadResponse) as info:
        await collect(make(server))
    assert "llama runner process has terminated" in info.value.message
    assert "cut off" in info.value.message


async def test_busy_server_503_then_ok(server) -> None:
    server.script(HttpError(503, "server busy, please try again. maximum pending requests exceeded"))
    deltas = await collect(make(server))
    assert deltas[-1].finish_reason == "stop"
    assert len(server.requests) == 2


async def test_a_stream_that_ends_without_done_is_cut(server) -> None:
    server.script(*[Cut(after=0)] * 4)
    with pytest.raises(LLMUnavailable) as info:
        await collect(make(server))
    assert "Tried 4 times" in info.value.message


async def test_garbage_and_crlf_lines_are_tolerated(server) -> None:
    server.script(Reply(crlf=True, garbage=["{broken", "[]", ""]))
    deltas = await collect(make(server))
    assert "".join(d.text for d in deltas) == "Столица Франции — Париж [1]."


def test_reader_ignores_thinking_and_counts_cached_prompts_as_zero() -> None:
    reader = OllamaStreamReader()
    assert (
        reader.feed('{"message": {"role": "assistant", "content": "", "thinking": "hmm"}, "done": false}')
        == []
    )
    final = reader.feed(
        '{"message": {"role": "assistant", "content": ""}, "done": true, "done_reason": "stop", "eval_count": 3}'
    )
    assert final == [ChatDelta(usage=ChatUsage(0, 3), finish_reason="stop")]
    assert reader.done and reader.bad.count == 0


def test_model_is_required() -> None:
    with pytest.raises(ConfigError, match="LLM_MODEL"):
        OllamaChatModel(model=None)


def test_default_base_url_is_the_compose_service() -> None:
    assert str(OllamaChatModel(model="m").base_url) == "http://ollama:11434"
