"""Console sessions: signed, stateless cookies, and the CSRF tokens bound to them.

Why stateless: several replicas may serve ``/admin`` behind one load balancer, and a cookie signed
with a key every replica derives from the same ``CONSOLE_PASSWORD`` is valid on all of them, with
no table to share or sweep. The price is that a session cannot be revoked one by one: it ends at
its expiry (``CONSOLE_SESSION_HOURS``) or for everyone when the password changes (docs/console.md).

The key is derived with scrypt, so a captured cookie does not make guessing a weak password cheap;
each use (sessions, sign-in links, CSRF) signs under its own label, so one kind of token never
passes for another.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

__all__ = ["Session", "SessionKeys", "derive_key"]

_SALT = b"ragbot-console/v1"  # fixed: every replica must derive the same key from the same password


@lru_cache(maxsize=4)
def derive_key(password: str) -> bytes:
    """32 bytes from the console password (scrypt, ~16 MB and a few tens of ms; once per process:
    the console and the chat adapters' sign-in links share it)."""
    return hashlib.scrypt(password.encode("utf-8"), salt=_SALT, n=2**14, r=8, p=1, dklen=32)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class Session:
    identity: str  # who signed in, as recorded on what they do: "console:<name>"
    sid: str  # random per sign-in; CSRF tokens are bound to it
    expires: float  # epoch seconds


class SessionKeys:
    """Seals and opens signed tokens under one derived key (sessions, sign-in links) and makes
    the CSRF tokens bound to a session."""

    def __init__(self, key: bytes, *, lifetime_s: float, clock: Callable[[], float] = time.time) -> None:
        self._key = key
        self.lifetime_s = lifetime_s
        self.clock = clock

    def _mac(self, label: str, message: str) -> str:
        return _b64(hmac.new(self._key, f"{label}|{message}".encode(), hashlib.sha256).digest())

    def seal(self, label: str, data: dict[str, Any]) -> str:
        """``data`` as a token only this key can have made, for the use ``label`` names."""
        payload = _b64(json.dumps(data, separators=(",", ":")).encode())
        return f"{payload}.{self._mac(label, payload)}"

    def open(self, label: str, token: str | None) -> dict[str, Any] | None:
        """What ``seal(label, ...)`` put in the token; None when it is missing, forged, made for
        another use, malformed or past its "exp"."""
        if not token or token.count(".") != 1:
            return None
        payload, mac = token.split(".")
        if not hmac.compare_digest(mac, self._mac(label, payload)):
            return None
        try:
            data = json.loads(_unb64(payload))
            expires = float(data["exp"])
        except (ValueError, KeyError, TypeError):
            return None
        return data if isinstance(data, dict) and expires > self.clock() else None

    # sessions

    def issue(self, identity: str) -> tuple[Session, str]:
        """A new session and its cookie value."""
        session = Session(identity, secrets.token_hex(16), self.clock() + self.lifetime_s)
        return session, self.seal(
            "session", {"sub": session.identity, "sid": session.sid, "exp": session.expires}
        )

    def read(self, cookie: str | None) -> Session | None:
        """The session a cookie carries, or None when it is missing, forged, malformed or expired."""
        data = self.open("session", cookie)
        if data is None or not isinstance(data.get("sub"), str) or not isinstance(data.get("sid"), str):
            return None
        return Session(data["sub"], data["sid"], float(data["exp"]))

    # CSRF: a token per session for its forms, and one per login form (bound to a cookie nonce)

    def csrf_token(self, session: Session) -> str:
        return self._mac("csrf", session.sid)

    def csrf_ok(self, session: Session, token: str | None) -> bool:
        return bool(token) and hmac.compare_digest(str(token), self.csrf_token(session))

    def login_token(self, nonce: str) -> str:
        return self._mac("login", nonce)

    def login_ok(self, nonce: str | None, token: str | None) -> bool:
        return bool(nonce) and bool(token) and hmac.compare_digest(str(token), self.login_token(str(nonce)))
