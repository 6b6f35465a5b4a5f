"""Who may use the console. Anyone who signed in with the console password ("console:<name>"),
and the ragbot admins of the chat platforms who signed in with a link from the bot ("slack:U123",
"telegram:42"): the ids in SLACK_ADMIN_USER_IDS / TELEGRAM_ADMIN_USER_IDS and the admins kept in
the database (`ragbot admins add`). A platform identity is checked again on every request, so
removing an admin closes their console session at once.

Not admins here, although the bot obeys them in chat: Slack workspace admins
(SLACK_WORKSPACE_ADMINS_ARE_ADMINS asks Slack on each command) and Telegram group administrators,
whose rights cover their own group's commands only (docs/console.md)."""

from __future__ import annotations

from collections.abc import Iterable

from bot.settings import Settings
from core.service import RagService

__all__ = ["ConsoleAdmins", "PLATFORMS", "console_admins"]

PLATFORMS = ("slack", "telegram")


class ConsoleAdmins:
    def __init__(
        self, service: RagService, *, slack: Iterable[str] = (), telegram: Iterable[int] = ()
    ) -> None:
        self.service = service
        self.configured = {"slack": frozenset(slack), "telegram": frozenset(str(i) for i in telegram)}

    async def allows(self, identity: str) -> bool:
        platform, _, user = identity.partition(":")
        if not user:
            return False
        if platform == "console":
            return True  # proved by the console password
        if platform not in PLATFORMS:
            return False
        return user in self.configured[platform] or await self.service.is_admin(platform, user)


def console_admins(settings: Settings, service: RagService) -> ConsoleAdmins:
    return ConsoleAdmins(
        service, slack=settings.slack.admin_user_ids, telegram=settings.telegram.admin_user_ids
    )
