"""Reading the Slack thread a question is asked in: the messages before it, as conversation for
the model (docs/chat.md). ``conversations.replies``, cursor-paginated, once per question.

It needs ``channels:history`` (public channels), ``groups:history`` (private), ``im:history`` and
``mpim:history`` (DMs), and ``files:read`` for files shared in the thread. Whatever Slack refuses
(a missing scope, a channel the bot is not in, a 429: internal apps get Tier 3, about 50 calls a
minute, commercially distributed non-Marketplace apps 1 a minute) is logged and the question is
answered without the thread: the read never holds an answer back."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import aiohttp
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.slack.api_errors import error_code, is_rate_limited
from core.errors import CoreError
from core.models import ConversationMessage
from core.service import RagService

__all__ = ["ThreadReader", "slack_text", "PAGE_SIZE", "MAX_PAGES", "MAX_FILE_BYTES"]

log = logging.getLogger(__name__)

PAGE_SIZE = 200  # Slack advises no more than 200 per page
MAX_PAGES = 5  # a thread longer than 1,000 messages is read as far as that
MAX_FILE_BYTES = 2 * 1024 * 1024  # a file shared in a thread is read as context up to this size
_SKIPPED_SUBTYPES = {"channel_join", "channel_leave", "message_deleted", "message_changed", "tombstone"}
_SLACK_FILE_HOSTS = ("files.slack.com", "slack-files.com", "files-edu.slack.com", "files-gov.slack.com")


def slack_text(text: str, bot_user_id: str) -> str:
    """A message's mrkdwn as a person reads it: the bot's own mention removed, ``<@U1>`` as
    ``@U1``, links as ``label (url)``, channels as ``#name``, ``&amp;`` and friends decoded."""
    if bot_user_id:
        text = re.sub(rf"<@{re.escape(bot_user_id)}(?:\|[^>]*)?>", " ", text)
    text = re.sub(r"<@([A-Z0-9]+)(?:\|([^>]*))?>", lambda m: f"@{m.group(2) or m.group(1)}", text)
    text = re.sub(r"<#[A-Z0-9]+\|([^>]*)>", r"#\1", text)
    text = re.sub(r"<!(\w+)(?:\|[^>]*)?>", r"@\1", text)
    text = re.sub(r"<((?:https?|mailto):[^|>]+)\|([^>]+)>", r"\2 (\1)", text)
    text = re.sub(r"<((?:https?|mailto):[^>]+)>", r"\1", text)
    text = text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    return re.sub(r"[ \t]+", " ", text).strip()


@dataclass(frozen=True)
class _Page:
    messages: list[dict[str, Any]]
    cursor: str


class ThreadReader:
    def __init__(
        self,
        service: RagService,
        client: AsyncWebClient,
        *,
        token: str,
        bot_user_id: Callable[[], str],
        session: Callable[[], aiohttp.ClientSession | None],
    ) -> None:
        self.service = service
        self.client = client  # without a retry handler: a 429 comes back at once, never waits
        self.token = token
        self.bot_user_id = bot_user_id
        self.session = session
        # the token goes only to Slack's own hosts (and to the API host, which tests point at a local Slack)
        api_host = urlsplit(client.base_url).hostname or ""
        self._file_hosts = (*_SLACK_FILE_HOSTS, api_host)

    async def read(self, channel: str, thread_ts: str, before_ts: str) -> list[ConversationMessage]:
        """The thread's messages before ``before_ts`` (the question), oldest first, without the
        bot's own (its answers are the conversation's history already)."""
        raw: list[dict[str, Any]] = []
        cursor = ""
        for _ in range(MAX_PAGES):
            page = await self._page(channel, thread_ts, before_ts, cursor)
            if page is None:
                break
            raw += page.messages
            cursor = page.cursor
            if not cursor:
                break
        else:
            log.info("slack.thread_truncated channel=%s thread=%s read=%d", channel, thread_ts, len(raw))
        out: list[ConversationMessage] = []
        bot = self.bot_user_id()
        for message in raw:
            if message.get("ts") == before_ts or message.get("subtype") in _SKIPPED_SUBTYPES:
                continue
            if bot and message.get("user") == bot:
                continue
            author = message.get("user") or message.get("username") or message.get("bot_id") or "someone"
            text = slack_text(message.get("text", ""), bot)
            if text:
                out.append(ConversationMessage(author, text))
            for shared in message.get("files") or ():
                read = await self._file(shared)
                if read:
                    out.append(ConversationMessage(author, f"[file {shared.get('name', '')}]\n{read}"))
        log.info("slack.thread_read channel=%s thread=%s messages=%d", channel, thread_ts, len(out))
        return out

    async def _page(self, channel: str, thread_ts: str, before_ts: str, cursor: str) -> _Page | None:
        try:
            response = await self.client.conversations_replies(
                channel=channel,
                ts=thread_ts,
                latest=before_ts,
                inclusive=False,
                limit=PAGE_SIZE,
                cursor=cursor or None,
            )
        except SlackApiError as e:
            if is_rate_limited(e):
                retry = e.response.headers.get("Retry-After", "?") if e.response is not None else "?"
                log.warning(
                    "slack.thread_unread channel=%s reason=ratelimited retry_after=%s: answering without the thread",
                    channel,
                    retry,
                )
            else:
                code = error_code(e)
                hint = (
                    " (add channels:history / groups:history and reinstall)"
                    if code == "missing_scope"
                    else ""
                )
                log.warning(
                    "slack.thread_unread channel=%s reason=%s%s: answering without the thread",
                    channel,
                    code,
                    hint,
                )
            return None
        next_cursor = (response.get("response_metadata") or {}).get("next_cursor") or ""
        return _Page(list(response.get("messages") or []), next_cursor if response.get("has_more") else "")

    async def _file(self, shared: dict[str, Any]) -> str | None:
        """A file shared in the thread, as text (``RagService.read_attachment``); None, logged,
        when it cannot be read: too large, not text, not ours to fetch."""
        name = str(shared.get("name") or shared.get("title") or "file")
        url = shared.get("url_private_download") or shared.get("url_private") or ""
        size = int(shared.get("size") or 0)
        if size > MAX_FILE_BYTES:
            log.info("slack.file_skipped name=%s reason=too_large size=%d", name, size)
            return None
        if urlsplit(url).hostname not in self._file_hosts:
            log.warning("slack.file_skipped name=%s reason=foreign_host", name)
            return None
        session = self.session()
        if session is None:
            return None
        try:
            timeout = aiohttp.ClientTimeout(total=15)
            headers = {"Authorization": f"Bearer {self.token}"}
            async with session.get(url, headers=headers, timeout=timeout) as response:
                body = await response.content.read(MAX_FILE_BYTES + 1)
                media_type = response.headers.get("Content-Type", "")
            if response.status != 200:
                log.warning("slack.file_unreadable name=%s status=%d", name, response.status)
                return None
            if media_type.startswith("text/html") and not str(shared.get("mimetype", "")).startswith(
                "text/html"
            ):
                # Slack's sign-in page instead of the file: the token lacks files:read
                log.warning("slack.file_unreadable name=%s reason=not_authorised (add files:read)", name)
                return None
            return await self.service.read_attachment(
                name, body, media_type=str(shared.get("mimetype") or "") or None, max_bytes=MAX_FILE_BYTES
            )
        except CoreError as e:
            log.info("slack.file_unreadable name=%s reason=%s", name, e.code)
        except (aiohttp.ClientError, TimeoutError) as e:
            log.warning("slack.file_unreadable name=%s reason=%s", name, type(e).__name__)
        return None
