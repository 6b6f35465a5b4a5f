"""Private answers (a channel set to ``visibility private``, docs/chat.md): only the asker sees
them, as ephemeral messages, with a "Share in thread" button that posts the answer for everyone.

Slack cannot edit an ephemeral message with ``chat.update`` (only an interaction's
``response_url`` can replace one, and a mention has none), so a private answer does not stream:
the asker gets a private "looking through the documents…" at once and the whole answer, with
its sources and buttons, when it is complete."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.messages import error_text, working_text
from bot.slack.api_errors import error_code, is_rate_limited, retry_later
from bot.slack.blocks import (
    MessagePart,
    answer_footer,
    answer_parts,
    label,
    read_share_value,
    share_block,
    shared_by_block,
)
from bot.slack.mrkdwn import escape
from bot.slack.sinks import ReplyPlace
from core.errors import InvalidInput, NotFound
from core.models import Answer
from core.service import RagService

__all__ = ["EphemeralReplySink", "Sharing", "ShareClick"]

log = logging.getLogger(__name__)

Respond = Callable[..., Awaitable[Any]]


class EphemeralReplySink:
    """A ``ReplySink`` whose messages only the asker sees."""

    def __init__(self, client: AsyncWebClient, place: ReplyPlace) -> None:
        self.client = client  # without a rate-limit retry handler: 429s come back to StreamingReply
        self.place = place
        self.stream_ts: str | None = None  # never streams (SinkBudget reads these)
        self.message_ts: str | None = None
        self.answer_ts: list[str] = []  # ephemeral messages cannot be replied to: nothing to link
        self._parts: list[MessagePart] | None = None
        self._sent = 0
        self._failed_sent = False

    async def begin(self) -> None:
        note = f"{working_text(self.place.lang)} {label(self.place.lang, 'private')}"
        await self._post(MessagePart(escape(note)))

    async def queued(self, position: int) -> None:
        return None  # an ephemeral note cannot be changed, and a new one per position is noise

    async def progress(self, text: str) -> None:
        return None  # no streaming: the whole answer comes at the end

    async def finish(self, answer: Answer) -> None:
        if self._parts is None:
            footer = [
                *answer_footer(answer),
                share_block(answer.answer_id, self.place.thread_ts, self.place.lang),
            ]
            self._parts = answer_parts(answer.text, footer=footer)
        while self._sent < len(self._parts):
            await self._post(self._parts[self._sent])  # a 429 resumes here, nothing is sent twice
            self._sent += 1
        log.info(
            "slack.answer_delivered team=%s channel=%s mode=ephemeral messages=%d",
            self.place.team_id,
            self.place.channel_id,
            self._sent,
        )

    async def fail(self, text: str) -> None:
        if not self._failed_sent:
            await self._post(MessagePart(escape(text)))
            self._failed_sent = True

    async def _post(self, part: MessagePart) -> None:
        try:
            await self.client.chat_postEphemeral(
                channel=self.place.channel_id,
                user=self.place.user_id,
                thread_ts=self.place.thread_ts,
                text=part.text,
                blocks=part.blocks or None,
            )
        except SlackApiError as e:
            if is_rate_limited(e):
                raise retry_later(e) from e
            raise


@dataclass(frozen=True)
class ShareClick:
    user_id: str
    channel_id: str
    team_id: str
    value: str
    lang: str


class Sharing:
    """The "Share in thread" button: the private answer, as recorded, posted in its thread for
    everyone (with sources and feedback buttons, and who shared it); the private copy goes."""

    def __init__(self, service: RagService, client: AsyncWebClient) -> None:
        self.service = service
        self.client = client

    async def share(self, click: ShareClick, respond: Respond | None) -> None:
        read = read_share_value(click.value)
        if read is None:
            log.warning("slack.bad_share_value user=%s", click.user_id)
            return
        answer_id, thread_ts = read
        try:
            answer = await self.service.get_answer(answer_id)
            if answer is None:
                raise NotFound("That answer is no longer on record, so it cannot be shared.")
            # spaces stay apart: an answer is shared only where its space is the channel's
            binding = await self.service.binding_for("slack", click.channel_id, click.team_id)
            if binding is None or binding.space_id != answer.space_id:
                raise InvalidInput(
                    "This channel answers from another space now, so that answer cannot be shared here."
                )
            posted = await self._post(answer, click, thread_ts)
        except Exception as e:  # the person is told why, privately; the log has the cause
            log.warning("slack.share_failed user=%s answer=%s", click.user_id, answer_id, exc_info=True)
            await self._tell(click, error_text(e, click.lang), thread_ts)
            return
        for ts in posted:
            try:
                await self.service.link_message(answer_id, ts)  # replies to it continue the thread
            except Exception:  # shared already; a lost link only costs the follow-up's history
                log.warning("slack.link_failed answer=%s ts=%s", answer_id, ts, exc_info=True)
        log.info(
            "slack.answer_shared user=%s channel=%s answer=%s", click.user_id, click.channel_id, answer_id
        )
        if respond is not None:
            try:  # the private copy is not needed any more
                await respond(delete_original=True)
            except Exception:
                log.info("slack.private_copy_kept user=%s", click.user_id, exc_info=True)

    async def _post(self, answer: Answer, click: ShareClick, thread_ts: str) -> list[str]:
        parts = answer_parts(answer.text, footer=answer_footer(answer))
        posted = []
        for i, part in enumerate(parts):
            blocks = [shared_by_block(click.user_id, click.lang), *part.blocks] if i == 0 else part.blocks
            response = await self.client.chat_postMessage(
                channel=click.channel_id, thread_ts=thread_ts, text=part.text, blocks=blocks
            )
            posted.append(response["ts"])
        return posted

    async def _tell(self, click: ShareClick, text: str, thread_ts: str) -> None:
        try:
            await self.client.chat_postEphemeral(
                channel=click.channel_id, user=click.user_id, thread_ts=thread_ts, text=escape(text)
            )
        except SlackApiError as e:
            log.error("slack.share_notice_lost user=%s error=%s", click.user_id, error_code(e))
