"""ANSWER_RETENTION_DAYS: the scheduler's leader deletes questions and answers (with their votes)
older than that; 0 keeps everything. `ragbot forget` is tested with the CLI (tests/integration/test_cli_feedback.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from bot.scheduler import RETENTION_JOB, PinScheduler
from core.models import Asker, Vote
from core.settings import AnswerSettings, SchedulerSettings
from core.testing.contracts.store import ManualClock, make_answer
from core.testing.fake_service import make_service
from core.testing.memory_store import MemoryStore


async def _service_with_history(retention_days: int):
    clock = ManualClock(datetime.now(UTC) - timedelta(days=40))
    store = MemoryStore(clock=clock)
    service = make_service(store=store, answer=AnswerSettings(retention_days=retention_days))
    await store.record_answer(make_answer("old", space_id="ops"), Asker("slack", "U1", "C1"))
    await store.record_vote(Vote("old", "U2", 1))
    clock.advance(35 * 86400)  # five days ago
    await store.record_answer(make_answer("recent", space_id="ops"), Asker("slack", "U1", "C1"))
    return service


async def _until(predicate, timeout_s: float = 10.0) -> None:
    async with asyncio.timeout(timeout_s):
        while not await predicate():
            await asyncio.sleep(0.02)


async def test_the_leader_purges_what_is_older_than_the_retention():
    service = await _service_with_history(retention_days=30)
    scheduler = PinScheduler(service, SchedulerSettings())
    await scheduler.start()
    try:
        await _until(lambda: _gone(service, "old"))  # the job runs as soon as the lease is held
        assert await service.get_answer("recent") is not None
        assert RETENTION_JOB in scheduler.job_ids()
        stats = await service.feedback_stats("ops")
        assert (stats.answers, stats.up) == (1, 0)  # the old answer's vote went with it
    finally:
        await scheduler.aclose()


async def _gone(service, answer_id: str) -> bool:
    return await service.get_answer(answer_id) is None


async def test_zero_keeps_everything():
    service = await _service_with_history(retention_days=0)
    scheduler = PinScheduler(service, SchedulerSettings())
    await scheduler.tick()
    assert RETENTION_JOB not in scheduler.job_ids()
    assert await service.purge_expired_answers() == 0
    assert await service.get_answer("old") is not None


async def test_purging_directly_counts_what_went():
    service = await _service_with_history(retention_days=30)
    assert await service.purge_expired_answers() == 1
    assert await service.purge_expired_answers() == 0
