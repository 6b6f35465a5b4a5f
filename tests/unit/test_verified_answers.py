"""Verified answers through RagService over the fakes: written, matched to new questions of their
space and answered at once without the model, flagged for review when a source changes, and
bypassed on request ("this did not help")."""

from __future__ import annotations

import numpy as np
import pytest

from core.answer.answerer import VERIFIED_MODEL
from core.errors import InvalidInput, NotFound
from core.models import AnswerDone, Question, SourcesFound, TextDelta, Turn
from core.service import DID_NOT_HELP
from core.settings import VerifiedSettings
from core.testing.fake_service import make_service
from core.testing.hash_embedder import HashEmbedder
from core.testing.scripted_chat import ScriptedChatModel

QUESTION = "How do I restart the API?"
RIGHT = "Run `sudo systemctl restart api` on the gateway host, then check `/healthz` [1]."


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "restart.md").write_text(
        "# Restarting the API\n\nRun `systemctl restart api` on the gateway host.\n"
    )
    (docs / "backup.md").write_text("# Backups\n\nNightly backups go to the vault bucket for 30 days.\n")
    return docs


async def _events(service, question):
    return [event async for event in service.ask(question)]


async def _answer(service, text, space="ops", **fields):
    events = await _events(service, Question(text, space, **fields))
    assert isinstance(events[-1], AnswerDone)
    return events[-1].answer


async def _ready(folder, **kwargs):
    chat = ScriptedChatModel("Restart it with systemctl [1].")
    service = make_service(chat=chat, **kwargs)
    await service.ingest("ops", [str(folder)])
    return service, chat


async def test_a_verified_answer_is_served_at_once_with_its_sources_and_no_model_call(folder):
    service, chat = await _ready(folder)
    sources = await service.document_sources("ops", [str(folder / "restart.md")])
    verified = await service.verify_answer("ops", QUESTION, RIGHT, author="cli:alice", sources=sources)

    events = await _events(service, Question("how do I restart the API", "ops"))

    assert [type(e) for e in events] == [SourcesFound, TextDelta, AnswerDone]  # no queue, no stream
    answer = events[-1].answer
    assert chat.requests == []
    assert (answer.text, answer.model, answer.verified) == (RIGHT, VERIFIED_MODEL, verified)
    assert [s.location for s in answer.sources] == [str(folder / "restart.md")]
    assert all(s.cited for s in answer.sources)
    assert (await service.get_answer(answer.answer_id)).verified == verified  # logged, votable


async def test_a_different_question_is_answered_by_the_model(folder):
    service, chat = await _ready(folder)
    await service.verify_answer("ops", QUESTION, RIGHT, author="cli:alice")
    answer = await _answer(service, "Where do the nightly backups go?")
    assert answer.verified is None and len(chat.requests) == 1


async def test_the_threshold_decides_how_close_a_wording_must_be(folder):
    near = "How do I restart the API quickly?"
    embedder = HashEmbedder()
    similarity = float(np.dot(await embedder.embed_query(QUESTION), await embedder.embed_query(near)))
    assert 0.5 < similarity < 0.99
    for threshold, served in [(similarity + 0.01, False), (similarity - 0.01, True)]:
        service, chat = await _ready(folder, verified=VerifiedSettings(threshold=threshold))
        await service.verify_answer("ops", QUESTION, RIGHT, author="cli:alice")
        answer = await _answer(service, near)
        assert (answer.verified is not None) is served, threshold
        assert len(chat.requests) == (0 if served else 1)


async def test_the_cross_language_threshold_applies_when_the_languages_differ(folder):
    # The hash embedder shares the Latin words; the questions are detected as English and Russian.
    english = "How to restart the API gateway?"
    russian = "Как перезапустить API gateway?"
    embedder = HashEmbedder()
    similarity = float(np.dot(await embedder.embed_query(english), await embedder.embed_query(russian)))
    assert 0.1 < similarity < 0.9
    for cross, served in [(similarity + 0.01, False), (similarity - 0.01, True)]:
        settings = VerifiedSettings(threshold=0.0, cross_lang_threshold=cross)
        service, chat = await _ready(folder, verified=settings)
        verified = await service.verify_answer("ops", english, RIGHT, author="cli:alice")
        assert verified.lang == "en"
        answer = await _answer(service, russian)
        assert answer.lang == "ru"
        assert (answer.verified is not None) is served, cross


async def test_turned_off_no_question_is_answered_from_them(folder):
    service, chat = await _ready(folder, verified=VerifiedSettings(enabled=False))
    await service.verify_answer("ops", QUESTION, RIGHT, author="cli:alice")
    answer = await _answer(service, QUESTION)
    assert answer.verified is None and len(chat.requests) == 1


async def test_a_space_never_sees_another_spaces_verified_answers(folder):
    service, chat = await _ready(folder)
    await service.ingest("eng", [str(folder)])
    await service.verify_answer("eng", QUESTION, RIGHT, author="cli:alice")
    answer = await _answer(service, QUESTION, space="ops")
    assert answer.verified is None and len(chat.requests) == 1
    assert [v.space_id for v in await service.verified_answers()] == ["eng"]
    assert await service.verified_answers("ops") == []


async def test_skip_verified_and_follow_ups_go_to_the_model(folder):
    service, chat = await _ready(folder)
    await service.verify_answer("ops", QUESTION, RIGHT, author="cli:alice")
    skipped = await _answer(service, QUESTION, skip_verified=True)
    follow_up = await _answer(service, QUESTION, history=(Turn("user", "hi"), Turn("assistant", "hello")))
    assert skipped.verified is None and follow_up.verified is None
    assert len(chat.requests) == 2


async def test_did_not_help_records_a_thumbs_down_and_gives_back_the_question(folder):
    service, chat = await _ready(folder)
    await service.verify_answer("ops", QUESTION, RIGHT, author="cli:alice")
    served = await _answer(service, QUESTION)

    original = await service.did_not_help(served.answer_id, user_id="U7", platform="slack")

    assert original.answer_id == served.answer_id and original.question == QUESTION
    stats = await service.feedback_stats("ops")
    assert (stats.down, stats.worst[0].reasons) == (1, (DID_NOT_HELP,))
    generated = await _answer(service, original.question, skip_verified=True)
    assert generated.verified is None and generated.text == "Restart it with systemctl [1]."
    with pytest.raises(NotFound):
        await service.did_not_help("gone", user_id="U7", platform="slack")


async def test_a_changed_source_flags_it_for_review_and_it_is_not_served_until_verified_again(folder):
    service, chat = await _ready(folder)
    sources = await service.document_sources("ops", [str(folder / "restart.md")])
    await service.verify_answer("ops", QUESTION, RIGHT, author="cli:alice", sources=sources)
    assert [v.needs_review for v in await service.verified_answers("ops")] == [False]

    (folder / "restart.md").write_text("# Restarting the API\n\nThe API restarts itself since v2.\n")
    await service.ingest("ops", [str(folder)])

    [flagged] = await service.verified_answers("ops")
    assert flagged.needs_review and (await service.get_verified(flagged.verified_id)).needs_review
    assert (await _answer(service, QUESTION)).verified is None  # the model answers from the new text
    assert len(chat.requests) == 1

    again = await service.verify_answer("ops", QUESTION, "It restarts itself since v2 [1].", author="cli:bob")
    assert again.verified_id == flagged.verified_id and not again.needs_review
    assert (await _answer(service, QUESTION)).verified == again


async def test_a_removed_source_flags_it_for_review(folder):
    service, _ = await _ready(folder)
    sources = await service.document_sources("ops", [str(folder / "restart.md")])
    await service.verify_answer("ops", QUESTION, RIGHT, author="cli:alice", sources=sources)
    (folder / "restart.md").unlink()
    await service.ingest("ops", [str(folder)], prune=True)
    assert [v.needs_review for v in await service.verified_answers("ops")] == [True]


async def test_verifying_an_answer_keeps_what_it_cited_and_stays_in_its_space(folder):
    service, _ = await _ready(folder)
    generated = await _answer(service, QUESTION)
    cited = [s.doc_id for s in generated.sources if s.cited]
    assert cited

    endorsed = await service.verify_answer(
        "ops", QUESTION, generated.text, author="slack:U1", from_answer_id=generated.answer_id
    )

    assert [s.doc_id for s in endorsed.sources] == cited
    assert [s.n for s in endorsed.sources] == list(range(1, len(cited) + 1))
    assert endorsed.from_answer_id == generated.answer_id and endorsed.doc_versions
    await service.ingest("eng", [str(folder)])
    with pytest.raises(InvalidInput, match="another space"):
        await service.verify_answer("eng", QUESTION, RIGHT, author="x", from_answer_id=generated.answer_id)
    with pytest.raises(NotFound):
        await service.verify_answer("ops", QUESTION, RIGHT, author="x", from_answer_id="nope")


@pytest.mark.parametrize(
    ("space", "question", "text", "author", "message"),
    [
        ("ops", "   ", RIGHT, "cli:a", "needs the question"),
        ("ops", QUESTION, " \n ", "cli:a", "needs its text"),
        ("ops", QUESTION, RIGHT, " ", "needs its author"),
        ("ops", "x" * 5000, RIGHT, "cli:a", "the limit is"),
        ("ops", QUESTION, "x" * 20_001, "cli:a", "can have 20,000"),
        ("no spaces please", QUESTION, RIGHT, "cli:a", "not a valid space name"),
    ],
)
async def test_bad_input_is_refused_with_a_reason(folder, space, question, text, author, message):
    service, _ = await _ready(folder)
    with pytest.raises(InvalidInput, match=message):
        await service.verify_answer(space, question, text, author=author)
    assert await service.verified_answers() == []


async def test_unknown_documents_cannot_be_sources(folder):
    service, _ = await _ready(folder)
    with pytest.raises(NotFound, match="missing.md"):
        await service.document_sources("ops", [str(folder / "restart.md"), "missing.md"])


async def test_removing_a_verified_answer_stops_serving_it(folder):
    service, chat = await _ready(folder)
    verified = await service.verify_answer("ops", QUESTION, RIGHT, author="cli:alice")
    assert await service.remove_verified(verified.verified_id) is True
    assert await service.remove_verified(verified.verified_id) is False
    answer = await _answer(service, QUESTION)
    assert answer.verified is None and len(chat.requests) == 1
