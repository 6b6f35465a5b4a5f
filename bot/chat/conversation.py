"""One question from a chat, answered: the platform-neutral path every adapter shares.

The adapter resolves *where* (space, thread) and provides a ``ReplySink`` for its platform;
this module turns the text into a ``Question`` (doc_type prefix, thread history), streams the
answer through ``StreamingReply`` and returns what was delivered."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from bot.chat.messages import error_text, lang_of
from bot.chat.ratelimit import TokenBucket
from bot.chat.streaming import ReplySink, StreamingReply
from core.doctypes import split_doc_type_prefix
from core.models import Answer, Asker, Question
from core.service import RagService

__all__ = ["Incoming", "Conversation"]

log = logging.getLogger(__name__)


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


class Conversation:
    def __init__(self, service: RagService, *, min_edit_interval: float = 1.0) -> None:
        self.service = service
        self.min_edit_interval = min_edit_interval

    async def answer(
        self, incoming: Incoming, sink: ReplySink, bucket: TokenBucket
    ) -> tuple[Answer | None, StreamingReply]:
        lang = lang_of(incoming.text)
        doc_type, text = split_doc_type_prefix(incoming.text)
        history = ()
        if incoming.thread_id and not incoming.skip_verified:
            history = tuple(
                await self.service.thread_turns(incoming.platform, incoming.channel_id, incoming.thread_id)
            )
        question = Question(
            text=text,
            space_id=incoming.space_id,
            doc_type=doc_type,
            history=history,
            asker=Asker(
                platform=incoming.platform,
                user_id=incoming.user_id,
                channel_id=incoming.channel_id,
                team_id=incoming.team_id,
                thread_id=incoming.thread_id,
            ),
            skip_verified=incoming.skip_verified,
        )
        reply = StreamingReply(sink, bucket, min_interval=self.min_edit_interval)
        answer = await reply.deliver(self.service.ask(question), error_text=lambda e: error_text(e, lang))
        log.info(
            "chat.answered platform=%s channel=%s space=%s ok=%s edits=%d",
            incoming.platform,
            incoming.channel_id,
            incoming.space_id,
            answer is not None,
            reply.edits,
        )
        return answer, reply
