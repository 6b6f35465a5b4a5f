"""`ragbot db`, `bind`, `unbind`, `admins`, `pin`, `unpin`, `reindex`, `status`, `feedback`."""

from __future__ import annotations

import argparse
import json

from bot.bootstrap import database_revision, upgrade_database
from bot.chat.intervals import describe_interval, parse_interval
from bot.cli._common import ProgressBar, running_service
from bot.cli.documents import add_source_options, print_report, source_locations
from bot.settings import Settings
from core.errors import InvalidInput
from core.models import ANSWER_LANGS, CHANNEL_MODES, VISIBILITIES, Binding, SourceState

__all__ = ["register", "parse_every", "source_line", "source_json"]

_PLATFORMS = ("slack", "telegram")


def parse_every(text: str) -> int:
    """``--every``: the chat's interval words (bot.chat.intervals), as an argparse type."""
    try:
        return parse_interval(text)
    except InvalidInput as e:
        raise argparse.ArgumentTypeError(e.message) from e


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("db", help="database migrations")
    dbsub = p.add_subparsers(dest="db_command", required=True)
    up = dbsub.add_parser("upgrade", help="apply migrations up to the newest (or --revision)")
    up.add_argument("--revision", default="head")
    up.set_defaults(handler=db_upgrade)
    cur = dbsub.add_parser("current", help="show the schema revision of the database")
    cur.set_defaults(handler=db_current)

    p = sub.add_parser("bind", help="answer in a Slack channel or Telegram chat from a space")
    p.add_argument("--platform", choices=_PLATFORMS, required=True)
    p.add_argument("--channel", required=True, help="Slack channel id (C...) or Telegram chat id")
    p.add_argument("--team", default="", help="Slack workspace id (T...), if the app serves several")
    p.add_argument("--space", required=True)
    p.add_argument(
        "--no-thread-followups", action="store_true", help="require a mention for thread follow-ups"
    )
    # the channel's settings (docs/chat.md); what is not given keeps its value when binding again
    p.add_argument(
        "--mode",
        choices=CHANNEL_MODES,
        help="mention (default): when called; questions: every question asked",
    )
    p.add_argument(
        "--visibility",
        choices=VISIBILITIES,
        help="thread (default), or private: only the asker sees the answer",
    )
    p.add_argument("--doc-type", help="search this document type unless a question names one; 'none': any")
    p.add_argument(
        "--lang",
        choices=(*ANSWER_LANGS, "auto"),
        help="answer language when a question does not tell; auto: the thread's",
    )
    p.set_defaults(handler=bind)

    p = sub.add_parser("unbind", help="stop answering in a channel or chat")
    p.add_argument("--platform", choices=_PLATFORMS, required=True)
    p.add_argument("--channel", required=True)
    p.add_argument("--team", default="")
    p.set_defaults(handler=unbind)

    p = sub.add_parser("admins", help="manage who may run admin commands in chat")
    p.add_argument("action", choices=("add", "remove"))
    p.add_argument("--platform", choices=_PLATFORMS, required=True)
    p.add_argument("--user", required=True, help="Slack user id (U...) or Telegram user id")
    p.set_defaults(handler=admins)

    p = sub.add_parser("pin", help="ingest a source now and re-ingest it on a schedule")
    p.add_argument(
        "location", metavar="SOURCE", help="a path, URL, site (--crawl), sitemap, git+... or confluence+..."
    )
    p.add_argument("--space", required=True)
    p.add_argument(
        "--every",
        type=parse_every,
        default=None,
        help="interval, e.g. 30m, 6h (default: SCHEDULER_DEFAULT_EVERY_S, 6h unless set)",
    )
    p.add_argument("--cron", help="a crontab expression instead of an interval, e.g. '0 */4 * * *'")
    p.add_argument("--doc-type")
    add_source_options(p)
    p.set_defaults(handler=pin)

    p = sub.add_parser("unpin", help="stop re-ingesting a source and remove its documents")
    p.add_argument("location", metavar="URL_OR_PATH")
    p.add_argument("--space", required=True)
    p.set_defaults(handler=unpin)

    p = sub.add_parser("reindex", help="read every source of a space again (unchanged ones cost nothing)")
    p.add_argument("--space", help="the space (required unless --keywords, which then does every space)")
    p.add_argument(
        "--force", action="store_true", help="write unchanged documents again (rebuild lost indexes)"
    )
    p.add_argument(
        "--keywords",
        action="store_true",
        help="build the keyword index (KEYWORD_INDEX) from the chunks already stored, without re-embedding",
    )
    p.set_defaults(handler=reindex)

    p = sub.add_parser("status", help="documents, chunks, last sync and failing sources")
    p.add_argument("--space")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=status)

    p = sub.add_parser("feedback", help="feedback statistics")
    fsub = p.add_subparsers(dest="feedback_command", required=True)
    st = fsub.add_parser("stats", help="votes, thumbs-up rate, worst-rated answers")
    st.add_argument("--space")
    st.add_argument("--worst", type=int, default=5)
    st.add_argument("--json", action="store_true")
    st.set_defaults(handler=feedback_stats)


async def db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    revision = await upgrade_database(settings, args.revision)
    print(f"database at revision {revision}")
    return 0


async def db_current(args: argparse.Namespace, settings: Settings) -> int:
    print(await database_revision(settings) or "no ragbot tables yet")
    return 0


async def bind(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings, store_only=True) as service:
        before = await service.binding_for(args.platform, args.channel, args.team)
        kept = before if before is not None and before.team_id == args.team else Binding("", "", "")
        binding = Binding(
            platform=args.platform,
            channel_id=args.channel,
            team_id=args.team,
            space_id=args.space,
            thread_followups=not args.no_thread_followups,
            mode=args.mode or kept.mode,
            visibility=args.visibility or kept.visibility,
            doc_type=kept.doc_type if args.doc_type is None else _none_for(args.doc_type),
            lang=kept.lang if args.lang is None else _none_for(args.lang),
        )
        await service.bind(binding)
    extras = f", type {binding.doc_type}" if binding.doc_type else ""
    extras += f", language {binding.lang}" if binding.lang else ""
    print(
        f"{args.platform} {args.channel} now answers from space {args.space} "
        f"({binding.mode}, {binding.visibility}{extras})"
    )
    return 0


def _none_for(value: str) -> str | None:
    """'none' / 'auto' clear a setting."""
    return None if value.lower() in ("none", "auto", "any") else value.lower()


async def unbind(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings, store_only=True) as service:
        removed = await service.unbind(args.platform, args.channel, args.team)
    print(
        f"{args.platform} {args.channel} unbound"
        if removed
        else f"{args.platform} {args.channel} was not bound"
    )
    return 0 if removed else 1


async def admins(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings, store_only=True) as service:
        if args.action == "add":
            await service.add_admin(args.platform, args.user)
            print(f"{args.platform} user {args.user} is an admin")
            return 0
        removed = await service.remove_admin(args.platform, args.user)
    print(
        f"{args.platform} user {args.user} is no longer an admin" if removed else "that user was not an admin"
    )
    return 0 if removed else 1


async def pin(args: argparse.Namespace, settings: Settings) -> int:
    if args.every and args.cron:
        raise InvalidInput("give either --every or --cron, not both")
    (location,) = source_locations(args, [args.location])
    async with running_service(settings) as service:
        pinned, report = await service.pin(
            args.space,
            location,
            every_s=args.every,
            cron=args.cron,
            doc_type=args.doc_type,
            pinned_by="cli",
        )
    schedule = f"cron '{pinned.cron}'" if pinned.cron else describe_interval(pinned.every_s or 0)
    print(f"pinned {pinned.location} in {pinned.space_id} ({schedule})")
    print_report(report)
    return 0 if report.ok else 1


async def unpin(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings) as service:
        report = await service.unpin(args.space, args.location)
    print(f"unpinned {args.location}")
    print_report(report)
    return 0


async def reindex(args: argparse.Namespace, settings: Settings) -> int:
    if args.keywords:
        return await reindex_keywords(args, settings)
    if not args.space:
        raise InvalidInput("give --space (or --keywords to rebuild the keyword index of every space)")
    bar = ProgressBar()
    async with running_service(settings) as service:
        try:
            report = await service.reindex(args.space, force=args.force, progress=bar)
        finally:
            bar.close()
    print_report(report)
    return 0 if report.ok else 1


async def reindex_keywords(args: argparse.Namespace, settings: Settings) -> int:
    bar = ProgressBar()
    async with running_service(settings) as service:
        try:
            written = await service.reindex_keywords(args.space, progress=bar)
        finally:
            bar.close()
        backend = service.keywords.backend
    for space, n in written.items():
        print(f"{space}: {n} chunks written to the keyword index ({backend})")
    if not written:
        print("no spaces yet")
    return 0


async def status(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings, store_only=True) as service:
        space_ids = [args.space] if args.space else [s.space_id for s in await service.spaces()]
        rows = [await service.status(space_id) for space_id in space_ids]
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "space": r.space_id,
                        "documents": r.documents,
                        "chunks": r.chunks,
                        "last_ingested_at": r.last_ingested_at.isoformat() if r.last_ingested_at else None,
                        "keyword_index": r.keyword_index,
                        "keyword_chunks": r.keyword_chunks,
                        "pins": [
                            {
                                "location": p.location,
                                "every_s": p.every_s,
                                "cron": p.cron,
                                "last_success_at": p.last_success_at.isoformat()
                                if p.last_success_at
                                else None,
                                "consecutive_failures": p.consecutive_failures,
                                "last_error": p.last_error,
                            }
                            for p in r.pins
                        ],
                        "sources": [source_json(st) for st in r.sources],
                    }
                    for r in rows
                ]
            )
        )
        return 0
    if not rows:
        print("no spaces yet")
    for r in rows:
        when = r.last_ingested_at.strftime("%Y-%m-%d %H:%M UTC") if r.last_ingested_at else "never"
        print(f"{r.space_id}: {r.documents} documents, {r.chunks} chunks, last ingested {when}")
        behind = (
            " — fewer than the chunks: run `ragbot reindex --keywords`"
            if r.keyword_chunks is not None and r.keyword_chunks < r.chunks
            else ""
        )
        held = f", {r.keyword_chunks} chunks{behind}" if r.keyword_chunks is not None else ""
        print(f"  keyword index: {r.keyword_index}{held}")
        for p in r.pins:
            state = (
                "ok" if not p.consecutive_failures else f"FAILING x{p.consecutive_failures}: {p.last_error}"
            )
            schedule = f"cron '{p.cron}'" if p.cron else describe_interval(p.every_s or 0)
            print(f"  pinned {p.location} ({schedule}) — {state}")
        for st in r.sources:
            print(f"  source {source_line(st)}")
    return 0


def source_line(state: SourceState) -> str:
    """`<location> (<kind>): N documents, last run <when> — ok | FAILING: <error>`."""
    when = state.last_run_at.strftime("%Y-%m-%d %H:%M UTC") if state.last_run_at else "never"
    skipped = f", {state.skipped} skipped" if state.skipped else ""
    verdict = f"FAILING: {state.last_error}" if state.last_error else "ok"
    return (
        f"{state.location} ({state.kind}): {state.documents} documents{skipped}, last run {when} — {verdict}"
    )


def source_json(state: SourceState) -> dict:
    return {
        "location": state.location,
        "kind": state.kind,
        "documents": state.documents,
        "skipped": state.skipped,
        "last_run_at": state.last_run_at.isoformat() if state.last_run_at else None,
        "last_success_at": state.last_success_at.isoformat() if state.last_success_at else None,
        "last_error": state.last_error,
        "last_run": dict(state.cursor.get("last_run", {})),
    }


async def feedback_stats(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings, store_only=True) as service:
        stats = await service.feedback_stats(args.space, args.worst)
    if args.json:
        print(
            json.dumps(
                {
                    "space": stats.space_id,
                    "answers": stats.answers,
                    "votes": stats.votes,
                    "up": stats.up,
                    "down": stats.down,
                    "up_rate": round(stats.up_rate, 4),
                    "worst": [
                        {
                            "answer_id": w.answer_id,
                            "question": w.question,
                            "up": w.up,
                            "down": w.down,
                            "reasons": list(w.reasons),
                        }
                        for w in stats.worst
                    ],
                },
                ensure_ascii=False,
            )
        )
        return 0
    scope = f"space {stats.space_id}" if stats.space_id else "all spaces"
    print(
        f"{scope}: {stats.answers} answers, {stats.votes} votes, {stats.up_rate:.0%} thumbs-up ({stats.up} up / {stats.down} down)"
    )
    for w in stats.worst:
        reasons = f" — {'; '.join(w.reasons)}" if w.reasons else ""
        print(f"  -{w.down}/+{w.up}  {w.question[:100]}{reasons}")
    return 0
