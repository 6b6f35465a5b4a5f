"""A question asked in Slack, answered in its thread: where (binding, DM default space) and how
(the channel's settings: private answers, default document type and language), the thread read
as conversation (``ThreadReader``), then ``Conversation`` with a ``SlackReplySink`` (or, for
private answers, an ``EphemeralReplySink``), then the answer's messages linked for follow-ups."""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.conversation import Conversation, Incoming
from bot.chat.messages import error_text, lang_of, not_bound_text, reply_lang
from bot.chat.verified import decode_fallback
from bot.slack.mrkdwn import escape
from bot.slack.private import EphemeralReplySink
from bot.slack.sinks import Budgets, Features, ReplyPlace, SinkBudget, SlackReplySink
from bot.slack.threads import ThreadReader
from core.models import Binding
from core.service import RagService

__all__ = ["Ask", "Questions", "strip_mention", "BIND_HINT"]

log = logging.getLogger(__name__)

BIND_HINT = "/ragbot bind <space>"


def strip_mention(text: str, bot_user_id: str) -> str:
    """'<@U0BOT> how do I deploy?' -> 'how do I deploy?' (also '<@U0BOT|ragbot>')."""
    if not bot_user_id:
        return text.strip()
    return re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text).strip()


@dataclass(frozen=True)
class Ask:
    team_id: str
    channel_id: str
    user_id: str
    text: str  # mention already removed
    thread_ts: str  # the thread the answer goes to (the question's ts when it starts one)
    is_dm: bool = False
    space_id: str | None = None  # known already (asking again): no binding lookup
    skip_verified: bool = False  # "did not help" on a verified answer: a generated answer now
    ts: str = ""  # the question's own message; a reply in a thread differs from thread_ts

    @property
    def in_thread(self) -> bool:
        """Asked as a reply in a thread: the messages above it are its conversation."""
        return bool(self.ts) and self.ts != self.thread_ts


class Questions:
    def __init__(
        self,
        service: RagService,
        *,
        stream_client: AsyncWebClient,
        client: AsyncWebClient,
        budgets: Budgets,
        threads: ThreadReader | None = None,
        default_space: str | None = None,
        min_edit_interval: float = 1.0,
    ) -> None:
        self.service = service
        self.threads = threads
        self.stream_client = stream_client  # answers: 429s handled by StreamingReply
        self.client = client  # one-off notices: the client waits out 429s itself
        self.conversation = Conversation(service, min_edit_interval=min_edit_interval)
        self.budgets = budgets
        self.features = Features()
        self.default_space = default_space

    async def is_followup(self, team_id: str, channel_id: str, thread_ts: str) -> bool:
        """A message in a thread where the bot has answered, in a channel that allows follow-ups."""
        binding = await self.service.binding_for("slack", channel_id, team_id)
        if binding is None or not binding.thread_followups:
            return False
        return bool(await self.service.thread_turns("slack", channel_id, thread_ts))

    async def follow_up(self, ask: Ask) -> None:
        """A thread reply without a mention: answered only in the bot's own threads."""
        try:
            if not await self.is_followup(ask.team_id, ask.channel_id, ask.thread_ts):
                return
        except Exception:  # not addressed to the bot for sure: a log line, not a reply
            log.warning("slack.followup_check_failed channel=%s", ask.channel_id, exc_info=True)
            return
        await self.answer(ask)

    async def open_question(self, ask: Ask) -> None:
        """A channel message that reads as a question to no one in particular (the listener
        checked that): answered only where the channel is in ``questions`` mode."""
        try:
            binding = await self.service.binding_for("slack", ask.channel_id, ask.team_id)
        except Exception:  # not addressed to the bot for sure: a log line, not a reply
            log.warning("slack.mode_check_failed channel=%s", ask.channel_id, exc_info=True)
            return
        if binding is not None and binding.mode == "questions":
            log.info("slack.open_question channel=%s ts=%s", ask.channel_id, ask.ts)
            await self.answer(ask, binding=binding)

    async def answer(self, ask: Ask, *, binding: Binding | None = None) -> None:
        lang = reply_lang(ask.text)
        try:
            if binding is None:
                binding = await self.service.binding_for("slack", ask.channel_id, ask.team_id)
            lang = reply_lang(ask.text, binding.lang if binding else None)
            space = ask.space_id or (
                binding.space_id if binding else (self.default_space if ask.is_dm else None)
            )
            if space is None:
                log.info("slack.not_bound team=%s channel=%s", ask.team_id, ask.channel_id)
                await self._notice(ask, not_bound_text(lang, BIND_HINT))
                return
            place = ReplyPlace(ask.channel_id, ask.thread_ts, ask.user_id, ask.team_id, lang)
            private = binding is not None and binding.visibility == "private" and not ask.is_dm
            sink: SlackReplySink | EphemeralReplySink = (
                EphemeralReplySink(self.stream_client, place)
                if private
                else SlackReplySink(self.stream_client, place, self.features[ask.team_id])
            )
            budget = SinkBudget(sink, self.budgets)  # type: ignore[arg-type] - both show where they post
            incoming = Incoming(
                "slack",
                ask.channel_id,
                ask.user_id,
                ask.text,
                space,
                thread_id=ask.thread_ts,
                team_id=ask.team_id,
                skip_verified=ask.skip_verified,
                doc_type=binding.doc_type if binding else None,
                default_lang=binding.lang if binding else None,
                context=self._thread_reader(ask),
            )
            answer, _ = await self.conversation.answer(incoming, sink, budget)
        except Exception as e:  # before the sink took over (the store is down...): still say so
            log.exception("slack.ask_failed team=%s channel=%s", ask.team_id, ask.channel_id)
            await self._notice(ask, error_text(e, lang))
            return
        if answer is None:
            return
        for ts in sink.answer_ts:
            try:
                await self.service.link_message(answer.answer_id, ts)
            except Exception:  # the answer is delivered; a lost link only costs thread context
                log.warning("slack.link_failed answer=%s ts=%s", answer.answer_id, ts, exc_info=True)

    async def did_not_help(
        self, team_id: str, channel_id: str, user_id: str, thread_ts: str, value: str
    ) -> None:
        """ "Did not help" under a verified answer: a thumbs-down, then a generated answer to the
        same question in the same thread (docs/feedback.md)."""
        action = decode_fallback(value)
        if action is None:
            log.warning("slack.bad_fallback_value user=%s", user_id)
            return
        try:
            answer = await self.service.did_not_help(action.answer_id, user_id=user_id, platform="slack")
        except Exception as e:  # the answer is gone, the store is down...: say so to the thread
            log.warning("slack.did_not_help_failed answer=%s", action.answer_id, exc_info=True)
            await self._notice(Ask(team_id, channel_id, user_id, "", thread_ts), error_text(e, lang_of("")))
            return
        text = f"{answer.doc_type}: {answer.question}" if answer.doc_type else answer.question
        ask = Ask(team_id, channel_id, user_id, text, thread_ts, space_id=answer.space_id, skip_verified=True)
        await self.answer(ask)

    def _thread_reader(self, ask: Ask):  # noqa: ANN202 - a ContextReader or None
        """Reads the thread above a question asked in one (channels only: in a DM or an
        assistant thread the earlier messages are questions to the bot, already its history)."""
        if self.threads is None or not ask.in_thread or ask.is_dm:
            return None
        threads = self.threads

        async def read():  # noqa: ANN202
            return await threads.read(ask.channel_id, ask.thread_ts, ask.ts)

        return read

    async def _notice(self, ask: Ask, text: str) -> None:
        try:
            await self.client.chat_postMessage(
                channel=ask.channel_id, thread_ts=ask.thread_ts, text=escape(text)
            )
        except Exception:
            log.exception("slack.notice_failed team=%s channel=%s", ask.team_id, ask.channel_id)
