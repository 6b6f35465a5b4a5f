"""The two middlewares every console request passes.

``guard`` lets nothing but the sign-in form through without a valid session (pages redirect to
it, anything else gets 401), checks the Origin and CSRF token of every POST, and turns failures
into a page: a CoreError's message for people, anything else logged and shown as an error.
``finish`` picks the language and adds the headers every response carries: a strict
Content-Security-Policy (no script at all; styles only with the page's nonce), no framing, no
caching, no referrer outside the console."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web

from bot.console.context import (
    CONSOLE,
    CONSOLE_PATH,
    LANG,
    LANG_COOKIE,
    NONCE,
    PUBLIC_ROUTES,
    SESSION,
    SESSION_COOKIE,
)
from bot.console.i18n import LANGS, pick_lang
from bot.console.rendering import message_page
from core.errors import CoreError, NotFound

__all__ = ["guard", "finish"]

log = logging.getLogger(__name__)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

CSP = (
    "default-src 'none'; style-src 'nonce-{nonce}'; img-src 'self' data:; form-action 'self'; "
    "frame-ancestors 'none'; base-uri 'none'"
)


def _same_origin(request: web.Request) -> bool:
    """A browser names the site a POST came from in Origin; one from elsewhere is refused before
    its CSRF token is even looked at. (No Origin: an older browser or a script; the token decides.)"""
    origin = request.headers.get("Origin")
    if origin is None:
        return True
    return origin.split("://", 1)[-1] == request.host


@web.middleware
async def guard(request: web.Request, handler: Handler) -> web.StreamResponse:
    console = request.app[CONSOLE]
    if not console.available():
        return message_page(request, 503, "starting")
    session = console.keys.read(request.cookies.get(SESSION_COOKIE))
    if session is not None and not session.identity.startswith("console:"):
        # a chat identity stays an admin only as long as the bot says so (identities.py)
        if not await console.admins.allows(session.identity):
            log.warning(
                "console.refused reason=not_admin identity=%s path=%s", session.identity, request.path
            )
            response = (
                web.HTTPSeeOther(f"{CONSOLE_PATH}/login?not_admin=1")
                if request.method in ("GET", "HEAD")
                else web.Response(status=403, text="403: this account is not a ragbot admin.")
            )
            response.del_cookie(SESSION_COOKIE, path=CONSOLE_PATH)
            if isinstance(response, web.HTTPException):
                raise response
            return response
    request[SESSION] = session
    if request.match_info.route.name not in PUBLIC_ROUTES:
        if session is None:
            if request.method in ("GET", "HEAD"):
                raise web.HTTPSeeOther(f"{CONSOLE_PATH}/login?next={quote(request.path_qs, safe='')}")
            log.info("console.refused reason=no_session method=%s path=%s", request.method, request.path)
            return web.Response(status=401, text="401: sign in to the console first (/admin/login).")
        if request.method not in ("GET", "HEAD"):
            form = await request.post()
            token = form.get("csrf")
            if not _same_origin(request) or not console.keys.csrf_ok(
                session, token if isinstance(token, str) else None
            ):
                log.warning(
                    "console.refused reason=csrf identity=%s path=%s origin=%s",
                    session.identity,
                    request.path,
                    request.headers.get("Origin", "-"),
                )
                request[SESSION] = None  # the refusal page offers no form to retry with
                return message_page(request, 403, "forbidden")
    try:
        return await handler(request)
    except web.HTTPException:
        raise
    except NotFound:
        return message_page(request, 404, "not_found")
    except CoreError as e:  # written for people: shown as it is
        log.info("console.refused reason=%s path=%s message=%s", e.code, request.path, e.message)
        return message_page(request, 400, None, e.message)
    except Exception:
        log.exception("console.page_failed method=%s path=%s", request.method, request.path)
        return message_page(request, 500, "error")


@web.middleware
async def finish(request: web.Request, handler: Handler) -> web.StreamResponse:
    nonce = secrets.token_urlsafe(16)
    request[NONCE] = nonce
    chosen = request.query.get("lang")
    request[LANG] = pick_lang(
        chosen or request.cookies.get(LANG_COOKIE), request.headers.get("Accept-Language")
    )
    raised: web.HTTPException | None = None
    try:
        response = await handler(request)
    except web.HTTPException as e:
        response = raised = e
    headers = response.headers
    headers["Content-Security-Policy"] = CSP.format(nonce=nonce)
    headers["X-Frame-Options"] = "DENY"
    headers["X-Content-Type-Options"] = "nosniff"
    # same-origin, not no-referrer: under no-referrer browsers send "Origin: null" with form posts,
    # and the guard could no longer tell the console's own forms from another site's
    headers["Referrer-Policy"] = "same-origin"
    headers["Cache-Control"] = "no-store"
    if chosen in LANGS and isinstance(response, web.Response):
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 86400, path=CONSOLE_PATH, samesite="Lax")
    if raised is not None:
        raise raised
    return response
