"""One-time sign-in links, for admins of the chat platforms: `/ragbot console` in Slack (`/console`
in a private Telegram chat) answers with a link that signs its holder in as that chat identity.

A link is a token sealed with the console's key (so only a process that knows CONSOLE_PASSWORD
can make one), names the identity, expires after five minutes and works once: its nonce is
claimed in the database on first use, so a link that leaked (a screenshot, a browser history)
is worthless after it was used, on every replica."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

from bot.console.sessions import SessionKeys, derive_key
from bot.settings import ConsoleSettings

__all__ = ["LINK", "LINK_LIFETIME_S", "SignInLinks", "LinkClaim", "sign_in_links", "read_link"]

LINK = "link"  # the seal's label
LINK_LIFETIME_S = 300


@dataclass(frozen=True)
class LinkClaim:
    identity: str  # "slack:U123" | "telegram:42"
    nonce: str  # claimed once in the database when the link is used


class SignInLinks:
    def __init__(self, keys: SessionKeys, public_url: str) -> None:
        self.keys = keys
        self.public_url = public_url.rstrip("/")

    def issue(self, identity: str) -> str:
        token = self.keys.seal(
            LINK,
            {"sub": identity, "nonce": secrets.token_hex(16), "exp": self.keys.clock() + LINK_LIFETIME_S},
        )
        return f"{self.public_url}/admin/login/link?token={quote(token)}"


def read_link(keys: SessionKeys, token: str | None) -> LinkClaim | None:
    """The identity and nonce of a valid, unexpired link; None for anything else."""
    data = keys.open(LINK, token)
    if data is None or not isinstance(data.get("sub"), str) or not isinstance(data.get("nonce"), str):
        return None
    return LinkClaim(data["sub"], data["nonce"])


def sign_in_links(settings: ConsoleSettings, *, clock: Callable[[], float] = time.time) -> SignInLinks | None:
    """The link maker for the chat adapters, when the console is on and CONSOLE_PUBLIC_URL says
    where people open it."""
    password = settings.password.get_secret_value() if settings.password else ""
    if not settings.enabled or not settings.public_url or not password:
        return None
    keys = SessionKeys(derive_key(password), lifetime_s=LINK_LIFETIME_S, clock=clock)
    return SignInLinks(keys, settings.public_url)
