"""👍 / 👎 under an answer: the vote is stored at once and acknowledged to the person only
(ephemeral). 👎 also offers the quick reasons as buttons and "Other…", which opens a modal for
a sentence. Voting again with the other thumb changes the vote."""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.feedback import FeedbackAction, decode
from bot.chat.messages import error_text, vote_ack_text
from bot.slack.blocks import reason_blocks, reason_modal
from bot.slack.mrkdwn import escape
from bot.slack.verifying import Verifying
from core.errors import BackendError, CoreError
from core.models import Vote, VoteResult
from core.service import RagService

__all__ = ["Click", "Votes", "ReasonSubmission"]

log = logging.getLogger(__name__)

Respond = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Click:
    """A feedback button click, as the listener read it from the ``block_actions`` payload."""

    user_id: str
    channel_id: str
    thread_ts: str | None
    value: str
    lang: str
    trigger_id: str = ""


@dataclass(frozen=True)
class ReasonSubmission:
    user_id: str
    private_metadata: str
    text: str


class Votes:
    def __init__(
        self, service: RagService, client: AsyncWebClient, verifying: Verifying | None = None
    ) -> None:
        self.service = service
        self.client = client
        self.verifying = verifying  # an admin's acknowledgement offers to write the verified answer

    async def vote(self, click: Click) -> None:
        """👍 or 👎 on an answer."""
        action = decode(click.value)
        if action is None or action.reason is not None:
            log.warning("slack.bad_feedback_value user=%s", click.user_id)
            return
        result = await self._record(
            click, Vote(action.answer_id, click.user_id, action.value, platform="slack")
        )
        if result is None:
            return
        text = vote_ack_text(click.lang, action.value, changed=result.changed)
        offer = []
        if self.verifying is not None:
            offer = await self.verifying.offer(
                click.user_id, action.answer_id, click.lang, endorse=action.value > 0
            )
        if action.value > 0:
            blocks = (
                [{"type": "section", "text": {"type": "mrkdwn", "text": escape(text)}}, *offer]
                if offer
                else None
            )
            await self._ephemeral(click, text, blocks)
        else:
            await self._ephemeral(click, text, [*reason_blocks(action.answer_id, click.lang, text), *offer])

    async def reason(self, click: Click, respond: Respond | None) -> None:
        """A quick reason button under the 👎 acknowledgement."""
        action = decode(click.value)
        if action is None or action.reason is None:
            return
        await self._store_reason(click, action, action.reason, respond)

    async def ask_reason(self, click: Click) -> None:
        """ "Other…": a modal with a text box (``views.open`` needs the click's fresh trigger_id)."""
        action = decode(click.value)
        if action is None:
            return
        view = reason_modal(
            action.answer_id, click.lang, channel_id=click.channel_id, thread_ts=click.thread_ts or ""
        )
        try:
            await self.client.views_open(trigger_id=click.trigger_id, view=view)
        except Exception as e:
            log.warning("slack.views_open_failed user=%s", click.user_id, exc_info=True)
            await self._ephemeral(click, error_text(e, click.lang))

    async def submit_reason(self, submission: ReasonSubmission) -> None:
        try:
            meta = json.loads(submission.private_metadata)
            answer_id, lang, channel, thread_ts = meta["a"], meta["l"], meta["c"], meta["t"] or None
        except (ValueError, KeyError, TypeError):
            log.warning("slack.bad_reason_view user=%s", submission.user_id)
            return
        click = Click(submission.user_id, channel, thread_ts, "", lang)
        text = " ".join(submission.text.split())[:500]
        await self._store_reason(click, FeedbackAction(answer_id, -1), text, None)

    async def _store_reason(
        self, click: Click, action: FeedbackAction, reason: str, respond: Respond | None
    ) -> None:
        vote = Vote(action.answer_id, click.user_id, -1, reason=reason or None, platform="slack")
        if await self._record(click, vote) is None:
            return
        thanks = vote_ack_text(click.lang, -1, with_reason=True)
        if respond is not None:
            try:  # replace the reasons message with the thanks
                response = await respond(
                    text=escape(thanks), replace_original=True, response_type="ephemeral"
                )
                if getattr(response, "status_code", 200) == 200:
                    return
                log.warning("slack.respond_refused user=%s status=%s", click.user_id, response.status_code)
            except Exception:
                log.warning("slack.respond_failed user=%s", click.user_id, exc_info=True)
        await self._ephemeral(click, thanks)

    async def _record(self, click: Click, vote: Vote) -> VoteResult | None:
        """Store the vote; on failure tell the person why (privately) and return None. A refusal
        the person can act on (the answer is gone) is logged as such; a failing database, with
        its cause; anything else is a bug, logged with its traceback."""
        try:
            return await self.service.vote(vote)
        except BackendError as e:  # the database failed: the operator's to fix, with its cause
            log.error(
                "slack.vote_failed user=%s answer=%s error=%s", click.user_id, vote.answer_id, e.message
            )
            await self._ephemeral(click, error_text(e, click.lang))
        except CoreError as e:
            log.info("slack.vote_refused user=%s answer=%s code=%s", click.user_id, vote.answer_id, e.code)
            await self._ephemeral(click, error_text(e, click.lang))
        except Exception as e:
            log.exception("slack.vote_failed user=%s answer=%s", click.user_id, vote.answer_id)
            await self._ephemeral(click, error_text(e, click.lang))
        return None

    async def tell(self, click: Click, text: str) -> None:
        """A private line to the person who clicked."""
        await self._ephemeral(click, text)

    async def _ephemeral(self, click: Click, text: str, blocks: list[dict[str, Any]] | None = None) -> None:
        try:
            await self.client.chat_postEphemeral(
                channel=click.channel_id,
                user=click.user_id,
                text=escape(text),
                blocks=blocks,
                thread_ts=click.thread_ts,
            )
        except Exception:
            log.exception("slack.ephemeral_failed user=%s", click.user_id)
