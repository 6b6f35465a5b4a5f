"""Signing in and out of the console: with the console password, or with a one-time link the bot
gives a Slack or Telegram admin (``links.py``).

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
from bot.console.identities import PLATFORMS
from bot.console.links import LINK_LIFETIME_S, read_link
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
    if "not_admin" in request.query:
        return _form(request, status=403, error="not_admin")
    return _form(request, notice="signed_out" if "signed_out" in request.query else "")


async def login_link(request: web.Request) -> web.StreamResponse:
    """A one-time link from the bot (``links.py``): signs its holder in as the chat identity it
    names, if that identity is a ragbot admin; then leads to the console without the token in
    the address bar."""
    console = request.app[CONSOLE]
    address = request.remote or "unknown"
    claim = read_link(console.keys, request.query.get("token"))
    if claim is None:
        log.warning("console.link_refused reason=invalid address=%s", address)
        return _form(request, status=403, error="link_invalid")
    chat_identity = claim.identity.partition(":")[0] in PLATFORMS  # links are for chat identities only
    if not chat_identity or not await console.admins.allows(claim.identity):
        log.warning("console.link_refused reason=not_admin identity=%s address=%s", claim.identity, address)
        return _form(request, status=403, error="not_admin")
    if not await console.service.claim_once(f"console:link:{claim.nonce}", LINK_LIFETIME_S):
        log.warning("console.link_refused reason=used identity=%s address=%s", claim.identity, address)
        return _form(request, status=403, error="link_used")
    session, cookie = console.keys.issue(claim.identity)
    log.info("console.login identity=%s address=%s via=link", session.identity, address)
    response = web.HTTPSeeOther(f"{CONSOLE_PATH}/")
    response.set_cookie(
        SESSION_COOKIE, cookie, **cookie_options(request, max_age=int(console.keys.lifetime_s))
    )
    raise response


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
        web.get("/login/link", login_link, name="login_link"),
        web.post("/logout", logout, name="logout"),
    ]
