"""``/ragbot <subcommand>``: acknowledged at once by the listener, run here afterwards, and the
result sent to the person through the command's ``response_url`` (``chat.postEphemeral`` if that
fails)."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.commands import AdminCommands, CommandContext, parse_command
from bot.chat.messages import error_text, lang_of
from bot.slack.admins import SlackAdmins
from bot.slack.mrkdwn import escape, unescape

__all__ = ["COMMAND", "CommandRequest", "SlashCommands"]

log = logging.getLogger(__name__)

COMMAND = "/ragbot"

Respond = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class CommandRequest:
    team_id: str
    channel_id: str
    user_id: str
    text: str


class SlashCommands:
    def __init__(self, commands: AdminCommands, admins: SlackAdmins, client: AsyncWebClient) -> None:
        self.commands = commands
        self.admins = admins
        self.client = client

    async def run(self, request: CommandRequest, respond: Respond | None) -> str:
        """Run the command and deliver the reply; returns the reply (for logs and tests)."""
        lang = lang_of(request.text)
        try:
            ctx = CommandContext(
                platform="slack",
                channel_id=request.channel_id,
                user_id=request.user_id,
                is_admin=await self.admins.is_admin(request.user_id),
                team_id=request.team_id,
                lang=lang,
                prefix=f"{COMMAND} ",
                private=True,  # replies go to the person alone (response_url, ephemeral)
            )
            # Slack sends `&`, `<`, `>` typed in a command escaped (`verify Q => A` has a `>`)
            reply = await self.commands.run(parse_command(unescape(request.text)), ctx)
        except Exception as e:
            log.exception("slack.command_failed user=%s", request.user_id)
            reply = error_text(e, lang)
        # the replies use mrkdwn on purpose (*bold*, `code`); only Slack's three specials are escaped
        await self._send(request, escape(reply), respond)
        return reply

    async def _send(self, request: CommandRequest, text: str, respond: Respond | None) -> None:
        if respond is not None:
            try:
                response = await respond(text=text, response_type="ephemeral")
                if getattr(response, "status_code", 200) == 200:
                    return
                log.warning("slack.respond_refused user=%s status=%s", request.user_id, response.status_code)
            except Exception:
                log.warning(
                    "slack.respond_failed user=%s; posting ephemeral instead", request.user_id, exc_info=True
                )
        try:
            await self.client.chat_postEphemeral(channel=request.channel_id, user=request.user_id, text=text)
        except Exception:
            log.exception("slack.command_reply_lost user=%s", request.user_id)
