"""One question from a chat, answered: the platform-neutral path every adapter shares.

The adapter resolves *where* (space, thread, the channel's settings) and provides a ``ReplySink``
for its platform, and, where the platform lets it read the conversation around the question (a
Slack thread, the message a Telegram question replies to), a ``ContextReader``. This module turns
the text into a ``Question`` and streams the answer through ``StreamingReply``.

Reading the conversation costs no wait before the first visible reaction: it starts at once and
runs beside ``ReplySink.begin`` ("is thinking…", the placeholder); the question goes to the model
once it is read (docs/chat.md, docs/BENCHMARKS.md). A failed read is logged and the question is
answered without it."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass

from bot.chat.messages import error_text, reply_lang
from bot.chat.ratelimit import TokenBucket
from bot.chat.streaming import ReplySink, StreamingReply
from core.doctypes import split_doc_type_prefix
from core.models import Answer, AnswerEvent, Asker, ConversationMessage, Question
from core.service import RagService

__all__ = ["Incoming", "Conversation", "ContextReader"]

log = logging.getLogger(__name__)

# reads the messages around the question, oldest first (the adapter's own, e.g. conversations.replies)
ContextReader = Callable[[], Awaitable[Sequence[ConversationMessage]]]


@dataclass(frozen=True)
class Incoming:
    platform: str
    channel_id: str
    user_id: str
    text: str  # the question, mention already removed
    space_id: str
    thread_id: str = ""  # the conversation: Slack thread_ts, Telegram root message id
    team_id: str = ""
    # asked again after "did not help" on a verified answer: no verified answer, and answered on
    # its own rather than as a follow-up to the answer that did not help
    skip_verified: bool = False
    doc_type: str | None = None  # the channel's default document type (a "type: ..." prefix wins)
    default_lang: str | None = None  # the channel's language for questions that do not tell
    context: ContextReader | None = None


class Conversation:
    def __init__(self, service: RagService, *, min_edit_interval: float = 1.0) -> None:
        self.service = service
        self.min_edit_interval = min_edit_interval

    async def answer(
        self, incoming: Incoming, sink: ReplySink, bucket: TokenBucket
    ) -> tuple[Answer | None, StreamingReply]:
        lang = reply_lang(incoming.text, incoming.default_lang)
        context = (
            asyncio.create_task(self._read_context(incoming), name=f"context-{incoming.channel_id}")
            if incoming.context is not None
            else None
        )
        reply = StreamingReply(sink, bucket, min_interval=self.min_edit_interval)
        try:
            answer = await reply.deliver(
                self._events(incoming, context), error_text=lambda e: error_text(e, lang)
            )
        finally:
            if context is not None and not context.done():
                context.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await context
        log.info(
            "chat.answered platform=%s channel=%s space=%s ok=%s edits=%d",
            incoming.platform,
            incoming.channel_id,
            incoming.space_id,
            answer is not None,
            reply.edits,
        )
        return answer, reply

    async def _events(
        self, incoming: Incoming, context: asyncio.Task[tuple[ConversationMessage, ...]] | None
    ) -> AsyncIterator[AnswerEvent]:
        """Runs once ``StreamingReply`` has shown the first sign of work: the thread's history and
        the conversation are awaited here, not before it."""
        history = ()
        if incoming.thread_id and not incoming.skip_verified:
            history = tuple(
                await self.service.thread_turns(incoming.platform, incoming.channel_id, incoming.thread_id)
            )
        conversation = await context if context is not None else ()
        # the channel's document type, unless the question names one ("runbook: ...")
        named, _ = split_doc_type_prefix(incoming.text, self.service.doc_types)
        question = Question(
            text=incoming.text,
            space_id=incoming.space_id,
            doc_type=incoming.doc_type if named is None else None,
            history=history,
            conversation=conversation,
            default_lang=incoming.default_lang,
            asker=Asker(
                platform=incoming.platform,
                user_id=incoming.user_id,
                channel_id=incoming.channel_id,
                team_id=incoming.team_id,
                thread_id=incoming.thread_id,
            ),
            skip_verified=incoming.skip_verified,
        )
        async for event in self.service.ask(question):
            yield event

    @staticmethod
    async def _read_context(incoming: Incoming) -> tuple[ConversationMessage, ...]:
        assert incoming.context is not None
        try:
            return tuple(await incoming.context())
        except Exception:  # the answer goes on without the conversation; the log says why
            log.warning(
                "chat.context_unread platform=%s channel=%s",
                incoming.platform,
                incoming.channel_id,
                exc_info=True,
            )
            return ()
