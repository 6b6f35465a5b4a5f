"""`ragbot bench ...`: performance figures for docs/BENCHMARKS.md. Each benchmark prints one
JSON object (with --json) or a readable summary; `bench all` runs them in turn and writes each
result, with the machine and date, under --out."""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from datetime import UTC, datetime
from pathlib import Path

from bot.settings import Settings

__all__ = ["register"]


_SAMPLE_HELP = (
    "the real documents embedded and ingested for the throughput and re-ingestion figures "
    "(default: examples/docs; 1,000+ chunks make the re-ingestion figure meaningful)"
)


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("bench", help="measure performance (figures for docs/BENCHMARKS.md)")
    bsub = p.add_subparsers(dest="bench_command", required=True)

    r = bsub.add_parser(
        "retrieval", help="ingestion throughput, hybrid query latency, memory and disk at N chunks"
    )
    r.add_argument("--chunks", type=int, default=100_000)
    r.add_argument("--sample", type=Path, default=None, help=_SAMPLE_HELP)
    r.add_argument(
        "--keywords",
        default="whoosh,qdrant",
        help="keyword backends (KEYWORD_INDEX) to build and time side by side, comma-separated; empty: none",
    )
    r.add_argument("--json", action="store_true")
    r.set_defaults(handler=retrieval)

    for name, what in (
        ("slack", "5 answers streaming at once in one Slack workspace (local Web API server)"),
        (
            "slack-thread",
            "mentions under a 30-message thread: first reaction and time to the model, with and without reading it",
        ),
        ("telegram", "5 Telegram chats streaming at once (local Bot API server)"),
        ("service", "20 concurrent questions through the service with LLM_CONCURRENCY=2"),
        ("llm", "embedded models through ragbot vs the raw server: time to first token, tokens/s, overhead"),
        ("sources", "a 1,000-page site (crawl, sitemap) and a 1,000-file Git repo: first sync, re-syncs"),
    ):
        b = bsub.add_parser(name, help=what)
        b.add_argument("--json", action="store_true")
        b.set_defaults(handler=_simple(name))

    a = bsub.add_parser("all", help="run every benchmark and write the results under --out")
    a.add_argument("--out", type=Path, default=Path("docs/bench"))
    a.add_argument("--chunks", type=int, default=100_000)
    a.add_argument("--sample", type=Path, default=None, help=_SAMPLE_HELP)
    a.set_defaults(handler=run_all)


def machine() -> dict:
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpus": os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "load_avg_1m": round(os.getloadavg()[0], 2),
    }


async def _measure(
    name: str, chunks: int = 100_000, sample: Path | None = None, keywords: str = "whoosh,qdrant"
) -> dict:
    # each benchmark pulls in its own platform stack; import only the one asked for
    if name == "retrieval":
        from bot.bench import retrieval as bench
    elif name in ("slack", "slack-thread"):
        from bot.bench import slack_stream as bench
    elif name == "telegram":
        from bot.bench import telegram_stream as bench
    elif name == "llm":
        from bot.bench import llm as bench
    elif name == "sources":
        from bot.bench import sources as bench
    else:
        from bot.bench import service_load as bench
    if name == "retrieval":
        backends = tuple(k.strip() for k in keywords.split(",") if k.strip())
        result = await bench.run(chunks=chunks, sample_dir=sample, keywords=backends)
    elif name == "slack-thread":
        result = await bench.run_thread_context()
    else:
        result = await bench.run()
    return {"benchmark": name, "machine": machine(), **result}


def _print(result: dict, as_json: bool) -> None:
    if as_json:
        print(json.dumps(result, ensure_ascii=False))
        return
    for key, value in result.items():
        print(
            f"{key:28} {json.dumps(value, ensure_ascii=False) if isinstance(value, dict | list) else value}"
        )


async def retrieval(args: argparse.Namespace, settings: Settings) -> int:
    _print(await _measure("retrieval", args.chunks, args.sample, args.keywords), args.json)
    return 0


def _simple(name: str):  # noqa: ANN202 - a command handler
    async def handler(args: argparse.Namespace, settings: Settings) -> int:
        _print(await _measure(name), args.json)
        return 0

    return handler


async def run_all(args: argparse.Namespace, settings: Settings) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    for name in ("retrieval", "service", "slack", "slack-thread", "telegram", "llm", "sources"):
        print(f"bench {name} ...", file=sys.stderr, flush=True)
        result = await _measure(name, args.chunks, args.sample)
        (args.out / f"{name.replace('-', '_')}.json").write_text(
            json.dumps(result, indent=1, ensure_ascii=False) + "\n"
        )
        _print(result, as_json=False)
    return 0
