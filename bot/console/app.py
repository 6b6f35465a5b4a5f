"""The admin console as an aiohttp application, mounted under ``/admin`` on the HTTP server of
``ragbot serve`` (``bot.runtime``). docs/console.md describes the pages and the security model."""

from __future__ import annotations

import time
from collections.abc import Callable

from aiohttp import web

from bot.console import actions, auth, pages, review
from bot.console.context import CONSOLE, CONSOLE_PATH, Console
from bot.console.identities import ConsoleAdmins
from bot.console.limiter import LoginLimiter
from bot.console.middleware import finish, guard
from bot.console.rendering import message_page, template_environment
from bot.console.sessions import SessionKeys, derive_key
from bot.settings import ConsoleSettings
from core.errors import ConfigError
from core.service import RagService

__all__ = ["MIN_PASSWORD_CHARS", "settings_problems", "build_console", "mount_console"]

MIN_PASSWORD_CHARS = 12


def _password_problem(settings: ConsoleSettings) -> str | None:
    password = settings.password.get_secret_value() if settings.password else ""
    if len(password) >= MIN_PASSWORD_CHARS:
        return None
    return (
        f"CONSOLE_ENABLED=true needs CONSOLE_PASSWORD of at least {MIN_PASSWORD_CHARS} characters "
        "(e.g. `openssl rand -base64 24`): it is the console's sign-in secret and the key of its sessions."
    )


def settings_problems(settings: ConsoleSettings) -> list[str]:
    """What stops the console from starting, for ``ragbot serve``'s settings check."""
    problem = _password_problem(settings) if settings.enabled else None
    return [problem] if problem else []


def build_console(
    settings: ConsoleSettings,
    service: RagService,
    *,
    admins: ConsoleAdmins | None = None,
    available: Callable[[], bool] = lambda: True,
    clock: Callable[[], float] = time.time,
) -> web.Application:
    """The console application, to be mounted with ``mount_console``. Refuses to build without a
    usable password (also when ``settings.enabled`` is false: building it means serving it).
    ``admins``: who besides password holders may sign in (``identities.console_admins``; default:
    the admins kept in the database). ``clock`` (epoch seconds) times sessions, links and the
    sign-in limit; tests move it."""
    problem = _password_problem(settings)
    if problem:
        raise ConfigError(problem)
    password = settings.password.get_secret_value() if settings.password else ""
    app = web.Application(middlewares=[finish, guard])
    app[CONSOLE] = Console(
        settings=settings,
        service=service,
        keys=SessionKeys(derive_key(password), lifetime_s=settings.session_hours * 3600, clock=clock),
        limiter=LoginLimiter(settings.login_attempts, settings.login_window_s, clock=clock),
        templates=template_environment(),
        admins=admins or ConsoleAdmins(service),
        available=available,
    )
    app.add_routes(auth.routes())
    app.add_routes(pages.routes())
    app.add_routes(actions.routes())
    app.add_routes(review.routes())
    app.router.add_route("*", "/{tail:.*}", _not_found)  # last: unknown paths need a session too
    return app


async def _not_found(request: web.Request) -> web.StreamResponse:
    return message_page(request, 404, "not_found")


def mount_console(app: web.Application, console: web.Application) -> None:
    """Serve ``console`` under /admin/ on ``app``; /admin itself leads there."""

    async def to_console(request: web.Request) -> web.StreamResponse:
        raise web.HTTPSeeOther(f"{CONSOLE_PATH}/")

    app.router.add_get(CONSOLE_PATH, to_console)
    app.add_subapp(f"{CONSOLE_PATH}/", console)
