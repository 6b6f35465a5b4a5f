"""The review queue and verified answers (docs/console.md, docs/feedback.md): answers voted down,
with the reasons people gave; the form that turns one into a verified answer (or endorses a good
answer as it is); the list of verified answers, with removal. Saving goes through
``RagService.verify_answer`` with the signed-in person as the author."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from aiohttp import web

from bot.console.context import CONSOLE, CONSOLE_PATH, session_of
from bot.console.pages import space_names
from bot.console.rendering import render
from core.errors import CoreError, InvalidInput, NotFound
from core.models import LoggedAnswer, Source

__all__ = ["routes"]

log = logging.getLogger(__name__)

REVIEW_LIMIT = 100


async def review(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    space_id = request.query.get("space", "") or None
    entries = await service.review_queue(space_id, limit=REVIEW_LIMIT)
    return render(
        request,
        "review.html",
        nav="review",
        entries=entries,
        spaces=await space_names(service),
        space=space_id or "",
    )


def _form(
    request: web.Request,
    entry: LoggedAnswer | None,
    values: Mapping[str, Any],
    *,
    status: int = 200,
    error: str = "",
) -> web.Response:
    return render(
        request,
        "verify.html",
        status=status,
        nav="review",
        entry=entry,
        values=values,
        error=error,
    )


async def verify_form(request: web.Request) -> web.StreamResponse:
    """The form for one answer: its question, the answer people voted down and why, its sources
    to keep (the cited ones ticked) and room for the corrected text."""
    service = request.app[CONSOLE].service
    entry = await service.logged_answer(request.match_info["answer_id"])
    if entry is None:
        raise NotFound("That answer is not in the log.")
    a = entry.answer
    values = {
        "space": a.space_id,
        "question": a.question,
        "text": "",
        "sources": [s.doc_id for s in a.sources if s.cited],
        "more_sources": "",
    }
    return _form(request, entry, values)


def _chosen_sources(entry: LoggedAnswer | None, doc_ids: list[str]) -> list[Source]:
    """The original answer's sources the person kept, by document id: only ever the answer's own,
    whatever the form says (a forged id finds nothing)."""
    if entry is None:
        return []
    keep = set(doc_ids)
    return [s for s in entry.answer.sources if s.doc_id in keep]


async def save(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    who = session_of(request).identity
    form = await request.post()
    from_answer_id = str(form.get("from_answer_id", "")).strip() or None
    entry = await service.logged_answer(from_answer_id) if from_answer_id else None
    if from_answer_id and entry is None:
        raise NotFound("That answer is not in the log.")
    values = {
        "space": entry.answer.space_id if entry else str(form.get("space", "")).strip(),
        "question": str(form.get("question", "")),
        "text": str(form.get("text", "")),
        "sources": [str(v) for v in form.getall("source", [])],
        "more_sources": str(form.get("more_sources", "")),
    }
    endorse = form.get("endorse") == "1" and entry is not None
    try:
        if endorse:
            assert entry is not None
            if entry.answer.declined:
                raise InvalidInput("A declined answer has nothing to endorse: write the answer instead.")
            verified = await service.verify_answer(
                entry.answer.space_id,
                entry.answer.question,
                entry.answer.text,
                author=who,
                from_answer_id=entry.answer.answer_id,
            )
        else:
            refs = [line.strip() for line in values["more_sources"].splitlines() if line.strip()]
            sources = _chosen_sources(entry, values["sources"])
            if refs:
                sources += list(await service.document_sources(values["space"], refs))
            verified = await service.verify_answer(
                values["space"],
                values["question"],
                values["text"],
                author=who,
                sources=sources,
                from_answer_id=from_answer_id,
            )
    except CoreError as e:  # the person's text is kept in the form, with what to fix
        log.info("console.verify_refused identity=%s code=%s message=%s", who, e.code, e.message)
        return _form(request, entry, values, status=400, error=e.message)
    log.info(
        "console.verified identity=%s verified=%s space=%s from_answer=%s endorsed=%s",
        who,
        verified.verified_id,
        verified.space_id,
        from_answer_id or "-",
        endorse,
    )
    raise web.HTTPSeeOther(f"{CONSOLE_PATH}/verified?space={verified.space_id}&msg=verified")


async def verified_list(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    space_id = request.query.get("space", "") or None
    msg = request.query.get("msg")
    return render(
        request,
        "verified.html",
        nav="verified",
        answers=await service.verified_answers(space_id),
        spaces=await space_names(service),
        space=space_id or "",
        message=f"msg_{msg}" if msg in ("verified", "removed", "not_removed") else None,
    )


async def remove(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    verified_id = request.match_info["verified_id"]
    removed = await service.remove_verified(verified_id)
    log.info(
        "console.verified_removed identity=%s verified=%s removed=%s",
        session_of(request).identity,
        verified_id,
        removed,
    )
    raise web.HTTPSeeOther(f"{CONSOLE_PATH}/verified?msg={'removed' if removed else 'not_removed'}")


def routes() -> list[web.RouteDef]:
    return [
        web.get("/review", review, name="review"),
        web.get("/review/{answer_id}", verify_form, name="verify_form"),
        web.post("/verified", save, name="verify"),
        web.get("/verified", verified_list, name="verified"),
        web.post("/verified/{verified_id}/remove", remove, name="remove_verified"),
    ]
