"""Pages from Jinja templates (``templates/``), autoescaped, with the request's language, session
and CSRF token; and the small page that only says something (not found, refused, starting)."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from bot.console.context import CONSOLE, LANG, NONCE, SESSION
from bot.console.i18n import LANGS, translator
from bot.console.sessions import Session
from bot.logs import redact

__all__ = ["template_environment", "render", "message_page"]


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "—"


def _seconds(value: float | None) -> str:
    return "—" if value is None else f"{value:.2f} s"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.0%}"


def template_environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(Path(__file__).with_name("templates")),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # source locations and pin errors may carry a token in a URL: shown as the logs show them
    env.filters.update(when=_when, seconds=_seconds, percent=_percent, redact=redact)
    return env


def render(request: web.Request, template: str, *, status: int = 200, **context: Any) -> web.Response:
    console = request.app[CONSOLE]
    session: Session | None = request.get(SESSION)
    lang = request[LANG]
    other = next(code for code in LANGS if code != lang)
    html = console.templates.get_template(template).render(
        t=translator(lang),
        lang=lang,
        switch_url=str(request.rel_url.update_query(lang=other)),
        nonce=request[NONCE],
        identity=session.identity if session else None,
        csrf=console.keys.csrf_token(session) if session else "",
        **context,
    )
    return web.Response(text=html, content_type="text/html", status=status)


def message_page(request: web.Request, status: int, key: str | None, message: str = "") -> web.Response:
    """A page with one sentence: a text of the console (``key``) or a CoreError's message."""
    return render(request, "message.html", status=status, message_key=key, message=message)
