"""A local Slack for tests and benchmarks: it serves the Web API that slack_sdk's real
``AsyncWebClient`` calls (``/api/<method>``, JSON or form bodies, ``ok``/``error`` answers, 429 with
Retry-After), answers ``response_url`` posts, offers a Socket Mode websocket, and sends the app
signed events, interactions and slash commands the way Slack does.

Every call is recorded with the time it arrived, so tests wait on what the bot did
(``wait_for``) instead of sleeping, and benchmarks count calls per minute. Messages are kept
(text, blocks, streamed Markdown), so a test can read the thread as a person would see it.
Shipped in the package (like ``core.testing``) because ``ragbot bench slack`` runs against it."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

__all__ = ["ApiCall", "FakeMessage", "FakeSlack", "Delivery"]


@dataclass
class ApiCall:
    method: str
    args: dict[str, Any]
    at: float  # time.monotonic() when it arrived
    status: int = 200
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200 and self.error is None


@dataclass
class FakeMessage:
    channel: str
    ts: str
    text: str = ""
    blocks: list[dict[str, Any]] = field(default_factory=list)
    thread_ts: str | None = None
    user: str = ""
    streaming: bool = False  # a native stream that has not been stopped
    streamed: bool = False  # created by chat.startStream
    ephemeral_to: str | None = None
    files: list[dict[str, Any]] = field(default_factory=list)  # files shared with the message

    def block_text(self) -> str:
        """Everything a person reads in the message: text of sections and context elements."""
        out = []
        for block in self.blocks:
            if isinstance(block.get("text"), dict):
                out.append(block["text"].get("text", ""))
            for element in block.get("elements", []):
                if element.get("type") == "mrkdwn":
                    out.append(element.get("text", ""))
        return "\n".join(out)

    def buttons(self) -> list[dict[str, Any]]:
        return [e for b in self.blocks if b.get("type") == "actions" for e in b.get("elements", [])]


@dataclass(frozen=True)
class Delivery:
    """The app's HTTP answer to something Slack sent it."""

    status: int
    body: str


class FakeSlack:
    def __init__(
        self,
        *,
        token: str = "xoxb-fake-token",
        app_token: str = "xapp-fake-token",
        signing_secret: str = "fake-signing-secret",
        team_id: str = "T0FAKE",
        bot_user_id: str = "U0BOT",
        bot_id: str = "B0BOT",
        workspace_admins: Iterable[str] = (),
    ) -> None:
        self.token = token
        self.app_token = app_token
        self.signing_secret = signing_secret
        self.team_id = team_id
        self.bot_user_id = bot_user_id
        self.bot_id = bot_id
        self.workspace_admins = set(workspace_admins)
        self.calls: list[ApiCall] = []
        self.messages: dict[str, FakeMessage] = {}  # ts -> message
        self.statuses: list[tuple[str, str, str]] = []  # (channel, thread_ts, status)
        self.views: list[dict[str, Any]] = []
        self.home_views: dict[str, dict[str, Any]] = {}  # user -> the App Home view published for them
        self.suggested_prompts: list[dict[str, Any]] = []  # assistant.threads.setSuggestedPrompts calls
        self.titles: dict[tuple[str, str], str] = {}  # (channel, thread_ts) -> assistant thread title
        self.files: dict[str, tuple[dict[str, Any], bytes]] = {}  # file id -> (file object, content)
        self.replies_page_max = 1000  # conversations.replies' largest page (non-Marketplace apps: 15)
        self._delays: dict[str, float] = {}
        self._response_targets: dict[str, str] = {}  # response_url key -> ts of the message it acts on
        self.socket_acks: list[dict[str, Any]] = []
        self._refused: dict[str, str] = {}
        self._rate_rules: list[tuple[str, Callable[[int], bool], float]] = []
        self._tier_limits: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._ts = itertools.count(1)
        self._changed = asyncio.Condition()
        self._runner: web.AppRunner | None = None
        self._sockets: list[web.WebSocketResponse] = []
        self._socket_connected = asyncio.Event()
        self._session: aiohttp.ClientSession | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------------------

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/api/{method}", self._api)
        app.router.add_get("/api/{method}", self._api)  # users.info and a few others are GETs
        app.router.add_post("/respond/{key}", self._respond)
        app.router.add_get("/files/{file_id}/{name}", self._file)
        app.router.add_get("/socket", self._socket)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._session = aiohttp.ClientSession()

    async def aclose(self) -> None:
        for ws in list(self._sockets):
            await ws.close()
        if self._session is not None:
            await self._session.close()
        if self._runner is not None:
            await self._runner.cleanup()

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/api/"  # the trailing slash matters to slack_sdk

    def response_url(self, key: str = "r1") -> str:
        return f"http://127.0.0.1:{self.port}/respond/{key}"

    # -- behaviour knobs ------------------------------------------------------------------------

    def refuse(self, method: str, error: str = "not_allowed") -> None:
        """Every call of ``method`` fails with ``error`` (a workspace without the feature)."""
        self._refused[method] = error

    def rate_limit(self, method: str, which: Callable[[int], bool], retry_after: float = 1.0) -> None:
        """Answer 429 + Retry-After to the n-th call of ``method`` (1-based) when ``which(n)``."""
        self._rate_rules.append((method, which, retry_after))

    def delay(self, method: str, seconds: float) -> None:
        """Answer ``method`` only after ``seconds``: the round trip to Slack's servers (benchmarks)."""
        self._delays[method] = seconds

    def enforce_tier(self, method: str, per_minute: int) -> None:
        """Behave like Slack's tiers: 429 once ``method`` was called ``per_minute`` times in
        the last 60 s (the app then over-spent its budget)."""
        self._tier_limits[method] = per_minute

    # -- what happened --------------------------------------------------------------------------

    def calls_of(self, *methods: str) -> list[ApiCall]:
        return [c for c in self.calls if c.method in methods]

    def thread(self, channel: str, thread_ts: str) -> list[FakeMessage]:
        """The bot's visible messages in a thread, oldest first (ephemeral ones excluded)."""
        return [
            m
            for m in self.messages.values()
            if m.channel == channel
            and m.thread_ts == thread_ts
            and m.ephemeral_to is None
            and m.user == self.bot_user_id
        ]

    def conversation(self, channel: str, thread_ts: str) -> list[FakeMessage]:
        """Everything people see in a thread, the parent first, in the order of their ts."""
        found = [
            m
            for m in self.messages.values()
            if m.channel == channel and m.ephemeral_to is None and thread_ts in (m.ts, m.thread_ts)
        ]
        return sorted(found, key=lambda m: float(m.ts))

    # -- what people do in Slack ----------------------------------------------------------------

    def say(
        self,
        text: str,
        *,
        channel: str,
        user: str,
        ts: str,
        thread_ts: str | None = None,
        files: Iterable[dict[str, Any]] = (),
    ) -> dict[str, Any]:
        """A person posts a message (kept, so ``conversations.replies`` returns it); returns the
        ``message`` event Slack sends the app about it."""
        shared = list(files)
        self.messages[ts] = FakeMessage(channel, ts, text, [], thread_ts, user, files=shared)
        extra: dict[str, Any] = {"files": shared, "subtype": "file_share"} if shared else {}
        return self.message(text, channel=channel, user=user, ts=ts, thread_ts=thread_ts, **extra)

    def upload(self, name: str, content: bytes, *, mimetype: str = "text/plain") -> dict[str, Any]:
        """A file a person shares: the file object as events carry it. Downloading its
        ``url_private_download`` needs the bot token (``files:read``); without it Slack answers
        with its sign-in page, as the real one does."""
        file_id = f"F{len(self.files) + 1:05d}"
        url = f"http://127.0.0.1:{self.port}/files/{file_id}/{name}"
        info = {
            "id": file_id,
            "name": name,
            "title": name,
            "mimetype": mimetype,
            "filetype": name.rsplit(".", 1)[-1] if "." in name else "text",
            "size": len(content),
            "url_private": url,
            "url_private_download": url + "?download=1",
        }
        self.files[file_id] = (info, content)
        return info

    def ephemeral(self, user: str) -> list[FakeMessage]:
        return [m for m in self.messages.values() if m.ephemeral_to == user]

    async def wait_for(self, condition: Callable[[], Any], seconds: float = 10.0) -> Any:
        """Wait until ``condition()`` is truthy (re-checked after every recorded call); returns it."""
        async with asyncio.timeout(seconds):
            async with self._changed:
                while not (result := condition()):
                    await self._changed.wait()
                return result

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    # -- the Web API ----------------------------------------------------------------------------

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        args = await _read_args(request)
        token = request.headers.get("Authorization", "").removeprefix("Bearer ").strip() or args.pop(
            "token", ""
        )
        call = ApiCall(method, args, time.monotonic())
        self.calls.append(call)
        self._counts[method] = n = self._counts.get(method, 0) + 1
        try:
            expected = self.app_token if method == "apps.connections.open" else self.token
            if token != expected:
                return self._error(call, "invalid_auth")
            for rule_method, which, retry_after in self._rate_rules:
                if rule_method == method and which(n):
                    return self._ratelimited(call, retry_after)
            limit = self._tier_limits.get(method)
            if limit is not None:
                recent = [
                    c.at for c in self.calls[:-1] if c.method == method and c.ok and call.at - c.at < 60.0
                ]
                if len(recent) >= limit:
                    return self._ratelimited(call, max(1.0, 60.0 - (call.at - recent[-limit])))
            if method in self._refused:
                return self._error(call, self._refused[method])
            handler = getattr(self, "_m_" + method.replace(".", "_"), None)
            if handler is None:
                return self._error(call, "unknown_method")
            if method in self._delays:
                await asyncio.sleep(self._delays[method])
            result = handler(args)
            if "error" in result:
                return self._error(call, result["error"])
            return web.json_response({"ok": True, **result})
        finally:
            await self._notify()

    def _error(self, call: ApiCall, error: str) -> web.Response:
        call.error = error
        return web.json_response({"ok": False, "error": error})

    def _ratelimited(self, call: ApiCall, retry_after: float) -> web.Response:
        call.status, call.error = 429, "ratelimited"
        return web.json_response(
            {"ok": False, "error": "ratelimited"},
            status=429,
            headers={"Retry-After": str(int(round(retry_after)))},
        )

    def _new_ts(self) -> str:
        return f"1700000000.{next(self._ts):06d}"

    def _m_auth_test(self, args: dict[str, Any]) -> dict[str, Any]:
        return {
            "url": "https://fake.slack.test/",
            "team": "Fake Team",
            "user": "ragbot",
            "team_id": self.team_id,
            "user_id": self.bot_user_id,
            "bot_id": self.bot_id,
            "is_enterprise_install": False,
        }

    def _m_chat_postMessage(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel"):
            return {"error": "channel_not_found"}
        if not args.get("text") and not args.get("blocks"):
            return {"error": "no_text"}
        if len(args.get("text") or "") > 40_000:
            return {"error": "msg_too_long"}
        if error := _check_blocks(args.get("blocks")):
            return {"error": error}
        ts = self._post(args)
        return {"channel": args["channel"], "ts": ts, "message": {"text": args.get("text"), "ts": ts}}

    def _post(self, args: dict[str, Any], **extra: Any) -> str:
        """Keep a message the bot posted with these arguments; its ts."""
        ts = self._new_ts()
        self.messages[ts] = FakeMessage(
            args["channel"],
            ts,
            args.get("text") or "",
            list(args.get("blocks") or []),
            args.get("thread_ts"),
            self.bot_user_id,
            **extra,
        )
        return ts

    def _m_chat_update(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(args.get("ts", ""))
        if message is None or message.channel != args.get("channel"):
            return {"error": "message_not_found"}
        if message.streamed:
            return {"error": "cant_update_message"}
        if error := _check_blocks(args.get("blocks")):
            return {"error": error}
        if "text" in args:
            message.text = args["text"] or ""
        if "blocks" in args:
            message.blocks = list(args["blocks"] or [])
        return {"channel": message.channel, "ts": message.ts, "text": message.text}

    def _m_chat_delete(self, args: dict[str, Any]) -> dict[str, Any]:
        if self.messages.pop(args.get("ts", ""), None) is None:
            return {"error": "message_not_found"}
        return {"channel": args.get("channel"), "ts": args.get("ts")}

    def _m_chat_postEphemeral(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel") or not args.get("user"):
            return {"error": "channel_not_found" if not args.get("channel") else "user_not_in_channel"}
        if not args.get("text") and not args.get("blocks"):
            return {"error": "no_text"}
        if error := _check_blocks(args.get("blocks")):
            return {"error": error}
        ts = self._post(args, ephemeral_to=args["user"])
        return {"message_ts": ts}

    def _m_conversations_replies(self, args: dict[str, Any]) -> dict[str, Any]:
        """A thread, oldest first, cursor-paginated; ``latest``/``oldest`` bound it (exclusive
        unless ``inclusive``)."""
        channel, ts = args.get("channel", ""), args.get("ts", "")
        if not channel:
            return {"error": "channel_not_found"}
        thread = self.conversation(channel, ts)
        if not thread:
            return {"error": "thread_not_found"}
        inclusive = str(args.get("inclusive", "")).lower() in ("1", "true")
        if latest := args.get("latest"):
            thread = [m for m in thread if float(m.ts) < float(latest) or (inclusive and m.ts == latest)]
        if oldest := args.get("oldest"):
            thread = [m for m in thread if float(m.ts) > float(oldest) or (inclusive and m.ts == oldest)]
        limit = min(int(args.get("limit") or 1000), self.replies_page_max)
        start = int(args["cursor"].removeprefix("cur:")) if args.get("cursor") else 0
        page = thread[start : start + limit]
        more = start + limit < len(thread)
        return {
            "messages": [self._as_event_message(m, ts) for m in page],
            "has_more": more,
            "response_metadata": {"next_cursor": f"cur:{start + limit}" if more else ""},
        }

    def _as_event_message(self, m: FakeMessage, thread_ts: str) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "message", "ts": m.ts, "text": m.text, "thread_ts": thread_ts}
        if m.user == self.bot_user_id:
            out |= {"user": m.user, "bot_id": self.bot_id, "app_id": "A0FAKE"}
        else:
            out |= {"user": m.user, "team": self.team_id}
        if m.blocks:
            out["blocks"] = m.blocks
        if m.files:
            out["files"] = m.files
        return out

    def _m_assistant_threads_setSuggestedPrompts(self, args: dict[str, Any]) -> dict[str, Any]:
        prompts = args.get("prompts")
        if not args.get("channel_id") or not isinstance(prompts, list) or not prompts:
            return {"error": "invalid_arguments"}
        if len(prompts) > 4 or any(not p.get("title") or not p.get("message") for p in prompts):
            return {"error": "invalid_arguments"}
        self.suggested_prompts.append(args)
        return {}

    def _m_assistant_threads_setTitle(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel_id") or not args.get("thread_ts") or not args.get("title"):
            return {"error": "invalid_arguments"}
        self.titles[(args["channel_id"], args["thread_ts"])] = args["title"]
        return {}

    def _m_views_publish(self, args: dict[str, Any]) -> dict[str, Any]:
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        if not args.get("user_id") or not isinstance(view, dict) or view.get("type") != "home":
            return {"error": "invalid_arguments"}
        if len(view.get("blocks") or []) > 100:
            return {"error": "invalid_blocks"}
        self.home_views[args["user_id"]] = view
        return {"view": {"id": f"VH{len(self.home_views)}", **view}}

    def _m_chat_startStream(self, args: dict[str, Any]) -> dict[str, Any]:
        channel = args.get("channel", "")
        if not args.get("thread_ts"):
            return {"error": "invalid_arguments"}
        if not channel.startswith("D") and not args.get("recipient_user_id"):
            return {"error": "missing_recipient_user_id"}
        if not channel.startswith("D") and not args.get("recipient_team_id"):
            return {"error": "missing_recipient_team_id"}
        if len(args.get("markdown_text") or "") > 12_000:
            return {"error": "msg_too_long"}
        ts = self._new_ts()
        self.messages[ts] = FakeMessage(
            channel,
            ts,
            args.get("markdown_text") or "",
            [],
            args["thread_ts"],
            self.bot_user_id,
            streaming=True,
            streamed=True,
        )
        return {"channel": channel, "ts": ts}

    def _m_chat_appendStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(args.get("ts", ""))
        if message is None:
            return {"error": "message_not_found"}
        if not message.streaming:
            return {"error": "message_not_in_streaming_state"}
        if len(args.get("markdown_text") or "") > 12_000:
            return {"error": "msg_too_long"}
        message.text += args.get("markdown_text") or ""
        return {"channel": message.channel, "ts": message.ts}

    def _m_chat_stopStream(self, args: dict[str, Any]) -> dict[str, Any]:
        message = self.messages.get(args.get("ts", ""))
        if message is None:
            return {"error": "message_not_found"}
        if not message.streaming:
            return {"error": "message_not_in_streaming_state"}
        if error := _check_blocks(args.get("blocks")):
            return {"error": error}
        message.text += args.get("markdown_text") or ""
        message.blocks = list(args.get("blocks") or [])
        message.streaming = False
        return {"channel": message.channel, "ts": message.ts, "message": {"text": message.text}}

    def _m_assistant_threads_setStatus(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("channel_id") or not args.get("thread_ts"):
            return {"error": "invalid_arguments"}
        self.statuses.append((args["channel_id"], args["thread_ts"], args.get("status", "")))
        return {}

    def _m_users_info(self, args: dict[str, Any]) -> dict[str, Any]:
        user = args.get("user", "")
        admin = user in self.workspace_admins
        return {"user": {"id": user, "team_id": self.team_id, "is_admin": admin, "is_owner": False}}

    def _m_conversations_open(self, args: dict[str, Any]) -> dict[str, Any]:
        users = str(args.get("users", ""))
        return {"channel": {"id": "D" + users.split(",")[0]}}

    def _m_views_open(self, args: dict[str, Any]) -> dict[str, Any]:
        if not args.get("trigger_id"):
            return {"error": "invalid_trigger_id"}
        view = args.get("view")
        view = json.loads(view) if isinstance(view, str) else view
        self.views.append(view)
        return {"view": {"id": f"V{len(self.views)}", **view}}

    def _m_apps_connections_open(self, args: dict[str, Any]) -> dict[str, Any]:
        return {"url": f"ws://127.0.0.1:{self.port}/socket"}

    async def _file(self, request: web.Request) -> web.Response:
        """A file download: the content with the bot token, Slack's sign-in page without it."""
        call = ApiCall("file_download", {"file": request.match_info["file_id"]}, time.monotonic())
        self.calls.append(call)
        try:
            found = self.files.get(request.match_info["file_id"])
            if found is None:
                call.status = 404
                return web.Response(status=404, text="not found")
            if request.headers.get("Authorization", "") != f"Bearer {self.token}":
                call.error = "not_authed"
                return web.Response(
                    text="<html><body>Sign in to Slack</body></html>", content_type="text/html"
                )
            info, content = found
            return web.Response(body=content, content_type=info["mimetype"])
        finally:
            await self._notify()

    async def _respond(self, request: web.Request) -> web.Response:
        """A ``response_url``: records the reply; ``delete_original`` and ``replace_original`` act
        on the message the interaction came from (``button_click`` remembers it), anything else
        is kept as a new ephemeral message."""
        body = await request.json()
        key = request.match_info["key"]
        call = ApiCall("response_url", {"key": key, **body}, time.monotonic())
        self.calls.append(call)
        target = self.messages.get(self._response_targets.get(key, ""))
        if target is not None and body.get("delete_original"):
            del self.messages[target.ts]
            await self._notify()
            return web.Response(text="ok")
        if target is not None and body.get("replace_original"):
            target.text = body.get("text", "")
            target.blocks = list(body.get("blocks") or [])
            await self._notify()
            return web.Response(text="ok")
        ts = self._new_ts()
        self.messages[ts] = FakeMessage(
            "",
            ts,
            body.get("text", ""),
            list(body.get("blocks") or []),
            ephemeral_to=request.match_info["key"],
        )
        await self._notify()
        return web.Response(text="ok")

    # -- Socket Mode ----------------------------------------------------------------------------

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._sockets.append(ws)
        await ws.send_json({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"}})
        self._socket_connected.set()
        try:
            async for msg in ws:
                if msg.type == aiohttp.WSMsgType.TEXT:
                    self.socket_acks.append(json.loads(msg.data))
                    await self._notify()
        finally:
            self._sockets.remove(ws)
        return ws

    async def send_socket_event(self, body: dict[str, Any], *, envelope_id: str) -> None:
        """Deliver an Events API payload over the Socket Mode connection."""
        await asyncio.wait_for(self._socket_connected.wait(), 10.0)
        envelope = {
            "envelope_id": envelope_id,
            "type": "events_api",
            "payload": body,
            "accepts_response_payload": False,
        }
        await self._sockets[-1].send_json(envelope)

    # -- sending to the app, signed -------------------------------------------------------------

    def signed_headers(
        self, body: str, *, timestamp: int | None = None, secret: str | None = None
    ) -> dict[str, str]:
        ts = str(int(time.time()) if timestamp is None else timestamp)
        signature = SignatureVerifier(secret or self.signing_secret).generate_signature(
            timestamp=ts, body=body
        )
        return {"X-Slack-Request-Timestamp": ts, "X-Slack-Signature": signature}

    async def post_to_app(
        self,
        url: str,
        body: str,
        content_type: str,
        *,
        retry_num: int | None = None,
        timestamp: int | None = None,
        secret: str | None = None,
        signed: bool = True,
    ) -> Delivery:
        headers = {"Content-Type": content_type}
        if signed:
            headers |= self.signed_headers(body, timestamp=timestamp, secret=secret)
        if retry_num is not None:
            headers |= {"X-Slack-Retry-Num": str(retry_num), "X-Slack-Retry-Reason": "http_timeout"}
        assert self._session is not None, "start() the fake first"
        async with self._session.post(url, data=body.encode(), headers=headers) as response:
            return Delivery(response.status, await response.text())

    async def send_event(self, url: str, event: dict[str, Any], *, event_id: str, **kwargs: Any) -> Delivery:
        return await self.post_to_app(
            url, json.dumps(self.event_body(event, event_id=event_id)), "application/json", **kwargs
        )

    async def send_command(self, url: str, fields: dict[str, str], **kwargs: Any) -> Delivery:
        return await self.post_to_app(url, urlencode(fields), "application/x-www-form-urlencoded", **kwargs)

    async def send_interaction(self, url: str, payload: dict[str, Any], **kwargs: Any) -> Delivery:
        body = urlencode({"payload": json.dumps(payload)})
        return await self.post_to_app(url, body, "application/x-www-form-urlencoded", **kwargs)

    # -- payloads as Slack builds them ----------------------------------------------------------

    def event_body(self, event: dict[str, Any], *, event_id: str) -> dict[str, Any]:
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "api_app_id": "A0FAKE",
            "event": event,
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "authorizations": [
                {
                    "team_id": self.team_id,
                    "user_id": self.bot_user_id,
                    "is_bot": True,
                    "is_enterprise_install": False,
                }
            ],
            "is_ext_shared_channel": False,
        }

    def mention(
        self, text: str, *, channel: str, user: str, ts: str, thread_ts: str | None = None
    ) -> dict[str, Any]:
        """The ``app_mention`` event of a person's message that mentions the bot; the message is
        kept like any other (a later ``conversations.replies`` of its thread returns it)."""
        self.messages[ts] = FakeMessage(channel, ts, f"<@{self.bot_user_id}> {text}", [], thread_ts, user)
        event = {
            "type": "app_mention",
            "user": user,
            "text": f"<@{self.bot_user_id}> {text}",
            "ts": ts,
            "channel": channel,
            "team": self.team_id,
            "event_ts": ts,
        }
        return event | ({"thread_ts": thread_ts} if thread_ts else {})

    def message(
        self,
        text: str,
        *,
        channel: str,
        user: str,
        ts: str,
        thread_ts: str | None = None,
        channel_type: str = "channel",
        **extra: Any,
    ) -> dict[str, Any]:
        event = {
            "type": "message",
            "user": user,
            "text": text,
            "ts": ts,
            "channel": channel,
            "channel_type": channel_type,
            "team": self.team_id,
            "event_ts": ts,
        }
        return event | ({"thread_ts": thread_ts} if thread_ts else {}) | extra

    def assistant_thread_started(
        self, *, user: str, channel: str, thread_ts: str, context_channel: str | None = None
    ) -> dict[str, Any]:
        """A person opened the app's assistant container (a new assistant thread in their DM)."""
        context = {"channel_id": context_channel, "team_id": self.team_id} if context_channel else {}
        return {
            "type": "assistant_thread_started",
            "assistant_thread": {
                "user_id": user,
                "context": context,
                "channel_id": channel,
                "thread_ts": thread_ts,
            },
            "event_ts": thread_ts,
        }

    def app_home_opened(self, *, user: str, tab: str = "home") -> dict[str, Any]:
        return {
            "type": "app_home_opened",
            "user": user,
            "channel": "D" + user,
            "tab": tab,
            "event_ts": str(time.time()),
        }

    def command(self, text: str, *, user: str, channel: str, response_key: str = "r1") -> dict[str, str]:
        return {
            "token": "legacy-verification-token",
            "team_id": self.team_id,
            "team_domain": "fake",
            "channel_id": channel,
            "channel_name": "general",
            "user_id": user,
            "user_name": user.lower(),
            "command": "/ragbot",
            "text": text,
            "api_app_id": "A0FAKE",
            "response_url": self.response_url(response_key),
            "trigger_id": "1337.42.abcd",
        }

    def button_click(
        self, message: FakeMessage, button: dict[str, Any], *, user: str, response_key: str = "r1"
    ) -> dict[str, Any]:
        """The ``block_actions`` payload of a click on ``button`` in ``message``."""
        block_id = next(b.get("block_id", "") for b in message.blocks if button in b.get("elements", []))
        self._response_targets[response_key] = message.ts
        container = {
            "type": "message",
            "message_ts": message.ts,
            "channel_id": message.channel,
            "is_ephemeral": message.ephemeral_to is not None,
        } | ({"thread_ts": message.thread_ts} if message.thread_ts else {})
        payload: dict[str, Any] = {
            "type": "block_actions",
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": "A0FAKE",
            "token": "legacy-verification-token",
            "container": container,
            "trigger_id": "1337.42.abcd",
            "team": {"id": self.team_id, "domain": "fake"},
            "channel": {"id": message.channel, "name": "general"},
            "response_url": self.response_url(response_key),
            "actions": [
                {
                    "type": "button",
                    "action_id": button["action_id"],
                    "block_id": block_id,
                    "text": button["text"],
                    "value": button["value"],
                    "action_ts": str(time.time()),
                }
            ],
        }
        if message.ephemeral_to is None:
            payload["message"] = {
                "type": "message",
                "ts": message.ts,
                "text": message.text,
                "blocks": message.blocks,
                "user": message.user,
            } | ({"thread_ts": message.thread_ts} if message.thread_ts else {})
        return payload

    def view_submission(
        self, view: dict[str, Any], *, user: str, values: dict[str, dict[str, Any]]
    ) -> dict[str, Any]:
        return {
            "type": "view_submission",
            "team": {"id": self.team_id, "domain": "fake"},
            "user": {"id": user, "username": user.lower(), "team_id": self.team_id},
            "api_app_id": "A0FAKE",
            "token": "legacy-verification-token",
            "trigger_id": "1337.43.abcd",
            "view": {
                "id": "V1",
                "team_id": self.team_id,
                "type": "modal",
                "callback_id": view["callback_id"],
                "private_metadata": view.get("private_metadata", ""),
                "blocks": view.get("blocks", []),
                "state": {"values": values},
            },
        }


async def _read_args(request: web.Request) -> dict[str, Any]:
    """slack_sdk sends JSON for some methods, and query or form fields for others; complex
    values there (blocks, view) are JSON strings."""
    args: dict[str, Any] = {}
    if request.method == "GET":
        return dict(request.query)
    if request.content_type == "application/json":
        return dict(request.query) | dict(await request.json())
    form = await request.post()
    for key, value in itertools.chain(request.query.items(), form.items()):
        if isinstance(value, str) and key in ("blocks", "view", "attachments", "metadata"):
            try:
                args[key] = json.loads(value)
                continue
            except ValueError:
                pass
        args[key] = value
    return args


def _check_blocks(blocks: Any) -> str | None:
    """The Block Kit limits Slack enforces with ``invalid_blocks``."""
    if not blocks:
        return None
    if len(blocks) > 50:
        return "invalid_blocks"
    for block in blocks:
        text = block.get("text")
        if block.get("type") == "section" and isinstance(text, dict) and len(text.get("text", "")) > 3000:
            return "invalid_blocks"
    return None
