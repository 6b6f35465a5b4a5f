"""TelegramAdapter: ragbot on Telegram through aiogram 3.

One ``Dispatcher`` with a router per concern (commands, feedback, documents, questions,
everything else), an update gate in front (de-duplication, in-flight tracking) and one error
handler behind. Updates arrive by long polling (a background task) or through a webhook served
on the service's aiohttp server by aiogram's ``SimpleRequestHandler`` (secret token checked:
a wrong one gets 401). ``TELEGRAM_API_BASE_URL`` points the real client at any Bot API server,
which is how the tests run it against a local fake."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re

from aiogram import Bot, Dispatcher
from aiogram.client.session.aiohttp import AiohttpSession
from aiogram.client.telegram import TelegramAPIServer
from aiogram.exceptions import TelegramAPIError, TelegramNetworkError, TelegramUnauthorizedError
from aiogram.types import (
    BotCommand,
    BotCommandScopeAllChatAdministrators,
    BotCommandScopeAllPrivateChats,
    BotCommandScopeChat,
)
from aiogram.utils.token import TokenValidationError
from aiogram.webhook.aiohttp_server import SimpleRequestHandler
from aiohttp import web

from bot.chat.claims import EventClaims
from bot.chat.conversation import Conversation
from bot.chat.inflight import InFlight
from bot.chat.ratelimit import RateLimits
from bot.console import SignInLinks
from bot.settings import TelegramSettings
from bot.telegram import commands, fallback, questions, uploads, votes
from bot.telegram.context import BotContext
from bot.telegram.errors import on_error
from bot.telegram.html import escape
from bot.telegram.middleware import UpdateGate
from bot.telegram.outbox import Outbox
from bot.telegram.texts import MENU_ADMIN, MENU_USER
from core.errors import ConfigError
from core.service import RagService

__all__ = ["TelegramAdapter", "WEBHOOK_PATH"]

log = logging.getLogger(__name__)

WEBHOOK_PATH = "/telegram/webhook"
POLLING_TIMEOUT_S = 25  # long-poll wait per getUpdates


class TelegramAdapter:
    name = "telegram"

    def __init__(
        self,
        settings: TelegramSettings,
        service: RagService,
        *,
        max_file_mb: float = 20.0,
        console: SignInLinks | None = None,
    ) -> None:
        """``max_file_mb``: INGEST_MAX_FILE_MB, the largest upload taken (Telegram's own limit for
        bots is 20 MB). ``console``: the admin console's sign-in links (docs/console.md)."""
        self.settings = settings
        self.service = service
        self.console = console
        self.max_file_bytes = int(max_file_mb * 1024 * 1024)
        self.inflight = InFlight(self.name)
        self._bot: Bot | None = None
        self._dp: Dispatcher | None = None
        self._ctx: BotContext | None = None
        self._gate: UpdateGate | None = None
        self._webhook: SimpleRequestHandler | None = None
        self._polling: asyncio.Task[None] | None = None
        self._closed = False

    # -- construction (no network) ---------------------------------------------------------------

    @property
    def bot(self) -> Bot:
        self._build()
        assert self._bot is not None
        return self._bot

    @property
    def dispatcher(self) -> Dispatcher:
        self._build()
        assert self._dp is not None
        return self._dp

    @property
    def context(self) -> BotContext:
        self._build()
        assert self._ctx is not None
        return self._ctx

    def _build(self) -> None:
        if self._dp is not None:
            return
        s = self.settings
        if s.bot_token is None or not s.bot_token.get_secret_value().strip():
            raise ConfigError("TELEGRAM_BOT_TOKEN is not set: get a token from @BotFather.")
        secret = s.webhook_secret.get_secret_value() if s.webhook_secret else ""
        if s.mode == "webhook" and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise ConfigError(
                "TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET (1-256 characters A-Z a-z 0-9 _ -): "
                "without it anyone could post updates to the webhook."
            )
        session = AiohttpSession(api=TelegramAPIServer.from_base(s.api_base_url))
        try:
            bot = Bot(s.bot_token.get_secret_value().strip(), session=session)
        except TokenValidationError as e:
            raise ConfigError(
                "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters: 123456:ABC-…)."
            ) from e
        interval = s.edit_interval_s
        ctx = BotContext(
            bot=bot,
            service=self.service,
            settings=s,
            outbox=Outbox(bot),
            limits=RateLimits(rate=1.0 / interval, burst=1.0),
            conversation=Conversation(self.service, min_edit_interval=interval),
            max_file_bytes=self.max_file_bytes,
            console=self.console,
        )
        dp = Dispatcher(ctx=ctx)
        # polling runs in one process; a webhook may be served by several replicas
        claims = EventClaims(self.service, "telegram:update", across_replicas=s.mode == "webhook")
        gate = UpdateGate(ctx, claims=claims, inflight=self.inflight)
        dp.update.outer_middleware(gate)
        dp.errors.register(on_error)
        # order matters: a command or an awaited reason is not a question; questions before "anything else"
        dp.include_routers(*(m.build_router() for m in (commands, votes, uploads, questions, fallback)))
        self._bot, self._dp, self._ctx, self._gate = bot, dp, ctx, gate

    # -- ChatAdapter ------------------------------------------------------------------------------

    def routes(self) -> list[web.RouteDef]:
        if self.settings.mode != "webhook":
            return []
        self._build()
        secret = self.settings.webhook_secret.get_secret_value() if self.settings.webhook_secret else None
        self._webhook = SimpleRequestHandler(
            self.dispatcher, self.bot, secret_token=secret, handle_in_background=True
        )
        return [web.post(WEBHOOK_PATH, self._on_webhook)]

    async def _on_webhook(self, request: web.Request) -> web.StreamResponse:
        if self._gate is not None and self._gate.closing:
            # Telegram re-delivers later (to this service after the restart, or to another replica)
            return web.Response(status=503, text="restarting")
        assert self._webhook is not None
        return await self._webhook.handle(request)

    async def start(self) -> None:
        """Check the token (getMe), register the command menus, then start polling or register
        the webhook. Raises ``ConfigError`` when Telegram refuses the token."""
        bot, dp = self.bot, self.dispatcher
        try:
            me = await bot.me()
        except TelegramUnauthorizedError as e:
            raise ConfigError(
                "Telegram rejected TELEGRAM_BOT_TOKEN (getMe: Unauthorized). Check the token with @BotFather."
            ) from e
        except TelegramNetworkError as e:
            raise ConfigError(
                f"Cannot reach the Telegram Bot API at {self.settings.api_base_url}: {e.message}"
            ) from e
        except TelegramAPIError as e:
            raise ConfigError(f"Telegram refused getMe for TELEGRAM_BOT_TOKEN: {e.message}") from e
        log.info("telegram.connected bot=@%s id=%s mode=%s", me.username, me.id, self.settings.mode)
        await self._register_menus()
        if self.settings.mode == "polling":
            # a webhook left over from another deployment would make getUpdates fail (409)
            await bot.delete_webhook(drop_pending_updates=False)
            self._polling = asyncio.create_task(
                dp.start_polling(
                    bot, polling_timeout=POLLING_TIMEOUT_S, handle_signals=False, close_bot_session=False
                ),
                name="telegram-polling",
            )
            self._polling.add_done_callback(_polling_ended)
        elif self.settings.webhook_url:
            assert self.settings.webhook_secret is not None
            await bot.set_webhook(
                self.settings.webhook_url,
                secret_token=self.settings.webhook_secret.get_secret_value(),
                allowed_updates=dp.resolve_used_update_types(),
            )
            log.info("telegram.webhook_set path=%s", WEBHOOK_PATH)

    async def _register_menus(self) -> None:
        """A user menu in private chats; the admin menu for configured admins and for group
        administrators. A failure only costs the menu."""
        menus = []
        for lang in ("en", "ru"):
            code = None if lang == "en" else lang
            user = [BotCommand(command=c, description=d) for c, d in MENU_USER[lang].items()]
            admin = [BotCommand(command=c, description=d) for c, d in MENU_ADMIN[lang].items()]
            menus.append((user, BotCommandScopeAllPrivateChats(), code))
            menus.append((admin, BotCommandScopeAllChatAdministrators(), code))
            # a chat scope replaces the private-chat menu for that admin: keep /space in it
            space = [c for c in user if c.command == "space"]
            for admin_id in self.settings.admin_user_ids:
                menus.append((admin + space, BotCommandScopeChat(chat_id=admin_id), code))
        for commands_, scope, code in menus:
            try:
                await self.bot.set_my_commands(commands_, scope=scope, language_code=code)
            except TelegramAPIError as e:
                log.warning("telegram.menu_failed scope=%s error=%s", scope.type, e.message)

    async def aclose(self, grace_s: float = 10.0) -> None:
        """Stop taking updates, give answers in flight ``grace_s`` to finish, then cancel them
        (each tells its chat it was stopped), and close the HTTP session."""
        if self._closed or self._dp is None:
            return
        self._closed = True
        gate = self._gate
        assert gate is not None and self._bot is not None
        gate.closing = True
        await self._stop_polling()
        await self.inflight.drain(grace_s)
        await self._bot.session.close()

    async def _stop_polling(self) -> None:
        task, self._polling = self._polling, None
        if task is None or task.done():
            return
        try:
            await self.dispatcher.stop_polling()
        except RuntimeError:  # not started yet
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.wait({task}, timeout=5.0)

    async def alert(self, text: str) -> None:
        """Message every configured admin (TELEGRAM_ADMIN_USER_IDS) privately."""
        if not self.settings.admin_user_ids:
            log.warning("telegram.alert_dropped: TELEGRAM_ADMIN_USER_IDS is empty")
            return
        for admin_id in self.settings.admin_user_ids:
            try:
                await self.context.outbox.send(admin_id, "⚠️ " + escape(text))
            except Exception as e:  # one unreachable admin must not stop the others
                log.warning("telegram.alert_failed admin=%s error=%s", admin_id, e)


def _polling_ended(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    if (error := task.exception()) is not None:
        log.error("telegram.polling_crashed error=%s", error, exc_info=error)
