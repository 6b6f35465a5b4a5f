"""`ragbot ingest`, `search`, `ask`, `spaces`: working with a space's documents."""

from __future__ import annotations

import argparse
import json
import sys

from bot.cli._common import ProgressBar, running_service
from bot.settings import Settings
from core.errors import InvalidInput
from core.ingest.locations import is_sitemap_url, with_options
from core.models import Answer, AnswerDone, IngestReport, OutcomeStatus, Question, QueuePosition, TextDelta

__all__ = ["register", "print_report", "add_source_options", "source_locations"]

_SOURCES_HELP = (
    "files, folders, URLs; a site with --crawl; a .../sitemap.xml; git+https://host/org/repo.git[@branch]"
    "[#path=docs/] (or git+ssh://, git+file://); confluence+https://wiki.example.com/spaces/KEY (docs/sources.md)"
)


def add_source_options(p: argparse.ArgumentParser) -> None:
    """--crawl and its bounds, for `ingest` and `pin`."""
    p.add_argument("--crawl", action="store_true", help="read the whole site under each http(s) URL's folder")
    p.add_argument(
        "--max-pages", type=int, metavar="N", help="pages read at most per site, sitemap or Confluence source"
    )
    p.add_argument(
        "--include", action="append", default=[], metavar="GLOB", help="keep only pages whose path matches"
    )
    p.add_argument(
        "--exclude", action="append", default=[], metavar="GLOB", help="skip pages whose path matches"
    )


def source_locations(args: argparse.Namespace, given: list[str]) -> list[str]:
    """The locations with --crawl / --max-pages / --include / --exclude written into them."""
    if args.max_pages is not None and args.max_pages < 1:
        raise InvalidInput("--max-pages must be at least 1.")
    lowered = [g.strip().lower() for g in given]
    if (args.crawl or args.include or args.exclude) and not any(
        g.startswith(("http://", "https://")) for g in lowered
    ):
        raise InvalidInput("--crawl, --include and --exclude apply to http(s) URLs (a site or a sitemap).")
    if args.max_pages is not None and not any(
        g.startswith(("http://", "https://", "confluence+")) for g in lowered
    ):
        raise InvalidInput("--max-pages applies to sites, sitemaps and Confluence sources.")
    out = []
    for location in given:
        web = location.strip().lower().startswith(("http://", "https://"))
        if web and (args.crawl or is_sitemap_url(location.partition("#")[0])):
            location = with_options(
                location,
                crawl=args.crawl,
                max_pages=args.max_pages,
                include=args.include,
                exclude=args.exclude,
            )
        elif web and (args.max_pages or args.include or args.exclude):
            raise InvalidInput(
                f"--max-pages, --include and --exclude need --crawl (or a sitemap URL): {location}"
            )
        elif location.strip().lower().startswith("confluence+") and args.max_pages is not None:
            base, _, _ = location.partition("#")
            location = f"{base}#max-pages={args.max_pages}"
        out.append(location)
    return out


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("ingest", help="ingest files, folders, URLs, sites, Git repositories or Confluence")
    p.add_argument("locations", nargs="+", metavar="SOURCE", help=_SOURCES_HELP)
    p.add_argument("--space", required=True)
    p.add_argument("--doc-type", help="set the document type instead of classifying")
    p.add_argument("--prune", action="store_true", help="remove documents that are gone from these locations")
    add_source_options(p)
    p.set_defaults(handler=ingest)

    p = sub.add_parser("search", help="show the passages retrieval finds for a question")
    p.add_argument("question")
    p.add_argument("--space", required=True)
    p.add_argument("--doc-type")
    p.add_argument("--top-k", type=int, default=None, help="passages to show (default: RETRIEVAL_TOP_K)")
    p.add_argument("--mode", choices=("hybrid", "dense", "bm25"), default="hybrid")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=search)

    p = sub.add_parser("ask", help="answer a question from a space, streamed")
    p.add_argument("question")
    p.add_argument("--space", required=True)
    p.add_argument("--doc-type")
    p.add_argument(
        "--json", action="store_true", help="print the finished answer as JSON instead of streaming"
    )
    p.set_defaults(handler=ask)

    p = sub.add_parser("spaces", help="list spaces with document and chunk counts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=spaces)


def print_report(report: IngestReport) -> None:
    counts = ", ".join(f"{report.count(s)} {s.value}" for s in OutcomeStatus if report.count(s))
    print(
        f"space {report.space_id}: {counts or 'nothing to do'} ({report.chunks_written} chunks written, {report.seconds:.1f} s)"
    )
    for outcome in report.failed:
        print(f"  failed  {outcome.source}: {outcome.reason}")
    skipped = [o for o in report.outcomes if o.status is OutcomeStatus.SKIPPED]
    for outcome in skipped[:20]:
        print(f"  skipped {outcome.source}: {outcome.reason}")
    if len(skipped) > 20:
        print(f"  ... and {len(skipped) - 20} more skipped")


async def ingest(args: argparse.Namespace, settings: Settings) -> int:
    locations = source_locations(args, args.locations)  # refused before any model loads
    bar = ProgressBar()
    async with running_service(settings) as service:
        try:
            report = await service.ingest(
                args.space,
                locations,
                doc_type=args.doc_type,
                prune=args.prune,
                progress=bar,
            )
        finally:
            bar.close()
    print_report(report)
    return 0 if report.ok else 1


async def search(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings) as service:
        result = await service.search(
            args.question, args.space, doc_type=args.doc_type, top_k=args.top_k, mode=args.mode
        )
    if args.json:
        print(
            json.dumps(
                {
                    "seconds": round(result.seconds, 4),
                    "hits": [
                        {
                            "score": round(h.score, 6),
                            "ranks": dict(h.ranks),
                            "doc_id": h.chunk.doc_id,
                            "section": h.chunk.section,
                            "source": h.chunk.source,
                            "doc_type": h.chunk.doc_type,
                            "text": h.chunk.text,
                        }
                        for h in result.hits
                    ],
                },
                ensure_ascii=False,
            )
        )
        return 0
    if not result.hits:
        print("no passages found")
    for i, hit in enumerate(result.hits, start=1):
        preview = " ".join(hit.chunk.text.split())[:240]
        print(f"{i}. {hit.chunk.section}  [{hit.chunk.doc_type}]  {hit.chunk.source}\n   {preview}")
    print(f"({result.seconds * 1000:.0f} ms)")
    return 0


async def ask(args: argparse.Namespace, settings: Settings) -> int:
    question = Question(text=args.question, space_id=args.space, doc_type=args.doc_type)
    async with running_service(settings, chat=True) as service:
        answer = None
        async for event in service.ask(question):
            if isinstance(event, QueuePosition) and not args.json:
                print(f"(waiting for the model: position {event.position})", file=sys.stderr)
            elif isinstance(event, TextDelta) and not args.json:
                print(event.text, end="", flush=True)
            elif isinstance(event, AnswerDone):
                answer = event.answer
    assert answer is not None  # ask() always ends with AnswerDone or raises
    if args.json:
        print(json.dumps(answer_json(answer), ensure_ascii=False))
        return 0
    print("\n")
    if answer.verified is not None:
        v = answer.verified
        print(f"Verified answer {v.verified_id} by {v.author}, {v.created_at:%Y-%m-%d}, to: {v.question}")
    if answer.sources:
        print("Sources:" if answer.cites_any else "Sources (retrieved; the answer cites none):")
        for s in answer.sources:
            if s.cited or not answer.cites_any:
                print(f"  [{s.n}] {s.section} — {s.url or s.location}")
    t = answer.timings
    print(
        f"\nretrieval {t.retrieval_s * 1000:.0f} ms · first token {t.prefill_s:.1f} s · "
        f"{t.completion_tokens} tokens in {t.decode_s:.1f} s ({t.tokens_per_s:.1f}/s) · "
        f"context {t.context_tokens} tokens · model {answer.model}"
        + (" · cached" if answer.cache_hit else "")
    )
    return 0


def answer_json(answer: Answer) -> dict:
    t = answer.timings
    return {
        "answer_id": answer.answer_id,
        "text": answer.text,
        "lang": answer.lang,
        "declined": answer.declined,
        "interrupted": answer.interrupted,
        "cache_hit": answer.cache_hit,
        "model": answer.model,
        "verified": None
        if answer.verified is None
        else {
            "verified_id": answer.verified.verified_id,
            "author": answer.verified.author,
            "created_at": answer.verified.created_at.isoformat(),
            "question": answer.verified.question,
        },
        "sources": [
            {"n": s.n, "title": s.title, "section": s.section, "location": s.location, "cited": s.cited}
            for s in answer.sources
        ],
        "timings": {
            "retrieval_s": t.retrieval_s,
            "queue_s": t.queue_s,
            "prefill_s": t.prefill_s,
            "decode_s": t.decode_s,
            "total_s": t.total_s,
            "prompt_tokens": t.prompt_tokens,
            "context_tokens": t.context_tokens,
            "completion_tokens": t.completion_tokens,
            "tokens_per_s": t.tokens_per_s,
        },
    }


async def spaces(args: argparse.Namespace, settings: Settings) -> int:
    async with running_service(settings, store_only=True) as service:
        rows = await service.spaces()
    if args.json:
        print(json.dumps([{"space": s.space_id, "documents": s.documents, "chunks": s.chunks} for s in rows]))
        return 0
    if not rows:
        print("no spaces yet: `ragbot ingest PATH --space NAME` creates one")
    for s in rows:
        when = s.last_ingested_at.strftime("%Y-%m-%d %H:%M UTC") if s.last_ingested_at else "-"
        print(f"{s.space_id:24} {s.documents:6} documents {s.chunks:8} chunks  last ingested {when}")
    return 0
