"""Benchmark: several answers streaming at once into one Slack workspace.

Runs the real ``SlackAdapter`` (AsyncApp + AsyncWebClient over HTTP) against the local fake
Slack, with a RagService whose scripted model streams each answer for ``stream_seconds``.
``n_answers`` people keep asking in their own channels of one workspace for ``duration_s``
(a new question as soon as the previous answer is final), so that many answers stream at every
moment. It measures:

- the ``chat.update`` rate of all answers together, per minute and in the busiest 60 s
  (Tier 3 allows ~50 per minute per workspace; the fake enforces that, so over-spending would
  show as 429s);
- that every answer's final message arrived, complete, with its feedback buttons;
- the time from delivering the event to the first visible reaction (thread status or
  placeholder), which excludes the model: the reaction comes before generation starts; and
  the time from the model's last token to the final message.

``native=True`` measures the native streaming path (``chat.appendStream``) instead.

``thread_messages`` asks every question as a mention under a thread of that many messages, so
the bot reads the thread (``conversations.replies``, answered after ``replies_latency_s``, a
round trip to Slack) before the question reaches the model; ``run_thread_context`` measures that
beside the same questions without a thread, in one run (docs/BENCHMARKS.md)."""

from __future__ import annotations

import asyncio
import itertools
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from bot.settings import SlackSettings
from bot.slack.adapter import EVENTS_PATH, SlackAdapter
from bot.testing.fake_slack import FakeMessage, FakeSlack
from core.models import Binding, ChatDelta, ChatMessage
from core.testing.fake_service import make_service
from core.testing.scripted_chat import ScriptedChatModel

__all__ = ["run", "run_thread_context"]

TIER3_PER_MIN = 50

_DOC = """# Deploying the billing service

Run `make deploy` from the release branch. Deploys need the on-call engineer's approval and take
about ten minutes. Roll back with `make rollback VERSION=<previous>`.
"""


class _TimedChat(ScriptedChatModel):
    """The scripted model, noting when each answer was fully written (the question carries a
    tag), so the wait between the model's last token and the final message can be measured."""

    def __init__(self, reply: str, *, delay: float) -> None:
        super().__init__(reply, delay=delay)
        self.finished: dict[str, float] = {}
        self.asked: dict[str, float] = {}  # when the question (with its conversation) reached the model

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[ChatDelta]:
        question = messages[-1].content.split("Question:")[-1]  # the tag in the question, not the thread's
        tag = next((w for w in question.split() if w.startswith("ask-")), "")
        self.asked[tag] = time.monotonic()
        async for delta in super().stream(messages, max_tokens=max_tokens, temperature=temperature):
            yield delta
        self.finished[tag] = time.monotonic()


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    rank = max(1, min(len(ordered), int(q / 100 * len(ordered) + 0.999999)))  # nearest rank
    return ordered[rank - 1]


def _max_in_window(times: list[float], window: float = 60.0) -> int:
    times = sorted(times)
    best, start = 0, 0
    for end, t in enumerate(times):
        while t - times[start] >= window:
            start += 1
        best = max(best, end - start + 1)
    return best


async def run(
    n_answers: int = 5,
    *,
    duration_s: float = 70.0,
    stream_seconds: float = 8.0,
    words: int = 80,
    budget_per_min: int = 45,
    native: bool = False,
    thread_messages: int = 0,
    replies_latency_s: float = 0.0,
) -> dict[str, Any]:
    """Returns the figures as a dict (see the module docstring)."""
    fake = FakeSlack()
    if not native:
        fake.refuse("chat.startStream", "not_allowed")
    fake.enforce_tier("chat.update", TIER3_PER_MIN)
    fake.enforce_tier("conversations.replies", TIER3_PER_MIN)  # internal apps: Tier 3
    fake.delay("conversations.replies", replies_latency_s)
    await fake.start()
    reply = " ".join(f"word{i}" for i in range(words - 1)) + " done [1]."
    chat = _TimedChat(reply, delay=stream_seconds / words)
    service = make_service(chat=chat, concurrency=n_answers)  # every answer generates at once
    runner: web.AppRunner | None = None
    adapter: SlackAdapter | None = None
    with tempfile.TemporaryDirectory(prefix="ragbot-bench-slack-") as tmp:
        try:
            await service.start()
            doc = Path(tmp) / "deploy.md"
            doc.write_text(_DOC, encoding="utf-8")
            await service.ingest("bench", [str(doc)])
            channels = [f"C0BENCH{i}" for i in range(n_answers)]
            for channel in channels:
                await service.bind(Binding("slack", channel, "bench", team_id=fake.team_id))
            settings = SlackSettings(
                _env_file=None,
                bot_token=fake.token,
                signing_secret=fake.signing_secret,
                api_base_url=fake.api_url,
                update_budget_per_min=budget_per_min,
            )
            adapter = SlackAdapter(settings, service)
            app = web.Application()
            app.add_routes(adapter.routes())
            runner = web.AppRunner(app)
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0)
            await site.start()
            url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}{EVENTS_PATH}"  # type: ignore[union-attr]
            await adapter.start()

            numbers = itertools.count(1)
            asked: list[tuple[str, str, float]] = []  # (channel, thread ts, sent at)
            finals: dict[str, FakeMessage | None] = {}  # thread ts -> final message
            started = time.monotonic()

            def final_of(channel: str, ts: str) -> FakeMessage | None:
                done = [m for m in fake.thread(channel, ts) if m.buttons() and not m.streaming]
                return done[-1] if done else None

            async def person(channel: str) -> None:
                while time.monotonic() - started < duration_s:
                    ts = f"1690000000.{next(numbers):06d}"
                    for i in range(thread_messages):  # the discussion the bot is called into
                        said = ts if i == 0 else f"1690000000.{next(numbers):06d}"
                        fake.say(
                            f"message {i}: the billing deploy fails with FailedScheduling on node-{i}",
                            channel=channel,
                            user=f"U0PEER{i % 3}",
                            ts=said,
                            thread_ts=None if i == 0 else ts,
                        )
                    mention_ts = f"1690000000.{next(numbers):06d}" if thread_messages else ts
                    event = fake.mention(
                        f"how do I deploy the billing service? ask-{ts}",
                        channel=channel,
                        user="U0BENCH",
                        ts=mention_ts,
                        thread_ts=ts if thread_messages else None,
                    )
                    asked.append((channel, ts, time.monotonic()))
                    delivery = await fake.send_event(
                        url, event, event_id=f"EvBENCH{mention_ts.replace('.', '')}"
                    )
                    if delivery.status != 200:
                        raise RuntimeError(f"the app refused the event: HTTP {delivery.status}")
                    try:
                        finals[ts] = await fake.wait_for(
                            lambda ts=ts: final_of(channel, ts),  # type: ignore[misc]
                            stream_seconds * 6 + 60,
                        )
                    except TimeoutError:
                        finals[ts] = None

            await asyncio.gather(*(person(c) for c in channels))
            finished = time.monotonic()

            def first_reaction(channel: str, ts: str, sent: float) -> float | None:
                for call in fake.calls:
                    where = call.args.get("channel", call.args.get("channel_id"))
                    if call.ok and where == channel and call.args.get("thread_ts") == ts and call.at >= sent:
                        if call.method in (
                            "assistant.threads.setStatus",
                            "chat.postMessage",
                            "chat.startStream",
                        ):
                            return call.at - sent
                return None

            def final_wait(channel: str, ts: str) -> float | None:
                message, done = finals.get(ts), chat.finished.get(f"ask-{ts}")
                if message is None or done is None:
                    return None
                calls = [c for c in fake.calls if c.ok and c.args.get("channel") == channel and c.at >= done]
                delivering = [
                    c for c in calls if c.args.get("ts") == message.ts or c.args.get("thread_ts") == ts
                ]
                return (max(c.at for c in delivering) - done) if delivering else None

            reactions = [r for r in (first_reaction(c, ts, t) for c, ts, t in asked) if r is not None]
            to_model = [chat.asked[f"ask-{ts}"] - t for _, ts, t in asked if f"ask-{ts}" in chat.asked]
            reads = fake.calls_of("conversations.replies")
            waits = [w for w in (final_wait(c, ts) for c, ts, _ in asked) if w is not None]
            complete = sum(
                1 for m in finals.values() if m is not None and "done [1]." in m.text + m.block_text()
            )
            edit_method = "chat.appendStream" if native else "chat.update"
            edits = [c.at for c in fake.calls_of(edit_method) if c.ok]
            updates = [c.at for c in fake.calls_of("chat.update")]
            elapsed = finished - started
            return {
                "mode": "native streaming" if native else "chat.update",
                "concurrent_answers": n_answers,
                "answers": len(asked),
                "stream_seconds_per_answer": stream_seconds,
                "duration_s": round(elapsed, 1),
                "final_complete": complete,
                "all_delivered": complete == len(asked),
                f"{edit_method}_calls": len(edits),
                f"{edit_method}_per_min": round(len(edits) / elapsed * 60, 1) if elapsed else 0.0,
                "chat_update_max_in_any_60s": _max_in_window(updates),
                "chat_update_budget_per_min": budget_per_min,
                "tier3_limit_per_min": TIER3_PER_MIN,
                "within_tier3": _max_in_window(updates) <= TIER3_PER_MIN,
                "rate_limited_429": sum(1 for c in fake.calls if c.status == 429),
                "edits_per_answer": round(len(edits) / max(len(asked), 1), 1),
                "first_reaction_ms_p50": round(_percentile(reactions, 50) * 1000, 1),
                "first_reaction_ms_p95": round(_percentile(reactions, 95) * 1000, 1),
                "thread_messages": thread_messages,
                "conversations_replies_calls": len(reads),
                "conversations_replies_429": sum(1 for c in reads if c.status == 429),
                "replies_latency_ms": round(replies_latency_s * 1000, 1),
                "question_to_model_ms_p50": round(_percentile(to_model, 50) * 1000, 1),
                "question_to_model_ms_p95": round(_percentile(to_model, 95) * 1000, 1),
                "final_after_model_ms_p50": round(_percentile(waits, 50) * 1000, 1),
                "final_after_model_ms_p95": round(_percentile(waits, 95) * 1000, 1),
            }
        finally:
            if adapter is not None:
                await adapter.aclose(grace_s=1.0)
            if runner is not None:
                await runner.cleanup()
            await service.aclose()
            await fake.aclose()


async def run_thread_context(
    *, duration_s: float = 40.0, thread_messages: int = 30, replies_latency_s: float = 0.3
) -> dict[str, Any]:
    """The same questions (native streaming, 5 people at once) without and then with a thread to
    read, back to back so machine load affects both alike: what reading the thread adds before
    the first visible reaction (nothing: it runs beside it) and before the model is asked (about
    one conversations.replies round trip)."""
    without = await run(duration_s=duration_s, native=True, stream_seconds=4.0)
    with_thread = await run(
        duration_s=duration_s,
        native=True,
        stream_seconds=4.0,
        thread_messages=thread_messages,
        replies_latency_s=replies_latency_s,
    )
    keys = (
        "answers",
        "all_delivered",
        "first_reaction_ms_p50",
        "first_reaction_ms_p95",
        "question_to_model_ms_p50",
        "question_to_model_ms_p95",
        "conversations_replies_calls",
        "conversations_replies_429",
        "replies_latency_ms",
        "thread_messages",
    )
    return {
        "mode": "native streaming, 5 people asking at once",
        "without_thread": {k: without[k] for k in keys},
        "with_thread": {k: with_thread[k] for k in keys},
    }


if __name__ == "__main__":  # python -m bot.bench.slack_stream
    import json

    print(json.dumps(asyncio.run(run()), indent=2))
