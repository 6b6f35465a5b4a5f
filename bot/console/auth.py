"""Signing in and out of the console.

The sign-in form asks for a name and the console password (``CONSOLE_PASSWORD``). The password is
the proof; the name is what the console records as the author of the person's changes
("console:<name>"). The form carries its own CSRF token, bound to a random nonce in a short-lived
cookie (no session exists yet to bind it to), and failures count against the client's address
(``LoginLimiter``): past the limit the form answers 429 without looking at the password."""

from __future__ import annotations

import hmac
import logging
import re
import secrets

from aiohttp import web

from bot.console.context import (
    CONSOLE,
    CONSOLE_PATH,
    LOGIN_COOKIE,
    SESSION,
    SESSION_COOKIE,
    cookie_options,
    session_of,
)
from bot.console.rendering import render

__all__ = ["routes", "safe_next"]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^[\w .@-]{1,64}$")
LOGIN_FORM_S = 3600  # how long a sign-in form stays valid


def safe_next(target: str | None) -> str:
    """Where to go after signing in: a console page, never another site (``//evil.example``)."""
    if (
        target
        and target.startswith(f"{CONSOLE_PATH}/")
        and not target.startswith("//")
        and "\\" not in target
    ):
        return target
    return f"{CONSOLE_PATH}/"


def _form(
    request: web.Request,
    *,
    status: int = 200,
    error: str = "",
    notice: str = "",
    name: str = "",
    seconds: int = 0,
) -> web.Response:
    """The sign-in form with a fresh nonce cookie and the token bound to it."""
    console = request.app[CONSOLE]
    nonce = secrets.token_urlsafe(16)
    response = render(
        request,
        "login.html",
        status=status,
        login_token=console.keys.login_token(nonce),
        next=safe_next(request.query.get("next")),
        error=error,
        notice=notice,
        name=name,
        seconds=seconds,
    )
    response.set_cookie(LOGIN_COOKIE, nonce, **cookie_options(request, max_age=LOGIN_FORM_S))
    return response


async def login(request: web.Request) -> web.StreamResponse:
    if request.get(SESSION) is not None:
        raise web.HTTPSeeOther(safe_next(request.query.get("next")))
    return _form(request, notice="signed_out" if "signed_out" in request.query else "")


async def login_submit(request: web.Request) -> web.StreamResponse:
    console = request.app[CONSOLE]
    address = request.remote or "unknown"
    form = await request.post()
    name = str(form.get("name", "")).strip()
    wait = console.limiter.retry_after(address)
    if wait is not None:
        log.warning("console.login_throttled address=%s retry_after_s=%.0f", address, wait)
        seconds = int(wait + 0.999)
        response = _form(request, status=429, error="login_throttled", name=name, seconds=seconds)
        response.headers["Retry-After"] = str(seconds)
        return response
    if not console.keys.login_ok(request.cookies.get(LOGIN_COOKIE), str(form.get("login_token", ""))):
        log.warning("console.login_refused reason=csrf address=%s", address)
        return _form(request, status=403, error="login_expired", name=name)
    password = console.settings.password.get_secret_value() if console.settings.password else ""
    given = str(form.get("password", ""))
    if not hmac.compare_digest(given.encode("utf-8"), password.encode("utf-8")):
        console.limiter.failed(address)
        log.warning("console.login_failed address=%s name=%s", address, name[:64])
        return _form(request, status=401, error="login_failed", name=name)
    if not _NAME.match(name):
        return _form(request, status=400, error="login_bad_name", name=name[:64])
    console.limiter.succeeded(address)
    session, cookie = console.keys.issue(f"console:{name}")
    log.info("console.login identity=%s address=%s", session.identity, address)
    response = web.HTTPSeeOther(safe_next(str(form.get("next", ""))))
    response.set_cookie(
        SESSION_COOKIE, cookie, **cookie_options(request, max_age=int(console.keys.lifetime_s))
    )
    response.del_cookie(LOGIN_COOKIE, path=CONSOLE_PATH)
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """POST only, with the session's CSRF token (the guard checks it): a link cannot sign you out."""
    log.info("console.logout identity=%s", session_of(request).identity)
    response = web.HTTPSeeOther(f"{CONSOLE_PATH}/login?signed_out=1")
    response.del_cookie(SESSION_COOKIE, path=CONSOLE_PATH)
    raise response


def routes() -> list[web.RouteDef]:
    return [
        web.get("/login", login, name="login"),
        web.post("/login", login_submit, name="login_submit"),
        web.post("/logout", logout, name="logout"),
    ]
