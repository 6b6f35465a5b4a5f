"""Query-focused compression over the deterministic embedder and the keyword index's real analyzer:
what bears on the question stays, within the budget, under its own headings; the rest goes."""

from pathlib import Path

import numpy as np
import pytest

from core.answer.compress import Candidate, ContextCompressor, choose
from core.answer.context import ContextItem, to_sources
from core.answer.parts import Part
from core.backends.text_analysis import TermAnalyzer
from core.ingest.chunking import chunk_document
from core.models import Chunk, Document
from core.testing.hash_embedder import HashEmbedder
from core.text import estimate_tokens

SPEC = Path(__file__).resolve().parents[1] / "data" / "spec" / "infra-recommendations.ru.md"


def make_chunk(
    text: str, *, doc_id: str = "doc", position: int = 0, lang: str = "en", title: str = "Guide"
) -> Chunk:
    return Chunk(
        "s",
        doc_id,
        "v1",
        position,
        title,
        (title,),
        text,
        f"{doc_id}.md",
        lang=lang,
        n_tokens=estimate_tokens(text),
    )


def shown_tokens(items: list[ContextItem]) -> int:
    return sum(estimate_tokens(f"[{i.n}] {i.section}\n{i.text}") for i in items)


@pytest.fixture
def compressor() -> ContextCompressor:
    return ContextCompressor(HashEmbedder(dim=256), TermAnalyzer())


@pytest.fixture
def spec_items() -> list[ContextItem]:
    doc = Document("spec", "spec.md", "Рекомендации по инфраструктуре", SPEC.read_text(), "h", lang="ru")
    chunks = chunk_document(doc, "s")
    return [ContextItem(n, c) for n, c in enumerate(reversed(chunks), start=1)]  # the last chunk first


async def test_keeps_what_bears_on_the_question_within_the_budget(compressor, spec_items):
    whole = shown_tokens(spec_items)
    out = await compressor.compress(
        "Какой таймаут LLM_TIMEOUT стоит по умолчанию?", spec_items, budget=300, lang="ru"
    )
    assert shown_tokens(out) <= 300 < whole
    assert [i.n for i in out] == list(range(1, len(out) + 1))  # numbered afresh, in order
    holder = [i for i in out if "LLM_TIMEOUT" in i.text]
    assert len(holder) == 1 and "240" in holder[0].text
    # named by the heading its text sits under, not by its chunk's first heading
    assert holder[0].section.endswith("Практики оптимизации › Наблюдаемость и надёжность")
    assert holder[0].chunk.heading_path[-1] == "Классификация (doc_type)"
    assert not any("Qdrant" in i.text and "MB" in i.text for i in out)  # the memory figures went
    sources = to_sources(out, {holder[0].n})
    cited = [s for s in sources if s.cited]
    assert [s.section for s in cited] == [holder[0].section] and cited[0].doc_id == "spec"


async def test_a_code_block_is_kept_whole_or_not_at_all(compressor):
    yaml = "```yaml\n" + "\n".join(f"key{i}: value{i}" for i in range(40)) + "\n```"
    item = ContextItem(
        1, make_chunk(f"Enable the gateway with this config:\n\n{yaml}\n\nThe gateway listens on 4433.")
    )
    small = await compressor.compress("Which port does the gateway listen on?", [item], budget=40, lang="en")
    assert "4433" in small[0].text and "key0" not in small[0].text
    large = await compressor.compress("How do I enable the gateway config?", [item], budget=2000, lang="en")
    assert all(f"key{i}: value{i}" in large[0].text for i in range(40)) and large[0].text.count("```") == 2


async def test_an_announcement_brings_the_whole_list_it_announces(compressor):
    text = (
        "There are three replication modes:\n"
        "- None: a single replica.\n"
        "- Availability: two replicas and a diskless one.\n"
        "- ConsistencyAndAvailability: three replicas.\n\n"
        "Unrelated: the office closes at six. Lunch is at noon."
    )
    out = await compressor.compress(
        "Which replication modes are there?", [ContextItem(1, make_chunk(text))], budget=200, lang="en"
    )
    kept = out[0].text
    assert all(mode in kept for mode in ("- None", "- Availability", "- ConsistencyAndAvailability"))
    assert "Lunch" not in kept


async def test_a_sentence_repeated_in_two_chunks_is_shown_once(compressor):
    same = "Backups run nightly at 02:00 and are kept for 35 days."
    items = [
        ContextItem(1, make_chunk(f"{same} Restores go through the on-call admin.", doc_id="a")),
        ContextItem(2, make_chunk(f"{same} Tapes are kept offsite.", doc_id="b", position=1)),
    ]
    out = await compressor.compress("How long are backups kept?", items, budget=500, lang="en")
    assert sum(i.text.count("kept for 35 days") for i in out) == 1


def test_a_translation_of_a_chosen_part_is_skipped_but_a_same_language_neighbour_is_not():
    def part(index: int, text: str) -> Part:
        return Part(index=index, kind="sentence", text=text, path=(), block=0, tokens=10)

    def unit(*xs: float) -> np.ndarray:
        v = np.array(xs, dtype=np.float32)
        return v / np.linalg.norm(v)

    en = Candidate(0, part(0, "LVMThin allows snapshots."), 3.0, "en", unit(1, 0.2, 0))
    ru = Candidate(1, part(0, "LVMThin позволяет снапшоты."), 2.0, "ru", unit(1, 0.25, 0))  # cosine ~0.999
    near = Candidate(0, part(1, "LVM is faster."), 1.0, "en", unit(1, 0.3, 0))  # as close, same language
    chosen = choose([en, ru, near], budget=100, section_cost={(0, ()): 2, (1, ()): 2})
    assert chosen == {(0, 0), (0, 1)}


async def test_budget_zero_is_not_asked_for_whole_chunks_stay(spec_items):
    """ANSWER_PROMPT_TOKENS=0 turns compression off (the answerer then never calls it)."""
    from core.settings import AnswerSettings

    assert AnswerSettings(prompt_tokens=0).prompt_budget("embedded") == 0
    assert AnswerSettings().prompt_budget("embedded") == 700
    assert AnswerSettings().prompt_budget("vllm") == 2400
    assert AnswerSettings(prompt_tokens=1000).prompt_budget("ollama") == 1000


async def test_two_chunks_of_one_section_make_one_passage_in_document_order(compressor):
    first = make_chunk("To change the DVCR storage class, stop DVCR and delete its PVC.", position=0)
    second = make_chunk("Then set the new DVCR storage class and start DVCR again.", position=1)
    other = make_chunk("Lunch is served at noon.", doc_id="other")
    items = [ContextItem(1, second), ContextItem(2, other), ContextItem(3, first)]
    out = await compressor.compress("How do I change the DVCR storage class?", items, budget=500, lang="en")
    assert [i.chunk.doc_id for i in out] == ["doc"]
    assert out[0].text.index("To change the DVCR") < out[0].text.index(
        "Then set the new DVCR"
    )  # document order


async def test_when_nothing_fits_the_best_part_is_kept_rather_than_nothing(compressor):
    item = ContextItem(1, make_chunk("The VPN gateway listens on TCP port 4433 for every office."))
    out = await compressor.compress("Which port does the VPN gateway use?", [item], budget=3, lang="en")
    assert len(out) == 1 and "4433" in out[0].text
