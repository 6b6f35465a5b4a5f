"""`ragbot eval answers`: which questions it asks, how it judges an answer's ending, and the command
end to end against a local OpenAI-compatible server (real e5, qdrant-edge, Whoosh, SQLite)."""

import asyncio
import json

import pytest

from bot.cli import main
from core.eval.answers import ends_mid_sentence, pick_questions
from core.eval.dataset import EvalQuery
from core.testing.fake_llm_servers import FakeLLMServer


def test_a_sample_is_balanced_between_languages_and_spread_over_the_set():
    queries = [EvalQuery(f"en-{i}", f"q{i}", "en") for i in range(10)] + [
        EvalQuery(f"ru-{i}", f"в{i}", "ru") for i in range(6)
    ]
    picked = [q.query_id for q in pick_questions(queries, sample=6)]
    assert picked == ["en-0", "en-3", "en-6", "ru-0", "ru-2", "ru-4"]
    assert pick_questions(queries, sample=6) == pick_questions(queries, sample=6)  # fixed, not random
    assert [q.query_id for q in pick_questions(queries, limit=2)] == ["en-0", "en-1"]
    assert len(pick_questions(queries)) == 16


@pytest.mark.parametrize(
    ("text", "at_limit", "mid"),
    [
        ("The volumes are created from the specified block devices on the", True, True),
        ("Create it with this resource:\n```yaml\nkind: LocalStorageClass", True, True),
        ("It is created from block devices [1].", True, False),
        ("Run:\n```shell\nd8 k get pods\n```", True, False),
        ("It is done with a ModuleConfig [2]", True, False),
        (
            "The volumes are created from\n\n(The answer was shortened to fit its length limit: ask about one part of it for more.)",
            True,
            False,
        ),
        ("Стоп на полуслове без пометк", True, True),
        ("The model chose to stop here", False, False),  # not at the limit: it ended where it chose
    ],
)
def test_an_answer_at_the_limit_ending_mid_sentence_without_a_note_is_counted(text, at_limit, mid):
    assert ends_mid_sentence(text, at_limit=at_limit) is mid


@pytest.fixture
def eval_set(tmp_path):
    root = tmp_path / "tiny_enru"
    root.mkdir()
    corpus = [
        {"id": "vpn-en", "title": "VPN", "text": "The VPN gateway listens on TCP port 4433.", "lang": "en"},
        {"id": "vpn-ru", "title": "VPN", "text": "VPN-шлюз слушает TCP-порт 4433.", "lang": "ru"},
        {"id": "lunch", "title": "Lunch", "text": "Lunch is served at noon in the cafeteria.", "lang": "en"},
    ]
    queries = [
        {"id": "q1", "text": "Which port does the VPN gateway listen on?", "lang": "en", "answers": ["4433"]},
        {"id": "q2", "text": "When is lunch served?", "lang": "en", "answers": ["noon"]},
        {"id": "q3", "text": "Какой порт слушает VPN-шлюз?", "lang": "ru", "answers": ["4433"]},
        {"id": "q4", "text": "Когда обед?", "lang": "ru", "answers": ["полдень"]},
    ]
    (root / "corpus.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in corpus), encoding="utf-8"
    )
    (root / "queries.jsonl").write_text(
        "\n".join(json.dumps(r, ensure_ascii=False) for r in queries), encoding="utf-8"
    )
    (root / "qrels.tsv").write_text(
        "query_id\tdoc_id\trelevance\nq1\tvpn-en\t1\nq2\tlunch\t1\nq3\tvpn-ru\t1\nq4\tlunch\t1\n"
    )
    return root


@pytest.mark.slow
async def test_eval_answers_asks_a_sample_and_writes_each_answer(eval_set, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)  # no stray .env
    async with FakeLLMServer(
        "openai",
        reply="The VPN gateway listens on TCP port 4433 [1]. It is reached from the office network only and",
    ) as server:
        monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
        monkeypatch.setenv("CLASSIFY_USE_MODEL", "false")
        monkeypatch.setenv("LLM_MODE", "vllm")
        monkeypatch.setenv("LLM_BASE_URL", server.base_url)
        monkeypatch.setenv("LLM_MAX_TOKENS", "16")  # the reply is longer: every answer stops at the limit
        records = tmp_path / "answers.jsonl"
        argv = ["eval", "answers", str(eval_set), "--sample", "2", "--records", str(records), "--json"]
        code = await asyncio.to_thread(main, argv)
    assert code == 0
    scores = json.loads(capsys.readouterr().out)
    rows = [json.loads(line) for line in records.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in rows] == ["q1", "q3"]  # one a language, the first of each
    assert scores["n"] == 2 and set(scores["by_lang"]) == {"en", "ru"}
    for row in rows:
        assert row["at_limit"] and row["shortened"] and not row["ends_mid_sentence"]
        assert row["answer"].startswith("The VPN gateway listens on TCP port 4433 [1].\n\n(")
        assert row["cites_relevant"]  # [1] is the page in the question's language, which qrels name
        assert row["prompt_tokens"] > 0 and row["sources"]
    assert (scores["at_limit"], scores["shortened"], scores["ends_mid_sentence"]) == (2, 2, 0)
    assert scores["by_lang"]["ru"]["lang_match"] == 0.0 and scores["by_lang"]["en"]["lang_match"] == 1.0
    # the model was asked with the fixed system text first, then the passages and the question;
    # its English answer to the Russian question was asked for again, firmly, once
    asked = [r.body["messages"] for r in server.requests if r.path.endswith("/chat/completions")]
    assert len(asked) == 3 and asked[0][0] == asked[1][0] == asked[2][0] and asked[0][0]["role"] == "system"
    assert (
        asked[2][-1]["content"].endswith("ставя ссылки вида [1].")
        and "только на русском" in asked[2][-1]["content"]
    )
    assert all(0 < r["ttft_s"] <= r["first_text_s"] for r in rows)
