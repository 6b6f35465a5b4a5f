"""Slack's own surfaces for an AI app (docs/chat.md): the assistant thread and the App Home tab.

- ``assistant_thread_started`` (a person opens the app's assistant container): the space's
  suggested prompts, set by an admin (``/ragbot config prompts ...``) or else its most asked
  questions, through ``assistant.threads.setSuggestedPrompts``. The space is the one the
  assistant answers from: the DM's binding, else SLACK_DEFAULT_SPACE.
- The first question of an assistant thread becomes its title (``assistant.threads.setTitle``).
- ``app_home_opened``: the Home tab (``views.publish``) shows what the bot does, how to ask,
  and which channels of the workspace answer from which space, in which mode."""

from __future__ import annotations

import logging
import re
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.messages import lang_of
from bot.slack.api_errors import error_code
from bot.slack.mrkdwn import escape
from core.models import Binding
from core.service import RagService

__all__ = ["AssistantSurface", "home_view", "TITLE_CHARS", "PROMPT_TITLE_CHARS"]

log = logging.getLogger(__name__)

TITLE_CHARS = 80  # an assistant thread's title: the start of its first question
PROMPT_TITLE_CHARS = 60  # a suggested prompt's label; the whole question is what gets sent

_PROMPTS_TITLE = {"en": "Often asked here", "ru": "Часто спрашивают"}


def _shorten(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _binding_line(binding: Binding) -> str:
    how = "every question" if binding.mode == "questions" else "when mentioned"
    where = "privately to the asker" if binding.visibility == "private" else "in the thread"
    extras = [f"type `{binding.doc_type}`"] if binding.doc_type else []
    extras += [f"language {binding.lang}"] if binding.lang else []
    tail = f", {', '.join(extras)}" if extras else ""
    channel = re.sub(r"[^A-Z0-9]", "", binding.channel_id)
    return f"• <#{channel}> → `{escape(binding.space_id)}`: answers {how}, {where}{tail}"


def home_view(bindings: list[Binding], doc_types: list[str], *, default_space: str | None) -> dict[str, Any]:
    """The App Home tab: what the bot does, how to ask, the bound channels of the workspace."""

    def section(text: str) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}}

    example = doc_types[0] if doc_types else "runbook"
    ways = [
        "• *Mention me* in a channel that answers from a space, or in a thread there: I read the thread "
        "above the mention, so `@ragbot how do we fix this?` works.",
        "• *Reply in my thread* to ask a follow-up without mentioning me again.",
        "• *Write to me* in Messages, or open me as an assistant from the top bar"
        + (f" (I answer from `{escape(default_space)}` there)." if default_space else "."),
        "• In channels set to *questions* mode, just ask: I answer questions nobody else was asked.",
        f"• Start with a document type to search only that kind: `{escape(example)}: how do I …?`"
        + (f" ({escape(', '.join(doc_types))})." if doc_types else ""),
        "• Rate answers with 👍 / 👎: it tells the admins what to fix.",
    ]
    lines = [_binding_line(b) for b in bindings[:40]]
    if len(bindings) > 40:
        lines.append(f"… and {len(bindings) - 40} more.")
    bound = (
        "\n".join(lines) or "No channel answers from a space yet: an admin runs `/ragbot bind <space>` there."
    )
    return {
        "type": "home",
        "blocks": [
            {"type": "header", "text": {"type": "plain_text", "text": "ragbot"}},
            section(
                "I answer questions from your team's documents, with their sources, in English and Russian."
            ),
            {"type": "divider"},
            section("*How to ask*\n" + "\n".join(ways)),
            {"type": "divider"},
            section("*Channels and their spaces*\n" + bound),
            {
                "type": "context",
                "elements": [
                    {
                        "type": "mrkdwn",
                        "text": "Admins: `/ragbot help` lists the commands, `/ragbot config` a channel's settings.",
                    }
                ],
            },
        ],
    }


class AssistantSurface:
    def __init__(self, service: RagService, client: AsyncWebClient, *, default_space: str | None) -> None:
        self.service = service
        self.client = client  # waits out 429s itself: none of this is on an answer's path
        self.default_space = default_space

    async def space_of_dm(self, channel_id: str, team_id: str) -> str | None:
        binding = await self.service.binding_for("slack", channel_id, team_id)
        return binding.space_id if binding else self.default_space

    async def thread_started(self, channel_id: str, thread_ts: str, team_id: str) -> None:
        """Suggest the space's prompts in a new assistant thread."""
        space = await self.space_of_dm(channel_id, team_id)
        if space is None:
            log.info("slack.assistant_no_space channel=%s: set SLACK_DEFAULT_SPACE", channel_id)
            return
        prompts = await self.service.suggested_prompts(space)
        if not prompts:
            log.info("slack.assistant_no_prompts space=%s: nothing asked yet, none set", space)
            return
        lang = lang_of(" ".join(prompts))
        try:
            await self.client.assistant_threads_setSuggestedPrompts(
                channel_id=channel_id,
                thread_ts=thread_ts,
                title=_PROMPTS_TITLE.get(lang, _PROMPTS_TITLE["en"]),
                prompts=[{"title": _shorten(p, PROMPT_TITLE_CHARS), "message": p} for p in prompts],
            )
        except SlackApiError as e:
            log.warning("slack.prompts_failed space=%s error=%s", space, error_code(e))
            return
        log.info("slack.prompts_suggested space=%s prompts=%d", space, len(prompts))

    async def question_asked(self, channel_id: str, thread_ts: str, text: str) -> None:
        """The first question of an assistant thread names it."""
        try:
            if await self.service.thread_turns("slack", channel_id, thread_ts):
                return  # answered in this thread before: it has its title
            await self.client.assistant_threads_setTitle(
                channel_id=channel_id, thread_ts=thread_ts, title=_shorten(text, TITLE_CHARS)
            )
        except SlackApiError as e:
            log.info("slack.title_failed channel=%s error=%s", channel_id, error_code(e))
        except Exception:  # a title is a nicety; the answer is what matters
            log.warning("slack.title_failed channel=%s", channel_id, exc_info=True)

    async def home_opened(self, user_id: str, team_id: str) -> None:
        bindings = [
            b
            for b in await self.service.bindings()
            if b.platform == "slack" and b.team_id in (team_id, "") and not b.channel_id.startswith("D")
        ]
        view = home_view(bindings, [t.name for t in self.service.doc_types], default_space=self.default_space)
        try:
            await self.client.views_publish(user_id=user_id, view=view)
        except SlackApiError as e:
            log.warning("slack.home_failed user=%s error=%s", user_id, error_code(e))
