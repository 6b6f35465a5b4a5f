"""The Slack adapter: a slack-bolt ``AsyncApp`` wired to the service, served over HTTP
(``POST /slack/events`` on the service's aiohttp server: events, interactions and slash
commands) or over Socket Mode (``SLACK_MODE=socket``)."""

from __future__ import annotations

import logging
from typing import Any

import aiohttp
from aiohttp import web
from slack_bolt.adapter.aiohttp import to_aiohttp_response, to_bolt_request
from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler
from slack_bolt.async_app import AsyncApp
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import (
    AsyncConnectionErrorRetryHandler,
    AsyncRateLimitErrorRetryHandler,
)
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.claims import EventClaims
from bot.chat.commands import AdminCommands
from bot.chat.inflight import InFlight
from bot.chat.ratelimit import RateLimits
from bot.console import SignInLinks
from bot.settings import SlackSettings
from bot.slack.admins import SlackAdmins
from bot.slack.api_errors import error_code
from bot.slack.assistant import AssistantSurface
from bot.slack.commands import SlashCommands
from bot.slack.listeners import Listeners
from bot.slack.mrkdwn import escape
from bot.slack.private import Sharing
from bot.slack.questions import Questions
from bot.slack.sinks import Budgets
from bot.slack.threads import ThreadReader
from bot.slack.verifying import Verifying
from bot.slack.votes import Votes
from core.errors import ConfigError
from core.service import RagService

__all__ = ["SlackAdapter", "EVENTS_PATH", "STREAM_BUDGET_PER_MIN", "FINAL_RESERVE"]

log = logging.getLogger(__name__)

EVENTS_PATH = "/slack/events"
# chat.appendStream is Tier 4 (100+/min per workspace); leave headroom like the chat.update budget
STREAM_BUDGET_PER_MIN = 90
# Tokens that streaming edits leave for final messages, so answers ending together are not kept
# waiting behind edits. With the default budget (45/min) the worst minute is 45 + 5 = 50 calls.
FINAL_RESERVE = 4
POSTS_PER_S = 1.0  # chat.postMessage: about one message a second per channel


def _secret(value: Any) -> str:
    return value.get_secret_value() if value is not None else ""


class SlackAdapter:
    name = "slack"

    def __init__(
        self,
        settings: SlackSettings,
        service: RagService,
        *,
        min_edit_interval: float = 1.0,
        console: SignInLinks | None = None,
    ) -> None:
        token = _secret(settings.bot_token)
        if not token:
            raise ConfigError("SLACK_BOT_TOKEN is not set: the Slack adapter needs the bot token (xoxb-...).")
        if settings.mode == "http" and not _secret(settings.signing_secret):
            raise ConfigError(
                "SLACK_SIGNING_SECRET is not set: HTTP mode cannot verify Slack's requests without it."
            )
        if settings.mode == "socket" and not _secret(settings.app_token):
            raise ConfigError("SLACK_MODE=socket needs SLACK_APP_TOKEN (an app-level token, xapp-...).")
        self.settings = settings
        self.service = service
        base_url = settings.api_base_url.rstrip("/") + "/"  # slack_sdk joins method names onto it
        # one-off calls (notices, ephemeral acks, admin replies, alerts) wait out a 429 by themselves
        self.client = AsyncWebClient(
            token=token,
            base_url=base_url,
            retry_handlers=[
                AsyncConnectionErrorRetryHandler(),
                AsyncRateLimitErrorRetryHandler(max_retry_count=2),
            ],
        )
        # answers: a 429 must come back to StreamingReply (RetryLater), which shares the budget
        self.stream_client = AsyncWebClient(token=token, base_url=base_url)
        self.app = AsyncApp(
            client=self.client,
            signing_secret=_secret(settings.signing_secret) or None,
            request_verification_enabled=settings.mode == "http",
            name="ragbot",
        )
        self.bot_user_id = ""
        self.team_id = ""
        self.tasks = InFlight(self.name)
        self._closing = False
        self._session: aiohttp.ClientSession | None = None
        self._socket: AsyncSocketModeHandler | None = None
        self.budgets = Budgets(
            updates=RateLimits(
                settings.update_budget_per_min / 60.0, FINAL_RESERVE + 1, reserve=FINAL_RESERVE
            ),
            streams=RateLimits(STREAM_BUDGET_PER_MIN / 60.0, FINAL_RESERVE + 1, reserve=FINAL_RESERVE),
            posts=RateLimits(POSTS_PER_S, 2.0),
        )
        # the thread above a question: read once per question, a 429 skips it (docs/chat.md)
        threads = ThreadReader(
            service,
            self.stream_client,
            token=token,
            bot_user_id=lambda: self.bot_user_id,
            session=lambda: self._session,
        )
        self.questions = Questions(
            service,
            stream_client=self.stream_client,
            client=self.client,
            budgets=self.budgets,
            threads=threads,
            default_space=settings.default_space,
            min_edit_interval=min_edit_interval,
        )
        self.admins = SlackAdmins(
            service,
            self.client,
            configured=settings.admin_user_ids,
            workspace_admins=settings.workspace_admins_are_admins,
        )
        Listeners(
            questions=self.questions,
            commands=SlashCommands(AdminCommands(service, console), self.admins, self.client),
            votes=Votes(service, self.client, verifying=Verifying(service, self.client, self.admins)),
            sharing=Sharing(service, self.client),
            assistant=AssistantSurface(service, self.client, default_space=settings.default_space),
            claims=EventClaims(service, "slack:event"),
            spawn=self.tasks.spawn,
            bot_user_id=lambda: self.bot_user_id,
            closing=lambda: self._closing,
        ).register(self.app)

    # -- ChatAdapter ----------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        if self.settings.mode != "http":
            return []
        return [web.post(EVENTS_PATH, self.handle_http)]

    async def handle_http(self, request: web.Request) -> web.Response:
        """Events, interactions and slash commands: bolt verifies the signature (401 when it is
        wrong or older than five minutes), dispatches, and answers at ``ack()``. A body bolt
        cannot parse (it reads the JSON before it checks the signature) is a 400, logged."""
        try:
            bolt_request = await to_bolt_request(request)
        except ValueError as e:  # json.JSONDecodeError, or a form that is not one
            log.warning("slack.bad_request content_type=%s error=%s", request.content_type, type(e).__name__)
            return web.Response(status=400, text="malformed request body")
        response = await self.app.async_dispatch(bolt_request)
        return await to_aiohttp_response(response)

    async def start(self) -> None:
        self._session = aiohttp.ClientSession()
        self.client.session = self._session
        self.stream_client.session = self._session
        try:
            auth = await self.client.auth_test()
        except SlackApiError as e:
            await self._close_session()
            raise ConfigError(
                f"Slack refused the bot token (auth.test: {error_code(e) or 'error'}): check SLACK_BOT_TOKEN "
                "and that the app is installed in the workspace."
            ) from e
        except aiohttp.ClientError as e:
            await self._close_session()
            raise ConfigError(f"Cannot reach the Slack API at {self.settings.api_base_url}: {e}") from e
        self.bot_user_id = auth.get("user_id", "")
        self.team_id = auth.get("team_id", "")
        log.info(
            "slack.started mode=%s team=%s bot_user=%s", self.settings.mode, self.team_id, self.bot_user_id
        )
        if self.settings.mode == "socket":
            await self._connect_socket()

    async def _connect_socket(self) -> None:
        # the socket client retries a refused token forever: ask for the URL ourselves first
        try:
            opened = await self.client.apps_connections_open(app_token=_secret(self.settings.app_token))
        except SlackApiError as e:
            await self._close_session()
            raise ConfigError(
                f"Slack refused the app-level token (apps.connections.open: {error_code(e) or 'error'}): "
                "check SLACK_APP_TOKEN (xapp-..., with the connections:write scope)."
            ) from e
        self._socket = self.build_socket_handler()
        self._socket.client.wss_uri = opened["url"]
        await self._socket.connect_async()

    def build_socket_handler(self) -> AsyncSocketModeHandler:
        """Socket Mode over the app-level token (needs a running loop: the client starts tasks)."""
        return AsyncSocketModeHandler(
            self.app, app_token=_secret(self.settings.app_token), web_client=self.client
        )

    async def aclose(self, grace_s: float = 10.0) -> None:
        self._closing = True  # new events get 503 (HTTP: Slack retries them later)
        if self._socket is not None:
            await self._socket.close_async()
            self._socket = None
        await self.tasks.drain(grace_s)
        await self._close_session()

    async def _close_session(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
            self.client.session = None
            self.stream_client.session = None

    async def alert(self, text: str) -> None:
        targets: list[str] = []
        if self.settings.alert_channel:
            targets = [self.settings.alert_channel]
        else:
            for user in self.settings.admin_user_ids:
                try:
                    targets.append((await self.client.conversations_open(users=user))["channel"]["id"])
                except Exception:
                    log.warning("slack.alert_dm_failed user=%s", user, exc_info=True)
        if not targets:
            log.warning(
                "slack.alert_undelivered: set SLACK_ALERT_CHANNEL or SLACK_ADMIN_USER_IDS; alert=%s",
                text[:200],
            )
            return
        for channel in targets:
            try:
                await self.client.chat_postMessage(channel=channel, text=f":warning: {escape(text)}")
            except Exception:
                log.exception("slack.alert_failed channel=%s", channel)
