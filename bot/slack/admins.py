"""Who is a ragbot admin in Slack: the configured user ids, the admins kept in the store, and,
when enabled, the workspace's own admins and owners (``users.info``, cached for a few minutes
because it is asked on every admin command)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable

from slack_sdk.web.async_client import AsyncWebClient

from core.service import RagService

__all__ = ["SlackAdmins"]

log = logging.getLogger(__name__)


class SlackAdmins:
    def __init__(
        self,
        service: RagService,
        client: AsyncWebClient,
        *,
        configured: Iterable[str] = (),
        workspace_admins: bool = False,
        cache_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.service = service
        self.client = client
        self.configured = frozenset(configured)
        self.workspace_admins = workspace_admins
        self.cache_s = cache_s
        self._clock = clock
        self._workspace: dict[str, tuple[bool, float]] = {}  # user -> (is admin, expires)

    async def is_admin(self, user_id: str) -> bool:
        if user_id in self.configured or await self.service.is_admin("slack", user_id):
            return True
        return self.workspace_admins and await self._is_workspace_admin(user_id)

    async def _is_workspace_admin(self, user_id: str) -> bool:
        cached = self._workspace.get(user_id)
        if cached and cached[1] > self._clock():
            return cached[0]
        try:
            user = (await self.client.users_info(user=user_id))["user"]
        except Exception:
            log.warning("slack.users_info_failed user=%s", user_id, exc_info=True)
            return False  # refuse rather than guess; the person can ask again
        admin = bool(user.get("is_admin") or user.get("is_owner") or user.get("is_primary_owner"))
        self._workspace[user_id] = (admin, self._clock() + self.cache_s)
        return admin
