"""A local Telegram Bot API server, for tests and the streaming benchmark: the real aiogram
client talks HTTP to it unchanged (``TELEGRAM_API_BASE_URL``).

It speaks the Bot API's wire format: ``POST /bot{token}/{method}`` with form data whose complex
values are JSON strings; answers ``{"ok": true, "result": ...}`` or ``{"ok": false, "error_code":
..., "description": ..., "parameters": {"retry_after": N}}``; ``getUpdates`` long-polls; files are
served from ``/file/bot{token}/{path}``. It is strict where Telegram is: HTML is parsed as
Telegram parses it (unknown tags, unclosed tags, bare ``&`` or ``<`` -> "can't parse entities"),
texts are limited to 4,096 characters after parsing, an edit that changes nothing is refused
with "message is not modified", drafts work in private chats only and need a non-zero id.
Every call is recorded with a monotonic timestamp; failures can be injected per method.

Updates are built with the same server (``user_message``, ``callback``, ...), so message ids of
people and of the bot never collide and replies carry the real replied-to message."""

from __future__ import annotations

import asyncio
import itertools
import json
import re
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

__all__ = ["FakeTelegram", "Call", "StoredMessage", "parse_telegram_html", "EntityParseError", "TOKEN"]

TOKEN = "123456789:TEST-token_for-the-fake-server"
TEXT_LIMIT = 4096
DOWNLOAD_LIMIT = 20 * 1024 * 1024

# Parameters whose values travel as JSON strings; everything else is a plain string or number.
_JSON_FIELDS = {
    "reply_markup",
    "commands",
    "scope",
    "entities",
    "caption_entities",
    "reply_parameters",
    "allowed_updates",
    "link_preview_options",
    "media",
}
_INT_FIELDS = {
    "chat_id",
    "message_id",
    "draft_id",
    "offset",
    "limit",
    "timeout",
    "user_id",
    "message_thread_id",
}
_BOOL_FIELDS = {"show_alert", "drop_pending_updates", "disable_notification", "can_stop", "keep_on_stop"}

_ALLOWED_TAGS = {
    "b",
    "strong",
    "i",
    "em",
    "u",
    "ins",
    "s",
    "strike",
    "del",
    "span",
    "tg-spoiler",
    "a",
    "tg-emoji",
    "code",
    "pre",
    "blockquote",
}
_TOKEN_RE = re.compile(r"<(/?)([a-zA-Z][\w-]*)((?:\s+[^<>]*)?)>|&(#\d+|#x[0-9a-fA-F]+|[a-zA-Z]+);|([<>&])")
_NAMED = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


class EntityParseError(ValueError):
    pass


def parse_telegram_html(text: str) -> str:
    """The visible text of a Telegram-HTML message, or ``EntityParseError`` as Telegram would refuse it."""
    out: list[str] = []
    stack: list[str] = []
    pos = 0
    for m in _TOKEN_RE.finditer(text):
        out.append(text[pos : m.start()])
        pos = m.end()
        offset = len(text[: m.start()].encode())
        closing, tag, attrs, entity, bare = m.groups()
        if bare is not None:
            raise EntityParseError(
                f"Can't parse entities: unexpected character {bare!r} at byte offset {offset}"
            )
        if entity is not None:
            if entity.startswith("#x"):
                out.append(chr(int(entity[2:], 16)))
            elif entity.startswith("#"):
                out.append(chr(int(entity[1:])))
            elif entity in _NAMED:
                out.append(_NAMED[entity])
            else:
                raise EntityParseError(
                    f"Can't parse entities: unsupported HTML entity &{entity}; at byte offset {offset}"
                )
            continue
        tag = tag.lower()
        if tag not in _ALLOWED_TAGS:
            raise EntityParseError(
                f'Can\'t parse entities: unsupported start tag "{tag}" at byte offset {offset}'
            )
        if closing:
            if not stack or stack[-1] != tag:
                raise EntityParseError(
                    f"Can't parse entities: can't find end tag corresponding to start tag \"{stack[-1] if stack else tag}\""
                )
            stack.pop()
        else:
            if tag == "a" and "href=" not in attrs:
                raise EntityParseError(
                    f"Can't parse entities: an <a> tag without href at byte offset {offset}"
                )
            stack.append(tag)
    out.append(text[pos:])
    if stack:
        raise EntityParseError(
            f"Can't parse entities: can't find end tag corresponding to start tag \"{stack[-1]}\""
        )
    return "".join(out)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


@dataclass
class Call:
    method: str
    params: dict[str, Any]
    at: float  # time.monotonic() when the request arrived
    status: int = 200
    result: Any = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass
class StoredMessage:
    chat_id: int
    message_id: int
    text: str  # what people see
    raw: str = ""  # as sent (HTML when parse_mode=HTML)
    parse_mode: str | None = None
    reply_markup: dict | None = None
    from_bot: bool = True
    user: dict | None = None
    reply_to: int | None = None
    edits: int = 0
    document: dict | None = None


# methods that write to a chat: refused for the private chat of someone who never started the bot
_TO_A_CHAT = {"sendmessage", "sendmessagedraft", "sendchataction", "sendphoto", "senddocument"}


@dataclass
class _Failure:
    method: str
    status: int
    description: str
    retry_after: int | None
    times: int
    when: Callable[[dict[str, Any]], bool] | None


@dataclass
class _File:
    file_id: str
    unique_id: str
    path: str
    content: bytes
    size: int


@dataclass
class FakeTelegram:
    token: str = TOKEN
    username: str = "ragbot_test_bot"
    max_poll_s: float = 2.0  # getUpdates waits at most this long, whatever timeout the client asks
    flood_gap_s: float | None = None  # when set, a send/edit to a chat sooner than this gets a 429
    calls: list[Call] = field(default_factory=list)
    messages: dict[tuple[int, int], StoredMessage] = field(default_factory=dict)
    drafts: dict[tuple[int, int], str] = field(default_factory=dict)
    webhook: dict[str, Any] = field(default_factory=dict)
    members: dict[tuple[int, int], str] = field(default_factory=dict)
    # people who never pressed Start: Telegram refuses the bot's messages to their private chat
    strangers: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        self.bot_id = int(self.token.split(":")[0])
        self._failures: list[_Failure] = []
        self._updates: list[dict[str, Any]] = []
        self._update_ids = itertools.count(1)
        self._message_ids: dict[int, itertools.count] = defaultdict(lambda: itertools.count(1))
        self._files: dict[str, _File] = {}
        self._last_send: dict[int, float] = {}
        self._changed = asyncio.Event()
        self._runner: web.AppRunner | None = None
        self.base_url = ""

    # -- lifecycle ----------------------------------------------------------------------------

    async def start(self) -> FakeTelegram:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_route("*", "/bot{token}/{method}", self._api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._download)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- what tests arrange -------------------------------------------------------------------

    def fail(
        self,
        method: str,
        *,
        status: int = 400,
        description: str = "Bad Request",
        retry_after: int | None = None,
        times: int = 1,
        when: Callable[[dict[str, Any]], bool] | None = None,
    ) -> None:
        """The next ``times`` calls of ``method`` (matching ``when``) fail like this."""
        self._failures.append(_Failure(method, status, description, retry_after, times, when))

    def flood(self, method: str, retry_after: int, *, times: int = 1, when=None) -> None:  # noqa: ANN001
        self.fail(
            method,
            status=429,
            description=f"Too Many Requests: retry after {retry_after}",
            retry_after=retry_after,
            times=times,
            when=when,
        )

    def never_started(self, user_id: int) -> None:
        """``user_id`` never opened a private chat with the bot: sends to it get 403 Forbidden."""
        self.strangers.add(user_id)

    def set_member(self, chat_id: int, user_id: int, status: str) -> None:
        self.members[(chat_id, user_id)] = status

    def add_file(self, content: bytes, *, size: int | None = None) -> tuple[str, str]:
        """Store a file; ``size`` may claim more than ``content`` holds (a 50 MB file costs nothing)."""
        n = len(self._files) + 1
        f = _File(f"FILE{n}", f"U{n}", f"documents/file_{n}", content, len(content) if size is None else size)
        self._files[f.file_id] = f
        return f.file_id, f.unique_id

    # -- updates ------------------------------------------------------------------------------

    def user(self, user_id: int, *, first_name: str = "Alex", language_code: str = "en") -> dict[str, Any]:
        return {"id": user_id, "is_bot": False, "first_name": first_name, "language_code": language_code}

    def _chat(self, chat_id: int) -> dict[str, Any]:
        if chat_id > 0:
            return {"id": chat_id, "type": "private", "first_name": "Alex"}
        return {"id": chat_id, "type": "supergroup", "title": "Team"}

    @property
    def bot_user(self) -> dict[str, Any]:
        return {"id": self.bot_id, "is_bot": True, "first_name": "ragbot", "username": self.username}

    def message_json(self, stored: StoredMessage) -> dict[str, Any]:
        data: dict[str, Any] = {
            "message_id": stored.message_id,
            "date": int(time.time()),
            "chat": self._chat(stored.chat_id),
            "from": self.bot_user if stored.from_bot else stored.user,
        }
        if stored.document is not None:
            data["document"] = stored.document
            if stored.text:
                data["caption"] = stored.text
        elif stored.text:
            data["text"] = stored.text
        if stored.reply_markup and "inline_keyboard" in stored.reply_markup:
            data["reply_markup"] = stored.reply_markup
        if stored.reply_to is not None and (stored.chat_id, stored.reply_to) in self.messages:
            replied = self.message_json(self.messages[(stored.chat_id, stored.reply_to)])
            replied.pop("reply_to_message", None)  # Telegram nests one level only
            data["reply_to_message"] = replied
        return data

    def user_message(
        self,
        chat_id: int,
        user_id: int,
        text: str | None = None,
        *,
        reply_to: int | None = None,
        language_code: str = "en",
        document: dict[str, Any] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """A raw update with a person's message (text, a document, or ``extra`` fields such as a
        sticker); also queued for ``getUpdates``."""
        message_id = next(self._message_ids[chat_id])
        stored = StoredMessage(
            chat_id,
            message_id,
            text or "",
            raw=text or "",
            from_bot=False,
            user=self.user(user_id, language_code=language_code),
            reply_to=reply_to,
            document=document,
        )
        self.messages[(chat_id, message_id)] = stored
        body = self.message_json(stored)
        if text and text.startswith("/"):
            length = len(text.split()[0])
            body["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(text[:length])}]
        for m in re.finditer(r"@\w+", text or ""):
            body.setdefault("entities", []).append(
                {"type": "mention", "offset": _utf16_len(text[: m.start()]), "length": _utf16_len(m.group())}
            )
        body.update(extra or {})
        return self._update({"message": body})

    def document(
        self, content: bytes, name: str, mime_type: str, *, size: int | None = None
    ) -> dict[str, Any]:
        file_id, unique_id = self.add_file(content, size=size)
        return {
            "file_id": file_id,
            "file_unique_id": unique_id,
            "file_name": name,
            "mime_type": mime_type,
            "file_size": len(content) if size is None else size,
        }

    def callback(self, chat_id: int, message_id: int, user_id: int, data: str) -> dict[str, Any]:
        """A raw update: ``user_id`` pressed a button with ``data`` under the bot's message."""
        stored = self.messages[(chat_id, message_id)]
        return self._update(
            {
                "callback_query": {
                    "id": f"cq{next(self._update_ids)}",
                    "from": self.user(user_id),
                    "chat_instance": f"ci{chat_id}",
                    "message": self.message_json(stored),
                    "data": data,
                }
            }
        )

    def _update(self, body: dict[str, Any]) -> dict[str, Any]:
        update = {"update_id": next(self._update_ids), **body}
        self._updates.append(update)
        self._notify()
        return update

    def queue_update(self, update: dict[str, Any]) -> None:
        """Serve ``update`` (again) through getUpdates, e.g. to test de-duplication."""
        self._updates.append(update)
        self._notify()

    # -- what tests inspect -------------------------------------------------------------------

    def calls_of(self, method: str, *, ok: bool | None = True) -> list[Call]:
        return [c for c in self.calls if c.method == method and (ok is None or c.ok == ok)]

    def bot_messages(self, chat_id: int) -> list[StoredMessage]:
        return sorted(
            (m for (c, _), m in self.messages.items() if c == chat_id and m.from_bot),
            key=lambda m: m.message_id,
        )

    async def wait_for(
        self,
        method: str,
        *,
        count: int = 1,
        where: Callable[[Call], bool] | None = None,
        within: float = 10.0,
    ) -> list[Call]:
        """Wait until ``count`` successful calls of ``method`` (matching ``where``) are recorded."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            found = [c for c in self.calls_of(method) if where is None or where(c)]
            if len(found) >= count:
                return found
            remaining = deadline - loop.time()
            if remaining <= 0:
                seen = ", ".join(c.method for c in self.calls[-20:])
                raise AssertionError(
                    f"expected {count} {method} call(s), got {len(found)}; last calls: {seen}"
                )
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), min(remaining, 0.5))
            except TimeoutError:
                pass

    def _notify(self) -> None:
        self._changed.set()

    # -- the API ------------------------------------------------------------------------------

    async def _params(self, request: web.Request) -> dict[str, Any]:
        if request.content_type == "application/json":
            raw: dict[str, Any] = await request.json()
        else:
            raw = dict(await request.post())
            raw.update(request.query)
        params: dict[str, Any] = {}
        for key, value in raw.items():
            if isinstance(value, str) and key in _JSON_FIELDS:
                value = json.loads(value)
            elif isinstance(value, str) and key in _INT_FIELDS and re.fullmatch(r"-?\d+", value):
                value = int(value)
            elif isinstance(value, str) and key in _BOOL_FIELDS:
                value = value == "true"
            params[key] = value
        return params

    @staticmethod
    def _error(status: int, description: str, retry_after: int | None = None) -> web.Response:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if retry_after is not None:
            body["parameters"] = {"retry_after": retry_after}
        return web.json_response(body, status=status)

    def _injected(self, method: str, params: dict[str, Any]) -> _Failure | None:
        for failure in self._failures:
            if failure.method.lower() == method.lower() and (failure.when is None or failure.when(params)):
                failure.times -= 1
                if failure.times <= 0:
                    self._failures.remove(failure)
                return failure
        return None

    async def _api(self, request: web.Request) -> web.Response:
        at = time.monotonic()
        method = request.match_info["method"]
        params = await self._params(request)
        call = Call(method, params, at)
        self.calls.append(call)
        try:
            if request.match_info["token"] != self.token:
                call.status = 401
                return self._error(401, "Unauthorized")
            if method.lower() in _TO_A_CHAT and int(params.get("chat_id", 0) or 0) in self.strangers:
                call.status = 403
                return self._error(403, "Forbidden: bot can't initiate conversation with a user")
            failure = self._injected(method, params)
            if failure is not None:
                call.status = failure.status
                return self._error(failure.status, failure.description, failure.retry_after)
            handler = getattr(self, f"_m_{method.lower()}", None)
            if handler is None:
                call.status = 404
                return self._error(404, "Not Found: method not found")
            try:
                call.result = await handler(params)
            except _ApiError as e:
                call.status = e.status
                return self._error(e.status, e.description, e.retry_after)
            return web.json_response({"ok": True, "result": call.result})
        finally:
            self._notify()

    async def _download(self, request: web.Request) -> web.Response:
        call = Call("file:download", {"path": request.match_info["path"]}, time.monotonic())
        self.calls.append(call)
        self._notify()
        if request.match_info["token"] != self.token:
            call.status = 401
            return web.Response(status=401)
        for f in self._files.values():
            if f.path == request.match_info["path"]:
                return web.Response(body=f.content)
        call.status = 404
        return web.Response(status=404)

    # -- methods --------------------------------------------------------------------------------

    def _visible(self, params: dict[str, Any], key: str = "text") -> str:
        text = str(params.get(key, ""))
        if params.get("parse_mode") == "HTML":
            try:
                text = parse_telegram_html(text)
            except EntityParseError as e:
                raise _ApiError(400, f"Bad Request: {e}") from e
        if _utf16_len(text) > TEXT_LIMIT:
            raise _ApiError(400, "Bad Request: message is too long")
        return text

    def _flood_check(self, chat_id: int) -> None:
        if self.flood_gap_s is None:
            return
        now = time.monotonic()
        last = self._last_send.get(chat_id)
        if last is not None and now - last < self.flood_gap_s:
            raise _ApiError(429, "Too Many Requests: retry after 1", retry_after=1)
        self._last_send[chat_id] = now

    async def _m_getme(self, params: dict[str, Any]) -> dict[str, Any]:
        return {**self.bot_user, "can_join_groups": True, "can_read_all_group_messages": False}

    async def _m_setmycommands(self, params: dict[str, Any]) -> bool:
        if not all(re.fullmatch(r"[a-z0-9_]{1,32}", c["command"]) for c in params.get("commands", [])):
            raise _ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        return True

    async def _m_deletewebhook(self, params: dict[str, Any]) -> bool:
        self.webhook = {}
        return True

    async def _m_setwebhook(self, params: dict[str, Any]) -> bool:
        secret = params.get("secret_token")
        if secret is not None and not re.fullmatch(r"[A-Za-z0-9_-]{1,256}", secret):
            raise _ApiError(400, "Bad Request: secret token contains unallowed characters")
        self.webhook = dict(params)
        return True

    async def _m_getupdates(self, params: dict[str, Any]) -> list[dict[str, Any]]:
        if self.webhook:
            raise _ApiError(409, "Conflict: can't use getUpdates method while webhook is active")
        offset = int(params.get("offset", 0))
        limit = int(params.get("limit", 100))
        wait = min(float(params.get("timeout", 0)), self.max_poll_s)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        while True:
            if offset:  # confirmed updates are forgotten, as Telegram does
                self._updates = [u for u in self._updates if u["update_id"] >= offset]
            pending = [u for u in self._updates if u["update_id"] >= offset][:limit]
            remaining = deadline - loop.time()
            if pending or remaining <= 0:
                return pending
            self._changed.clear()
            try:
                await asyncio.wait_for(self._changed.wait(), remaining)
            except TimeoutError:
                pass

    async def _m_sendmessage(self, params: dict[str, Any]) -> dict[str, Any]:
        chat_id = int(params["chat_id"])
        text = self._visible(params)
        if not text.strip():
            raise _ApiError(400, "Bad Request: message text is empty")
        self._flood_check(chat_id)
        reply = params.get("reply_parameters") or {}
        stored = StoredMessage(
            chat_id,
            next(self._message_ids[chat_id]),
            text,
            raw=str(params["text"]),
            parse_mode=params.get("parse_mode"),
            reply_markup=params.get("reply_markup"),
            reply_to=reply.get("message_id"),
        )
        self.messages[(chat_id, stored.message_id)] = stored
        return self.message_json(stored)

    def _stored(self, params: dict[str, Any]) -> StoredMessage:
        stored = self.messages.get((int(params["chat_id"]), int(params["message_id"])))
        if stored is None or not stored.from_bot:
            raise _ApiError(400, "Bad Request: message to edit not found")
        return stored

    async def _m_editmessagetext(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored(params)
        text = self._visible(params)
        markup = params.get("reply_markup")
        if (str(params["text"]), params.get("parse_mode"), markup) == (
            stored.raw,
            stored.parse_mode,
            stored.reply_markup,
        ):
            raise _ApiError(
                400,
                "Bad Request: message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message",
            )
        self._flood_check(stored.chat_id)
        stored.text, stored.raw, stored.parse_mode, stored.reply_markup = (
            text,
            str(params["text"]),
            params.get("parse_mode"),
            markup,
        )
        stored.edits += 1
        return self.message_json(stored)

    async def _m_editmessagereplymarkup(self, params: dict[str, Any]) -> dict[str, Any]:
        stored = self._stored(params)
        markup = params.get("reply_markup")
        if markup == stored.reply_markup:
            raise _ApiError(400, "Bad Request: message is not modified")
        stored.reply_markup = markup
        return self.message_json(stored)

    async def _m_sendmessagedraft(self, params: dict[str, Any]) -> bool:
        chat_id = int(params["chat_id"])
        if chat_id < 0:
            raise _ApiError(400, "Bad Request: TEXTDRAFT_PEER_INVALID")
        if int(params.get("draft_id", 0)) == 0:
            raise _ApiError(400, "Bad Request: draft_id must be non-zero")
        self.drafts[(chat_id, int(params["draft_id"]))] = self._visible(params)
        return True

    async def _m_sendchataction(self, params: dict[str, Any]) -> bool:
        return True

    async def _m_answercallbackquery(self, params: dict[str, Any]) -> bool:
        if len(str(params.get("text", ""))) > 200:
            raise _ApiError(400, "Bad Request: MESSAGE_TOO_LONG")
        return True

    async def _m_deletemessage(self, params: dict[str, Any]) -> bool:
        return self.messages.pop((int(params["chat_id"]), int(params["message_id"])), None) is not None

    async def _m_getchatmember(self, params: dict[str, Any]) -> dict[str, Any]:
        user_id = int(params["user_id"])
        status = self.members.get((int(params["chat_id"]), user_id), "member")
        member: dict[str, Any] = {"status": status, "user": self.user(user_id)}
        if status == "creator":
            member["is_anonymous"] = False
        elif status == "administrator":
            flags = (
                "can_be_edited is_anonymous can_manage_chat can_delete_messages can_manage_video_chats "
                "can_restrict_members can_promote_members can_change_info can_invite_users can_post_stories "
                "can_edit_stories can_delete_stories can_send_welcome_messages"
            )
            member.update(
                {flag: flag != "can_be_edited" and flag != "is_anonymous" for flag in flags.split()}
            )
        return member

    async def _m_getfile(self, params: dict[str, Any]) -> dict[str, Any]:
        f = self._files.get(str(params["file_id"]))
        if f is None:
            raise _ApiError(400, "Bad Request: invalid file_id")
        if f.size > DOWNLOAD_LIMIT:
            raise _ApiError(400, "Bad Request: file is too big")
        return {"file_id": f.file_id, "file_unique_id": f.unique_id, "file_size": f.size, "file_path": f.path}


class _ApiError(Exception):
    def __init__(self, status: int, description: str, retry_after: int | None = None) -> None:
        super().__init__(description)
        self.status = status
        self.description = description
        self.retry_after = retry_after
