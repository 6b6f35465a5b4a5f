"""End to end on the embedded default, nothing faked: the demo documents ingested with
multilingual-e5-small into the embedded Qdrant engine, Whoosh and SQLite, then questions asked
through ``RagService.ask`` and answered by the real embedded model (llama.cpp, the default GGUF),
streamed. What a person would check: the answer comes in pieces, in the question's language, and
cites the document that holds the answer.

Markers ``llm`` and ``slow``. The assembled model is kept in pytest's cache directory (shared with
test_embedded_llm.py), so only the first run pays for assembling it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from bot.bootstrap import build_service
from bot.settings import Settings
from core.models import AnswerDone, Question, SourcesFound, TextDelta
from core.service import RagService
from core.settings import LLMSettings
from core.text import detect_lang

pytestmark = [pytest.mark.llm, pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

DOCS = Path(__file__).resolve().parents[2] / "examples" / "docs" / "sds-local-volume"
SPACE = "demo"


@pytest.fixture(scope="module")
def data_dir(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("data")
    cache = getattr(request.config, "cache", None)
    if cache is not None:  # the model assembled once, in pytest's cache (see the module docstring)
        (directory / "models").symlink_to(Path(cache.mkdir("ragbot-models")), target_is_directory=True)
    return directory


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(data_dir: Path) -> AsyncIterator[RagService]:
    settings = Settings(data_dir=data_dir, llm=LLMSettings(temperature=0.0, max_tokens=160))
    service = build_service(settings)
    await service.start()
    try:
        report = await service.ingest(SPACE, [str(DOCS)])
        assert not report.failed, report.failed
        yield service
    finally:
        await service.aclose()


async def ask(service: RagService, text: str) -> tuple[list[object], AnswerDone]:
    events = [event async for event in service.ask(Question(text, SPACE))]
    done = events[-1]
    assert isinstance(done, AnswerDone), events[-3:]
    return events, done


def cited_files(done: AnswerDone) -> list[Path]:
    return [Path(s.location) for s in done.answer.sources if s.cited]


async def test_english_question_streams_an_answer_citing_the_document_that_holds_it(
    service: RagService,
) -> None:
    events, done = await ask(service, "How do I create a LocalStorageClass for thick LVM volumes?")
    assert isinstance(events[0], SourcesFound)  # sources first, then the text as it is written
    deltas = [e for e in events if isinstance(e, TextDelta)]
    assert len(deltas) >= 5
    answer = done.answer
    assert "".join(d.text for d in deltas) == answer.text
    assert not answer.declined and detect_lang(answer.text) == "en"
    assert "LocalStorageClass" in answer.text
    files = cited_files(done)
    assert files, answer.text
    # a cited document is one that creates a thick LocalStorageClass, in English
    assert any(
        not f.name.endswith(".ru.md")
        and "kind: LocalStorageClass" in (text := f.read_text())
        and "Thick" in text
        for f in files
    ), (files, answer.text)
    assert answer.timings.prompt_tokens > 300 and answer.timings.completion_tokens > 5
    stored = await service.store.get_answer(answer.answer_id)  # kept for feedback and history
    assert stored is not None and stored.text == answer.text


async def test_russian_question_is_answered_in_russian_from_the_russian_page(service: RagService) -> None:
    events, done = await ask(service, "Как включить модуль sds-local-volume?")
    answer = done.answer
    assert len([e for e in events if isinstance(e, TextDelta)]) >= 5
    assert not answer.declined and detect_lang(answer.text) == "ru", answer.text
    assert "ModuleConfig" in answer.text or "enabled: true" in answer.text, answer.text
    files = cited_files(done)
    # the page that says how to enable it: a Russian page with the ModuleConfig that enables the module
    assert any(
        f.name.endswith(".ru.md")
        and "kind: ModuleConfig" in (text := f.read_text())
        and "enabled: true" in text
        for f in files
    ), (files, answer.text)


@pytest.mark.parametrize(
    "text",
    [
        "Who won the football World Cup in 2018?",
        "Какая погода будет завтра в Москве?",
    ],
)
async def test_a_question_the_documents_do_not_cover_is_declined(service: RagService, text: str) -> None:
    """Compression keeps the parts that bear best on the question even when none really does; the
    model still has to say the documents do not hold the answer, in the question's language."""
    _, done = await ask(service, text)
    answer = done.answer
    assert answer.declined, answer.text
    assert detect_lang(answer.text) == detect_lang(text), answer.text


async def test_the_prompt_carries_a_compressed_context(service: RagService) -> None:
    """The embedded default gets at most ANSWER_PROMPT_TOKENS of context (700 for LLM_MODE=embedded),
    not the 2,000+ tokens of whole chunks; the model counts the whole prompt at well under that."""
    _, en = await ask(service, "Which devices can the module use for thick volumes?")
    _, ru = await ask(service, "Какие устройства модуль использует для томов?")
    for done in (en, ru):
        assert 0 < done.answer.timings.context_tokens <= 700, done.answer.timings
        assert done.answer.timings.prompt_tokens < 1400, done.answer.timings
        assert done.answer.text.strip() and not done.answer.interrupted
