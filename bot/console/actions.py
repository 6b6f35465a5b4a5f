"""What the console changes (POST, each with the session's CSRF token, checked by the guard):
re-ingesting a pinned source now. Each action is logged with who did it, then redirects to a page
that says how it went (post/redirect/get: reloading does not repeat it)."""

from __future__ import annotations

import logging

from aiohttp import web

from bot.console.context import CONSOLE, CONSOLE_PATH, session_of
from core.errors import Busy, NotFound

__all__ = ["routes"]

log = logging.getLogger(__name__)


async def run_pin(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    pin_id = int(request.match_info["pin_id"])
    pin = next((p for p in await service.pins() if p.pin_id == pin_id), None)
    if pin is None:
        raise NotFound(f"There is no pinned source #{pin_id}.")
    who = session_of(request).identity
    log.info("console.pin_run identity=%s pin=%d space=%s", who, pin.pin_id, pin.space_id)
    try:
        run = await service.refresh_pin(pin)
    except Busy:
        raise web.HTTPSeeOther(f"{CONSOLE_PATH}/sources?msg=busy") from None
    raise web.HTTPSeeOther(f"{CONSOLE_PATH}/sources?msg={'ran_failed' if run.error else 'ran_ok'}")


def routes() -> list[web.RouteDef]:
    return [web.post(r"/sources/{pin_id:\d+}/run", run_pin, name="run_pin")]
