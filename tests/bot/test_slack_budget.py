"""The rate budgets an answer draws from, and the event claims: units with a fake clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from slack_sdk.web.async_client import AsyncWebClient

from bot.chat.claims import EventClaims
from bot.chat.ratelimit import RateLimits, TokenBucket
from bot.slack.sinks import STREAM_CHARS, Budgets, ReplyPlace, SinkBudget, SlackReplySink, WorkspaceFeatures
from bot.testing.fake_slack import FakeSlack
from core.models import Answer, Timings
from core.testing.fake_service import make_service
from core.testing.memory_store import MemoryStore


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


async def test_optional_edits_leave_the_reserve_to_final_messages():
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=5.0, clock=clock, reserve=4.0)
    assert bucket.try_take()  # 5 -> 4: the reserve is reached
    assert not bucket.try_take()
    for _ in range(4):  # finals still go at once, the clock never moves
        await asyncio.wait_for(bucket.take(), 1.0)
    assert bucket.wait_time() == 1.0
    clock.now = 5.0  # refilled to 5: edits may spend one again
    assert bucket.try_take() and not bucket.try_take()


async def test_without_a_reserve_the_bucket_is_unchanged():
    clock = Clock()
    bucket = TokenBucket(rate=1.0, burst=2.0, clock=clock)
    assert bucket.try_take() and bucket.try_take() and not bucket.try_take()
    bucket.block_for(3.0)
    clock.now = 2.5
    assert not bucket.try_take()
    clock.now = 3.0
    assert bucket.try_take()


def test_the_budget_follows_the_method_the_sink_calls_next():
    clock = Clock()
    budgets = Budgets(
        updates=RateLimits(1.0, 5.0, clock, reserve=4.0),
        streams=RateLimits(2.0, 5.0, clock, reserve=4.0),
        posts=RateLimits(1.0, 2.0, clock),
    )
    features = WorkspaceFeatures(streaming=False)
    sink = SlackReplySink(None, ReplyPlace("C1", "1.0", "U1", "T1"), features)  # type: ignore[arg-type]
    budget = SinkBudget(sink, budgets)
    assert budget.current is budgets.posts["T1/C1"]  # nothing shown yet: a status, a post or a stream start
    sink.stream_ts = "1.5"
    assert budget.current is budgets.streams["T1"]  # appending to the native stream
    sink.stream_ts = None
    sink.message_ts = "2.0"
    assert budget.current is budgets.updates["T1"]  # from now on, chat.update
    # every answer in the workspace shares the chat.update bucket
    other = SinkBudget(SlackReplySink(None, ReplyPlace("C2", "3.0", "U2", "T1"), features), budgets)  # type: ignore[arg-type]
    other._sink.message_ts = "4.0"
    assert other.current is budget.current
    assert budget.try_take() and not other.try_take()


async def test_claims_expire_here_but_the_store_still_remembers():
    now = Clock()
    wall = [datetime(2026, 1, 1, tzinfo=UTC)]
    store = MemoryStore(clock=lambda: wall[0])
    deduper = EventClaims(make_service(store=store), "slack:event", ttl_s=60.0, clock=now)
    assert await deduper.claim("Ev1")
    now.now = 61.0  # forgotten in this process...
    assert not await deduper.claim("Ev1")  # ...but the database lease still holds
    wall[0] += timedelta(seconds=121)
    now.now = 200.0
    assert await deduper.claim("Ev1")  # both expired: a claim again (Slack stopped retrying long ago)


async def test_a_failing_store_does_not_silence_the_bot():
    class Broken(MemoryStore):
        async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
            raise ConnectionError("database is down")

    deduper = EventClaims(make_service(store=Broken()), "slack:event")
    assert await deduper.claim("Ev1")
    assert not await deduper.claim("Ev1")  # this process still answers once


async def test_a_long_native_stream_is_cut_after_what_was_already_streamed():
    fake = FakeSlack()
    await fake.start()
    try:
        client = AsyncWebClient(token=fake.token, base_url=fake.api_url)
        sink = SlackReplySink(client, ReplyPlace("C1", "1.0", "U1", fake.team_id), WorkspaceFeatures())
        lines = [f"line {i:05d} " + "x" * 80 for i in range(250)]  # ~22,500 characters
        text = "\n".join(lines)
        await sink.progress(text[: STREAM_CHARS - 50])  # streamed before any cut was needed
        await sink.progress(text[: STREAM_CHARS + 500])  # now the cut is chosen: not before that
        await sink.finish(Answer("a1", "q", "ops", text, (), "en", "m", Timings()))
        streamed = [m for m in fake.thread("C1", "1.0") if m.streamed]
        rest = [m for m in fake.thread("C1", "1.0") if not m.streamed]
        assert len(streamed) == 1 and len(streamed[0].text) <= 12_000 and rest
        shown = streamed[0].text + "\n" + "\n".join(m.block_text() for m in rest)
        for i in range(250):
            assert shown.count(f"line {i:05d}") == 1
    finally:
        await fake.aclose()
