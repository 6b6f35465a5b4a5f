"""The console's pages (GET): spaces and their documents, pinned sources, channel bindings, the
question log and one answer, usage over time. Everything comes through ``RagService``."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from aiohttp import web

from bot.console.charts import bar_chart, line_chart
from bot.console.context import CONSOLE, LANG
from bot.console.i18n import translator
from bot.console.rendering import render
from core.errors import NotFound
from core.models import QuestionLogQuery
from core.service import RagService

__all__ = ["routes", "space_names", "PAGE_SIZE", "USAGE_DAYS"]

PAGE_SIZE = 50
USAGE_DAYS = (7, 30, 90)
MESSAGES = frozenset({"ran_ok", "ran_failed", "busy", "verified", "removed", "not_removed"})


async def space_names(service: RagService) -> list[str]:
    """Every space something refers to: documents, pinned sources or channel bindings."""
    names = {s.space_id for s in await service.spaces()}
    names |= {p.space_id for p in await service.pins()}
    names |= {b.space_id for b in await service.bindings()}
    return sorted(names)


def _message(request: web.Request) -> str | None:
    """A notice after an action (?msg=...): one of the console's own texts, never text from the URL."""
    msg = request.query.get("msg")
    return f"msg_{msg}" if msg in MESSAGES else None


@dataclass(frozen=True)
class SpaceRow:
    space_id: str
    documents: int
    chunks: int
    types: list[tuple[str, int]]
    last_ingested_at: datetime | None
    pins: int
    failing: int
    channels: int


async def spaces(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    summaries = {s.space_id: s for s in await service.spaces()}
    pins = await service.pins()
    bindings = await service.bindings()
    rows = []
    for name in await space_names(service):
        summary = summaries.get(name)
        docs = await service.documents(name) if summary else []
        in_space = [p for p in pins if p.space_id == name]
        rows.append(
            SpaceRow(
                space_id=name,
                documents=summary.documents if summary else 0,
                chunks=summary.chunks if summary else 0,
                types=Counter(d.doc_type for d in docs).most_common(),
                last_ingested_at=summary.last_ingested_at if summary else None,
                pins=len(in_space),
                failing=sum(1 for p in in_space if p.consecutive_failures),
                channels=sum(1 for b in bindings if b.space_id == name),
            )
        )
    return render(request, "spaces.html", nav="spaces", rows=rows)


async def space(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    name = request.match_info["space"]
    if name not in await space_names(service):
        raise NotFound(f"There is no space named '{name}'.")
    return render(
        request,
        "space.html",
        nav="spaces",
        space_id=name,
        documents=await service.documents(name),
        pins=await service.pins(name),
        bindings=await service.bindings(name),
    )


async def sources(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    return render(
        request, "sources.html", nav="sources", pins=await service.pins(), message=_message(request)
    )


async def bindings(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    return render(request, "bindings.html", nav="bindings", bindings=await service.bindings())


class _BadFilter(Exception):
    """A date filter that is not a date: the page says which."""

    def __init__(self, value: str) -> None:
        super().__init__(value)
        self.value = value


def _day(request: web.Request, name: str) -> date | None:
    value = request.query.get(name, "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _BadFilter(value) from None


def _start(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=UTC)


async def questions(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    q = request.query
    filters = {
        "space": q.get("space", ""),
        "vote": q.get("vote", "") if q.get("vote") in ("up", "down", "none") else "",
        "declined": q.get("declined", "") if q.get("declined") in ("yes", "no") else "",
        "from": q.get("from", ""),
        "to": q.get("to", ""),
    }
    page = max(int(q["page"]) if q.get("page", "").isdigit() else 1, 1)
    context = {"nav": "questions", "spaces": await space_names(service), "filters": filters, "page": page}
    try:
        since, until = _day(request, "from"), _day(request, "to")
    except _BadFilter as bad:
        error = translator(request[LANG])("bad_date", value=bad.value)
        return render(request, "questions.html", status=400, error=error, entries=(), total=0, **context)
    query = QuestionLogQuery(
        space_id=filters["space"] or None,
        vote=filters["vote"] or None,
        declined={"yes": True, "no": False}.get(filters["declined"]),
        since=_start(since) if since else None,
        until=_start(until + timedelta(days=1)) if until else None,  # "to" is the last day shown
        limit=PAGE_SIZE,
        offset=(page - 1) * PAGE_SIZE,
    )
    result = await service.question_log(query)
    kept = {k: v for k, v in filters.items() if v}
    return render(
        request,
        "questions.html",
        error="",
        entries=result.entries,
        total=result.total,
        first=query.offset + 1,
        last=query.offset + len(result.entries),
        newer=str(request.rel_url.with_query({**kept, "page": page - 1})) if page > 1 else "",
        older=str(request.rel_url.with_query({**kept, "page": page + 1}))
        if query.offset + len(result.entries) < result.total
        else "",
        **context,
    )


async def answer(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    logged = await service.logged_answer(request.match_info["answer_id"])
    if logged is None:
        raise NotFound("That answer is not in the log.")
    return render(request, "answer.html", nav="questions", entry=logged)


async def usage(request: web.Request) -> web.StreamResponse:
    service = request.app[CONSOLE].service
    t = translator(request[LANG])
    space_id = request.query.get("space", "") or None
    days = int(request.query.get("days", "30")) if request.query.get("days", "").isdigit() else 30
    days = days if days in USAGE_DAYS else 30
    report = await service.usage(space_id, days)
    x = [d.day for d in report.days]
    charts = [
        ("questions_per_day", bar_chart(x, [d.questions for d in report.days], label=t("questions_per_day"))),
        (
            "helpful_rate",
            line_chart(
                x,
                [d.helpful_rate for d in report.days],
                label=t("helpful_rate"),
                fmt="{:.0%}".format,
                fixed_max=1.0,
            ),
        ),
        (
            "declined_rate",
            line_chart(
                x,
                [d.declined_rate for d in report.days],
                label=t("declined_rate"),
                fmt="{:.0%}".format,
                fixed_max=1.0,
            ),
        ),
        (
            "ttft_p50",
            line_chart(x, [d.ttft_p50_s for d in report.days], label=t("ttft_p50"), fmt="{:.2f}".format),
        ),
    ]
    votes = report.up + report.down
    return render(
        request,
        "usage.html",
        nav="usage",
        spaces=await space_names(service),
        space=space_id or "",
        days=days,
        choices=USAGE_DAYS,
        report=report,
        charts=charts,
        helpful=report.up / votes if votes else None,
        declined=report.declined / report.questions if report.questions else None,
    )


def routes() -> list[web.RouteDef]:
    return [
        web.get("/", spaces, name="home"),
        web.get("/spaces", spaces, name="spaces"),
        web.get("/spaces/{space}", space, name="space"),
        web.get("/sources", sources, name="sources"),
        web.get("/bindings", bindings, name="bindings"),
        web.get("/questions", questions, name="questions"),
        web.get("/questions/{answer_id}", answer, name="answer"),
        web.get("/usage", usage, name="usage"),
    ]
