"""The bolt listeners: each reads a payload, acknowledges, and hands one call to ``Questions``,
``SlashCommands`` or ``Votes``. Answers run as tracked tasks so the HTTP request (or the
Socket Mode envelope) is acknowledged at once and shutdown can wait for them. Cross-cutting work
(shutdown refusal, de-duplication) is the global middleware; errors end in one handler."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Coroutine
from typing import Any

from slack_bolt.async_app import AsyncApp
from slack_bolt.response import BoltResponse
from slack_sdk.errors import SlackApiError

from bot.chat.claims import EventClaims
from bot.chat.messages import lang_of
from bot.chat.open_question import is_open_question
from bot.slack.api_errors import error_code
from bot.slack.assistant import AssistantSurface
from bot.slack.blocks import (
    FALLBACK_ACTION,
    OTHER_REASON_ACTION,
    REASON_ACTION,
    REASON_VIEW,
    SHARE_ACTION,
    VERIFY_ACTION,
    VERIFY_VIEW,
    VOTE_ACTION,
    label,
)
from bot.slack.commands import COMMAND, CommandRequest, SlashCommands
from bot.slack.private import ShareClick, Sharing
from bot.slack.questions import Ask, Questions, strip_mention
from bot.slack.verifying import VerifySubmission
from bot.slack.votes import Click, ReasonSubmission, Votes

__all__ = ["Listeners", "may_answer"]

log = logging.getLogger(__name__)

Spawn = Callable[[Coroutine[Any, Any, Any], str], asyncio.Task]


def is_channel_question(event: dict[str, Any]) -> bool:
    """A channel's top-level message that reads as a question to no one in particular: answered
    where the channel is in ``questions`` mode. One that mentions anyone is not: a mention of the
    bot arrives as ``app_mention`` too, a mention of someone else is addressed to them."""
    if event.get("type") != "message" or event.get("channel_type") not in ("channel", "group"):
        return False
    if event.get("thread_ts") or event.get("bot_id") or event.get("subtype"):
        return False
    text = event.get("text", "")
    return is_open_question(text, addressed_elsewhere="<@" in text or "<!" in text)


def may_answer(event: dict[str, Any]) -> bool:
    """Could this event lead to an answer? Only those take a database claim; plain channel
    chatter, edits and bot messages are dropped by the listeners anyway."""
    if event.get("subtype") or event.get("bot_id"):
        return False
    if event.get("type") == "app_mention":
        return True
    return event.get("type") == "message" and (
        event.get("channel_type") == "im" or bool(event.get("thread_ts")) or is_channel_question(event)
    )


def _team(body: dict[str, Any], event: dict[str, Any] | None = None) -> str:
    team = body.get("team_id") or (body.get("team") or {}).get("id") or ""
    return team or (event or {}).get("team", "")


class Listeners:
    def __init__(
        self,
        *,
        questions: Questions,
        commands: SlashCommands,
        votes: Votes,
        sharing: Sharing,
        assistant: AssistantSurface,
        claims: EventClaims,
        spawn: Spawn,
        bot_user_id: Callable[[], str],
        closing: Callable[[], bool],
    ) -> None:
        self.questions = questions
        self.commands = commands
        self.votes = votes
        self.sharing = sharing
        self.assistant = assistant
        self.claims = claims
        self.spawn = spawn
        self.bot_user_id = bot_user_id
        self.closing = closing

    def register(self, app: AsyncApp) -> None:
        app.middleware(self.gatekeeper)
        app.event("app_mention")(self.on_mention)
        app.event("message")(self.on_message)
        app.event("assistant_thread_started")(self.on_assistant_thread_started)
        app.event("assistant_thread_context_changed")(self.on_assistant_context_changed)
        app.event("app_home_opened")(self.on_home_opened)
        app.command(COMMAND)(self.on_command)
        app.action(re.compile(rf"^{VOTE_ACTION}_(up|down)$"))(self.on_vote)
        app.action(OTHER_REASON_ACTION)(self.on_other_reason)
        app.action(re.compile(rf"^{REASON_ACTION}_(?!other$)\w+$"))(self.on_reason)
        app.view(REASON_VIEW)(self.on_reason_submit)
        app.action(FALLBACK_ACTION)(self.on_did_not_help)
        app.action(VERIFY_ACTION)(self.on_verify)
        app.view(VERIFY_VIEW)(self.on_verify_submit)
        app.action(SHARE_ACTION)(self.on_share)
        app.error(self.on_error)

    # -- middleware -----------------------------------------------------------------------------

    async def gatekeeper(
        self,
        body: dict[str, Any],
        request: Any,
        response: BoltResponse,
        next: Callable[[], Any],  # bolt passes middleware arguments by name
    ) -> BoltResponse:
        """Runs after bolt verified the signature: refuse while shutting down (Slack retries
        events later), and let each event through once."""
        if self.closing():
            return BoltResponse(status=503, body="shutting down")
        event_id = body.get("event_id")
        if event_id and may_answer(body.get("event") or {}) and not await self.claims.claim(event_id):
            retry = (request.headers.get("x-slack-retry-num") or [""])[0]
            log.info("slack.duplicate_event event_id=%s retry=%s", event_id, retry or "-")
            return BoltResponse(status=200, body="")
        await next()
        return response

    # -- questions ------------------------------------------------------------------------------

    async def on_mention(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        channel = event.get("channel", "")
        if channel.startswith("D") or event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # DMs come as message.im; edits and bots are not questions
        ask = Ask(
            team_id=_team(body, event),
            channel_id=channel,
            user_id=event["user"],
            text=strip_mention(event.get("text", ""), self.bot_user_id()),
            thread_ts=event.get("thread_ts") or event["ts"],
            ts=event["ts"],
        )
        self.spawn(self.questions.answer(ask), f"slack-answer-{event['ts']}")

    async def on_message(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("subtype") or event.get("bot_id") or not event.get("user"):
            return  # edits, deletions, joins, files shared, bot posts (our own included)
        text, ts, thread_ts = event.get("text", ""), event["ts"], event.get("thread_ts")
        bot = self.bot_user_id()
        ask = Ask(
            team_id=_team(body, event),
            channel_id=event.get("channel", ""),
            user_id=event["user"],
            text=strip_mention(text, bot),
            thread_ts=thread_ts or ts,
            is_dm=event.get("channel_type") == "im",
            ts=ts,
        )
        if ask.is_dm:
            if thread_ts:  # an assistant thread: its first question names it
                self.spawn(
                    self.assistant.question_asked(ask.channel_id, thread_ts, ask.text), f"slack-title-{ts}"
                )
            self.spawn(self.questions.answer(ask), f"slack-answer-{ts}")
        elif thread_ts and thread_ts != ts and not (bot and f"<@{bot}" in text):
            # a mention in a thread arrives as app_mention too: only unmentioned replies here
            self.spawn(self.questions.follow_up(ask), f"slack-followup-{ts}")
        elif is_channel_question(event):
            self.spawn(self.questions.open_question(ask), f"slack-open-question-{ts}")

    # -- the assistant thread and the App Home tab ---------------------------------------------

    async def on_assistant_thread_started(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        thread = event.get("assistant_thread") or {}
        channel, thread_ts = thread.get("channel_id", ""), thread.get("thread_ts", "")
        if channel and thread_ts:
            self.spawn(
                self.assistant.thread_started(channel, thread_ts, _team(body, event)),
                f"slack-prompts-{thread_ts}",
            )

    async def on_assistant_context_changed(self, event: dict[str, Any]) -> None:
        return None  # the assistant answers from its DM's space, wherever the person looks

    async def on_home_opened(self, event: dict[str, Any], body: dict[str, Any]) -> None:
        if event.get("tab") == "home" and event.get("user"):
            self.spawn(self.assistant.home_opened(event["user"], _team(body, event)), "slack-home")

    # -- admin commands -------------------------------------------------------------------------

    async def on_command(self, ack: Any, command: dict[str, Any], respond: Any) -> None:
        text = command.get("text", "")
        await ack(text=label(lang_of(text), "command_working"))
        request = CommandRequest(
            team_id=command.get("team_id", ""),
            channel_id=command.get("channel_id", ""),
            user_id=command.get("user_id", ""),
            text=text,
        )
        self.spawn(
            self.commands.run(request, respond if command.get("response_url") else None), "slack-command"
        )

    # -- votes -------------------------------------------------------------------------------

    @staticmethod
    def _click(body: dict[str, Any], action: dict[str, Any]) -> Click:
        container = body.get("container") or {}
        message = body.get("message") or {}
        block_id = action.get("block_id", "")
        # the reasons and the verify offer are ephemeral (no text in the payload): the block id says the language
        lang = (
            block_id.split(":", 1)[1]
            if block_id.startswith(("ragbot_reasons:", "ragbot_verify:"))
            else lang_of(message.get("text", ""))
        )
        return Click(
            user_id=(body.get("user") or {}).get("id", ""),
            channel_id=container.get("channel_id") or (body.get("channel") or {}).get("id", ""),
            thread_ts=container.get("thread_ts") or message.get("thread_ts") or message.get("ts"),
            value=action.get("value", ""),
            lang=lang,
            trigger_id=body.get("trigger_id", ""),
        )

    async def on_vote(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await self.votes.vote(self._click(body, action))

    async def on_reason(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        await self.votes.reason(self._click(body, action), respond if body.get("response_url") else None)

    async def on_other_reason(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        await self.votes.ask_reason(self._click(body, action))

    async def on_reason_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()  # closes the modal
        value = (view.get("state", {}).get("values", {}).get("reason", {}).get("text", {}) or {}).get(
            "value"
        ) or ""
        submission = ReasonSubmission(
            (body.get("user") or {}).get("id", ""), view.get("private_metadata", ""), value
        )
        await self.votes.submit_reason(submission)

    async def on_did_not_help(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        await ack()
        click = self._click(body, action)
        work = self.questions.did_not_help(
            _team(body), click.channel_id, click.user_id, click.thread_ts or "", click.value
        )
        self.spawn(work, "slack-did-not-help")

    async def on_verify(self, ack: Any, body: dict[str, Any], action: dict[str, Any]) -> None:
        """An admin's "write the right answer" / "mark as verified": the modal (its trigger_id
        is fresh only now, so this is not spawned)."""
        await ack()
        click = self._click(body, action)
        verifying = self.votes.verifying
        if verifying is None:
            return
        problem = await verifying.open(
            click.user_id, click.value, click.lang, click.channel_id, click.thread_ts or "", click.trigger_id
        )
        if problem is not None:
            await self.votes.tell(click, problem)

    async def on_verify_submit(self, ack: Any, body: dict[str, Any], view: dict[str, Any]) -> None:
        await ack()  # closes the modal
        values = view.get("state", {}).get("values", {})

        def field(block: str) -> str:
            return ((values.get(block) or {}).get("text") or {}).get("value") or ""

        if self.votes.verifying is not None:
            submission = VerifySubmission(
                (body.get("user") or {}).get("id", ""),
                view.get("private_metadata", ""),
                field("question"),
                field("answer"),
            )
            self.spawn(self.votes.verifying.submit(submission), "slack-verify")

    async def on_share(self, ack: Any, body: dict[str, Any], action: dict[str, Any], respond: Any) -> None:
        await ack()
        click = ShareClick(
            user_id=(body.get("user") or {}).get("id", ""),
            channel_id=(body.get("container") or {}).get("channel_id")
            or (body.get("channel") or {}).get("id", ""),
            team_id=_team(body),
            value=action.get("value", ""),
            lang="ru" if action.get("block_id", "").endswith(":ru") else "en",
        )
        await self.sharing.share(click, respond if body.get("response_url") else None)

    # -- errors ---------------------------------------------------------------------------------

    async def on_error(self, error: Exception, body: dict[str, Any]) -> None:
        """Bolt's global error handler: a log line with what failed, never the payload's
        secrets (tokens live in headers and the client, not in what is logged here)."""
        code = error_code(error) if isinstance(error, SlackApiError) else ""
        kind = body.get("type", "?") if isinstance(body, dict) else "?"
        log.error(
            "slack.listener_error payload=%s error=%s code=%s",
            kind,
            type(error).__name__,
            code or "-",
            exc_info=error,
        )
