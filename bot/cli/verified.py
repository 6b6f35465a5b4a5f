"""`ragbot verified add|list|remove` (answers people vouched for) and `ragbot forget --user`
(delete a person's questions and votes on request). docs/feedback.md describes both. They read
and change only the database, so they run beside a `ragbot serve` that holds the embedded
indexes (a verified question is embedded when a question first meets it, not here)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from pathlib import Path

from bot.cli._common import running_service
from bot.settings import Settings
from core.errors import InvalidInput
from core.models import VerifiedAnswer

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("verified", help="answers people vouched for: add, list, remove")
    vsub = p.add_subparsers(dest="verified_command", required=True)
    add = vsub.add_parser(
        "add",
        help="answer a question (and the same asked in other words) with this text from now on",
    )
    add.add_argument("--space", required=True)
    add.add_argument("--question", required=True, help="the question as people ask it")
    text = add.add_mutually_exclusive_group()
    text.add_argument("--text", help="the verified answer (Markdown)")
    text.add_argument("--text-file", type=Path, help="read the verified answer from this file ('-': stdin)")
    add.add_argument(
        "--from-answer",
        metavar="ANSWER_ID",
        help="the generated answer it corrects; without --text it is endorsed as it is",
    )
    add.add_argument(
        "--source",
        action="append",
        default=[],
        metavar="DOC",
        help="a document id or location of the space it is based on (repeatable; default: what "
        "--from-answer cited)",
    )
    add.add_argument("--author", help="who vouches for it (default: cli:<login name>)")
    add.add_argument("--json", action="store_true")
    add.set_defaults(handler=add_verified)

    ls = vsub.add_parser("list", help="verified answers, newest first, with those to review")
    ls.add_argument("--space")
    ls.add_argument("--json", action="store_true")
    ls.set_defaults(handler=list_verified)

    rm = vsub.add_parser("remove", help="stop answering from a verified answer")
    rm.add_argument("verified_id", metavar="ID")
    rm.set_defaults(handler=remove_verified)

    p = sub.add_parser("forget", help="delete a person's questions, answers and votes")
    p.add_argument("--user", required=True, metavar="PLATFORM:ID", help="e.g. slack:U0123 or telegram:42")
    p.set_defaults(handler=forget)


def _as_json(v: VerifiedAnswer) -> dict:
    return {
        "verified_id": v.verified_id,
        "space": v.space_id,
        "question": v.question,
        "text": v.text,
        "sources": [{"doc_id": s.doc_id, "title": s.title, "location": s.location} for s in v.sources],
        "author": v.author,
        "created_at": v.created_at.isoformat(),
        "lang": v.lang,
        "from_answer_id": v.from_answer_id,
        "needs_review": v.needs_review,
    }


def _read_text(args: argparse.Namespace) -> str | None:
    if args.text is not None:
        return args.text
    if args.text_file is None:
        return None
    if str(args.text_file) == "-":
        return sys.stdin.read()
    try:
        return args.text_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        raise InvalidInput(f"Cannot read {args.text_file}: {e}") from e


async def add_verified(args: argparse.Namespace, settings: Settings) -> int:
    text = _read_text(args)
    async with running_service(settings, store_only=True) as service:
        if text is None:
            if not args.from_answer:
                raise InvalidInput("Give the answer: --text, --text-file, or --from-answer to endorse one.")
            original = await service.get_answer(args.from_answer)
            if original is None:
                raise InvalidInput(f"There is no answer {args.from_answer!r} on record.")
            text = original.text
        sources = await service.document_sources(args.space, args.source) if args.source else ()
        verified = await service.verify_answer(
            args.space,
            args.question,
            text,
            author=args.author or f"cli:{getpass.getuser()}",
            sources=sources,
            from_answer_id=args.from_answer,
        )
    if args.json:
        print(json.dumps(_as_json(verified), ensure_ascii=False))
        return 0
    print(f"verified answer {verified.verified_id} in {verified.space_id}: {verified.question}")
    for s in verified.sources:
        print(f"  [{s.n}] {s.title or s.doc_id} ({s.location})")
    return 0


async def list_verified(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings, store_only=True) as service:
        found = await service.verified_answers(args.space)
    if args.json:
        print(json.dumps([_as_json(v) for v in found], ensure_ascii=False))
        return 0
    if not found:
        print("no verified answers" + (f" in {args.space}" if args.space else ""))
    for v in found:
        flag = "  REVIEW: a source changed, not served until verified again" if v.needs_review else ""
        print(f"{v.verified_id}  {v.space_id}  {v.created_at:%Y-%m-%d}  {v.author}  {v.question[:80]}{flag}")
    return 0


async def remove_verified(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings, store_only=True) as service:
        removed = await service.remove_verified(args.verified_id)
    print(f"removed {args.verified_id}" if removed else f"there is no verified answer {args.verified_id}")
    return 0 if removed else 1


async def forget(args: argparse.Namespace, settings: Settings) -> int:
    platform, sep, user_id = args.user.partition(":")
    if not sep or not platform or not user_id:
        raise InvalidInput(f"'{args.user}' is not PLATFORM:ID, e.g. slack:U0123 or telegram:42.")
    async with running_service(settings, store_only=True) as service:
        report = await service.forget_user(platform, user_id)
    print(
        f"deleted {report.answers} questions with their answers and {report.votes} votes on other "
        f"answers of {args.user}"
    )
    return 0
