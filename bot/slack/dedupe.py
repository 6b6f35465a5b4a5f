"""Exactly one answer per Slack event, however often Slack delivers it.

Slack re-sends an event it thinks was not acknowledged (``X-Slack-Retry-Num``), and with several
replicas behind a load balancer each delivery may land on another process. So a claim is taken
twice: in this process (a TTL set, free and race-free on one event loop) and in the database
(the store's ``LeaseLock``, one row per event for an hour), which settles it between processes."""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from core.ports import LeaseLock

__all__ = ["EventDeduper"]

log = logging.getLogger(__name__)


class EventDeduper:
    def __init__(
        self, locks: LeaseLock, *, ttl_s: float = 3600.0, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.locks = locks
        self.ttl_s = ttl_s
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # event_id -> expiry, oldest first

    def _forget_expired(self, now: float) -> None:
        while self._seen and next(iter(self._seen.values())) <= now:
            self._seen.popitem(last=False)

    async def claim(self, event_id: str) -> bool:
        """True for the first delivery of ``event_id`` anywhere; False for every repeat."""
        now = self._clock()
        self._forget_expired(now)
        if event_id in self._seen:
            return False
        self._seen[event_id] = now + self.ttl_s  # before awaiting: a racing delivery sees it
        try:
            # a fresh owner per claim: a repeat in this very process must lose too
            return await self.locks.acquire(
                f"slack:event:{event_id}", owner=uuid.uuid4().hex, ttl_s=self.ttl_s
            )
        except Exception:
            # the database being down must not silence the bot; this process still dedupes
            log.warning("slack.dedupe_store_failed event_id=%s", event_id, exc_info=True)
            return True
