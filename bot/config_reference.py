"""Every environment variable ragbot reads, derived from the settings models in ``core.settings`` and
``bot.settings``,
so the reference cannot drift from the code: ``docs/configuration.md`` and ``.env.example`` are
rendered from it (``ragbot config docs`` / ``ragbot config env``) and tests compare them.

A variable's name is its section's ``env_prefix`` plus the field name, upper-cased (what
pydantic-settings reads). Its description is the comment written next to (or right above) the
field in ``core/settings.py`` or ``bot/settings.py``, unless ``_NOTES`` here words it for people who do not read the code.
"""

from __future__ import annotations

import ast
import inspect
import io
import json
import sys
import tokenize
import types
import typing
from dataclasses import dataclass
from enum import Enum
from pathlib import Path

import annotated_types
from pydantic import BaseModel, SecretStr
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings

from bot.settings import Settings

__all__ = [
    "EnvVar",
    "Section",
    "COMPOSE_VARIABLES",
    "sections",
    "env_vars",
    "env_names",
    "render_markdown",
    "render_env_example",
]

# Section titles, in the order of ``Settings``' fields (the general ones first).
_TITLES = {
    "general": "General",
    "embedding": "Embeddings",
    "qdrant": "Qdrant (vector index)",
    "ingest": "Ingestion",
    "retrieval": "Retrieval",
    "llm": "Language model",
    "answer": "Answers",
    "slack": "Slack",
    "telegram": "Telegram",
    "server": "HTTP server and shutdown",
    "scheduler": "Scheduler (pinned sources)",
    "classify": "Document type classification",
    "crawl": "Sites, sitemaps and Confluence spaces",
    "git": "Git repositories",
    "confluence": "Confluence",
    "console": "Admin console",
}

# Descriptions for fields that carry no comment in core/settings.py or bot/settings.py.
_NOTES = {
    "DATABASE_URL": "PostgreSQL: postgresql+psycopg://user:password@host:5432/db; empty: SQLite in DATA_DIR/ragbot.db",
    "QDRANT_URL": "the Qdrant server, e.g. http://qdrant:6333; empty: the embedded engine (qdrant-edge) in DATA_DIR; "
    "local:DIR or :memory: run qdrant-client's local mode, the server's API in process (tests and evaluation only)",
    "QDRANT_HNSW_EF": "HNSW search-time beam width: higher is more accurate and slower",
    "EMBEDDING_THREADS": "CPU threads of the embedder; 0: all cores",
    "LLM_MODEL": "the model's name on the server (Ollama: qwen2.5:7b-instruct; vLLM: the HF repo); embedded: "
    "qwen2.5-coder-1.5b or qwen2.5-coder-0.5b; empty: the backend's default",
    "LLM_MAX_TOKENS": "longest answer in tokens (the spec's num_predict: 256 halves the wait)",
    "SLACK_APP_TOKEN": "app-level token (xapp-...) for SLACK_MODE=socket",
    "SCHEDULER_MAX_CONSECUTIVE_FAILURES": "failures in a row of a pinned source before the admins are alerted",
    "SCHEDULER_RETRY_BASE_S": "first retry delay of a failing pinned source; doubles per failure",
    "CLASSIFY_NLI_MIN_CONFIDENCE": "zero-shot NLI answers below this stay unknown",
    "CLASSIFY_NLI_THREADS": "CPU threads of the NLI model; 0: all cores",
    "DATA_DIR": "where the embedded indexes (qdrant-edge, Whoosh), the SQLite database, uploads and models live",
    "LOG_LEVEL": "DEBUG, INFO, WARNING or ERROR",
    "LOG_FORMAT": "kv: key=value lines; json: one JSON object per line (secrets are scrubbed in both)",
    "EMBEDDING_BATCH_SIZE": "texts embedded per call while ingesting",
    "QDRANT_API_KEY": "the Qdrant server's API key (QDRANT_URL only)",
    "QDRANT_COLLECTION": "the collection holding every space's chunks (space_id is a payload filter)",
    "QDRANT_HNSW_M": "HNSW graph degree: higher is more accurate and uses more memory",
    "QDRANT_HNSW_EF_CONSTRUCT": "HNSW build-time beam width: higher is more accurate and slower to index",
    "QDRANT_TIMEOUT": "seconds per request to the Qdrant server",
    "INGEST_MAX_FILE_MB": "larger files (uploads, URLs, files on disk) are refused",
    "INGEST_CHUNK_TARGET_TOKENS": "chunk size aimed at (the spec: 300-600 tokens)",
    "INGEST_CHUNK_MAX_TOKENS": "no chunk is longer",
    "INGEST_CHUNK_MIN_TOKENS": "shorter pieces are merged with their neighbours",
    "INGEST_CHUNK_OVERLAP_TOKENS": "tokens repeated between neighbouring chunks",
    "INGEST_FETCH_TIMEOUT": "seconds to download one URL",
    "INGEST_USER_AGENT": "User-Agent of ragbot's HTTP fetcher",
    "RETRIEVAL_TOP_K": "sources shown with an answer",
    "RETRIEVAL_RRF_K": "reciprocal rank fusion constant (higher flattens the ranks)",
    "RETRIEVAL_DENSE_WEIGHT": "weight of the vector (Qdrant) ranking in the fusion",
    "RETRIEVAL_KEYWORD_WEIGHT": "weight of the BM25 (Whoosh) ranking in the fusion",
    "RETRIEVAL_RERANK": "re-rank the fused candidates with a cross-encoder (slower)",
    "LLM_MODE": "embedded: llama.cpp inside ragbot; ollama, vllm, tgi, openai: a server at LLM_BASE_URL",
    "LLM_BASE_URL": "the server: http://ollama:11434, http://vllm:8000/v1, http://tgi:80, https://api.openai.com/v1",
    "LLM_API_KEY": "sent as a Bearer token (vLLM --api-key, OpenAI, a proxy in front of Ollama/TGI)",
    "LLM_TIMEOUT": "seconds for one whole answer: connecting, retries, the first token and the rest",
    "LLM_CONCURRENCY": "answers generated at once; the others wait in a queue and see their position",
    "LLM_TEMPERATURE": "sampling temperature (low: factual)",
    "LLM_NUM_CTX": "context window asked of Ollama and the embedded model (tokens)",
    "LLM_KEEP_ALIVE": "how long Ollama keeps the model loaded after an answer (keep it warm)",
    "LLM_RETRIES": "retries before the first token (connection errors, 429, 5xx), with backoff",
    "ANSWER_MAX_QUESTION_CHARS": "longer questions are refused with a message",
    "ANSWER_CONTEXT_CHUNKS_MIN": "chunks put in the prompt at least (when found)",
    "ANSWER_CONTEXT_CHUNKS_MAX": "chunks put in the prompt at most",
    "ANSWER_CACHE_TTL_S": "seconds an answer is reused for the same question, filters and top_k (0: off)",
    "ANSWER_CACHE_SIZE": "answers kept in the cache",
    "ANSWER_HISTORY_TURNS": "earlier messages of a thread given to the model with a follow-up",
    "SLACK_BOT_TOKEN": "Bot User OAuth Token (xoxb-...); Slack is on when it is set",
    "SLACK_SIGNING_SECRET": "verifies requests to /slack/events (required in http mode)",
    "SLACK_MODE": "http: Slack posts to /slack/events; socket: Socket Mode (no public URL)",
    "SLACK_API_BASE_URL": "the Slack Web API (tests point it at a local fake)",
    "SLACK_ADMIN_USER_IDS": 'JSON list of Slack user ids allowed admin commands, e.g. ["U012AB3CD"]',
    "SLACK_WORKSPACE_ADMINS_ARE_ADMINS": "workspace admins and owners may run admin commands too",
    "SLACK_ALERT_CHANNEL": "channel id for admin alerts (failing pinned sources); empty: DM the admins",
    "TELEGRAM_BOT_TOKEN": "the token from @BotFather (123456:ABC-...); Telegram is on when it is set",
    "TELEGRAM_MODE": "polling: getUpdates (one replica only); webhook: Telegram posts to /telegram/webhook",
    "TELEGRAM_WEBHOOK_SECRET": "checked on every webhook request (required in webhook mode; A-Z a-z 0-9 _ -)",
    "TELEGRAM_API_BASE_URL": "the Bot API server (a local Bot API server, or a fake in tests)",
    "TELEGRAM_ADMIN_USER_IDS": "JSON list of Telegram user ids allowed admin commands, e.g. [123456789]",
    "TELEGRAM_DEFAULT_SPACE": "the space private chats answer from unless a person chose one",
    "HOST": "address the HTTP server listens on",
    "PORT": "port of /healthz, /readyz, /metrics, /slack/events and /telegram/webhook",
    "SCHEDULER_ENABLED": "re-ingest pinned sources on their schedule (one replica runs it: a lease in the database)",
    "SCHEDULER_DEFAULT_EVERY_S": "interval of a pin made without one (seconds)",
}


# Variables docker compose reads (from .env) for docker-compose*.yml that are not ragbot settings.
COMPOSE_VARIABLES = {
    "COMPOSE_PROFILES": ("", "compose profiles to start: vllm or tgi with docker-compose.gpu.yml"),
    "RAGBOT_IMAGE": ("ragbot:latest", "the image built from the Dockerfile and run by bot and migrate"),
    "WITH_EMBEDDED_LLM": (
        "false",
        "true: bake the embedded model's packages into the image (LLM_MODE=embedded)",
    ),
    "RAGBOT_PORT": (
        "8080",
        "host port of the bot (/healthz, /readyz, /metrics, /slack/events, /telegram/webhook)",
    ),
    "POSTGRES_IMAGE": ("postgres:16-alpine", "PostgreSQL image"),
    "POSTGRES_PASSWORD": (
        "ragbot",
        "PostgreSQL password of the ragbot role: change it; letters and digits only",
    ),
    "QDRANT_IMAGE": ("qdrant/qdrant:latest", "Qdrant image (pin a version in production)"),
    "OLLAMA_IMAGE": ("ollama/ollama:latest", "Ollama image (pin a version in production)"),
    "VLLM_IMAGE": ("vllm/vllm-openai:latest", "GPU: vLLM image"),
    "VLLM_DTYPE": ("auto", "GPU: vLLM --dtype (the spec: float16 for fp16 checkpoints)"),
    "VLLM_GPU_MEMORY_UTILIZATION": ("0.95", "GPU: share of VRAM vLLM may take"),
    "TGI_IMAGE": ("ghcr.io/huggingface/text-generation-inference:latest", "GPU: TGI image"),
    "TGI_MODEL": ("Qwen/Qwen2.5-7B-Instruct", "GPU: the Hugging Face model TGI serves"),
    "TGI_DTYPE": ("float16", "GPU: TGI --dtype (or use --quantize for AWQ/GPTQ checkpoints)"),
    "TGI_MAX_INPUT_LENGTH": ("8192", "GPU: TGI --max-input-length"),
    "TGI_MAX_TOTAL_TOKENS": ("9000", "GPU: TGI --max-total-tokens (input + answer)"),
    "GPU_COUNT": ("1", "GPU: vLLM --tensor-parallel-size and TGI --num-shard"),
    "HF_TOKEN": ("", "GPU: Hugging Face token for gated models (secret)"),
}


@dataclass(frozen=True)
class EnvVar:
    name: str
    default: str  # as it would be written in .env; "" when unset
    kind: str  # what a value looks like, for people
    secret: bool
    description: str


@dataclass(frozen=True)
class Section:
    key: str
    title: str
    doc: str
    variables: tuple[EnvVar, ...]


def _field_comments(cls: type) -> dict[str, str]:
    """field name -> the comment on its line(s), or the comment lines right above it; fields
    inherited from a base class (``Settings`` extends ``CoreSettings``) are read where they are
    written."""
    found: dict[str, str] = {}
    for klass in reversed(cls.__mro__):
        if klass.__module__.split(".")[0] in ("core", "bot"):
            found.update(_class_comments(klass))
    return found


def _class_comments(cls: type) -> dict[str, str]:
    source = inspect.getsource(sys.modules[cls.__module__])
    comments: dict[int, str] = {}
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            comments[tok.start[0]] = tok.string.lstrip("#").strip()
    lines = source.splitlines()
    tree = ast.parse(source)
    node = next(n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == cls.__name__)
    found: dict[str, str] = {}
    for stmt in node.body:
        if not (isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name)):
            continue
        trailing = [
            comments[n] for n in range(stmt.lineno, (stmt.end_lineno or stmt.lineno) + 1) if n in comments
        ]
        above: list[str] = []
        n = stmt.lineno - 1
        while n in comments and lines[n - 1].strip().startswith("#"):
            above.insert(0, comments[n])
            n -= 1
        text = " ".join(trailing or above)
        if text:
            found[stmt.target.id] = text
    return found


def _unwrap_optional(annotation: object) -> tuple[object, bool]:
    args = typing.get_args(annotation)
    if typing.get_origin(annotation) in (typing.Union, types.UnionType) and type(None) in args:
        rest = [a for a in args if a is not type(None)]
        return (rest[0] if len(rest) == 1 else annotation), True
    return annotation, False


def _bounds(info: FieldInfo) -> str:
    parts = []
    for m in info.metadata:
        if isinstance(m, annotated_types.Ge):
            parts.append(f">= {m.ge}")
        elif isinstance(m, annotated_types.Gt):
            parts.append(f"> {m.gt}")
        elif isinstance(m, annotated_types.Le):
            parts.append(f"<= {m.le}")
        elif isinstance(m, annotated_types.Lt):
            parts.append(f"< {m.lt}")
    return f" ({', '.join(parts)})" if parts else ""


def _kind(info: FieldInfo) -> str:
    annotation, optional = _unwrap_optional(info.annotation)
    if typing.get_origin(annotation) is typing.Literal:
        return " | ".join(str(a) for a in typing.get_args(annotation))
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation)
        return f"JSON list of {'integers' if item is int else 'strings'}"
    names = {
        bool: "true | false",
        int: "integer",
        float: "number",
        str: "text",
        Path: "path",
        SecretStr: "secret",
    }
    kind = names.get(annotation, getattr(annotation, "__name__", str(annotation)))  # type: ignore[call-overload]
    return kind + _bounds(info) + (", optional" if optional and annotation is not SecretStr else "")


def _default(info: FieldInfo) -> str:
    value = info.get_default(call_default_factory=True)
    if value is None or isinstance(value, SecretStr):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return json.dumps(value)  # the form pydantic-settings reads a list from: ["en"]
    if isinstance(value, Enum):
        return str(value.value)
    return str(value)


def _variables(model: type[BaseModel], prefix: str, skip: set[str] = frozenset()) -> tuple[EnvVar, ...]:  # type: ignore[assignment]
    comments = _field_comments(model)
    out = []
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        env = f"{prefix}{name}".upper()
        annotation, _ = _unwrap_optional(info.annotation)
        out.append(
            EnvVar(
                name=env,
                default=_default(info),
                kind=_kind(info),
                secret=annotation is SecretStr,
                description=_NOTES.get(env) or comments.get(name, ""),
            )
        )
    return tuple(out)


def _is_section(info: FieldInfo) -> bool:
    return isinstance(info.annotation, type) and issubclass(info.annotation, BaseSettings)


def sections() -> list[Section]:
    nested = {name: info for name, info in Settings.model_fields.items() if _is_section(info)}
    general = _variables(Settings, str(Settings.model_config.get("env_prefix", "")), skip=set(nested))
    out = [Section("general", _TITLES["general"], "", general)]
    for name, info in nested.items():
        model = info.annotation
        assert isinstance(model, type) and issubclass(model, BaseSettings)
        prefix = str(model.model_config.get("env_prefix", ""))
        doc = inspect.cleandoc(model.__doc__ or "") if model.__doc__ else ""
        out.append(Section(name, _TITLES.get(name, name.title()), doc, _variables(model, prefix)))
    return out


def env_vars() -> list[EnvVar]:
    return [v for s in sections() for v in s.variables]


def env_names() -> set[str]:
    return {v.name for v in env_vars()}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown() -> str:
    lines = [
        "# Configuration",
        "",
        "<!-- Generated from core/settings.py and bot/settings.py by `ragbot config docs` (python -m bot.cli.config docs);",
        "     tests/integration/test_deploy_files.py fails when this file is out of step. Do not edit by hand. -->",
        "",
        "ragbot reads its settings from the environment and from a `.env` file in the working directory",
        "(`.env.example` lists every variable). Environment variables win over `.env`. Names are case-insensitive;",
        'lists are JSON (`SLACK_ADMIN_USER_IDS=["U012AB3CD"]`). Secrets never appear in logs.',
        "",
        "`ragbot serve` checks the settings before it starts and lists every problem at once (for example",
        "`SLACK_BOT_TOKEN` in http mode without `SLACK_SIGNING_SECRET`); see `docs/troubleshooting.md`.",
        "",
    ]
    for section in sections():
        lines += [f"## {section.title}", ""]
        if section.doc:
            lines += [section.doc, ""]
        lines += ["| Variable | Default | Values | What it does |", "|---|---|---|---|"]
        for v in section.variables:
            default = f"`{v.default}`" if v.default else "(empty)"
            lines.append(f"| `{v.name}` | {_cell(default)} | {_cell(v.kind)} | {_cell(v.description)} |")
        lines.append("")
    lines += [
        "## docker compose only",
        "",
        "Read by `docker compose` from `.env` for `docker-compose.yml` and `docker-compose.gpu.yml`; ragbot itself",
        "does not read them. In compose, the bot's `DATA_DIR`, `DATABASE_URL`, `QDRANT_URL`, `LLM_MODE`,",
        "`LLM_BASE_URL`, `HOST` and `PORT` are set by the compose files (docs/deployment.md).",
        "",
        "| Variable | Default | What it does |",
        "|---|---|---|",
    ]
    for name, (default, description) in COMPOSE_VARIABLES.items():
        lines.append(
            f"| `{name}` | {_cell(f'`{default}`' if default else '(empty)')} | {_cell(description)} |"
        )
    lines.append("")
    return "\n".join(lines)


def render_env_example() -> str:
    lines = [
        "# ragbot settings: copy to .env and uncomment what you change. Every variable ragbot reads is here,",
        "# commented out at its default (generated from core/settings.py and bot/settings.py: `ragbot config env`).",
        "# docker compose reads this file twice: for ${...} in docker-compose*.yml and as the bot's env_file.",
        "# In compose, QDRANT_URL, DATABASE_URL, LLM_MODE, LLM_BASE_URL, HOST and DATA_DIR are set for the",
        "# bot by docker-compose.yml itself, and LLM_MODEL / LLM_CONCURRENCY default to the compose files'",
        "# values (Ollama: qwen2.5:3b-instruct, 2; GPU: openai/gpt-oss-20b, 4). See docs/deployment.md.",
        "",
    ]
    for section in sections():
        lines += [f"# --- {section.title} " + "-" * max(3, 96 - len(section.title)), ""]
        for v in section.variables:
            if v.description:
                lines.append(f"# {v.description}" + (" (secret)" if v.secret else ""))
            lines.append(f"# {v.name}={v.default}")
        lines.append("")
    title = "docker compose only (not read by ragbot)"
    lines += [f"# --- {title} " + "-" * (96 - len(title)), ""]
    for name, (default, description) in COMPOSE_VARIABLES.items():
        lines += [f"# {description}", f"# {name}={default}"]
    lines.append("")
    return "\n".join(lines)
