"""The OpenAI-compatible backend (vLLM, OpenAI, llama.cpp) against a local server speaking the
protocol: request shape, usage, errors, retries, deadlines, bad lines and cancellation.
Only sleeps are replaced (by a recorder), so retry tests do not wait."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Sequence

import pytest

from core.backends.llm_http import RetryPolicy, ServerReportedError
from core.backends.llm_openai import OpenAIChatModel, OpenAIStreamReader
from core.errors import ConfigError, LLMBadResponse, LLMRateLimited, LLMTimeout, LLMUnavailable
from core.models import ChatDelta, ChatMessage, ChatUsage
from core.testing.fake_llm_servers import Cut, FakeLLMServer, HttpError, Reply, Stall, StreamError

MESSAGES = [
    ChatMessage("system", "Answer from the context."),
    ChatMessage("user", "What is the capital of France?"),
]


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> SleepRecorder:
    return SleepRecorder()


@pytest.fixture
async def server() -> AsyncIterator[FakeLLMServer]:
    async with FakeLLMServer("openai", error_style="vllm") as s:
        yield s


def make(
    server: FakeLLMServer,
    sleeps: SleepRecorder,
    *,
    retries: int = 3,
    timeout: float = 30.0,
    model: str | None = "qwen",
    api_key: str | None = None,
    flavour: str = "vllm",
) -> OpenAIChatModel:
    return OpenAIChatModel(
        base_url=server.base_url,
        model=model,
        api_key=api_key,
        timeout=timeout,
        retry=RetryPolicy(retries=retries, sleep=sleeps),
        flavour=flavour,
    )


async def collect(
    model: OpenAIChatModel, messages: Sequence[ChatMessage] = MESSAGES, **kw: object
) -> list[ChatDelta]:
    await model.start()
    try:
        return [d async for d in model.stream(messages, max_tokens=kw.get("max_tokens", 64), temperature=0.2)]  # type: ignore[arg-type]
    finally:
        await model.aclose()


def text_of(deltas: list[ChatDelta]) -> str:
    return "".join(d.text for d in deltas)


async def test_streams_text_then_one_last_delta_with_usage_and_finish_reason(server, sleeps) -> None:
    deltas = await collect(make(server, sleeps))
    assert text_of(deltas) == "Paris is the capital of France [1]."
    assert len([d for d in deltas if d.text]) == 7
    assert deltas[-1] == ChatDelta(
        usage=ChatUsage(prompt_tokens=10, completion_tokens=7), finish_reason="stop"
    )
    assert all(d.usage is None and d.finish_reason is None for d in deltas[:-1])


async def test_request_is_an_openai_streaming_chat_completion(server, sleeps) -> None:
    await collect(make(server, sleeps, api_key="sk-test"), max_tokens=33)
    (request,) = server.requests
    assert request.path == "/v1/chat/completions"
    assert request.body["stream"] is True
    assert request.body["stream_options"] == {"include_usage": True}
    assert request.body["max_tokens"] == 33
    assert request.body["temperature"] == 0.2
    assert request.body["model"] == "qwen"
    assert request.body["messages"] == [{"role": m.role, "content": m.content} for m in MESSAGES]
    assert request.headers["Authorization"] == "Bearer sk-test"


@pytest.mark.parametrize(("flavour", "sent"), [("llama.cpp", True), ("vllm", None), ("openai", None)])
async def test_llama_cpp_is_asked_to_reuse_its_prompt_cache(server, sleeps, flavour, sent) -> None:
    """The answerer's fixed system text is then prefilled once (docs/answering.md); other servers
    do not know the field (vLLM caches prefixes on its own)."""
    await collect(make(server, sleeps, flavour=flavour))
    assert server.requests[0].body.get("cache_prompt") is sent


async def test_no_authorization_header_without_a_key(server, sleeps) -> None:
    await collect(make(server, sleeps))
    assert "Authorization" not in server.requests[0].headers


async def test_max_tokens_reached_is_finish_reason_length(server, sleeps) -> None:
    deltas = await collect(make(server, sleeps), max_tokens=3)
    assert text_of(deltas) == "Paris is the"
    assert deltas[-1].finish_reason == "length"
    assert deltas[-1].usage == ChatUsage(10, 3)


async def test_russian_and_unicode_separators_arrive_intact(server, sleeps) -> None:
    server.script(Reply(pieces=["Столица", " Франции", " —", " Париж", "\u2028[1]"]))
    deltas = await collect(make(server, sleeps))
    assert text_of(deltas) == "Столица Франции — Париж\u2028[1]"


async def test_crlf_comments_and_multiline_data_events(server, sleeps) -> None:
    server.script(Reply(crlf=True, comments=True, split_data=True))
    deltas = await collect(make(server, sleeps))
    assert text_of(deltas) == "Paris is the capital of France [1]."
    assert deltas[-1].usage is not None


async def test_a_stream_without_done_marker_still_ends_cleanly(server, sleeps) -> None:
    server.script(Reply(done_marker=False))
    deltas = await collect(make(server, sleeps))
    assert text_of(deltas) == "Paris is the capital of France [1]."
    assert deltas[-1].finish_reason == "stop"


async def test_bad_lines_are_skipped_and_logged_once_with_a_count(server, sleeps, caplog) -> None:
    server.script(
        Reply(garbage=["data: {not json", "data: [1, 2]", "event: mystery\ndata: {}", "what is this"])
    )
    with caplog.at_level(logging.WARNING, logger="core.backends.llm_http"):
        deltas = await collect(make(server, sleeps))
    assert text_of(deltas) == "Paris is the capital of France [1]."
    warnings = [r for r in caplog.records if "unreadable lines" in r.getMessage()]
    assert len(warnings) == 1
    assert "count=4" in warnings[0].getMessage()


@pytest.mark.parametrize("style", ["openai", "vllm"])
async def test_error_bodies_become_bad_response_with_the_servers_words(style, sleeps) -> None:
    async with FakeLLMServer("openai", error_style=style) as server:
        server.script(HttpError(400, "This model's maximum context length is 8192 tokens"))
        with pytest.raises(LLMBadResponse) as info:
            await collect(make(server, sleeps))
    assert "maximum context length is 8192 tokens" in info.value.message
    assert "HTTP 400" in info.value.message
    assert len(server.requests) == 1  # a 4xx is not retried
    assert sleeps.delays == []


async def test_a_huge_html_error_page_is_not_pasted_into_the_message(server, sleeps) -> None:
    server.script(HttpError(400, body="<html><body>" + "x" * 10_000 + "</body></html>"))
    with pytest.raises(LLMBadResponse) as info:
        await collect(make(server, sleeps))
    assert len(info.value.message) < 400


async def test_wrong_api_key_says_so_without_repeating_it(sleeps) -> None:
    async with FakeLLMServer("openai", api_key="right-key") as server:
        with pytest.raises(LLMBadResponse) as info:
            await collect(make(server, sleeps, api_key="wrong-secret-key"))
    assert "LLM_API_KEY" in info.value.message
    assert "wrong-secret-key" not in info.value.message


async def test_404_points_at_the_base_url(sleeps) -> None:
    async with FakeLLMServer("openai") as server:
        model = OpenAIChatModel(base_url=server.url, model="m", retry=RetryPolicy(sleep=sleeps))  # no /v1
        with pytest.raises(LLMBadResponse) as info:
            await collect(model)
    assert "LLM_BASE_URL" in info.value.message


async def test_5xx_then_ok_is_retried_with_jittered_backoff(server, sleeps) -> None:
    server.script(HttpError(503), HttpError(502))
    deltas = await collect(make(server, sleeps))
    assert text_of(deltas) == "Paris is the capital of France [1]."
    assert len(server.requests) == 3
    assert len(sleeps.delays) == 2
    assert 0 <= sleeps.delays[0] <= 0.5 and 0 <= sleeps.delays[1] <= 1.0


async def test_429_honours_retry_after(server, sleeps) -> None:
    server.script(HttpError(429, "rate limit", headers={"Retry-After": "7"}))
    deltas = await collect(make(server, sleeps))
    assert text_of(deltas).startswith("Paris")
    assert sleeps.delays == [7.0]


async def test_429_after_all_retries_is_rate_limited(server, sleeps) -> None:
    server.script(*[HttpError(429, "slow down", headers={"Retry-After": "2"})] * 3)
    with pytest.raises(LLMRateLimited) as info:
        await collect(make(server, sleeps, retries=2))
    assert info.value.retry_after == 2.0
    assert "Tried 3 times" in info.value.message
    assert len(server.requests) == 3


async def test_retry_after_beyond_the_deadline_gives_up_at_once(server, sleeps) -> None:
    server.script(HttpError(429, headers={"Retry-After": "3600"}))
    with pytest.raises(LLMRateLimited) as info:
        await collect(make(server, sleeps, timeout=60))
    assert sleeps.delays == []
    assert info.value.retry_after == 3600.0


async def test_5xx_after_all_retries_is_unavailable(server, sleeps) -> None:
    server.script(*[HttpError(500, "engine dead")] * 4)
    with pytest.raises(LLMUnavailable) as info:
        await collect(make(server, sleeps, retries=3))
    assert "engine dead" in info.value.message
    assert "Tried 4 times" in info.value.message
    assert len(sleeps.delays) == 3


async def test_nobody_listening_is_unavailable_after_retries(sleeps) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    model = OpenAIChatModel(
        base_url=f"http://127.0.0.1:{port}/v1", model="m", retry=RetryPolicy(retries=2, sleep=sleeps)
    )
    with pytest.raises(LLMUnavailable) as info:
        await collect(model)
    assert info.value.message.startswith(f"Cannot reach the language model server at 127.0.0.1:{port}")
    assert len(sleeps.delays) == 2


async def test_a_cut_before_the_first_token_is_retried(server, sleeps) -> None:
    server.script(Cut(after=0))
    deltas = await collect(make(server, sleeps))
    assert text_of(deltas) == "Paris is the capital of France [1]."
    assert len(server.requests) == 2


async def test_a_cut_after_tokens_is_not_retried_and_says_cut_off(server, sleeps) -> None:
    server.script(Cut(after=2))
    got: list[str] = []
    model = make(server, sleeps)
    await model.start()
    with pytest.raises(LLMUnavailable) as info:
        async for delta in model.stream(MESSAGES, max_tokens=64, temperature=0.2):
            got.append(delta.text)
    await model.aclose()
    assert "".join(got) == "Paris is"
    assert "cut off" in info.value.message
    assert len(server.requests) == 1


async def test_an_error_inside_the_stream_after_tokens_is_bad_response_cut_off(server, sleeps) -> None:
    server.script(StreamError(after=1, message="CUDA out of memory"))
    with pytest.raises(LLMBadResponse) as info:
        await collect(make(server, sleeps))
    assert "CUDA out of memory" in info.value.message
    assert "cut off" in info.value.message
    assert len(server.requests) == 1


async def test_an_error_inside_the_stream_before_tokens_is_not_retried(server, sleeps) -> None:
    server.script(StreamError(after=0, message="prompt too long"))
    with pytest.raises(LLMBadResponse) as info:
        await collect(make(server, sleeps))
    assert "prompt too long" in info.value.message
    assert "cut off" not in info.value.message
    assert len(server.requests) == 1


async def test_no_first_token_within_the_timeout(server, sleeps) -> None:
    server.script(Stall(after=0))
    with pytest.raises(LLMTimeout) as info:
        await collect(make(server, sleeps, timeout=0.3))
    assert "did not start answering within 0.3 s" in info.value.message
    assert "LLM_TIMEOUT" in info.value.message


async def test_a_stall_mid_answer_times_out_and_says_cut_off(server, sleeps) -> None:
    server.script(Stall(after=3))
    got: list[str] = []
    model = make(server, sleeps, timeout=0.5)
    await model.start()
    with pytest.raises(LLMTimeout) as info:
        async for delta in model.stream(MESSAGES, max_tokens=64, temperature=0.2):
            got.append(delta.text)
    await model.aclose()
    assert "".join(got) == "Paris is the"
    assert "cut off" in info.value.message


async def test_a_slow_answer_cannot_outlast_the_timeout(server, sleeps) -> None:
    # Every gap is short, but the whole answer would take 1000 x 20 ms.
    server.script(Reply(pieces=["tick "] * 1000, delay_s=0.02))
    with pytest.raises(LLMTimeout) as info:
        await collect(make(server, sleeps, timeout=0.5))
    assert "did not finish" in info.value.message


async def test_closing_the_generator_drops_the_connection(server, sleeps) -> None:
    server.script(Reply(pieces=["tick "] * 2000, delay_s=0.01))
    model = make(server, sleeps)
    await model.start()
    stream = model.stream(MESSAGES, max_tokens=5000, temperature=0.2)
    first = await anext(stream)
    assert first.text == "tick "
    await stream.aclose()
    await asyncio.wait_for(server.client_gone.wait(), 5)  # the server saw the client leave
    await model.aclose()


async def test_cancelling_the_consumer_drops_the_connection(server, sleeps) -> None:
    server.script(Reply(pieces=["tick "] * 2000, delay_s=0.01))
    model = make(server, sleeps)
    await model.start()
    first_token = asyncio.Event()

    async def consume() -> None:
        async for _ in model.stream(MESSAGES, max_tokens=5000, temperature=0.2):
            first_token.set()

    task = asyncio.create_task(consume())
    await asyncio.wait_for(first_token.wait(), 5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.wait_for(server.client_gone.wait(), 5)
    await model.aclose()


async def test_vllm_without_llm_model_asks_the_server_which_model_it_serves(sleeps) -> None:
    async with FakeLLMServer("openai", model="Qwen/Qwen2.5-7B-Instruct") as server:
        model = make(server, sleeps, model=None)
        assert model.name == "vllm"
        deltas = await collect(model)
        assert text_of(deltas).startswith("Paris")
        assert [r.path for r in server.requests] == ["/v1/models", "/v1/chat/completions"]
        assert server.requests[1].body["model"] == "Qwen/Qwen2.5-7B-Instruct"
        assert model.name == "vllm:Qwen/Qwen2.5-7B-Instruct"


def test_openai_needs_a_model() -> None:
    with pytest.raises(ConfigError, match="LLM_MODEL"):
        OpenAIChatModel(base_url="https://api.openai.com/v1", model=None, flavour="openai")


@pytest.mark.parametrize("url", ["vllm:8000/v1", "ftp://vllm/v1", "http://"])
def test_a_base_url_that_is_not_http_is_a_config_error(url: str) -> None:
    with pytest.raises(ConfigError, match="LLM_BASE_URL"):
        OpenAIChatModel(base_url=url, model="m")


async def test_stream_before_start_is_unavailable() -> None:
    model = OpenAIChatModel(base_url="http://127.0.0.1:9/v1", model="m")
    with pytest.raises(LLMUnavailable, match="not started"):
        async for _ in model.stream(MESSAGES, max_tokens=5, temperature=0):
            pass


def test_reader_reads_llama_cpp_error_lines_as_errors() -> None:
    reader = OpenAIStreamReader()
    assert (
        reader.feed('error: {"code": 500, "message": "context shift is disabled", "type": "server_error"}')
        == []
    )
    with pytest.raises(ServerReportedError, match="context shift is disabled"):
        reader.feed("")


def test_reader_passes_content_but_not_reasoning() -> None:
    reader = OpenAIStreamReader()
    chunk = '{"choices": [{"index": 0, "delta": {"reasoning_content": "let me think", "content": null}}]}'
    assert reader.feed(f"data: {chunk}") + reader.feed("") == []
    chunk = '{"choices": [{"index": 0, "delta": {"content": "42"}, "finish_reason": "stop"}]}'
    assert reader.feed(f"data: {chunk}") + reader.feed("") == [ChatDelta(text="42")]
    assert reader.feed("data: [DONE]") + reader.feed("") == [ChatDelta(finish_reason="stop")]
    assert reader.done and reader.bad.count == 0
