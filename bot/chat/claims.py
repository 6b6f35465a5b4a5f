"""Exactly one answer per platform event, however often the platform delivers it.

Slack re-sends an event it thinks was not acknowledged (``X-Slack-Retry-Num``); Telegram re-delivers
an update when a webhook answer is slow or fails, and after a restart in polling mode. With several
replicas behind a load balancer each delivery may land on another process. So a claim is taken
twice: in this process (a bounded set with an expiry, free and race-free on one event loop) and
in the database (a lease held for an hour through ``RagService.acquire_lease``), which settles it
between processes and across a restart."""

from __future__ import annotations

import logging
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable

from core.service import RagService

__all__ = ["EventClaims", "RecentKeys", "CLAIM_TTL_S"]

log = logging.getLogger(__name__)

CLAIM_TTL_S = 3600.0  # Slack and Telegram give up re-delivering long before an hour


class RecentKeys:
    """Keys seen in the last ``ttl_s`` seconds, at most ``max_size`` of them: ``add`` is False
    for a repeat."""

    def __init__(
        self, ttl_s: float = CLAIM_TTL_S, max_size: int = 100_000, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl_s = ttl_s
        self.max_size = max_size
        self._clock = clock
        self._seen: OrderedDict[str, float] = OrderedDict()  # key -> when it was first seen, oldest first

    def add(self, key: str) -> bool:
        now = self._clock()
        while self._seen:
            oldest, at = next(iter(self._seen.items()))
            if now - at < self.ttl_s and len(self._seen) < self.max_size:
                break
            del self._seen[oldest]
        if key in self._seen:
            return False
        self._seen[key] = now
        return True


class EventClaims:
    """``await claims.claim(event_id)``: True for the first delivery anywhere, False for every
    repeat. ``lease_prefix`` names the event kind in the database (``slack:event``,
    ``telegram:update``); ``across_replicas=False`` (one process by design, as Telegram polling
    is) skips the database."""

    def __init__(
        self,
        service: RagService,
        lease_prefix: str,
        *,
        across_replicas: bool = True,
        ttl_s: float = CLAIM_TTL_S,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.lease_prefix = lease_prefix
        self.across_replicas = across_replicas
        self.ttl_s = ttl_s
        self._recent = RecentKeys(ttl_s, clock=clock)

    async def claim(self, event_id: str) -> bool:
        if not self._recent.add(event_id):  # before awaiting: a racing delivery sees it
            return False
        if not self.across_replicas:
            return True
        try:
            # a fresh owner per claim: a repeat in this very process must lose too
            return await self.service.acquire_lease(
                f"{self.lease_prefix}:{event_id}", owner=uuid.uuid4().hex, ttl_s=self.ttl_s
            )
        except Exception:
            # the database being down must not silence the bot; this process still claims once
            log.warning("claims.store_failed event=%s:%s", self.lease_prefix, event_id, exc_info=True)
            return True
