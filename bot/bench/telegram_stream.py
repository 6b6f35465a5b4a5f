"""Benchmark: several Telegram chats streaming answers at once.

Runs the real ``TelegramAdapter`` (aiogram Bot + Dispatcher over HTTP) against the local fake
Bot API server (``bot.testing.fake_telegram``), with a RagService whose scripted model streams each
answer for ``stream_seconds``. ``n_chats`` groups each get ``answers_per_chat`` questions at the
same moment, so every chat has concurrent answers sharing its edit budget. It measures, per
chat, from the times the server received the calls:

- the most streaming updates (``editMessageText`` in groups, ``sendMessageDraft`` in private
  chats) inside any one-second window, and the shortest gap between two of them: Telegram
  allows about one message a second per chat, so both must stay within one a second;
- that every answer's final message arrived, complete, with its feedback buttons;
- the time from the model's last token to the final message.

``flood_gap_s`` makes the fake refuse (429) a send or edit that comes sooner than that after the
previous one in the chat, as Telegram's flood control would; the answers must still arrive."""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Literal

from aiogram.types import Update

from bot.settings import TelegramSettings
from bot.telegram.adapter import TelegramAdapter
from bot.testing.fake_telegram import Call, FakeTelegram
from core.models import Binding, ChatDelta, ChatMessage
from core.testing.fake_service import make_service
from core.testing.scripted_chat import ScriptedChatModel

__all__ = ["run"]

_DOC = """# Deploying the billing service

Run `make deploy` from the release branch. Deploys need the on-call engineer's approval and take
about ten minutes. Roll back with `make rollback VERSION=<previous>`.
"""
_LAST_WORDS = "end-of-answer."


class _TimedChat(ScriptedChatModel):
    """The scripted model, noting when each answer's last token was written (questions carry a
    tag), to measure the wait between the model finishing and the final message."""

    def __init__(self, reply: str, *, delay: float) -> None:
        super().__init__(reply, delay=delay)
        self.finished: dict[str, float] = {}

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[ChatDelta]:
        tag = next((w for w in messages[-1].content.split() if w.startswith("ask-")), "")
        async for delta in super().stream(messages, max_tokens=max_tokens, temperature=temperature):
            if delta.finish_reason is not None:
                self.finished[tag] = time.monotonic()
            yield delta


def _max_in_window(times: list[float], window: float = 1.0) -> int:
    """The most events inside any half-open window [t, t + window)."""
    times = sorted(times)
    best, j = 0, 0
    for i, start in enumerate(times):
        j = max(j, i)
        while j < len(times) and times[j] < start + window:
            j += 1
        best = max(best, j - i)
    return best


async def run(
    n_chats: int = 5,
    *,
    answers_per_chat: int = 2,
    stream_seconds: float = 8.0,
    words: int = 160,
    kind: Literal["group", "private"] = "group",
    edit_interval_s: float | None = None,
    flood_gap_s: float | None = None,
) -> dict[str, Any]:
    if kind == "private":
        answers_per_chat = 1  # one person, one question at a time
    interval = edit_interval_s if edit_interval_s is not None else TelegramSettings().edit_interval_s
    reply = " ".join(f"step-{i}" for i in range(words - 1)) + f" [1] {_LAST_WORDS}"
    chat = _TimedChat(reply, delay=stream_seconds / words)
    fake = await FakeTelegram(flood_gap_s=flood_gap_s).start()
    with tempfile.TemporaryDirectory(prefix="ragbot-bench-telegram-") as tmp:
        root = Path(tmp)
        (root / "docs").mkdir()
        (root / "docs" / "deploy.md").write_text(_DOC, encoding="utf-8")
        service = make_service(
            chat=chat, uploads_dir=root / "uploads", concurrency=n_chats * answers_per_chat, cache_ttl_s=0
        )
        await service.start()
        await service.ingest("ops", [str(root / "docs")])
        chats = [(-1001000000000 - i) if kind == "group" else 500000 + i for i in range(n_chats)]
        for chat_id in chats:
            await service.bind(Binding("telegram", str(chat_id), "ops"))
        settings = TelegramSettings(
            bot_token=fake.token,
            api_base_url=fake.base_url,
            mode="webhook",  # no webhook URL: updates are fed directly, nothing polls
            webhook_secret="bench-secret",
            edit_interval_s=interval,
        )
        adapter = TelegramAdapter(settings, service)
        await adapter.start()
        try:
            bot, dp = adapter.bot, adapter.dispatcher
            questions: dict[str, tuple[int, int]] = {}  # tag -> (chat, question message id)
            updates = []
            for chat_id in chats:
                for k in range(answers_per_chat):
                    tag = f"ask-{abs(chat_id)}-{k}"
                    text = f"@{fake.username} how do I deploy the billing service? {tag}"
                    raw = fake.user_message(chat_id, 7000 + k, text)
                    questions[tag] = (chat_id, raw["message"]["message_id"])
                    updates.append(Update.model_validate(raw, context={"bot": bot}))
            started = time.monotonic()
            await asyncio.gather(*(dp.feed_update(bot, u) for u in updates))
            wall = time.monotonic() - started
        finally:
            await adapter.aclose()
            await service.aclose()
            await fake.aclose()
    return _figures(fake, chat, chats, questions, kind, interval, stream_seconds, answers_per_chat, wall)


def _figures(
    fake: FakeTelegram,
    chat: _TimedChat,
    chats: list[int],
    questions: dict[str, tuple[int, int]],
    kind: str,
    interval: float,
    stream_seconds: float,
    answers_per_chat: int,
    wall: float,
) -> dict[str, Any]:
    streaming_method = "editMessageText" if kind == "group" else "sendMessageDraft"

    def of_chat(method: str, chat_id: int) -> list[Call]:
        return [c for c in fake.calls_of(method) if c.params.get("chat_id") == chat_id]

    per_chat = []
    for chat_id in chats:
        updates = [c for c in of_chat(streaming_method, chat_id) if "reply_markup" not in c.params]
        times = [c.at for c in updates]
        sends = [c.at for m in ("sendMessage", "editMessageText") for c in of_chat(m, chat_id)]
        gaps = [b - a for a, b in zip(sorted(times), sorted(times)[1:], strict=False)]
        finals = [m for m in fake.bot_messages(chat_id) if (m.reply_markup or {}).get("inline_keyboard")]
        per_chat.append(
            {
                "chat_id": chat_id,
                "streaming_updates": len(updates),
                "max_updates_per_s": _max_in_window(times),
                "min_gap_s": round(min(gaps), 3) if gaps else None,
                "max_messages_per_s": _max_in_window(sends),  # sends and edits of every kind together
                "finals_delivered": sum(1 for m in finals if _LAST_WORDS in m.text and "Sources" in m.text),
            }
        )
    lags = []
    for tag, (chat_id, question_id) in questions.items():
        final = _final_call(fake, chat_id, question_id)
        if final is not None and tag in chat.finished:
            lags.append(final.at - chat.finished[tag])
    delivered = sum(c["finals_delivered"] for c in per_chat)
    return {
        "kind": kind,
        "n_chats": len(chats),
        "answers_per_chat": answers_per_chat,
        "edit_interval_s": interval,
        "stream_seconds": stream_seconds,
        "wall_s": round(wall, 2),
        "per_chat": per_chat,
        "max_edits_per_s": max(c["max_updates_per_s"] for c in per_chat),
        "answers": len(questions),
        "finals_delivered": delivered,
        "all_delivered": delivered == len(questions),
        "rate_limited_calls": sum(1 for c in fake.calls if c.status == 429),
        "final_lag_s": {
            "p50": round(statistics.median(lags), 3) if lags else None,
            "max": round(max(lags), 3) if lags else None,
        },
    }


def _final_call(fake: FakeTelegram, chat_id: int, question_id: int) -> Call | None:
    """The call that put the answer to ``question_id`` on screen with its buttons."""
    for call in reversed(fake.calls):
        if call.status != 200 or call.params.get("chat_id") != chat_id or "reply_markup" not in call.params:
            continue
        if not (call.params["reply_markup"] or {}).get("inline_keyboard"):
            continue
        shown = fake.messages.get((chat_id, int((call.result or {}).get("message_id", 0))))
        if shown is not None and shown.reply_to == question_id:
            return call
        if shown is not None and chat_id > 0 and _LAST_WORDS in shown.text:
            return call
    return None
