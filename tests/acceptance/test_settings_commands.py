"""Settings whose effect a `ragbot` command shows (docs/configuration.md): where the data lives,
the logs, what the engines are built with, chunking, fetching, retrieval, the context given to
the model, and the request the language model server receives. The registry in
test_settings_live.py names these tests for each variable.

Each test sets the variables an operator would set and compares with what the same command does
at the defaults. Commands that only read a space run on copies of one ingested installation
(``library``), several at once, so that the comparison costs one command's time."""

from __future__ import annotations

import asyncio
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from acceptance_harness import RAGBOT, Deployment, json_lines
from aiohttp import web
from conftest import DATA
from settings_corpus import long_guide, short_sections, write_ledger

from core.testing.fake_llm_servers import FakeLLMServer, HttpError, Stall

PLACEHOLDER_LLM = {"LLM_MODE": "openai", "LLM_BASE_URL": "http://127.0.0.1:9/v1", "LLM_MODEL": "placeholder"}


@pytest.fixture(scope="module")
def library(tmp_path_factory: pytest.TempPathFactory) -> Deployment:
    """The handbook and the ledger notes ingested into space ``ops`` at the default settings
    (rules-only classification: document types are not the subject here)."""
    root = tmp_path_factory.mktemp("library") / "team"
    deployment = Deployment(root, CLASSIFY_USE_MODEL="false", **PLACEHOLDER_LLM)
    shutil.copytree(DATA / "handbook", root / "handbook")
    write_ledger(root / "ledger")
    done = subprocess.run(
        [str(RAGBOT), "ingest", "./handbook", "./ledger", "--space", "ops"],
        cwd=root,
        env=deployment.env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-3000:]
    return deployment


def copy_of(library: Deployment, where: Path, **env: str) -> Deployment:
    """Another installation with the library's folder (documents, data/) and environment."""
    shutil.copytree(library.root, where)
    copy = Deployment(where)
    copy.env = dict(library.env) | env
    return copy


def chats(llm: FakeLLMServer) -> list[Any]:
    return [
        r for r in llm.requests if r.path.endswith(("/chat/completions", "/api/chat", "/generate_stream"))
    ]


# -- where the data lives, the logs, the engines ---------------------------------------------


async def test_data_dir_the_logs_and_what_the_engines_are_built_with(team: Deployment) -> None:
    """DATA_DIR elsewhere; LOG_LEVEL and LOG_FORMAT; the embedder of EMBEDDING_MODEL, with its
    EMBEDDING_THREADS and EMBEDDING_BATCH_SIZE as it reports them when it starts (thread counts
    and batch sizes change nothing else a test can see); the embedded vector index's
    QDRANT_COLLECTION, QDRANT_HNSW_M and QDRANT_HNSW_EF_CONSTRUCT as the engine wrote them in its
    own configuration file."""
    state = team.root.parent / "state"
    team.set(
        CLASSIFY_USE_MODEL="false",
        DATA_DIR=str(state),
        LOG_LEVEL="DEBUG",
        LOG_FORMAT="json",
        EMBEDDING_MODEL="minilm",
        EMBEDDING_THREADS="1",
        EMBEDDING_BATCH_SIZE="3",
        QDRANT_COLLECTION="ledger_team",
        QDRANT_HNSW_M="8",
        QDRANT_HNSW_EF_CONSTRUCT="40",
    )
    ingest = await team.ok("ingest", "./handbook", "--space", "ops")
    records = [json.loads(line) for line in ingest.err.splitlines() if line.strip()]
    assert records and all({"ts", "level", "logger", "msg"} <= set(r) for r in records)
    assert "debug" in {r["level"] for r in records}, "LOG_LEVEL=DEBUG shows debug records"
    started = next(r["msg"] for r in records if r["msg"].startswith("embedder started"))
    assert started.startswith("embedder started name=all-MiniLM-L6-v2 "), "not the default e5-small"
    assert "threads=1 " in started and "batch_size=3 " in started, started

    assert (state / "ragbot.db").is_file() and (state / "whoosh").is_dir()
    assert not (team.root / "data").exists(), "nothing was written to the default ./data"
    engine = json.loads((state / "qdrant" / "ledger_team" / "edge_config.json").read_text())
    assert (engine["hnsw_config"]["m"], engine["hnsw_config"]["ef_construct"]) == (8, 40), engine

    quiet = await team.ok("status", "--json", env={"LOG_LEVEL": "WARNING", "LOG_FORMAT": "kv"})
    assert [s["documents"] for s in json_lines(quiet.out)] == [3], "the documents are found in DATA_DIR"
    assert "level=info" not in quiet.err and "level=debug" not in quiet.err, quiet.err
    loud = await team.ok("status", "--json", env={"LOG_FORMAT": "kv"})
    assert "level=info" in loud.err and "{" not in loud.err.splitlines()[0], "the default: kv at INFO"


async def test_without_auto_migrate_a_new_database_waits_for_db_upgrade(team: Deployment) -> None:
    team.set(CLASSIFY_USE_MODEL="false", DATABASE_AUTO_MIGRATE="false")
    refused = await team.cli("status")
    assert refused.code == 1 and "ragbot db upgrade" in refused.err, str(refused)
    await team.ok("db", "upgrade")
    assert "no spaces yet" in (await team.ok("status")).out
    fresh = Deployment(
        team.root.parent / "auto", **{k: v for k, v in team.env.items() if k.startswith("LLM_")}
    )
    assert "no spaces yet" in (await fresh.ok("status")).out, "the default migrates by itself"


# -- ingestion ----------------------------------------------------------------------------------


async def test_chunk_sizes_follow_the_chunking_settings(team: Deployment) -> None:
    """The same two documents ingested at the defaults and with one chunking variable changed at
    a time; `ragbot ingest` reports the chunks it wrote, `ragbot search --json` shows them."""
    team.set(CLASSIFY_USE_MODEL="false")
    (team.root / "guide").mkdir()
    (team.root / "guide" / "ledger-guide.md").write_text(long_guide(), encoding="utf-8")
    (team.root / "rules").mkdir()
    (team.root / "rules" / "ledger-rules.md").write_text(short_sections(), encoding="utf-8")
    variants = {
        "default": {},
        "target": {"INGEST_CHUNK_TARGET_TOKENS": "150"},
        "max": {"INGEST_CHUNK_MAX_TOKENS": "200"},
        "min": {"INGEST_CHUNK_MIN_TOKENS": "0"},
        "overlap": {"INGEST_CHUNK_OVERLAP_TOKENS": "0"},
    }
    runs = {name: copy_of(team, team.root.parent / name, **env) for name, env in variants.items()}
    read_back = {"default", "max", "overlap"}  # the others are told by their chunk counts

    async def chunks(name: str, run: Deployment) -> tuple[int, list[str]]:
        ingest = await run.ok("ingest", "./guide", "./rules", "--space", "ops")
        written = re.search(r"\((\d+) chunks written", ingest.out)
        assert written, ingest.out
        if name not in read_back:
            return int(written.group(1)), []
        search = await run.ok(
            "search", "ledger", "--space", "ops", "--mode", "dense", "--top-k", "50", "--json"
        )
        return int(written.group(1)), [hit["text"] for hit in json_lines(search.out)["hits"]]

    found = dict(zip(runs, await asyncio.gather(*(chunks(n, r) for n, r in runs.items())), strict=True))
    count = {name: n for name, (n, _) in found.items()}
    texts = {name: t for name, (_, t) in found.items()}

    assert count["target"] > count["default"], count  # smaller chunks aimed at: more of them
    assert count["min"] > count["default"], count  # short sections no longer merged
    assert len(texts["default"]) == count["default"], "search lists every chunk"
    assert max(len(t.split()) for t in texts["default"]) > 200
    assert max(len(t.split()) for t in texts["max"]) <= 200, texts["max"]  # words <= tokens

    def overlapping(chunks: list[str]) -> int:
        """Chunks whose first sentence is also in another chunk: the overlap of a cut."""
        firsts = [t.split("\n\n")[0].split(". ")[0] for t in chunks]
        return sum(1 for i, f in enumerate(firsts) if any(f in t for j, t in enumerate(chunks) if j != i))

    assert overlapping(texts["default"]) > 0, "the default repeats ~40 tokens across a cut"
    assert overlapping(texts["overlap"]) == 0, texts["overlap"]


class SlowSite:
    """A local web server: /fast answers at once, /slow after three seconds; it records the
    User-Agent of every request."""

    def __init__(self) -> None:
        self.agents: list[str] = []
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def start(self) -> SlowSite:
        app = web.Application()
        app.router.add_get("/{name}", self._page)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[union-attr]
        return self

    async def _page(self, request: web.Request) -> web.Response:
        self.agents.append(request.headers.get("User-Agent", ""))
        name = request.match_info["name"]
        if name == "slow":
            await asyncio.sleep(3)
        body = f"<html><head><title>{name} page</title></head><body><h1>The {name} page</h1>"
        body += "<p>The ledger closes at 18:00 UTC every working day.</p></body></html>"
        return web.Response(text=body, content_type="text/html")

    async def aclose(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


async def test_fetch_timeout_user_agent_and_file_size_limit(team: Deployment) -> None:
    site = await SlowSite().start()
    try:
        (team.root / "big.md").write_text("# Big\n\n" + "ledger " * 4000, encoding="utf-8")  # 28 KB
        team.set(
            CLASSIFY_USE_MODEL="false",
            INGEST_USER_AGENT="ledger-team-bot/2.0",
            INGEST_FETCH_TIMEOUT="1",
            INGEST_MAX_FILE_MB="0.02",
        )
        args = (f"{site.url}/fast", f"{site.url}/slow", "./big.md", "./handbook", "--space", "ops")
        result = await team.cli("ingest", *args)
        assert result.code == 1, str(result)
        assert "4 added" in result.out and "2 failed" in result.out, result.out
        failed = [line for line in result.out.splitlines() if "failed  " in line]
        assert any("/slow did not answer within 1 s" in line for line in failed), failed
        assert any("big.md" in line and "INGEST_MAX_FILE_MB" in line for line in failed), failed
        assert set(site.agents) == {"ledger-team-bot/2.0"}, site.agents

        # at the defaults the slow page and the 28 KB file are taken
        team.unset("INGEST_USER_AGENT", "INGEST_FETCH_TIMEOUT", "INGEST_MAX_FILE_MB")
        again = await team.ok("ingest", *args)
        assert "2 added" in again.out and "failed" not in again.out, again.out
        assert site.agents[-1].startswith("ragbot/")
        assert "embedder started name=multilingual-e5-small " in again.err, "the default EMBEDDING_MODEL"
    finally:
        await site.aclose()


# -- retrieval ------------------------------------------------------------------------------


async def test_retrieval_settings_change_what_search_returns(library: Deployment, tmp_path: Path) -> None:
    """`ragbot search --json` over one space: RETRIEVAL_TOP_K; RRF with its constant and the two
    weights (each score is the weighted sum the docs give, from the ranks printed beside it);
    RETRIEVAL_CANDIDATES (no retriever looks further down its list)."""
    question = ("how long are ledger backups kept and who restores them", "--space", "ops", "--json")
    runs = {
        "default": copy_of(library, tmp_path / "default"),
        "rrf": copy_of(
            library,
            tmp_path / "rrf",
            RETRIEVAL_TOP_K="3",
            RETRIEVAL_FUSION="rrf",
            RETRIEVAL_RRF_K="10",
            RETRIEVAL_DENSE_WEIGHT="2",
            RETRIEVAL_KEYWORD_WEIGHT="0.5",
        ),
        "candidates": copy_of(library, tmp_path / "candidates", RETRIEVAL_CANDIDATES="5"),
        "wide": copy_of(library, tmp_path / "wide"),
    }
    results = await asyncio.gather(
        runs["default"].ok("search", *question),
        runs["rrf"].ok("search", *question),
        runs["candidates"].ok("search", *question),
        runs["wide"].ok("search", *question, "--top-k", "9"),
    )
    default, rrf, candidates, wide = (json_lines(r.out)["hits"] for r in results)

    assert len(default) == 5 and len(rrf) == 3, (len(default), len(rrf))
    weights = {"dense": 2.0, "bm25": 0.5}
    for hit in rrf:
        expected = sum(weights[name] / (10 + rank) for name, rank in hit["ranks"].items())
        assert hit["score"] == pytest.approx(expected, abs=2e-6), hit
    assert default[0]["score"] != pytest.approx(sum(1 / (60 + r) for r in default[0]["ranks"].values()))

    deepest = max(r for hit in wide for r in hit["ranks"].values())
    assert deepest > 5, "at the defaults the retrievers look past their fifth result"
    assert max(r for hit in candidates for r in hit["ranks"].values()) <= 5, candidates


def cross_encoder(folder: Path, texts: list[str]) -> Path:
    """A small cross-encoder with random weights, saved as a downloaded one is (no model can be
    downloaded here: docs/retrieval.md); tests/integration/test_reranker.py builds the same."""
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    words = sorted({w.lower().strip(".,#?;:()") for text in texts for w in text.split()})
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *[w for w in words if w]]
    folder.mkdir(parents=True)
    (folder / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    BertTokenizerFast(vocab_file=str(folder / "vocab.txt")).save_pretrained(folder)
    torch.manual_seed(11)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=512,
        num_labels=1,
    )
    BertForSequenceClassification(config).save_pretrained(folder)
    return folder


def cross_encoder_scores(folder: Path, query: str, passages: list[str]) -> list[float]:
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
    model = AutoModelForSequenceClassification.from_pretrained(folder, local_files_only=True).eval()
    with torch.inference_mode():
        encoded = tokenizer(
            [query] * len(passages),
            passages,
            padding=True,
            truncation=True,
            max_length=512,
            return_tensors="pt",
        )
        return [float(x) for x in model(**encoded).logits[:, 0]]


async def test_rerank_reorders_the_first_candidates_with_the_model_given(
    library: Deployment, tmp_path: Path
) -> None:
    """RETRIEVAL_RERANK with RETRIEVAL_RERANK_MODEL: the first RETRIEVAL_RERANK_CANDIDATES fused
    hits come back in the cross-encoder's order, the rest as fused."""
    query = "who approves a ledger release and when does it ship"
    args = ("search", query, "--space", "ops", "--json", "--top-k", "6")
    texts = [p.read_text("utf-8") for p in sorted((library.root / "ledger").glob("*.md"))]
    texts += [p.read_text("utf-8") for p in sorted((library.root / "handbook").rglob("*.md"))]
    model = cross_encoder(tmp_path / "cross-encoder", [query, *texts])
    reranking = {
        "RETRIEVAL_RERANK": "true",
        "RETRIEVAL_RERANK_MODEL": str(model),
        "RETRIEVAL_RERANK_CANDIDATES": "3",
    }
    plain, reranked = (
        json_lines(r.out)["hits"]
        for r in await asyncio.gather(
            copy_of(library, tmp_path / "fused").ok(*args),
            copy_of(library, tmp_path / "reranked", **reranking).ok(*args),
        )
    )

    head = plain[:3]
    scores = cross_encoder_scores(model, query, [h["text"] for h in head])
    by_model = [h["doc_id"] for _, h in sorted(zip(scores, head, strict=True), key=lambda p: -p[0])]
    assert by_model != [h["doc_id"] for h in head], "the model must reorder for the test to mean much"
    assert [h["doc_id"] for h in reranked[:3]] == by_model
    assert [h["doc_id"] for h in reranked[3:]] == [h["doc_id"] for h in plain[3:]], "past 3: as fused"


# -- the context and the language model's request ---------------------------------------------


async def test_the_context_settings_choose_the_passages_the_model_reads(
    library: Deployment, tmp_path: Path, llm: FakeLLMServer
) -> None:
    question = (
        "ask",
        "how are ledger backups restored and who approves releases?",
        "--space",
        "ops",
        "--json",
    )
    # whole chunks (ANSWER_PROMPT_TOKENS=0): the choice of chunks is what is looked at here
    at = {"LLM_BASE_URL": llm.base_url, "LLM_MODEL": llm.model, "ANSWER_PROMPT_TOKENS": "0"}
    variants = {
        "default": {},
        "max": {"ANSWER_CONTEXT_CHUNKS_MAX": "1"},
        "tokens": {"ANSWER_CONTEXT_TOKENS": "300"},  # two of the ~130-token passages fit
        "min": {"ANSWER_CONTEXT_TOKENS": "300", "ANSWER_CONTEXT_CHUNKS_MIN": "1"},
    }
    runs = [copy_of(library, tmp_path / name, **at, **env) for name, env in variants.items()]
    answers = await asyncio.gather(*(run.ok(*question) for run in runs))
    sources = {name: len(json_lines(a.out)["sources"]) for name, a in zip(variants, answers, strict=True)}
    assert (sources["default"], sources["max"]) == (5, 1), sources  # RETRIEVAL_TOP_K, then the cap
    # a small budget: the default floor of 3 passages still goes in; with a floor of 1, only
    # what fits the budget
    assert sources["tokens"] == 3 and 1 <= sources["min"] < 3, sources
    assert len(chats(llm)) == 4


async def test_the_model_request_carries_the_llm_settings(
    library: Deployment, tmp_path: Path, llm: FakeLLMServer
) -> None:
    """LLM_MODEL, LLM_API_KEY, LLM_MAX_TOKENS and LLM_TEMPERATURE as the model server receives
    them; ANSWER_MAX_QUESTION_CHARS refuses a longer question before any call."""
    run = copy_of(
        library,
        tmp_path / "team",
        LLM_BASE_URL=llm.base_url,
        LLM_MODEL="ledger-model-7b",
        LLM_API_KEY="sk-ledger-team",
        LLM_MAX_TOKENS="4",
        LLM_TEMPERATURE="0.7",
        ANSWER_MAX_QUESTION_CHARS="60",
    )
    answer = await run.ok("ask", "how long are ledger backups kept?", "--space", "ops", "--json")
    (request,) = chats(llm)
    assert request.body["model"] == "ledger-model-7b"
    assert request.headers["Authorization"] == "Bearer sk-ledger-team"
    assert (request.body["max_tokens"], request.body["temperature"]) == (4, 0.7)
    text = json_lines(answer.out)["text"]
    note = "(The answer was shortened to fit its length limit: ask about one part of it for more.)"
    assert text.endswith(note), text  # it stopped at LLM_MAX_TOKENS, and says so
    assert len(text.removesuffix(note).split()) <= 4, "no more than LLM_MAX_TOKENS words of its own"
    assert "sk-ledger-team" not in answer.text

    refused = await run.cli(
        "ask", "how long are ledger backups kept, and who restores them if asked?", "--space", "ops"
    )
    assert refused.code == 1 and "the limit is 60" in refused.err, str(refused)
    assert len(chats(llm)) == 1, "no model call for a refused question"


async def test_llm_retries_and_timeout(library: Deployment, tmp_path: Path) -> None:
    """LLM_RETRIES: a server answering 503 is asked 1 + LLM_RETRIES times. LLM_TIMEOUT: a server
    that never sends a token is given up on after LLM_TIMEOUT seconds (the default is 240)."""
    question = ("ask", "how long are ledger backups kept?", "--space", "ops")
    async with (
        FakeLLMServer("openai") as busy,
        FakeLLMServer("openai") as busy_too,
        FakeLLMServer("openai") as silent,
    ):
        busy.script(*[HttpError(503, "overloaded")] * 6)
        busy_too.script(*[HttpError(503, "overloaded")] * 6)
        silent.script(Stall(after=0))
        once, default, stalled = await asyncio.gather(
            copy_of(library, tmp_path / "once", LLM_BASE_URL=busy.base_url, LLM_RETRIES="1").cli(*question),
            copy_of(library, tmp_path / "default", LLM_BASE_URL=busy_too.base_url).cli(*question),
            copy_of(library, tmp_path / "timeout", LLM_BASE_URL=silent.base_url, LLM_TIMEOUT="3").cli(
                *question, within=120
            ),
        )
    assert once.code == 1 and len(chats(busy)) == 2, (str(once), len(chats(busy)))
    assert default.code == 1 and len(chats(busy_too)) == 4, "the default: 3 retries"
    assert stalled.code == 1 and "LLM_TIMEOUT" in stalled.err, str(stalled)


@pytest.mark.parametrize(
    ("mode", "env", "path"),
    [
        ("ollama", {"LLM_NUM_CTX": "4096", "LLM_KEEP_ALIVE": "5m"}, "/api/chat"),
        ("tgi", {"LLM_TGI_TEMPLATE": "llama3"}, "/generate_stream"),
    ],
)
async def test_llm_mode_speaks_the_servers_protocol(
    library: Deployment, tmp_path: Path, mode: str, env: dict[str, str], path: str
) -> None:
    async with FakeLLMServer(mode, model="ledger-model") as server:  # type: ignore[arg-type]
        run = copy_of(
            library,
            tmp_path / mode,
            LLM_MODE=mode,
            LLM_BASE_URL=server.base_url,
            LLM_MODEL="ledger-model",
            **env,
        )
        answer = await run.ok("ask", "how long are ledger backups kept?", "--space", "ops", "--json")
        (request,) = [r for r in server.requests if r.path == path]
    assert json_lines(answer.out)["text"].strip()
    if mode == "ollama":
        assert request.body["options"]["num_ctx"] == 4096, request.body
        assert request.body["keep_alive"] in ("5m", 300), request.body
    else:
        assert "<|start_header_id|>" in request.body["inputs"], "the llama3 template, not chatml"
        assert "<|im_start|>" not in request.body["inputs"]


async def test_vllm_without_a_model_name_asks_the_server(library: Deployment, tmp_path: Path) -> None:
    async with FakeLLMServer("openai", model="served-by-vllm") as server:
        run = copy_of(library, tmp_path / "vllm", LLM_MODE="vllm", LLM_BASE_URL=server.base_url)
        run.unset("LLM_MODEL")
        await run.ok("ask", "how long are ledger backups kept?", "--space", "ops")
    assert [r.path for r in server.requests] == ["/v1/models", "/v1/chat/completions"]
    assert server.requests[-1].body["model"] == "served-by-vllm"


@pytest.mark.llm
async def test_the_embedded_model_runs_with_its_threads_slots_and_context(
    team: Deployment, request: pytest.FixtureRequest
) -> None:
    """LLM_MODE=embedded (the default): llama.cpp reports, in ragbot's debug log, the threads
    (LLM_THREADS), the answers it serves at once (LLM_CONCURRENCY: its slots) and the context
    window of each (LLM_NUM_CTX). An empty space answers without generating, so
    only the model's start is paid for."""
    team.unset("LLM_MODE", "LLM_BASE_URL", "LLM_MODEL")
    team.set(
        CLASSIFY_USE_MODEL="false",
        LOG_LEVEL="DEBUG",
        LLM_THREADS="1",
        LLM_CONCURRENCY="2",
        LLM_NUM_CTX="2048",
    )
    # the model file is assembled once per machine (README); share it with the other LLM tests
    cache = getattr(request.config, "cache", None)  # None under -p no:cacheprovider
    models = Path(cache.mkdir("ragbot-models")) if cache is not None else team.root / "models-cache"
    (team.root / "data").mkdir(parents=True)
    models.mkdir(exist_ok=True)
    (team.root / "data" / "models").symlink_to(models, target_is_directory=True)
    answer = await team.ok("ask", "how do I rotate the API keys?", "--space", "empty", within=900)
    llama = "\n".join(line for line in answer.err.splitlines() if "llama.cpp" in line)
    assert "n_threads = 1" in llama, llama[-3000:]
    assert "n_slots = 2" in llama and "n_ctx_slot = 2048" in llama, llama[-3000:]


async def test_the_prompt_budget_compresses_what_the_model_reads(
    library: Deployment, tmp_path: Path, llm: FakeLLMServer
) -> None:
    """ANSWER_PROMPT_TOKENS: 0 sends the chosen passages whole; a budget keeps the parts that bear
    on the question (docs/answering.md). The sources are the passages the model read, numbered
    from 1 in the order of the prompt."""
    question = ("ask", "how long are ledger backups kept?", "--space", "ops", "--json")
    at = {"LLM_BASE_URL": llm.base_url, "LLM_MODEL": llm.model}
    whole, small = (
        copy_of(library, tmp_path / "whole", **at, ANSWER_PROMPT_TOKENS="0"),
        copy_of(library, tmp_path / "small", **at, ANSWER_PROMPT_TOKENS="150"),
    )
    answers = [json_lines((await run.ok(*question)).out) for run in (whole, small)]
    prompts = ["\n".join(m["content"] for m in r.body["messages"]) for r in chats(llm)]
    assert len(prompts) == 2
    assert len(prompts[1]) < 0.7 * len(prompts[0]), [len(p) for p in prompts]
    assert "backup" in prompts[1].lower(), "what bears on the question stays"
    shown = [[(s["n"], s["title"], s["location"]) for s in a["sources"]] for a in answers]
    assert 1 <= len(shown[1]) < len(shown[0]), shown
    assert [n for n, *_ in shown[1]] == list(range(1, len(shown[1]) + 1)), shown
    assert shown[1][0][1:] == shown[0][0][1:] == ("Ledger backups", shown[0][0][2]), shown
    assert answers[1]["timings"]["context_tokens"] <= 150 < answers[0]["timings"]["context_tokens"]


async def test_a_fast_model_answers_the_languages_it_is_given(
    library: Deployment, tmp_path: Path, llm: FakeLLMServer
) -> None:
    """LLM_FAST_MODEL answers the questions in LLM_FAST_LANGS; LLM_MODEL the others."""
    at = {"LLM_BASE_URL": llm.base_url, "LLM_MODEL": llm.model, "LLM_FAST_MODEL": "ledger-small"}
    english = ("ask", "how long are ledger backups kept?", "--space", "ops")
    russian = ("ask", "сколько хранятся резервные копии журнала?", "--space", "ops")
    default = copy_of(library, tmp_path / "default", **at)
    flipped = copy_of(library, tmp_path / "flipped", **at, LLM_FAST_LANGS='["ru"]')
    asked: list[set[str]] = []  # the models of each question's requests (a retry in the language asked too)
    for run in (default, flipped):
        for q in (english, russian):
            before = len(chats(llm))
            await run.ok(*q)
            asked.append({r.body["model"] for r in chats(llm)[before:]})
    assert asked == [{"ledger-small"}, {llm.model}, {llm.model}, {"ledger-small"}], asked
