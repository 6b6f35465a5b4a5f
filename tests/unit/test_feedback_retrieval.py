"""Votes that move retrieval: a bounded, decaying boost of the chunks an answer cited, applied in
fusion, inside the answer's space only, off with RETRIEVAL_FEEDBACK_WEIGHT=0."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest

from core.models import AnswerDone, Chunk, ChunkVote, Question, ScoredChunk, Vote
from core.retrieval.feedback import FeedbackPrior
from core.retrieval.fusion import rrf, zscore
from core.settings import RetrievalSettings
from core.testing.fake_service import make_service
from core.testing.memory_store import MemoryStore
from core.testing.scripted_chat import ScriptedChatModel

NOW = datetime(2026, 3, 1, tzinfo=UTC)


def _vote(chunk: str, value: int, days_ago: float = 0.0, doc: str = "doc") -> ChunkVote:
    return ChunkVote(chunk, doc, value, NOW - timedelta(days=days_ago))


def test_a_boost_is_bounded_signed_and_halves_with_the_half_life():
    prior = FeedbackPrior(MemoryStore(), half_life_days=30, similarity_floor=None, clock=lambda: NOW)
    boosts = prior.compute(
        [_vote("one-up", 1)]
        + [_vote("many-up", 1)] * 100
        + [_vote("down", -1)]
        + [_vote("old", 1, days_ago=30)]
        + [_vote("even", 1), _vote("even", -1)]
    )
    assert boosts["one-up"] == pytest.approx(math.tanh(0.5))
    assert 0.99 < boosts["many-up"] <= 1.0
    assert boosts["down"] == pytest.approx(-math.tanh(0.5))
    assert boosts["old"] == pytest.approx(math.tanh(0.25))  # half a vote after one half-life
    assert "even" not in boosts


def test_by_document_a_vote_counts_for_every_chunk_of_its_document():
    prior = FeedbackPrior(
        MemoryStore(), half_life_days=30, unit="document", similarity_floor=None, clock=lambda: NOW
    )
    boosts = prior.compute([_vote("a#0", 1, doc="a.md"), _vote("a#1", 1, doc="a.md")])
    assert boosts == {"a.md": pytest.approx(math.tanh(1.0))}
    assert prior.key("a#7", "a.md") == "a.md"


def _chunk(doc: str) -> Chunk:
    return Chunk("ops", doc, "v" * 16, 0, doc, (), f"text of {doc}", f"/srv/{doc}")


@pytest.mark.parametrize("fuse", [zscore, rrf])
def test_fusion_adds_the_boost_to_candidates_only(fuse):
    a, b, c = _chunk("a"), _chunk("b"), _chunk("c")
    ranked = {
        "dense": [ScoredChunk(a, 0.9), ScoredChunk(b, 0.8), ScoredChunk(c, 0.1)],
        "bm25": [ScoredChunk(a, 9.0), ScoredChunk(b, 8.0), ScoredChunk(c, 1.0)],
    }
    plain = [h.chunk.doc_id for h in fuse(ranked)]
    assert plain == ["a", "b", "c"]
    boosted = fuse(ranked, boost=lambda chunk: 1.0 if chunk.doc_id == "b" else 0.0)
    assert [h.chunk.doc_id for h in boosted] == ["b", "a", "c"]
    assert len(fuse({"dense": ranked["dense"][:1]}, boost=lambda chunk: 5.0)) == 1  # nothing added


@pytest.fixture
def folder(tmp_path):
    docs = tmp_path / "docs"
    docs.mkdir()
    # two documents that answer "how do I rotate the API keys?" about equally well, among others
    (docs / "portal.md").write_text(
        "# Keys\n\nRotate the API keys in the portal: open Settings, choose Security and press Rotate.\n"
    )
    (docs / "console.md").write_text(
        "# Keys\n\nRotate the API keys from the console: run keys rotate --all, then restart the workers.\n"
    )
    (docs / "backups.md").write_text("# Backups\n\nNightly backups go to the vault for 30 days.\n")
    (docs / "vpn.md").write_text("# VPN\n\nConnect to the VPN with the client and your SSO login.\n")
    (docs / "oncall.md").write_text("# On call\n\nThe on-call engineer answers pages within 15 minutes.\n")
    return docs


QUESTION = "How do I rotate the API keys?"


async def _ranking(service, space="ops", question=QUESTION):
    result = await service.search(question, space, top_k=5)
    return [h.chunk.source.rsplit("/", 1)[-1].removesuffix(".md") for h in result.hits]


async def _answer_citing(service, doc: str, space="ops"):
    """Ask; the scripted model cites the passage of ``doc`` (its text names it)."""

    def reply(messages):
        passages = messages[-1].content.split("\n[")
        n = next(p.split("]", 1)[0] for p in passages if f"the {doc}:" in p)
        return f"See [{n}]."

    service.answerer.chat = ScriptedChatModel(reply)
    done = [e async for e in service.ask(Question(QUESTION, space))][-1]
    assert isinstance(done, AnswerDone)
    assert [s.location.rsplit("/", 1)[-1] for s in done.answer.sources if s.cited] == [f"{doc}.md"]
    return done.answer


async def test_an_up_vote_lifts_the_chunk_the_answer_cited_and_a_down_vote_lowers_it(folder):
    service = make_service(cache_ttl_s=0)
    await service.ingest("ops", [str(folder)])
    first, second = (await _ranking(service))[:2]
    assert {first, second} == {"portal", "console"}

    answer = await _answer_citing(service, second)
    await service.vote(Vote(answer.answer_id, "U1", 1))
    assert (await _ranking(service))[:2] == [second, first]

    await service.vote(Vote(answer.answer_id, "U1", -1))  # changed their mind
    down = await _answer_citing(service, second)
    await service.vote(Vote(down.answer_id, "U2", -1))
    assert (await _ranking(service))[:2] == [first, second]


async def test_votes_never_cross_spaces(folder):
    service = make_service(cache_ttl_s=0)
    await service.ingest("ops", [str(folder)])
    await service.ingest("eng", [str(folder)])
    before = await _ranking(service, "eng")
    answer = await _answer_citing(service, before[1], space="ops")
    await service.vote(Vote(answer.answer_id, "U1", 1))
    await service.vote(Vote(answer.answer_id, "U2", 1))
    assert (await _ranking(service, "ops"))[0] == before[1]
    assert await _ranking(service, "eng") == before


async def test_a_weight_of_zero_turns_votes_off(folder):
    service = make_service(cache_ttl_s=0, retrieval=RetrievalSettings(feedback_weight=0))
    await service.ingest("ops", [str(folder)])
    before = await _ranking(service)
    answer = await _answer_citing(service, before[1])
    await service.vote(Vote(answer.answer_id, "U1", 1))
    assert await _ranking(service) == before


async def test_an_edited_document_starts_afresh(folder):
    service = make_service(cache_ttl_s=0)
    await service.ingest("ops", [str(folder)])
    before = await _ranking(service)
    answer = await _answer_citing(service, before[1])
    await service.vote(Vote(answer.answer_id, "U1", 1))
    assert (await _ranking(service))[0] == before[1]
    edited = folder / f"{before[1]}.md"
    edited.write_text(edited.read_text() + "\nUpdated for v2.\n")
    await service.ingest("ops", [str(folder)])
    fresh = make_service(cache_ttl_s=0)  # the same documents, nobody voted
    await fresh.ingest("ops", [str(folder)])
    assert await _ranking(service) == await _ranking(fresh)


async def test_forgetting_the_voter_takes_the_boost_away(folder):
    service = make_service(cache_ttl_s=0)
    await service.ingest("ops", [str(folder)])
    before = await _ranking(service)
    answer = await _answer_citing(service, before[1])
    await service.vote(Vote(answer.answer_id, "U1", 1, platform="slack"))
    assert (await _ranking(service))[0] == before[1]
    report = await service.forget_user("slack", "U1")
    assert report.votes == 1
    assert await _ranking(service) == before


async def test_a_vote_counts_for_questions_like_the_one_voted_on(folder):
    other = "Rotate keys"  # finds the same two passages, but is not much like QUESTION
    # a strong weight, so that only the weighting by question keeps the other question still
    service = make_service(cache_ttl_s=0, retrieval=RetrievalSettings(feedback_weight=2.0))
    await service.ingest("ops", [str(folder)])
    before, other_before = await _ranking(service), await _ranking(service, question=other)
    assert before[:2] == other_before[:2] == ["console", "portal"]
    answer = await _answer_citing(service, "portal")
    for user in ("U1", "U2", "U3"):
        await service.vote(Vote(answer.answer_id, user, 1))

    assert (await _ranking(service))[:2] == ["portal", "console"]  # the question voted on
    assert await _ranking(service, question=other) == other_before  # a different one: unmoved

    # counted for every question alike (a plain popularity prior), the same votes move the other too
    service.retriever.feedback = FeedbackPrior(service.store, half_life_days=30, similarity_floor=None)
    assert (await _ranking(service, question=other))[:2] == ["portal", "console"]
