"""A chat model that streams a scripted reply and records what it was asked
(after simonw/llm's MockModel)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Sequence

from core.models import ChatDelta, ChatMessage, ChatUsage

__all__ = ["ScriptedChatModel"]


class ScriptedChatModel:
    """Replies with ``reply`` (a string, or a function of the messages), split into words, each
    word a token: past ``max_tokens`` words it stops with ``finish_reason="length"``.

    ``fail_with`` raises before the first token; ``fail_after`` raises after that many deltas;
    ``delay`` sleeps between deltas (tests patch nothing: they choose a small delay)."""

    def __init__(
        self,
        reply: str | Callable[[Sequence[ChatMessage]], str] = "The answer is in the documents [1].",
        *,
        name: str = "scripted",
        delay: float = 0.0,
        fail_with: Exception | None = None,
        fail_after: tuple[int, Exception] | None = None,
    ) -> None:
        self.name = name
        self.reply = reply
        self.delay = delay
        self.fail_with = fail_with
        self.fail_after = fail_after
        self.requests: list[list[ChatMessage]] = []
        self.started = False

    async def start(self) -> None:
        self.started = True

    async def aclose(self) -> None:
        self.started = False

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[ChatDelta]:
        self.requests.append(list(messages))
        if self.fail_with is not None:
            raise self.fail_with
        text = self.reply(messages) if callable(self.reply) else self.reply
        words = text.split(" ")
        pieces = [w if i == 0 else " " + w for i, w in enumerate(words)]
        finish = "length" if len(pieces) > max_tokens else "stop"  # a piece stands for a token
        pieces = pieces[:max_tokens]
        for i, piece in enumerate(pieces):
            if self.fail_after is not None and i == self.fail_after[0]:
                raise self.fail_after[1]
            if self.delay:
                await asyncio.sleep(self.delay)
            yield ChatDelta(text=piece)
        prompt_tokens = sum(len(m.content.split()) for m in messages)
        yield ChatDelta(usage=ChatUsage(prompt_tokens, len(pieces)), finish_reason=finish)
