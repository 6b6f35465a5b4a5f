"""The throttled streaming editor: budgets, 429s and the final message that always arrives."""

import asyncio

import pytest

from bot.chat.ratelimit import TokenBucket
from bot.chat.streaming import RetryLater, StreamingReply
from core.errors import LLMTimeout
from core.models import Answer, AnswerDone, QueuePosition, SourcesFound, TextDelta, Timings


class Clock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


class RecordingSink:
    def __init__(self, clock, fail_finish=0, fail_progress=False, retry_after=2.0):
        self.clock = clock
        self.calls = []
        self.fail_finish = fail_finish
        self.fail_progress = fail_progress
        self.retry_after = retry_after

    async def begin(self):
        self.calls.append(("begin", self.clock()))

    async def queued(self, position):
        self.calls.append(("queued", position))

    async def progress(self, text):
        if self.fail_progress:
            raise RetryLater(self.retry_after)
        self.calls.append(("progress", text))

    async def finish(self, answer):
        if self.fail_finish:
            self.fail_finish -= 1
            raise RetryLater(self.retry_after)
        self.calls.append(("finish", answer.text))

    async def fail(self, text):
        self.calls.append(("fail", text))


def _answer(text):
    return Answer("a1", "q", "s", text, (), "en", "m", Timings())


async def _events(clock, pieces, step=0.3, error=None):
    yield SourcesFound(())
    yield QueuePosition(2)
    text = ""
    for piece in pieces:
        clock.now += step
        text += piece
        yield TextDelta(piece)
        await asyncio.sleep(0)
    if error:
        raise error
    yield AnswerDone(_answer(text))


async def test_edits_are_throttled_and_final_is_complete():
    clock = Clock()
    sink = RecordingSink(clock)
    reply = StreamingReply(sink, TokenBucket(rate=100, burst=100, clock=clock), min_interval=1.0, clock=clock)
    answer = await reply.deliver(_events(clock, [f"w{i} " for i in range(20)]), error_text=str)
    progress = [c for c in sink.calls if c[0] == "progress"]
    # 20 deltas 0.3 s apart = 6 s: at most one edit per second
    assert 3 <= len(progress) <= 7
    assert sink.calls[0][0] == "begin" and sink.calls[-1] == ("finish", answer.text)
    assert answer.text == "".join(f"w{i} " for i in range(20))


async def test_shared_budget_limits_edits_but_not_the_final():
    clock = Clock()
    bucket = TokenBucket(rate=0.001, burst=2, clock=clock)  # two edits, then nothing for ages
    sink = RecordingSink(clock)
    reply = StreamingReply(sink, bucket, min_interval=0.0, clock=clock)

    async def refill_later():
        await asyncio.sleep(0.05)
        bucket.rate = 1000.0  # the workspace budget frees up; the final may go now
        clock.now += 1.0

    task = asyncio.create_task(refill_later())
    await reply.deliver(_events(clock, ["a ", "b ", "c ", "d "]), error_text=str)
    await task
    kinds = [c[0] for c in sink.calls]
    assert kinds.count("progress") + kinds.count("queued") == 2
    assert kinds[-1] == "finish"


async def test_429_on_final_is_waited_out():
    clock = Clock()
    sink = RecordingSink(clock, fail_finish=2, retry_after=0.01)
    bucket = TokenBucket(rate=1000, burst=10)
    reply = StreamingReply(sink, bucket, min_interval=1.0, clock=clock)
    answer = await reply.deliver(_events(clock, ["x ", "y"]), error_text=str)
    assert sink.calls[-1] == ("finish", "x y") and answer is not None


async def test_429_on_edit_blocks_further_edits():
    clock = Clock()
    sink = RecordingSink(clock, fail_progress=True, retry_after=30)
    bucket = TokenBucket(rate=100, burst=100, clock=clock)
    reply = StreamingReply(sink, bucket, min_interval=0.0, clock=clock)

    async def events():
        yield TextDelta("a")
        clock.now += 1
        yield TextDelta("b")  # blocked: inside the 30 s back-off
        clock.now += 40
        yield AnswerDone(_answer("ab"))

    await reply.deliver(events(), error_text=str)
    assert [c[0] for c in sink.calls] == ["begin", "finish"]
    assert reply.edits == 0


async def test_error_mid_answer_tells_the_person():
    clock = Clock()
    sink = RecordingSink(clock)
    reply = StreamingReply(sink, TokenBucket(100, 100), min_interval=0.0, clock=clock)
    result = await reply.deliver(
        _events(clock, ["a"], error=LLMTimeout("slow")), error_text=lambda e: f"sorry: {type(e).__name__}"
    )
    assert result is None
    assert sink.calls[-1] == ("fail", "sorry: LLMTimeout")


async def test_unexpected_crash_is_still_told():
    clock = Clock()
    sink = RecordingSink(clock)
    reply = StreamingReply(sink, TokenBucket(100, 100), min_interval=0.0, clock=clock)
    result = await reply.deliver(
        _events(clock, ["a"], error=ZeroDivisionError()), error_text=lambda e: "internal"
    )
    assert result is None and sink.calls[-1] == ("fail", "internal")


async def test_cancelled_answer_is_closed_with_a_message():
    clock = Clock()
    sink = RecordingSink(clock)
    reply = StreamingReply(sink, TokenBucket(100, 100), min_interval=0.0, clock=clock)

    async def never_ending():
        yield TextDelta("partial")
        await asyncio.Event().wait()

    task = asyncio.create_task(reply.deliver(never_ending(), error_text=lambda e: "restarting"))
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert sink.calls[-1] == ("fail", "restarting")
