"""One answer from the model, streamed: what the person may see of it as it comes, where it ends
when the model stops at LLM_MAX_TOKENS or fails (``core.answer.ending``), and one more try when
its first words are in the wrong language (``core.answer.language``).

A retry for the language repeats the prompt up to its last line, which then insists on the
language; llama.cpp and vLLM reuse the prefill of everything before that line, so the retry costs
the few tokens already written and a short prefill, not a second full wait.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import aclosing

from core.answer.ending import EndingGuard
from core.answer.language import language_verdict
from core.answer.prompt import Phrases
from core.errors import LLMError, LLMTimeout
from core.models import ChatMessage, ChatUsage
from core.ports import ChatModel

__all__ = ["AnswerStream", "HOLD_AT_MOST"]

# Characters held back at most while the language is undecided: an answer that opens with a code
# block or a list of identifiers has no prose to judge, and the person should see it stream.
HOLD_AT_MOST = 240

log = logging.getLogger(__name__)


class AnswerStream:
    """``run(messages_for)`` yields the text to show; afterwards the attributes say how it went.
    ``messages_for(insist)`` builds the prompt; ``insist=True`` asks for the language firmly."""

    def __init__(
        self,
        chat: ChatModel,
        *,
        lang: str,
        phrases: Phrases,
        max_tokens: int,
        temperature: float,
        log_fields: str = "",
    ) -> None:
        self.chat = chat
        self.lang = lang
        self.phrases = phrases
        self.max_tokens = max_tokens
        self.temperature = temperature
        self.log_fields = log_fields
        self.text = ""  # everything shown, notes included
        self.first_token_at: float | None = None  # when the model's first token came (its prefill ended)
        self.first_at: float | None = None  # when the first text was handed out (a few tokens later)
        self.usage: ChatUsage | None = None
        self.deltas = 0
        self.interrupted: str | None = None  # "timeout" or an LLMError code
        self.shortened = False  # stopped at max_tokens, ended at its last sentence with a note
        self.language_retries = 0

    async def run(self, messages_for: Callable[[bool], Sequence[ChatMessage]]) -> AsyncIterator[str]:
        insist = False
        while True:
            wrong_language = False
            async for piece in self._attempt(messages_for(insist), allow_retry=not insist):
                if piece is None:
                    wrong_language = True
                    break
                yield piece
            if not wrong_language:
                return
            self.language_retries += 1
            insist = True
            log.info("answer.language_retry lang=%s %s", self.lang, self.log_fields)

    async def _attempt(
        self, messages: Sequence[ChatMessage], *, allow_retry: bool
    ) -> AsyncIterator[str | None]:
        """Yields text to show; yields None (and stops) when the answer starts in the wrong
        language and a retry is allowed."""
        guard = EndingGuard(self.max_tokens)
        held: list[str] = []  # shown by the guard, not yet handed out: the language is undecided
        decided = False
        finish_reason: str | None = None
        note: str | None = None
        try:
            async with aclosing(
                self.chat.stream(messages, max_tokens=self.max_tokens, temperature=self.temperature)
            ) as stream:
                async for delta in stream:
                    if delta.usage is not None:
                        self.usage = delta.usage
                    if delta.finish_reason is not None:
                        finish_reason = delta.finish_reason
                    if not delta.text:
                        continue
                    if self.first_token_at is None:
                        self.first_token_at = time.perf_counter()
                    shown = guard.feed(delta.text)
                    if not decided:
                        if shown:
                            held.append(shown)
                        verdict = language_verdict(guard.text, self.lang)
                        if verdict is None and len(guard.text) >= HOLD_AT_MOST:
                            verdict = True
                        if verdict is None:
                            continue
                        if verdict is False and allow_retry:
                            yield None
                            return
                        decided = True
                        shown, held = "".join(held), []
                    if shown:
                        yield self._hand_out(shown)
        except LLMError as e:
            if not guard.text:
                raise
            self.interrupted = "timeout" if isinstance(e, LLMTimeout) else e.code
            note = self.phrases.cut_off.format(reason=e.message)
            log.warning("answer.interrupted code=%s %s", e.code, self.log_fields)
        else:
            self.shortened = finish_reason == "length" or (
                self.usage is not None and self.usage.completion_tokens >= self.max_tokens
            )
            if self.shortened:
                note = self.phrases.shortened
                log.info("answer.shortened max_tokens=%d %s", self.max_tokens, self.log_fields)
        self.deltas = guard.deltas
        rest = "".join(held) + guard.finish(cut=note is not None)
        if note is not None:
            rest = f"{rest}\n\n{note}" if (self.text or rest) else note
        if rest:
            yield self._hand_out(rest)

    def _hand_out(self, text: str) -> str:
        if self.first_at is None:
            self.first_at = time.perf_counter()
        self.text += text
        return text
