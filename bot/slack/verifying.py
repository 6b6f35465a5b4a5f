"""An admin turns an answer into a verified answer from Slack: after their 👎 (write the right
answer) or 👍 (vouch for it as it is) the acknowledgement carries a button; it opens a modal with
the question and the answer prefilled and editable; saving it makes the verified answer
(docs/feedback.md). People who are not admins never see the button, and a submission is checked
again, so a forged payload changes nothing."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.messages import error_text, not_admin_text
from bot.slack.admins import SlackAdmins
from bot.slack.blocks import verify_modal, verify_offer_block
from bot.slack.mrkdwn import escape
from core.errors import CoreError
from core.service import RagService

__all__ = ["Verifying", "VerifySubmission", "saved_text"]

log = logging.getLogger(__name__)

_SAVED = {
    "en": "Saved as a verified answer: questions like “{question}” are answered with it from now on.",
    "ru": "Сохранено как проверенный ответ: на вопросы вроде «{question}» теперь отвечает он.",
}


def saved_text(lang: str, question: str) -> str:
    return _SAVED.get(lang, _SAVED["en"]).format(question=question[:100])


@dataclass(frozen=True)
class VerifySubmission:
    user_id: str
    private_metadata: str
    question: str
    text: str


class Verifying:
    def __init__(self, service: RagService, client: AsyncWebClient, admins: SlackAdmins) -> None:
        self.service = service
        self.client = client
        self.admins = admins

    async def offer(self, user_id: str, answer_id: str, lang: str, *, endorse: bool) -> list[dict[str, Any]]:
        """The button for an admin's vote acknowledgement; nothing for anyone else, nor under an
        answer that already is a verified one."""
        try:
            if not await self.admins.is_admin(user_id):
                return []
            answer = await self.service.get_answer(answer_id)
        except Exception:  # the vote is stored; the offer is a convenience
            log.warning("slack.verify_offer_failed user=%s answer=%s", user_id, answer_id, exc_info=True)
            return []
        if answer is None or answer.verified is not None:
            return []
        return [verify_offer_block(answer_id, lang, endorse=endorse)]

    async def open(
        self, user_id: str, answer_id: str, lang: str, channel_id: str, thread_ts: str, trigger_id: str
    ) -> str | None:
        """Open the modal; returns what to tell the person when it cannot be opened."""
        if not await self.admins.is_admin(user_id):
            return not_admin_text(lang)
        answer = await self.service.get_answer(answer_id)
        if answer is None:
            return error_text(CoreError("That answer is no longer on record."), lang)
        view = verify_modal(answer, lang, channel_id=channel_id, thread_ts=thread_ts)
        try:
            await self.client.views_open(trigger_id=trigger_id, view=view)
        except Exception as e:
            log.warning("slack.views_open_failed user=%s", user_id, exc_info=True)
            return error_text(e, lang)
        return None

    async def submit(self, submission: VerifySubmission) -> None:
        try:
            meta = json.loads(submission.private_metadata)
            answer_id, lang, channel, thread_ts = meta["a"], meta["l"], meta["c"], meta["t"] or None
        except (ValueError, KeyError, TypeError):
            log.warning("slack.bad_verify_view user=%s", submission.user_id)
            return
        try:
            if not await self.admins.is_admin(submission.user_id):
                log.warning("slack.verify_refused user=%s answer=%s", submission.user_id, answer_id)
                reply = not_admin_text(lang)
            else:
                answer = await self.service.get_answer(answer_id)
                if answer is None:
                    raise CoreError("That answer is no longer on record.")
                verified = await self.service.verify_answer(
                    answer.space_id,
                    submission.question,
                    submission.text,
                    author=f"slack:{submission.user_id}",
                    from_answer_id=answer_id,
                )
                reply = saved_text(lang, verified.question)
        except Exception as e:  # bad input (an empty field) or a failing store: say which
            if not isinstance(e, CoreError):
                log.exception("slack.verify_failed user=%s answer=%s", submission.user_id, answer_id)
            reply = error_text(e, lang)
        try:
            await self.client.chat_postEphemeral(
                channel=channel, user=submission.user_id, text=escape(reply), thread_ts=thread_ts
            )
        except Exception:
            log.exception("slack.ephemeral_failed user=%s", submission.user_id)
