"""The feedback loop's commands as an operator runs them: `ragbot verified add|list|remove`,
`ragbot ask` answered from a verified answer without a model call, and `ragbot forget --user`,
each the installed command in a subprocess over the real backends (SQLite, qdrant-edge, Whoosh,
the e5 embedder) and, for `ask`, the vLLM backend against a local fake vLLM server."""

from __future__ import annotations

import asyncio
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from core.backends.sql_store import SqlStore
from core.models import Asker, Vote
from core.testing.contracts.store import make_answer
from core.testing.fake_llm_servers import FakeLLMServer

pytestmark = pytest.mark.slow  # every command loads the embedder

DOC = "# Deploying\n\nTo deploy the billing service run `make deploy` from the release branch.\n"


@dataclass(frozen=True)
class Done:
    returncode: int
    stdout: str
    stderr: str


async def run(*args: str, data: Path, extra: dict[str, str] | None = None) -> Done:
    """The installed command, awaited: the fake model server runs on this event loop."""
    script = Path(sys.executable).with_name("ragbot")
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(data.parent),
        "DATA_DIR": str(data),
        "HF_HUB_OFFLINE": "1",
        "LOG_LEVEL": "WARNING",
        # this checkout's code, when the tests run from a worktree beside the installed one
        **({"PYTHONPATH": os.environ["PYTHONPATH"]} if "PYTHONPATH" in os.environ else {}),
        **(extra or {}),
    }
    process = await asyncio.create_subprocess_exec(
        str(script),
        *args,
        env=env,
        cwd=data.parent,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(process.communicate(), 600)
    return Done(process.returncode or 0, out.decode(), err.decode())


async def test_a_verified_answer_from_the_cli_answers_ask_without_the_model(tmp_path: Path) -> None:
    data = tmp_path / "data"
    doc = tmp_path / "deploy.md"
    doc.write_text(DOC, encoding="utf-8")
    assert (await run("ingest", str(doc), "--space", "ops", data=data)).returncode == 0

    added = await run(
        "verified", "add", "--space", "ops", "--question", "How do I deploy the billing service?",
        "--text", "Merge a release PR: the release train deploys it.", "--source", str(doc),
        "--author", "cli:alice", "--json", data=data,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    verified = json.loads(added.stdout)
    assert verified["sources"][0]["location"] == str(doc) and verified["needs_review"] is False

    listed = await run("verified", "list", "--space", "ops", data=data)
    assert (
        verified["verified_id"] in listed.stdout and "How do I deploy the billing service?" in listed.stdout
    )

    async with FakeLLMServer("openai", model="fake-model") as llm:
        model = {"LLM_MODE": "vllm", "LLM_BASE_URL": llm.base_url, "LLM_MODEL": "fake-model"}
        asked = await run(
            "ask", "how do I deploy the billing service", "--space", "ops", "--json", data=data, extra=model
        )
        assert asked.returncode == 0, asked.stderr
        answer = json.loads(asked.stdout)
        assert answer["text"] == "Merge a release PR: the release train deploys it."
        assert (answer["model"], answer["verified"]["author"]) == ("verified", "cli:alice")
        assert not [r for r in llm.requests if r.path.endswith(("/chat/completions", "/api/chat"))]

        removed = await run("verified", "remove", verified["verified_id"], data=data)
        assert removed.returncode == 0 and "removed" in removed.stdout
        again = await run("verified", "remove", verified["verified_id"], data=data)
        assert again.returncode == 1 and "there is no verified answer" in again.stdout

        asked = await run(
            "ask", "how do I deploy the billing service", "--space", "ops", "--json", data=data, extra=model
        )
        assert json.loads(asked.stdout)["verified"] is None
        assert [r for r in llm.requests if r.path.endswith("/chat/completions")]


async def test_bad_input_gets_a_reason_and_exit_code_1(tmp_path: Path) -> None:
    data = tmp_path / "data"
    doc = tmp_path / "deploy.md"
    doc.write_text(DOC, encoding="utf-8")
    await run("ingest", str(doc), "--space", "ops", data=data)
    no_text = await run("verified", "add", "--space", "ops", "--question", "Q?", data=data)
    assert no_text.returncode == 1 and "Give the answer" in no_text.stderr
    unknown = await run(
        "verified",
        "add",
        "--space",
        "ops",
        "--question",
        "Q?",
        "--text",
        "A.",
        "--source",
        "nope.md",
        data=data,
    )
    assert unknown.returncode == 1 and "'nope.md' is not a document of the space 'ops'" in unknown.stderr
    bad_user = await run("forget", "--user", "U0123", data=data)
    assert bad_user.returncode == 1 and "PLATFORM:ID" in bad_user.stderr
    assert "no verified answers" in (await run("verified", "list", data=data)).stdout


async def test_forget_deletes_a_persons_questions_and_votes(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert (await run("db", "upgrade", data=data)).returncode == 0
    store = SqlStore(f"sqlite+aiosqlite:///{data / 'ragbot.db'}")
    await store.start()
    try:
        alice, bob = Asker("slack", "U1", "C1"), Asker("slack", "U2", "C1")
        await store.record_answer(make_answer("a1", space_id="ops"), alice)
        await store.record_answer(make_answer("a2", space_id="ops"), alice)
        await store.record_answer(make_answer("b1", space_id="ops"), bob)
        await store.record_vote(Vote("b1", "U1", -1, reason="wrong", platform="slack"))
        await store.record_vote(Vote("a1", "U2", 1, platform="slack"))
    finally:
        await store.aclose()

    done = await run("forget", "--user", "slack:U1", data=data)

    assert done.returncode == 0, done.stderr
    assert "deleted 2 questions with their answers and 1 votes" in done.stdout
    stats = json.loads((await run("feedback", "stats", "--space", "ops", "--json", data=data)).stdout)
    assert (stats["answers"], stats["up"], stats["down"]) == (1, 0, 0)
