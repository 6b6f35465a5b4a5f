"""How one answer appears in a Slack thread: the ``ReplySink`` for ``StreamingReply``.

In order of preference:
1. a sign of work at once: ``assistant.threads.setStatus`` ("is thinking…" under the thread),
   else a placeholder message "Looking through the documents…";
2. the text as it is written: Slack's native streaming (``chat.startStream`` /
   ``chat.appendStream`` / ``chat.stopStream``), else throttled ``chat.update`` of one message;
3. the final answer with sources and 👍/👎 - always, complete, after any rate limit.

What a workspace refused (no streaming, no status) is remembered in ``WorkspaceFeatures`` so
later answers go straight to the fallback. A 429 becomes ``RetryLater``: ``StreamingReply``
then blocks the shared budget and calls ``finish`` again, which resumes where it stopped."""

from __future__ import annotations

import logging
import re
from collections import defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.messages import queued_text, working_text
from bot.chat.ratelimit import RateLimits, TokenBucket
from bot.slack.api_errors import error_code, is_rate_limited, is_refusal, retry_later
from bot.slack.blocks import MessagePart, answer_footer, answer_parts
from bot.slack.mrkdwn import escape
from core.models import Answer

__all__ = [
    "STREAM_CHARS",
    "defuse",
    "ReplyPlace",
    "WorkspaceFeatures",
    "Features",
    "SlackReplySink",
    "Budgets",
    "SinkBudget",
]

log = logging.getLogger(__name__)

# What one streamed message carries (chat.appendStream takes up to 12,000 characters per call;
# keeping the whole streamed message under that keeps every call valid). The rest of a longer
# answer follows as ordinary thread replies.
STREAM_CHARS = 11_000


@dataclass(frozen=True)
class ReplyPlace:
    """Where the answer goes and for whom (native streaming in channels needs the recipient)."""

    channel_id: str
    thread_ts: str
    user_id: str
    team_id: str
    lang: str = "en"


@dataclass
class WorkspaceFeatures:
    """What the workspace allowed so far; None: not tried yet."""

    status: bool | None = None
    streaming: bool | None = None


class Features:
    def __init__(self) -> None:
        self._by_team: dict[str, WorkspaceFeatures] = defaultdict(WorkspaceFeatures)

    def __getitem__(self, team_id: str) -> WorkspaceFeatures:
        return self._by_team[team_id]


Step = Callable[[], Awaitable[None]]

_SPECIAL = re.compile(r"<(?=[!@#])")


def defuse(markdown: str) -> str:
    """Streamed Markdown is not escaped like mrkdwn, so a ``<!channel>`` or ``<@U123>`` quoted
    from a document would notify people: a zero-width space after the ``<`` keeps it as text.
    Only inserts after the ``<``, so the defused prefix of a text is a prefix of the whole."""
    return _SPECIAL.sub("<\u200b", markdown)


@dataclass
class _Final:
    """The calls that deliver the final answer, run in order; a 429 resumes at ``next``."""

    steps: list[Step] = field(default_factory=list)
    next: int = 0
    post_only: bool = False


class SlackReplySink:
    def __init__(self, client: AsyncWebClient, place: ReplyPlace, features: WorkspaceFeatures) -> None:
        self.client = client  # without a rate-limit retry handler: 429s come back to us
        self.place = place
        self.features = features
        self.status_shown = False
        self.message_ts: str | None = None  # placeholder / chat.update message
        self.stream_ts: str | None = None  # native stream message
        self.streamed = 0  # characters of the answer already in the stream
        self._stream_end: int | None = None  # where the streamed message stops, once decided
        self._stream_stopped = False
        self._stream_off = False  # this answer could not start a stream: chat.update from here on
        self._final: _Final | None = None
        self._failed_sent = False
        self.answer_ts: list[str] = []  # every message that shows the final answer

    # -- what StreamingReply calls ----------------------------------------------------------

    @property
    def streaming(self) -> bool:
        """The next progress call goes to a native stream."""
        if self.stream_ts is not None:
            return True
        return self.message_ts is None and not self._stream_off and self.features.streaming is not False

    async def begin(self) -> None:
        if self.features.status is not False:
            try:
                await self.client.assistant_threads_setStatus(
                    channel_id=self.place.channel_id,
                    thread_ts=self.place.thread_ts,
                    status=working_text(self.place.lang),
                )
                self.features.status = True
                self.status_shown = True
                return
            except SlackApiError as e:
                if is_refusal(e):
                    self.features.status = False
                log.info("slack.status_unavailable team=%s error=%s", self.place.team_id, error_code(e))
            except Exception:  # the status is a nicety: the placeholder below does the job
                log.warning("slack.status_failed team=%s", self.place.team_id, exc_info=True)
        response = await self._call(
            self.client.chat_postMessage,
            channel=self.place.channel_id,
            thread_ts=self.place.thread_ts,
            text=escape(working_text(self.place.lang)),
        )
        self.message_ts = response["ts"]

    async def queued(self, position: int) -> None:
        text = queued_text(self.place.lang, position)
        if self.message_ts is not None:
            await self._call(
                self.client.chat_update, channel=self.place.channel_id, ts=self.message_ts, text=escape(text)
            )
        elif self.status_shown:
            await self._call(
                self.client.assistant_threads_setStatus,
                channel_id=self.place.channel_id,
                thread_ts=self.place.thread_ts,
                status=text,
            )

    async def progress(self, text: str) -> None:
        if self.streaming and await self._stream(text):
            return
        part = answer_parts(text + " …")[0]
        if self.message_ts is None:
            response = await self._call(
                self.client.chat_postMessage,
                channel=self.place.channel_id,
                thread_ts=self.place.thread_ts,
                text=part.text,
                blocks=part.blocks,
            )
            self.message_ts = response["ts"]
        else:
            await self._call(
                self.client.chat_update,
                channel=self.place.channel_id,
                ts=self.message_ts,
                text=part.text,
                blocks=part.blocks,
            )

    async def finish(self, answer: Answer) -> None:
        if self._final is None:
            self._final = self._plan_final(answer)
        final = self._final
        while final.next < len(final.steps):
            try:
                await final.steps[final.next]()
            except SlackApiError as e:
                if is_rate_limited(e):
                    raise retry_later(e) from e
                if final.post_only:
                    raise
                # the stream or the placeholder is gone (expired, deleted): post the answer anew
                log.warning("slack.final_fallback step=%d error=%s", final.next, error_code(e))
                self._final = final = self._plan_posts(answer.text, answer_footer(answer), post_only=True)
                stale = self.stream_ts or self.message_ts
                if stale is not None:
                    final.steps.append(self._delete_step(stale))
                continue
            final.next += 1
        log.info(
            "slack.answer_delivered team=%s channel=%s mode=%s messages=%d",
            self.place.team_id,
            self.place.channel_id,
            "stream" if self.stream_ts and not final.post_only else "update" if self.message_ts else "post",
            len(self.answer_ts),
        )

    async def fail(self, text: str) -> None:
        if self._failed_sent:
            return
        try:
            if self.stream_ts is not None and not self._stream_stopped:
                await self.client.chat_stopStream(
                    channel=self.place.channel_id, ts=self.stream_ts, markdown_text=f"\n\n{text}"
                )
                self._stream_stopped = True
            elif self.message_ts is not None:
                await self.client.chat_update(
                    channel=self.place.channel_id, ts=self.message_ts, text=escape(text), blocks=[]
                )
            else:
                await self._post(escape(text))
        except SlackApiError as e:
            if is_rate_limited(e):
                raise retry_later(e) from e
            log.warning("slack.fail_fallback error=%s", error_code(e))
            await self._call(self._post, escape(text))
        self._failed_sent = True

    # -- native streaming -------------------------------------------------------------------

    def _stream_limit(self, text: str) -> int:
        """The end of the streamed part: all of it, or, for a very long answer, the last line
        break before ``STREAM_CHARS`` (fixed once chosen, so the rest starts cleanly)."""
        if self._stream_end is not None:
            return self._stream_end
        if len(text) <= STREAM_CHARS:
            return len(text)
        # never before what is already streamed: that text cannot be taken back
        cut = text.rfind("\n", max(self.streamed, STREAM_CHARS // 2), STREAM_CHARS)
        self._stream_end = cut if cut > 0 else STREAM_CHARS
        return self._stream_end

    async def _stream(self, text: str) -> bool:
        """Stream ``text`` (the answer so far); False when the workspace refuses streaming."""
        text = defuse(text)
        end = self._stream_limit(text)
        chunk = text[self.streamed : end]
        if self.stream_ts is None:
            try:
                response = await self.client.chat_startStream(
                    channel=self.place.channel_id,
                    thread_ts=self.place.thread_ts,
                    recipient_user_id=self.place.user_id,
                    recipient_team_id=self.place.team_id,
                    markdown_text=chunk,
                )
            except SlackApiError as e:
                if is_rate_limited(e):
                    raise retry_later(e) from e
                if is_refusal(e):
                    self.features.streaming = False  # for every later answer in the workspace
                self._stream_off = True
                log.info("slack.stream_unavailable team=%s error=%s", self.place.team_id, error_code(e))
                return False
            self.features.streaming = True
            self.stream_ts = response["ts"]
            self.answer_ts.append(self.stream_ts)
        elif chunk:
            await self._call(
                self.client.chat_appendStream,
                channel=self.place.channel_id,
                ts=self.stream_ts,
                markdown_text=chunk,
            )
        self.streamed = end
        return True

    # -- the final answer -------------------------------------------------------------------

    def _plan_final(self, answer: Answer) -> _Final:
        footer = answer_footer(answer)
        if self.stream_ts is None:
            return self._plan_posts(answer.text, footer, first_ts=self.message_ts)
        text = defuse(answer.text)
        end = self._stream_limit(text)
        rest = text[end:]
        stream_ts = self.stream_ts

        async def append() -> None:
            chunk = text[self.streamed : end]
            if chunk:
                await self.client.chat_appendStream(
                    channel=self.place.channel_id, ts=stream_ts, markdown_text=chunk
                )
            self.streamed = end

        async def stop() -> None:
            # the sources and buttons go under the streamed text, unless more parts follow
            await self.client.chat_stopStream(
                channel=self.place.channel_id, ts=stream_ts, blocks=None if rest.strip() else footer
            )
            self._stream_stopped = True

        final = _Final([append, stop])
        if rest.strip():
            final.steps += self._plan_posts(rest, footer).steps
        return final

    def _plan_posts(
        self,
        markdown: str,
        footer: list[dict[str, Any]],
        *,
        first_ts: str | None = None,
        post_only: bool = False,
    ) -> _Final:
        """One step per message: the first replaces ``first_ts`` (the placeholder) when given."""
        steps: list[Step] = []
        for i, part in enumerate(answer_parts(markdown, footer=footer)):
            if i == 0 and first_ts is not None:
                steps.append(self._update_step(first_ts, part))
            else:
                steps.append(self._post_step(part))
        return _Final(steps, post_only=post_only)

    def _update_step(self, ts: str, part: MessagePart) -> Step:
        async def update() -> None:
            await self.client.chat_update(
                channel=self.place.channel_id, ts=ts, text=part.text, blocks=part.blocks
            )
            self.answer_ts.append(ts)

        return update

    def _delete_step(self, ts: str) -> Step:
        """Remove a half-shown answer once the complete one is posted (best effort)."""

        async def delete() -> None:
            try:
                await self.client.chat_delete(channel=self.place.channel_id, ts=ts)
            except SlackApiError as e:
                if is_rate_limited(e):
                    raise
                log.info("slack.stale_not_deleted ts=%s error=%s", ts, error_code(e))
            if ts in self.answer_ts:
                self.answer_ts.remove(ts)

        return delete

    def _post_step(self, part: MessagePart) -> Step:
        async def post() -> None:
            response = await self._post(part.text, part.blocks)
            self.answer_ts.append(response["ts"])

        return post

    async def _post(self, text: str, blocks: list[dict[str, Any]] | None = None) -> Any:
        return await self.client.chat_postMessage(
            channel=self.place.channel_id, thread_ts=self.place.thread_ts, text=text, blocks=blocks
        )

    @staticmethod
    async def _call(method: Callable[..., Awaitable[Any]], *args: Any, **kwargs: Any) -> Any:
        try:
            return await method(*args, **kwargs)
        except SlackApiError as e:
            if is_rate_limited(e):
                raise retry_later(e) from e
            raise


@dataclass(frozen=True)
class Budgets:
    """Slack's limits are per method: one shared bucket per workspace or channel and method."""

    updates: RateLimits  # chat.update, per workspace (Tier 3, shared by every answer there)
    streams: RateLimits  # chat.appendStream, per workspace (Tier 4)
    posts: RateLimits  # new messages and statuses, per channel (chat.postMessage: about one a second)


class SinkBudget(TokenBucket):
    """The budget one answer's ``StreamingReply`` draws from: the bucket of the method the sink
    will call next. ``chat.appendStream`` once a native stream runs, ``chat.update`` once there is
    a message to edit, and before either a new message or a status (``chat.postMessage``,
    ``chat.startStream``, ``assistant.threads.setStatus``), limited per channel. It follows the
    sink, which may fall back mid-answer, so a final that is a new post or a "waiting in the
    queue" status does not spend the workspace's edit budget."""

    def __init__(self, sink: SlackReplySink, budgets: Budgets) -> None:
        super().__init__(rate=budgets.updates.rate)  # unused: every call is delegated
        self._sink = sink
        self._updates = budgets.updates[sink.place.team_id]
        self._streams = budgets.streams[sink.place.team_id]
        self._posts = budgets.posts[f"{sink.place.team_id}/{sink.place.channel_id}"]

    @property
    def current(self) -> TokenBucket:
        if self._sink.stream_ts is not None:
            return self._streams
        return self._updates if self._sink.message_ts is not None else self._posts

    def try_take(self) -> bool:
        return self.current.try_take()

    async def take(self) -> None:
        await self.current.take()

    def wait_time(self) -> float:
        return self.current.wait_time()

    def block_for(self, seconds: float) -> None:
        self.current.block_for(seconds)
