"""What every part of the console shares: its state on the application, the names of its paths
and cookies, and the request's session."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import jinja2
from aiohttp import web

from bot.console.identities import ConsoleAdmins
from bot.console.limiter import LoginLimiter
from bot.console.sessions import Session, SessionKeys
from bot.settings import ConsoleSettings
from core.service import RagService

__all__ = [
    "CONSOLE_PATH",
    "SESSION_COOKIE",
    "LOGIN_COOKIE",
    "LANG_COOKIE",
    "PUBLIC_ROUTES",
    "Console",
    "CONSOLE",
    "SESSION",
    "LANG",
    "NONCE",
    "session_of",
    "cookie_options",
]

CONSOLE_PATH = "/admin"
SESSION_COOKIE = "ragbot_console"
LOGIN_COOKIE = "ragbot_console_login"
LANG_COOKIE = "ragbot_console_lang"
PUBLIC_ROUTES = frozenset({"login", "login_submit", "login_link"})  # the only ones served without a session


@dataclass
class Console:
    settings: ConsoleSettings
    service: RagService
    keys: SessionKeys
    limiter: LoginLimiter
    templates: jinja2.Environment
    admins: ConsoleAdmins  # who may use the console: checked at sign-in and, for chat identities, on every request
    available: Callable[[], bool]  # False while the service starts: the store is not open yet


CONSOLE = web.AppKey("console", Console)
SESSION = web.RequestKey("session", Session | None)  # set by the guard; None without a valid cookie
LANG = web.RequestKey("lang", str)  # "en" | "ru", set by finish
NONCE = web.RequestKey("nonce", str)  # this response's CSP nonce for <style>


def session_of(request: web.Request) -> Session:
    session = request.get(SESSION)
    assert session is not None, "the guard lets no request without a session reach a page"
    return session


def cookie_options(request: web.Request, *, max_age: int | None = None) -> dict[str, Any]:
    """HttpOnly, SameSite=Lax (a link from Slack to a page still finds the session; every POST
    carries a CSRF token anyway), Secure when the browser reached us over https."""
    secure = request.secure or request.headers.get("X-Forwarded-Proto", "").lower() == "https"
    options: dict[str, Any] = {"path": CONSOLE_PATH, "httponly": True, "samesite": "Lax", "secure": secure}
    if max_age is not None:
        options["max_age"] = max_age
    return options
