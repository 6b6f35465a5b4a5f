"""Streaming an answer into a chat message without tripping the platform's rate limits.

Platform-neutral: a ``ReplySink`` knows how to show work, show partial text, post the final
answer and post an error on one platform; ``StreamingReply`` decides *when*. Intermediate edits
are optional (skipped when the shared budget is spent or the platform asked us to back off);
the final message is not: it waits for the budget and retries after every ``RetryLater`` until
it is delivered, so an answer is never lost to a 429."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from bot.chat.ratelimit import TokenBucket
from core.errors import BackendError, CoreError
from core.models import Answer, AnswerDone, AnswerEvent, QueuePosition, TextDelta

__all__ = ["RetryLater", "ReplySink", "StreamingReply"]

log = logging.getLogger(__name__)


class RetryLater(Exception):
    """The platform rate-limited a call (HTTP 429): try again after ``seconds``."""

    def __init__(self, seconds: float) -> None:
        super().__init__(f"retry after {seconds:.1f} s")
        self.seconds = max(float(seconds), 0.0)


class ReplySink(Protocol):
    async def begin(self) -> None:
        """Show at once that the bot is working (status, typing, placeholder)."""

    async def queued(self, position: int) -> None:
        """The answer waits for the model behind ``position - 1`` others."""

    async def progress(self, text: str) -> None:
        """Show the answer so far (an edit, a draft, an appended stream chunk)."""

    async def finish(self, answer: Answer) -> None:
        """Deliver the complete answer with sources and feedback buttons. May raise
        ``RetryLater``; called again then, so it must resume, not repeat, what it already sent."""

    async def fail(self, text: str) -> None:
        """Tell the person the answer could not be produced, and why."""


class StreamingReply:
    def __init__(
        self,
        sink: ReplySink,
        bucket: TokenBucket,
        *,
        min_interval: float = 1.0,
        give_up_after: float = 900.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.sink = sink
        self.bucket = bucket
        self.min_interval = min_interval
        self.give_up_after = give_up_after
        self._clock = clock
        self._last_edit = float("-inf")
        self.edits = 0  # intermediate edits actually sent (benchmarks count them)

    async def deliver(
        self, events: AsyncIterator[AnswerEvent], *, error_text: Callable[[Exception], str]
    ) -> Answer | None:
        """Consume an answer's events into the sink; returns the delivered answer, or None when
        the person was told it failed."""
        await self._optional(self.sink.begin)
        text = ""
        try:
            async for event in events:
                if isinstance(event, TextDelta):
                    text += event.text
                    if self._due():
                        await self._optional(self.sink.progress, text)
                elif isinstance(event, QueuePosition):
                    if self._due():
                        await self._optional(self.sink.queued, event.position)
                elif isinstance(event, AnswerDone):
                    await self._must(self.sink.finish, event.answer)
                    return event.answer
        except asyncio.CancelledError:
            # shutting down mid-answer: close the message with a word rather than leave it hanging
            await asyncio.shield(self._must(self.sink.fail, error_text(asyncio.CancelledError())))
            raise
        except CoreError as e:
            if isinstance(e, BackendError):  # a database, index or model server failed: say why
                log.warning("answer.failed code=%s error=%s", e.code, e.message)
            else:  # the question itself (empty, too long...): the person is told
                log.info("answer.failed code=%s", e.code)
            await self._must(self.sink.fail, error_text(e))
            return None
        except Exception as e:
            log.exception("answer.crashed")
            await self._must(self.sink.fail, error_text(e))
            return None
        log.error("answer.no_result: the event stream ended without an answer")
        await self._must(self.sink.fail, error_text(RuntimeError("no answer")))
        return None

    def _due(self) -> bool:
        now = self._clock()
        if now - self._last_edit < self.min_interval or not self.bucket.try_take():
            return False
        self._last_edit = now
        return True

    async def _optional(self, call, *args) -> None:  # noqa: ANN001 - a sink method
        """An edit we can do without: a 429 blocks the budget, other errors are logged."""
        try:
            await call(*args)
            if call == self.sink.progress:
                self.edits += 1
        except RetryLater as e:
            self.bucket.block_for(e.seconds)
        except Exception:
            log.warning("answer.edit_failed step=%s", getattr(call, "__name__", "?"), exc_info=True)

    async def _must(self, call, *args) -> None:  # noqa: ANN001 - a sink method
        """A message that has to arrive: wait out every rate limit, up to ``give_up_after``."""
        deadline = self._clock() + self.give_up_after
        while True:
            await self.bucket.take()
            try:
                await call(*args)
                return
            except RetryLater as e:
                self.bucket.block_for(e.seconds)
                if self._clock() + e.seconds > deadline:
                    log.error(
                        "answer.lost step=%s: rate limited past %.0f s", call.__name__, self.give_up_after
                    )
                    return
                log.info("answer.rate_limited step=%s retry_after=%.1f", call.__name__, e.seconds)
