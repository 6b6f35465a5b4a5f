"""What the runtime needs from a chat platform adapter (Slack, Telegram)."""

from __future__ import annotations

from typing import Protocol

from aiohttp import web

__all__ = ["ChatAdapter"]


class ChatAdapter(Protocol):
    name: str  # "slack" | "telegram"

    def routes(self) -> list[web.RouteDef]:
        """HTTP routes served on the service's own server (events endpoint, webhook); may be empty."""

    async def start(self) -> None:
        """Connect (auth check, Socket Mode, long polling, webhook registration). Returns once running."""

    async def aclose(self, grace_s: float = 10.0) -> None:
        """Stop taking new events; let answers in flight finish for up to ``grace_s`` seconds,
        then close them with a message; release connections."""

    async def alert(self, text: str) -> None:
        """Deliver an admin alert (a failing pinned source) to the configured admins/channel."""
