"""The contract every ``ChatModel`` passes: the scripted reference (``ScriptedChatModel``) and
each HTTP backend against a local server speaking its protocol (OpenAI, vLLM, Ollama, TGI).

A harness per implementation knows how to build a model that answers ``REPLY``, one that fails
before its first token, and one whose answer breaks off after a few deltas; the tests below
only use the ``ChatModel`` port. The embedded llama.cpp backend is the OpenAI backend over a
real server: tests/integration/test_embedded_llm.py runs it (marker ``llm``).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from core.backends.llm_http import RetryPolicy
from core.backends.llm_ollama import OllamaChatModel
from core.backends.llm_openai import OpenAIChatModel
from core.backends.llm_tgi import TgiChatModel
from core.errors import LLMError, LLMUnavailable
from core.models import ChatDelta, ChatMessage
from core.ports import ChatModel
from core.testing.fake_llm_servers import Cut, FakeLLMServer, HttpError
from core.testing.scripted_chat import ScriptedChatModel

REPLY = "The VPN gateway is vpn.example.org, port 1194 [1]."
QUESTION = "Which host is the VPN gateway?"
MESSAGES = [
    ChatMessage("system", "Answer only from the context. Cite sources as [n]."),
    ChatMessage(
        "user", f"Context:\n[1] The VPN gateway is vpn.example.org, port 1194.\n\nQuestion: {QUESTION}"
    ),
]


class Harness:
    async def model(self) -> ChatModel:
        raise NotImplementedError

    async def failing_model(self) -> ChatModel:
        """Fails before the first token, every time."""
        raise NotImplementedError

    async def cut_model(self, after: int) -> ChatModel:
        """Yields ``after`` text deltas, then fails."""
        raise NotImplementedError

    def prompts(self) -> list[str]:
        """Everything the models were shown, one string per request."""
        raise NotImplementedError

    async def aclose(self) -> None:
        return None


class ScriptedHarness(Harness):
    def __init__(self) -> None:
        self.built: list[ScriptedChatModel] = []

    def _keep(self, model: ScriptedChatModel) -> ScriptedChatModel:
        self.built.append(model)
        return model

    async def model(self) -> ChatModel:
        return self._keep(ScriptedChatModel(REPLY))

    async def failing_model(self) -> ChatModel:
        return self._keep(ScriptedChatModel(REPLY, fail_with=LLMUnavailable("The model is down.")))

    async def cut_model(self, after: int) -> ChatModel:
        return self._keep(
            ScriptedChatModel(REPLY, fail_after=(after, LLMUnavailable("The answer was cut off.")))
        )

    def prompts(self) -> list[str]:
        return ["\n".join(m.content for m in request) for model in self.built for request in model.requests]


async def _no_sleep(_: float) -> None:
    return None


class ServerHarness(Harness):
    def __init__(self, server: FakeLLMServer, build: Callable[[str, RetryPolicy], ChatModel]) -> None:
        self.server = server
        self.build = build

    async def model(self) -> ChatModel:
        return self.build(self.server.base_url, RetryPolicy(retries=1, sleep=_no_sleep))

    async def failing_model(self) -> ChatModel:
        self.server.script(*[HttpError(500, "engine failed")] * 2)
        return self.build(self.server.base_url, RetryPolicy(retries=1, sleep=_no_sleep))

    async def cut_model(self, after: int) -> ChatModel:
        self.server.script(Cut(after=after))
        return self.build(self.server.base_url, RetryPolicy(retries=1, sleep=_no_sleep))

    def prompts(self) -> list[str]:
        return [r.prompt_text for r in self.server.requests]

    async def aclose(self) -> None:
        await self.server.aclose()


BUILDERS: dict[str, tuple[str, Callable[[str, RetryPolicy], ChatModel]]] = {
    "openai": (
        "openai",
        lambda url, retry: OpenAIChatModel(base_url=url, model="gpt-x", api_key="k", retry=retry),
    ),
    "vllm": (
        "openai",
        lambda url, retry: OpenAIChatModel(base_url=url, model="qwen", flavour="vllm", retry=retry),
    ),
    "ollama": ("ollama", lambda url, retry: OllamaChatModel(base_url=url, model="qwen2.5:7b", retry=retry)),
    "tgi": ("tgi", lambda url, retry: TgiChatModel(base_url=url, retry=retry)),
}


@pytest.fixture(params=["scripted", *BUILDERS])
async def harness(request: pytest.FixtureRequest) -> AsyncIterator[Harness]:
    if request.param == "scripted":
        h: Harness = ScriptedHarness()
    else:
        protocol, build = BUILDERS[request.param]
        server = await FakeLLMServer(protocol, reply=REPLY, error_style="vllm").start()  # type: ignore[arg-type]
        h = ServerHarness(server, build)
    try:
        yield h
    finally:
        await h.aclose()


async def run(model: ChatModel, max_tokens: int = 256) -> list[ChatDelta]:
    return [d async for d in model.stream(MESSAGES, max_tokens=max_tokens, temperature=0.1)]


@pytest.fixture
async def started(harness: Harness) -> AsyncIterator[ChatModel]:
    model = await harness.model()
    await model.start()
    try:
        yield model
    finally:
        await model.aclose()


async def test_has_a_name(started: ChatModel) -> None:
    assert isinstance(started.name, str) and started.name


async def test_streams_the_reply_in_several_deltas(started: ChatModel) -> None:
    deltas = await run(started)
    assert all(isinstance(d, ChatDelta) for d in deltas)
    assert "".join(d.text for d in deltas) == REPLY
    assert len([d for d in deltas if d.text]) >= 2


async def test_only_the_last_delta_carries_usage_and_finish_reason(started: ChatModel) -> None:
    deltas = await run(started)
    last = deltas[-1]
    assert last.finish_reason == "stop"
    assert last.usage is not None
    assert last.usage.prompt_tokens > 0
    assert last.usage.completion_tokens >= len([d for d in deltas if d.text])
    assert all(d.usage is None and d.finish_reason is None for d in deltas[:-1])


async def test_max_tokens_bounds_the_answer(started: ChatModel) -> None:
    deltas = await run(started, max_tokens=3)
    assert 1 <= len([d for d in deltas if d.text]) <= 3
    assert REPLY.startswith("".join(d.text for d in deltas))


async def test_the_model_is_shown_the_messages(started: ChatModel, harness: Harness) -> None:
    await run(started)
    (prompt,) = harness.prompts()
    assert QUESTION in prompt
    assert "Cite sources as [n]" in prompt


async def test_failure_before_the_first_token_raises_an_llm_error(harness: Harness) -> None:
    model = await harness.failing_model()
    await model.start()
    got: list[ChatDelta] = []
    with pytest.raises(LLMError):
        async for delta in model.stream(MESSAGES, max_tokens=64, temperature=0.1):
            got.append(delta)
    await model.aclose()
    assert got == []


async def test_failure_mid_answer_raises_after_the_text_so_far(harness: Harness) -> None:
    model = await harness.cut_model(after=2)
    await model.start()
    got: list[str] = []
    with pytest.raises(LLMError):
        async for delta in model.stream(MESSAGES, max_tokens=64, temperature=0.1):
            got.append(delta.text)
    await model.aclose()
    assert "".join(got) == "The VPN"


async def test_the_consumer_may_stop_early_and_ask_again(started: ChatModel) -> None:
    stream = started.stream(MESSAGES, max_tokens=64, temperature=0.1)
    first = await anext(stream)
    assert first.text
    await stream.aclose()  # type: ignore[attr-defined]
    deltas = await run(started)
    assert "".join(d.text for d in deltas) == REPLY


async def test_two_answers_at_once(started: ChatModel) -> None:
    a, b = await asyncio.gather(run(started), run(started))
    assert "".join(d.text for d in a) == REPLY == "".join(d.text for d in b)


async def test_aclose_twice_is_harmless(harness: Harness) -> None:
    model = await harness.model()
    await model.start()
    await model.aclose()
    await model.aclose()
