"""Keeping pinned sources fresh: APScheduler jobs rebuilt from the pins in the database.

With several replicas only one runs the schedule: the one holding the ``scheduler`` lease in
the database (renewed while it lives; another replica takes over when it expires). Jobs are not
persisted by APScheduler: the pins table is the truth, re-read every ``sync_every_s`` seconds
and at start, so jobs survive restarts and follow pins added from chat or the CLI.

A failing source keeps its previous chunks serving (the pipeline never deletes on failure),
is retried with exponential backoff, and after ``max_consecutive_failures`` failures in a row
the admins are alerted through the adapters.

The leader also enforces ``ANSWER_RETENTION_DAYS``: every hour it deletes the questions and
answers older than that (docs/feedback.md)."""

from __future__ import annotations

import asyncio
import logging
import os
import socket
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.date import DateTrigger
from apscheduler.triggers.interval import IntervalTrigger

from core.errors import Busy
from core.models import PinnedSource
from core.service import PinRun, RagService
from core.settings import SchedulerSettings

__all__ = ["PinScheduler", "Alert", "RETENTION_JOB"]

log = logging.getLogger(__name__)

Alert = Callable[[str], Awaitable[None]]

_LEASE = "scheduler"
RETENTION_JOB = "retention"
RETENTION_EVERY_S = 3600


class PinScheduler:
    def __init__(
        self,
        service: RagService,
        settings: SchedulerSettings,
        *,
        alert: Alert | None = None,
        lease_ttl_s: float = 60.0,
        sync_every_s: float = 60.0,
    ) -> None:
        self.service = service
        self.settings = settings
        self.alert = alert
        self.lease_ttl_s = lease_ttl_s
        self.sync_every_s = sync_every_s
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self._scheduler = AsyncIOScheduler(timezone=UTC)
        self._leader = False
        self._loop_task: asyncio.Task | None = None
        self._running: set[asyncio.Task] = set()

    @property
    def is_leader(self) -> bool:
        return self._leader

    def job_ids(self) -> set[str]:
        return {job.id for job in self._scheduler.get_jobs()}

    async def start(self) -> None:
        self._scheduler.start()
        self._loop_task = asyncio.create_task(self._lead_loop(), name="scheduler-lease")

    async def aclose(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        self._scheduler.shutdown(wait=False)
        if self._running:
            await asyncio.gather(*self._running, return_exceptions=True)
        if self._leader:
            await self.service.store.release(_LEASE, self.owner)
            self._leader = False

    async def _lead_loop(self) -> None:
        """Hold (or wait for) the lease; the leader keeps the jobs in step with the pins."""
        while True:
            try:
                await self.tick()
            except Exception:  # the loop must survive a database hiccup
                log.exception("scheduler.tick_failed")
            await asyncio.sleep(min(self.lease_ttl_s / 3, self.sync_every_s))

    async def tick(self) -> None:
        held = await self.service.store.acquire(_LEASE, self.owner, self.lease_ttl_s)
        if held and not self._leader:
            log.info("scheduler.leader owner=%s", self.owner)
        if not held and self._leader:
            log.warning("scheduler.lost_lease owner=%s", self.owner)
            self._scheduler.remove_all_jobs()
        self._leader = held
        if held:
            await self.sync()

    async def sync(self) -> None:
        """Add, change and remove jobs to match the pinned sources (and the retention setting)."""
        self._sync_retention()
        pins = await self.service.pins()
        wanted = {f"pin:{p.pin_id}": p for p in pins}
        for job in self._scheduler.get_jobs():
            if job.id.startswith("pin:") and job.id not in wanted:
                job.remove()
            if job.id.startswith("retry:") and f"pin:{job.id.split(':')[1]}" not in wanted:
                job.remove()
        for job_id, pin in wanted.items():
            trigger = self._trigger(pin)
            existing = self._scheduler.get_job(job_id)
            if existing is not None and str(existing.trigger) == str(trigger):
                continue
            self._scheduler.add_job(
                self._run_pin,
                trigger=trigger,
                id=job_id,
                args=[pin.pin_id],
                replace_existing=True,
                coalesce=True,
                max_instances=1,
                misfire_grace_time=3600,
                next_run_time=self._first_run(pin, trigger),
            )

    def _sync_retention(self) -> None:
        if self.service.retention_days <= 0:
            if self._scheduler.get_job(RETENTION_JOB) is not None:
                self._scheduler.remove_job(RETENTION_JOB)
            return
        if self._scheduler.get_job(RETENTION_JOB) is None:
            self._scheduler.add_job(
                self.purge,
                trigger=IntervalTrigger(seconds=RETENTION_EVERY_S, timezone=UTC),
                id=RETENTION_JOB,
                coalesce=True,
                max_instances=1,
                next_run_time=datetime.now(UTC),  # a new leader purges at once
            )

    async def purge(self) -> int | None:
        """Delete what is past ANSWER_RETENTION_DAYS; a failure is logged and retried next hour."""
        try:
            return await self.service.purge_expired_answers()
        except Exception:
            log.exception("scheduler.retention_failed")
            return None

    def _trigger(self, pin: PinnedSource) -> IntervalTrigger | CronTrigger:
        if pin.cron:
            return CronTrigger.from_crontab(pin.cron, timezone=UTC)
        return IntervalTrigger(seconds=pin.every_s or self.settings.default_every_s, timezone=UTC)

    def _first_run(self, pin: PinnedSource, trigger: IntervalTrigger | CronTrigger) -> datetime | None:
        """After a restart, a pin whose interval has already passed runs now, not a full
        interval later; a fresh one waits its interval (it was just ingested when pinned)."""
        now = datetime.now(UTC)
        if pin.cron:
            return trigger.get_next_fire_time(None, now)
        every = timedelta(seconds=pin.every_s or self.settings.default_every_s)
        last = max((t for t in (pin.last_success_at, pin.last_failure_at) if t), default=None)
        if last is None:
            return now + every
        return max(last + every, now)

    async def _run_pin(self, pin_id: int) -> PinRun | None:
        pin = next((p for p in await self.service.pins() if p.pin_id == pin_id), None)
        if pin is None:
            return None
        task = asyncio.current_task()
        if task is not None:
            self._running.add(task)
        try:
            return await self.run_now(pin)
        finally:
            if task is not None:
                self._running.discard(task)

    async def run_now(self, pin: PinnedSource) -> PinRun | None:
        """Re-ingest one pin (the service skips it, as Busy, while its space is being re-ingested)."""
        try:
            run = await self.service.refresh_pin(pin)
        except Busy:
            log.info("scheduler.space_busy space=%s pin=%d", pin.space_id, pin.pin_id)
            return None
        if run.error is None:
            log.info("scheduler.refreshed space=%s pin=%d", pin.space_id, pin.pin_id)
            return run
        failures = run.pin.consecutive_failures
        delay = min(
            self.settings.retry_base_s * 2 ** (failures - 1),
            (pin.every_s or self.settings.default_every_s) / 2,
        )
        self._scheduler.add_job(
            self._run_pin,
            trigger=DateTrigger(datetime.now(UTC) + timedelta(seconds=delay)),
            id=f"retry:{pin.pin_id}",
            args=[pin.pin_id],
            replace_existing=True,
        )
        log.warning(
            "scheduler.failed space=%s pin=%d failures=%d retry_in_s=%.0f error=%s",
            pin.space_id,
            pin.pin_id,
            failures,
            delay,
            run.error,
        )
        if run.alert and self.alert is not None:
            try:
                await self.alert(
                    f"⚠️ ragbot could not refresh {pin.location} in space `{pin.space_id}` "
                    f"{failures} times in a row. The previous version is still being served. Last error: {run.error}"
                )
            except Exception:
                log.exception("scheduler.alert_failed pin=%d", pin.pin_id)
        return run
