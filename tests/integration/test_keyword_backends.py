"""KEYWORD_INDEX from the operator's side: which backend the settings choose, moving a deployment
from Whoosh to Qdrant with `ragbot reindex --keywords`, `ragbot status` naming the backend, and a
server-mode replica that keeps no index files in its DATA_DIR (so replicas need no shared volume).

The Qdrant server is qdrant-client's local mode (``QDRANT_URL=local:DIR``, the server's API in
process), in a folder outside DATA_DIR as a server would be. The commands run as `ragbot` does,
in a subprocess of this interpreter, with only the variables given here."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from pydantic import ValidationError

from bot.bootstrap import build_service
from bot.settings import Settings
from core.backends.qdrant_keywords_edge import QdrantEdgeKeywordIndex
from core.backends.qdrant_keywords_server import QdrantJointSearch, QdrantServerKeywordIndex
from core.backends.whoosh_index import WhooshKeywordIndex
from core.settings import QdrantSettings

ROOT = Path(__file__).resolve().parents[2]
_DIR = ROOT / "tests" / "data" / "docs" / "deckhouse" / "sds-local-volume"
DOCS = [str(_DIR / name) for name in ("README.md", "README.ru.md", "FAQ.md")]
VARIABLES = ("KEYWORD_INDEX", "QDRANT_URL", "DATA_DIR", "DATABASE_URL")


@pytest.fixture(autouse=True)
def _no_outside_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in VARIABLES:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env of the caller's


def ragbot(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    run = subprocess.run(
        [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())", *args],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "HF_HUB_OFFLINE": "1", **env},
        cwd=env["DATA_DIR"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert run.returncode == 0, run.stderr[-3000:]
    return run


def files_under(directory: Path) -> list[str]:
    return sorted(str(p.relative_to(directory)) for p in directory.rglob("*") if p.is_file())


# -- which backend ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("env", "backend", "kind", "joint"),
    [
        ({}, "whoosh", WhooshKeywordIndex, False),
        ({"KEYWORD_INDEX": "qdrant"}, "qdrant", QdrantEdgeKeywordIndex, False),
        ({"QDRANT_URL": ":memory:"}, "qdrant", QdrantServerKeywordIndex, True),
        ({"QDRANT_URL": ":memory:", "KEYWORD_INDEX": "whoosh"}, "whoosh", WhooshKeywordIndex, False),
    ],
    ids=["embedded-default", "embedded-qdrant", "server-default", "server-whoosh"],
)
def test_keyword_index_follows_the_settings(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    env: dict[str, str],
    backend: str,
    kind: type,
    joint: bool,
) -> None:
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = Settings(data_dir=tmp_path / "data")
    assert settings.keyword_backend == backend
    service = build_service(settings)
    assert isinstance(service.keywords, kind)
    assert isinstance(service.retriever.joint, QdrantJointSearch) is joint


def test_write_consistency_above_the_replicas_is_refused() -> None:
    with pytest.raises(ValidationError, match="QDRANT_WRITE_CONSISTENCY=3"):
        QdrantSettings(replication_factor=2, write_consistency=3)
    assert QdrantSettings(replication_factor=3, write_consistency=2).write_consistency == 2


# -- moving a deployment ---------------------------------------------------------------------------


@pytest.mark.slow
def test_moving_from_whoosh_to_qdrant_without_re_embedding(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    server = f"local:{tmp_path / 'qdrant-server'}"
    env = {"DATA_DIR": str(data), "QDRANT_URL": server, "KEYWORD_INDEX": "whoosh"}
    ragbot("ingest", *DOCS, "--space", "ops", env=env)
    assert (data / "whoosh" / "ops").is_dir()
    before = json.loads(ragbot("status", "--space", "ops", "--json", env=env).stdout)[0]
    assert before["keyword_index"] == "whoosh" and before["keyword_chunks"] == before["chunks"] > 0

    env.pop("KEYWORD_INDEX")  # the default with QDRANT_URL: qdrant
    text = ragbot("status", "--space", "ops", env=env).stdout
    assert "keyword index: qdrant-server, 0 chunks" in text and "reindex --keywords" in text
    question = "How do I create a LocalStorageClass?"
    found = json.loads(
        ragbot("search", question, "--space", "ops", "--mode", "bm25", "--json", env=env).stdout
    )
    assert found["hits"] == []

    out = ragbot("reindex", "--keywords", env=env).stdout
    assert f"ops: {before['chunks']} chunks written to the keyword index (qdrant-server)" in out
    after = json.loads(ragbot("status", "--space", "ops", "--json", env=env).stdout)[0]
    assert after["keyword_index"] == "qdrant-server" and after["keyword_chunks"] == before["chunks"]
    found = json.loads(
        ragbot("search", question, "--space", "ops", "--mode", "bm25", "--json", env=env).stdout
    )
    assert found["hits"] and "LocalStorageClass" in found["hits"][0]["text"]


# -- a replica in server mode ----------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.postgres
def test_a_server_mode_replica_keeps_no_index_files(tmp_path: Path, postgres_url: str) -> None:
    data = tmp_path / "replica-data"
    data.mkdir()
    env = {
        "DATA_DIR": str(data),
        "QDRANT_URL": f"local:{tmp_path / 'qdrant-server'}",
        "DATABASE_URL": postgres_url,
    }
    first = ragbot("ingest", *DOCS, "--space", "ops", env=env).stdout
    again = ragbot("ingest", *DOCS, "--space", "ops", env=env).stdout
    status = json.loads(ragbot("status", "--space", "ops", "--json", env=env).stdout)[0]
    assert status["keyword_index"] == "qdrant-server" and status["keyword_chunks"] == status["chunks"] > 0
    assert "(0 chunks written" not in first
    assert "(0 chunks written" in again  # re-ingesting unchanged documents writes nothing
    found = json.loads(
        ragbot("search", "LocalStorageClass", "--space", "ops", "--mode", "hybrid", "--json", env=env).stdout
    )
    assert found["hits"] and {"dense", "bm25"} <= {k for h in found["hits"] for k in h["ranks"]}
    assert files_under(data) == []  # no Whoosh, no qdrant-edge, no SQLite: nothing to share
    assert files_under(tmp_path / "qdrant-server")  # the chunks live in the (stand-in) server


# -- comparing keyword backends without embedding -------------------------------------------------------

_CORPUS = [
    ("certs", "TLS certificates", "Certificates of the ingress controller rotate every 90 days."),
    ("vpn", "VPN", "The VPN gateway listens on port 1194 for OpenVPN clients."),
    ("ru", "Кластер", "Кластер состоит из трёх мастер-узлов и пяти рабочих узлов."),
    ("parking", "Parking", "Parking permits are renewed each January at the front desk."),
]
_QUERIES = [
    ("q1", "when do ingress certificates rotate?", "en", "certs"),
    ("q2", "OpenVPN port", "en", "vpn"),
    ("q3", "сколько рабочих узлов в кластере", "ru", "ru"),
    ("q4", "renew a parking permit", "en", "parking"),
]


def _eval_set(directory: Path) -> Path:
    directory.mkdir()
    rows = [{"id": i, "title": t, "text": x} for i, t, x in _CORPUS]
    (directory / "corpus.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in rows))
    queries = [{"id": q, "text": t, "lang": lang} for q, t, lang, _ in _QUERIES]
    (directory / "queries.jsonl").write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in queries))
    qrels = ["query-id\tcorpus-id\tscore", *(f"{q}\t{d}\t1" for q, _, _, d in _QUERIES)]
    (directory / "qrels.tsv").write_text("\n".join(qrels) + "\n")
    return directory


@pytest.mark.parametrize("keywords", ["whoosh", "qdrant"])
def test_eval_keywords_only_fills_the_keyword_index_alone(tmp_path: Path, keywords: str) -> None:
    data = tmp_path / "data"
    data.mkdir()
    dataset = _eval_set(tmp_path / "tiny")
    env = {"DATA_DIR": str(data), "KEYWORD_INDEX": keywords}
    out = ragbot("eval", "retrieval", str(dataset), "--mode", "bm25", "--keywords-only", "--json", env=env)
    scores = json.loads(out.stdout)
    assert scores["n_queries"] == 4 and scores["ndcg@10"] == 1.0 and set(scores["by_lang"]) == {"en", "ru"}
    status = json.loads(ragbot("status", "--json", env={**env, "DATA_DIR": str(data / "eval")}).stdout)
    (space,) = status
    assert space["documents"] == 4 and space["keyword_chunks"] == space["chunks"] == 4
    vectors = json.loads(
        ragbot(
            "search",
            "certificates",
            "--space",
            space["space"],
            "--mode",
            "dense",
            "--json",
            env={**env, "DATA_DIR": str(data / "eval")},
        ).stdout
    )
    assert vectors["hits"] == []  # nothing was embedded


def test_eval_keywords_only_needs_bm25(tmp_path: Path) -> None:
    data = tmp_path / "data"
    data.mkdir()
    run = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from bot.cli import main; sys.exit(main())",
            "eval",
            "retrieval",
            str(_eval_set(tmp_path / "tiny")),
            "--mode",
            "hybrid",
            "--keywords-only",
        ],
        env={"PATH": os.environ.get("PATH", ""), "PYTHONPATH": str(ROOT), "DATA_DIR": str(data)},
        cwd=data,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 1 and "use it with --mode bm25" in run.stderr
