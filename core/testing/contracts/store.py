"""The contract every store passes (Catalog, AnswerLog, AskedQuestions, FeedbackStore, BindingStore,
PinStore, AdminStore, LeaseLock, VerifiedStore, RetentionStore, SourceStateStore, AnswerHistory,
PromptStore): the in-memory reference and the SQL backend on SQLite and PostgreSQL.

Use it by subclassing in a test module and providing the ``store`` fixture: a started store over
an empty database, built with the ``clock`` fixture as its clock (leases expire by that clock, so
the expiry tests advance it instead of sleeping); close it after the test.
"""

from __future__ import annotations

import asyncio
import inspect
from collections import Counter
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest

from core.errors import InvalidInput, NotFound
from core.models import (
    Answer,
    Asker,
    Binding,
    ChunkVote,
    DocumentRecord,
    ForgetReport,
    PinnedSource,
    QuestionLogQuery,
    RatedAnswer,
    RecordedVote,
    Source,
    SourceState,
    SpaceSummary,
    Timings,
    Turn,
    VerifiedAnswer,
    Vote,
)
from core.ports import (
    AdminStore,
    AnswerHistory,
    AnswerLog,
    AskedQuestions,
    BindingStore,
    Catalog,
    FeedbackStore,
    LeaseLock,
    PinStore,
    PromptStore,
    RetentionStore,
    SourceStateStore,
    VerifiedStore,
)

__all__ = ["StoreContract", "STORE_PORTS", "ManualClock", "make_answer", "make_record", "make_verified"]

T0 = datetime(2025, 3, 1, 12, 0, 0, tzinfo=UTC)


class ManualClock:
    """A clock that moves only when told to."""

    def __init__(self, now: datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


def make_record(
    doc_id: str = "guides/vpn.md",
    *,
    space_id: str = "eng",
    version: str = "a" * 64,
    chunks: int = 3,
    ingested_at: datetime | None = T0,
    **fields: Any,
) -> DocumentRecord:
    values: dict[str, Any] = {
        "source": f"/srv/docs/{doc_id}",
        "title": doc_id.rsplit("/", 1)[-1],
        "doc_type": "guide",
        "lang": "en",
        **fields,
    }
    return DocumentRecord(
        space_id=space_id, doc_id=doc_id, version=version, chunks=chunks, ingested_at=ingested_at, **values
    )


def make_answer(
    answer_id: str = "ans-1",
    *,
    space_id: str = "eng",
    question: str = "How do I connect to the VPN?",
    **fields: Any,
) -> Answer:
    values: dict[str, Any] = {
        "text": "Install the client and sign in with SSO [1].",
        "sources": (
            Source(1, "guides/vpn.md", "VPN", "VPN › Setup", "/srv/docs/guides/vpn.md", None, "guide", True),
        ),
        "lang": "en",
        "model": "scripted",
        "timings": Timings(),
        **fields,
    }
    return Answer(answer_id=answer_id, question=question, space_id=space_id, **values)


def make_verified(
    verified_id: str = "ver-1",
    *,
    space_id: str = "eng",
    question: str = "How do I connect to the VPN?",
    **fields: Any,
) -> VerifiedAnswer:
    values: dict[str, Any] = {
        "text": "Use the self-service portal at vpn.example, then sign in with SSO [1].",
        "sources": (
            Source(1, "guides/vpn.md", "VPN", "VPN › Setup", "/srv/docs/guides/vpn.md", None, "guide", True),
        ),
        "author": "console:alice",
        "created_at": T0,
        "lang": "en",
        "doc_versions": (("guides/vpn.md", "a" * 64),),
        **fields,
    }
    return VerifiedAnswer(verified_id=verified_id, space_id=space_id, question=question, **values)


def _chunk_source(n: int, doc_id: str, *, cited: bool = True, chunk: str = "") -> Source:
    chunk_id = chunk or f"eng/{doc_id}@{'a' * 16}#{n}"
    return Source(n, doc_id, doc_id, doc_id, f"/srv/{doc_id}", None, "guide", cited, chunk_id)


STORE_PORTS = (
    Catalog,
    AnswerLog,
    AskedQuestions,
    FeedbackStore,
    BindingStore,
    PinStore,
    AdminStore,
    LeaseLock,
    AnswerHistory,
    VerifiedStore,
    RetentionStore,
    SourceStateStore,
    PromptStore,
)


class StoreContract:
    @pytest.fixture
    def clock(self) -> ManualClock:
        return ManualClock()

    @pytest.fixture
    async def store(self, clock: ManualClock) -> Any:
        raise NotImplementedError("a StoreContract subclass provides the `store` fixture")
        yield  # pragma: no cover

    async def test_implements_every_store_port(self, store: Any) -> None:
        for port in STORE_PORTS:
            for name, member in vars(port).items():
                if name.startswith("_") or not callable(member):
                    continue
                assert inspect.iscoroutinefunction(getattr(store, name, None)), (
                    f"{port.__name__}.{name} missing"
                )
                want = list(inspect.signature(member).parameters)
                got = ["self", *inspect.signature(getattr(store, name)).parameters]
                assert got == want, f"{port.__name__}.{name}{want} implemented as {got}"

    # Catalog

    async def test_an_empty_store_has_no_spaces_documents_or_generation(self, store: Any) -> None:
        assert await store.spaces() == []
        assert await store.live_documents("eng") == {}
        assert await store.generation("eng") == 0

    async def test_set_live_round_trips_the_record(self, store: Any) -> None:
        record = make_record(title="VPN — настройка", lang="ru")
        await store.set_live(record)
        assert await store.live_documents("eng") == {record.doc_id: record}

    async def test_set_live_replaces_the_previous_version(self, store: Any) -> None:
        await store.set_live(make_record(version="a" * 64, chunks=3))
        newer = make_record(version="b" * 64, chunks=5, ingested_at=T0 + timedelta(hours=1))
        await store.set_live(newer)
        assert await store.live_documents("eng") == {newer.doc_id: newer}

    async def test_a_document_without_ingest_time_round_trips(self, store: Any) -> None:
        record = make_record(ingested_at=None)
        await store.set_live(record)
        assert (await store.live_documents("eng"))[record.doc_id].ingested_at is None

    async def test_times_come_back_aware_in_utc(self, store: Any) -> None:
        moscow = timezone(timedelta(hours=3))
        await store.set_live(make_record(ingested_at=datetime(2025, 3, 1, 15, 0, tzinfo=moscow)))
        got = (await store.live_documents("eng"))["guides/vpn.md"].ingested_at
        assert got == T0 and got.utcoffset() == timedelta(0)

    async def test_generation_grows_with_every_change_of_the_space(self, store: Any) -> None:
        seen = [await store.generation("eng")]
        await store.set_live(make_record("a.md"))
        seen.append(await store.generation("eng"))
        await store.set_live(make_record("b.md"))
        seen.append(await store.generation("eng"))
        await store.set_live(make_record("a.md", version="c" * 64))
        seen.append(await store.generation("eng"))
        await store.remove("eng", "a.md")
        seen.append(await store.generation("eng"))
        assert seen == sorted(set(seen)), f"generation must strictly grow: {seen}"
        await store.remove("eng", "a.md")  # gone already: nothing changes
        assert await store.generation("eng") == seen[-1]
        assert await store.generation("ops") == 0

    async def test_concurrent_changes_each_advance_the_generation(self, store: Any) -> None:
        before = await store.generation("eng")
        await asyncio.gather(*(store.set_live(make_record(f"doc-{i}.md")) for i in range(20)))
        assert await store.generation("eng") >= before + 20  # no change lost
        assert len(await store.live_documents("eng")) == 20

    async def test_spaces_are_independent(self, store: Any) -> None:
        await store.set_live(make_record("same.md", space_id="eng", chunks=2))
        await store.set_live(make_record("same.md", space_id="ops", chunks=7, version="d" * 64))
        g_ops = await store.generation("ops")
        await store.remove("eng", "same.md")
        assert await store.live_documents("eng") == {}
        assert (await store.live_documents("ops"))["same.md"].chunks == 7
        assert await store.generation("ops") == g_ops

    async def test_spaces_summarise_live_documents(self, store: Any) -> None:
        await store.set_live(make_record("a.md", space_id="ops", chunks=2, ingested_at=T0))
        await store.set_live(
            make_record("b.md", space_id="ops", chunks=5, ingested_at=T0 + timedelta(days=1))
        )
        await store.set_live(make_record("c.md", space_id="eng", chunks=1, ingested_at=None))
        await store.set_live(make_record("d.md", space_id="gone", chunks=1))
        await store.remove("gone", "d.md")
        assert await store.spaces() == [
            SpaceSummary("eng", 1, 1, None),
            SpaceSummary("ops", 2, 7, T0 + timedelta(days=1)),
        ]

    # AnswerLog

    async def test_an_answer_round_trips_with_sources_and_timings(self, store: Any) -> None:
        answer = make_answer(
            text="Ставьте клиент и входите через SSO [1]. Пароль меняется в портале [2].",
            question="Как подключиться к VPN?",
            sources=(
                Source(
                    1, "guides/vpn.md", "VPN", "VPN › Установка", "/srv/docs/guides/vpn.md", None, "guide"
                ),
                Source(
                    2,
                    "wiki/pw",
                    "Passwords",
                    "Passwords",
                    "https://wiki.example/pw",
                    "https://wiki.example/pw",
                    "faq",
                    cited=False,
                ),
            ),
            lang="ru",
            model="qwen2.5-3b-instruct",
            timings=Timings(0.031, 0.5, 1.25, 6.75, 8.6, 1843, 1502, 212),
            cache_hit=True,
            declined=False,
            interrupted="the model took too long",
            doc_type="guide",
        )
        await store.record_answer(answer, Asker("slack", "U1", "C1", "T1"))
        assert await store.get_answer(answer.answer_id) == answer

    async def test_an_answer_without_asker_or_sources_round_trips(self, store: Any) -> None:
        answer = make_answer("ans-empty", sources=(), declined=True, doc_type=None)
        await store.record_answer(answer, None)
        assert await store.get_answer("ans-empty") == answer

    async def test_an_unknown_answer_is_none(self, store: Any) -> None:
        assert await store.get_answer("nope") is None

    async def test_recording_an_answer_twice_keeps_the_first(self, store: Any) -> None:
        await store.record_answer(make_answer("ans-1", text="first"), None)
        await store.record_answer(make_answer("ans-1", text="second"), None)
        assert (await store.get_answer("ans-1")).text == "first"

    async def test_thread_turns_are_the_last_answers_of_the_thread_oldest_first(
        self, store: Any, clock: ManualClock
    ) -> None:
        thread = Asker("slack", "U1", "C1", "T1", thread_id="1700.01")
        for i in range(4):
            await store.record_answer(make_answer(f"t{i}", question=f"q{i}", text=f"a{i}"), thread)
            clock.advance(1)
        elsewhere = [
            Asker("slack", "U1", "C1", "T1", thread_id="1700.02"),  # another thread
            Asker("slack", "U1", "C2", "T1", thread_id="1700.01"),  # another channel
            Asker("telegram", "U1", "C1", thread_id="1700.01"),  # another platform
            None,
        ]
        for i, asker in enumerate(elsewhere):
            await store.record_answer(make_answer(f"x{i}", question=f"other q{i}"), asker)
            clock.advance(1)

        turns = await store.thread_turns("slack", "C1", "1700.01", limit=3)
        assert turns == [
            Turn("user", "q1"), Turn("assistant", "a1"),
            Turn("user", "q2"), Turn("assistant", "a2"),
            Turn("user", "q3"), Turn("assistant", "a3"),
        ]  # fmt: skip
        assert len(await store.thread_turns("slack", "C1", "1700.01", limit=10)) == 8
        assert await store.thread_turns("slack", "C1", "1700.01", limit=0) == []
        assert await store.thread_turns("slack", "C1", "no-such-thread") == []

    async def test_a_message_showing_an_answer_leads_back_to_its_thread(self, store: Any) -> None:
        await store.record_answer(make_answer("in-thread"), Asker("telegram", "7", "-100", thread_id="55"))
        await store.record_answer(make_answer("top-level"), Asker("telegram", "7", "-100"))
        await store.link_message("in-thread", "56")
        await store.link_message("in-thread", "57")  # a long answer split over two messages
        await store.link_message("top-level", "60")
        assert await store.thread_of_message("telegram", "-100", "56") == "55"
        assert await store.thread_of_message("telegram", "-100", "57") == "55"
        assert await store.thread_of_message("telegram", "-100", "60") == ""
        assert await store.thread_of_message("telegram", "-100", "99") is None
        assert await store.thread_of_message("telegram", "-200", "56") is None  # another chat
        assert await store.thread_of_message("slack", "-100", "56") is None
        with pytest.raises(NotFound):
            await store.link_message("no-such-answer", "61")

    async def test_relinking_a_message_moves_it_to_the_new_answer(self, store: Any) -> None:
        await store.record_answer(make_answer("first"), Asker("slack", "U1", "C1", thread_id="1.0"))
        await store.record_answer(make_answer("second"), Asker("slack", "U1", "C1", thread_id="2.0"))
        await store.link_message("first", "3.0")
        await store.link_message("second", "3.0")
        assert await store.thread_of_message("slack", "C1", "3.0") == "2.0"

    # FeedbackStore

    async def test_a_vote_can_be_changed_and_counts_once(self, store: Any) -> None:
        await store.record_answer(make_answer("ans-1"), None)
        first = await store.record_vote(Vote("ans-1", "U1", 1, platform="slack"))
        assert (first.changed, first.previous) == (False, None)
        again = await store.record_vote(Vote("ans-1", "U1", 1, platform="slack"))
        assert (again.changed, again.previous) == (False, 1)
        flipped = await store.record_vote(Vote("ans-1", "U1", -1, reason="outdated", platform="slack"))
        assert (flipped.changed, flipped.previous) == (True, 1)
        assert flipped.vote.value == -1
        stats = await store.feedback_stats()
        assert (stats.answers, stats.up, stats.down) == (1, 0, 1)

    async def test_voting_on_an_unknown_answer_is_not_found(self, store: Any) -> None:
        with pytest.raises(NotFound):
            await store.record_vote(Vote("missing", "U1", 1))

    async def test_a_vote_is_plus_or_minus_one(self, store: Any) -> None:
        await store.record_answer(make_answer("ans-1"), None)
        with pytest.raises(InvalidInput):
            await store.record_vote(Vote("ans-1", "U1", 2))

    async def test_concurrent_votes_end_in_exact_counts(self, store: Any) -> None:
        """100 distinct users at once, while one user flips 20 times: every vote lands, once."""
        await store.record_answer(make_answer("ans-1"), None)
        crowd = [Vote("ans-1", f"user-{i:03d}", 1 if i % 10 < 7 else -1) for i in range(100)]
        flips = [Vote("ans-1", "flipper", 1 if i % 2 == 0 else -1, reason=f"flip {i}") for i in range(20)]
        results = await asyncio.gather(*(store.record_vote(v) for v in [*crowd, *flips]))

        crowd_results, flip_results = results[:100], results[100:]
        assert all(r.previous is None and not r.changed for r in crowd_results)
        # The flips were applied in some order; each saw the one before it. So the values they
        # replaced are all the values but the last one applied, and that one is the final vote.
        replaced = Counter(r.previous for r in flip_results)
        assert replaced[None] == 1
        submitted = Counter(v.value for v in flips)
        final = (submitted - Counter({k: n for k, n in replaced.items() if k is not None})).most_common()
        assert len(final) == 1 and final[0][1] == 1, f"replaced values {replaced} fit no serial order"
        final_value = final[0][0]

        stats = await store.feedback_stats()
        assert stats.up == 70 + (final_value == 1)
        assert stats.down == 30 + (final_value == -1)

    async def test_feedback_stats_rank_the_worst_answers_with_reasons(
        self, store: Any, clock: ManualClock
    ) -> None:
        for answer_id, question in [
            ("a-good", "Q good"),
            ("a-bad", "Q bad"),
            ("a-mixed", "Q mixed"),
            ("a-worse", "Q worse"),
        ]:
            await store.record_answer(make_answer(answer_id, question=question), None)
            clock.advance(60)
        await store.record_answer(make_answer("a-other", space_id="ops", question="Q other"), None)
        votes = [
            Vote("a-good", "U1", 1), Vote("a-good", "U2", 1),
            Vote("a-bad", "U1", -1, reason="wrong policy"), Vote("a-bad", "U2", 1),
            Vote("a-mixed", "U1", -1, reason=""), Vote("a-mixed", "U2", 1, reason="great"), Vote("a-mixed", "U3", 1),
            Vote("a-worse", "U1", -1, reason="outdated"), Vote("a-worse", "U2", -1),
            Vote("a-worse", "U3", -1, reason="no source"),
            Vote("a-other", "U1", -1, reason="other space"),
        ]  # fmt: skip
        for vote in votes:
            await store.record_vote(vote)
            clock.advance(1)

        stats = await store.feedback_stats("eng", worst=5)
        assert (stats.space_id, stats.answers, stats.up, stats.down) == ("eng", 4, 5, 5)
        assert stats.worst == (
            RatedAnswer("a-worse", "Q worse", 0, 3, ("outdated", "no source")),
            RatedAnswer("a-bad", "Q bad", 1, 1, ("wrong policy",)),
            RatedAnswer("a-mixed", "Q mixed", 2, 1, ()),
        )
        assert [r.answer_id for r in (await store.feedback_stats("eng", worst=2)).worst] == [
            "a-worse",
            "a-bad",
        ]
        assert (await store.feedback_stats("eng", worst=0)).worst == ()
        everything = await store.feedback_stats(None, worst=10)
        assert (everything.answers, everything.up, everything.down) == (5, 5, 6)
        assert "a-other" in [r.answer_id for r in everything.worst]

    async def test_ties_among_the_worst_put_the_most_recent_first(
        self, store: Any, clock: ManualClock
    ) -> None:
        for answer_id in ["t-old", "t-new"]:
            await store.record_answer(make_answer(answer_id), None)
            await store.record_vote(Vote(answer_id, "U1", -1))
            clock.advance(60)
        assert [r.answer_id for r in (await store.feedback_stats("eng")).worst] == ["t-new", "t-old"]

    async def test_feedback_stats_of_an_empty_space(self, store: Any) -> None:
        stats = await store.feedback_stats("nowhere")
        assert (stats.answers, stats.up, stats.down, stats.worst) == (0, 0, 0, ())

    # BindingStore

    async def test_a_binding_round_trips(self, store: Any) -> None:
        binding = Binding("slack", "C1", "eng", team_id="T1", thread_followups=False)
        await store.bind(binding)
        assert await store.binding_for("slack", "C1", "T1") == binding
        assert await store.binding_for("slack", "C1") is None  # another team's C1
        assert await store.binding_for("telegram", "C1", "T1") is None

    async def test_a_channel_has_one_binding_and_rebinding_moves_it(self, store: Any) -> None:
        await store.bind(Binding("slack", "C1", "eng", team_id="T1"))
        await store.bind(Binding("slack", "C1", "ops", team_id="T1", thread_followups=False))
        await store.bind(Binding("slack", "C1", "eng", team_id="T2"))
        await store.bind(Binding("telegram", "-1001", "eng"))
        assert await store.bindings() == [
            Binding("slack", "C1", "ops", team_id="T1", thread_followups=False),
            Binding("slack", "C1", "eng", team_id="T2"),
            Binding("telegram", "-1001", "eng"),
        ]
        assert await store.bindings("eng") == [
            Binding("slack", "C1", "eng", team_id="T2"),
            Binding("telegram", "-1001", "eng"),
        ]

    async def test_concurrent_binds_of_one_channel_leave_one_binding(self, store: Any) -> None:
        await asyncio.gather(
            *(store.bind(Binding("slack", "C1", f"space-{i}", team_id="T1")) for i in range(10))
        )
        bound = await store.bindings()
        assert len(bound) == 1 and bound[0].space_id.startswith("space-")

    async def test_unbind_says_whether_there_was_a_binding(self, store: Any) -> None:
        await store.bind(Binding("telegram", "42", "eng"))
        assert await store.unbind("telegram", "42") is True
        assert await store.unbind("telegram", "42") is False
        assert await store.binding_for("telegram", "42") is None

    async def test_a_binding_keeps_its_channel_settings(self, store: Any) -> None:
        """mode, visibility, default doc_type and answer language are stored with the binding, and
        binding again replaces them (docs/chat.md)."""
        custom = Binding(
            "slack",
            "C1",
            "eng",
            team_id="T1",
            mode="questions",
            visibility="private",
            doc_type="runbook",
            lang="ru",
        )
        await store.bind(custom)
        assert await store.binding_for("slack", "C1", "T1") == custom
        await store.bind(Binding("slack", "C1", "eng", team_id="T1", doc_type="faq"))
        back = await store.binding_for("slack", "C1", "T1")
        assert (back.mode, back.visibility, back.doc_type, back.lang) == ("mention", "thread", "faq", None)
        assert await store.bindings() == [back]

    # AskedQuestions

    async def test_asked_questions_count_what_was_answered_in_the_space(
        self, store: Any, clock: ManualClock
    ) -> None:
        asked = [
            ("a1", "eng", "How do I deploy?", {}),
            ("a2", "eng", "How do I roll back?", {}),
            ("a3", "eng", "How do I deploy?", {}),
            ("a4", "eng", "Where are the logs?", {"declined": True}),  # the documents did not say
            ("a5", "eng", "Where are the logs?", {"declined": True}),
            ("a6", "eng", "What is the VPN?", {"interrupted": "timeout"}),  # cut off
            ("a7", "ops", "How do I deploy?", {}),  # another space
            ("a8", "eng", "Who is on call?", {}),
        ]
        for answer_id, space, question, fields in asked:
            await store.record_answer(
                make_answer(answer_id, space_id=space, question=question, **fields), None
            )
            clock.advance(60)
        assert await store.asked_questions("eng") == [
            ("How do I deploy?", 2),
            ("Who is on call?", 1),  # asked after the roll back question: the most recent first
            ("How do I roll back?", 1),
        ]
        assert await store.asked_questions("eng", limit=1) == [("How do I deploy?", 2)]
        assert await store.asked_questions("nowhere") == []

    # PromptStore

    async def test_suggested_prompts_are_replaced_in_order_per_space(self, store: Any) -> None:
        assert await store.suggested_prompts("eng") == []
        await store.set_suggested_prompts("eng", ["How do I deploy?", "Кто дежурит?"])
        await store.set_suggested_prompts("ops", ["Where are the dashboards?"])
        assert await store.suggested_prompts("eng") == ["How do I deploy?", "Кто дежурит?"]
        await store.set_suggested_prompts("eng", ["Who is on call?"])
        assert await store.suggested_prompts("eng") == ["Who is on call?"]
        await store.set_suggested_prompts("eng", [])
        assert await store.suggested_prompts("eng") == []
        assert await store.suggested_prompts("ops") == ["Where are the dashboards?"]

    # PinStore

    async def test_a_pin_round_trips_and_gets_an_id(self, store: Any) -> None:
        added = await store.add_pin(
            PinnedSource(
                0, "eng", "https://wiki.example/runbook", every_s=3600, doc_type="runbook", pinned_by="U1"
            )
        )
        assert added.pin_id > 0
        assert added == PinnedSource(
            added.pin_id,
            "eng",
            "https://wiki.example/runbook",
            every_s=3600,
            doc_type="runbook",
            pinned_by="U1",
        )
        cron = await store.add_pin(
            PinnedSource(0, "ops", "/srv/docs/oncall.md", every_s=None, cron="0 6 * * *")
        )
        assert cron.pin_id != added.pin_id and (cron.every_s, cron.cron) == (None, "0 6 * * *")
        assert await store.pins() == [added, cron]
        assert await store.pins("ops") == [cron]

    async def test_a_pin_needs_a_schedule(self, store: Any) -> None:
        with pytest.raises(InvalidInput):
            await store.add_pin(PinnedSource(0, "eng", "/srv/a.md", every_s=None, cron=None))
        with pytest.raises(InvalidInput):
            await store.add_pin(PinnedSource(0, "eng", "/srv/a.md", every_s=0))
        assert await store.pins() == []

    async def test_pin_runs_count_consecutive_failures_and_reset_on_success(self, store: Any) -> None:
        pin = await store.add_pin(PinnedSource(0, "eng", "https://wiki.example/a"))
        t = [T0 + timedelta(hours=h) for h in range(5)]
        one = await store.record_pin_run(pin.pin_id, ok=False, at=t[0], error="HTTP 503")
        two = await store.record_pin_run(pin.pin_id, ok=False, at=t[1], error="timed out")
        assert (one.consecutive_failures, two.consecutive_failures) == (1, 2)
        assert (two.last_failure_at, two.last_error, two.last_success_at) == (t[1], "timed out", None)
        ok = await store.record_pin_run(pin.pin_id, ok=True, at=t[2])
        assert (ok.consecutive_failures, ok.last_success_at, ok.last_error) == (0, t[2], None)
        assert ok.last_failure_at == t[1]
        again = await store.record_pin_run(pin.pin_id, ok=False, at=t[3], error="HTTP 404")
        assert (again.consecutive_failures, again.last_success_at) == (1, t[2])
        assert await store.pins() == [again]

    async def test_concurrent_failed_runs_are_all_counted(self, store: Any) -> None:
        pin = await store.add_pin(PinnedSource(0, "eng", "https://wiki.example/a"))
        await asyncio.gather(
            *(store.record_pin_run(pin.pin_id, ok=False, at=T0, error=f"e{i}") for i in range(25))
        )
        assert (await store.pins())[0].consecutive_failures == 25

    async def test_pinning_again_changes_the_schedule_and_keeps_the_history(self, store: Any) -> None:
        pin = await store.add_pin(PinnedSource(0, "eng", "https://wiki.example/a", every_s=3600))
        await store.record_pin_run(pin.pin_id, ok=False, at=T0, error="HTTP 503")
        again = await store.add_pin(
            PinnedSource(0, "eng", "https://wiki.example/a", every_s=None, cron="*/5 * * * *")
        )
        assert again.pin_id == pin.pin_id
        assert (again.every_s, again.cron, again.consecutive_failures, again.last_error) == (
            None, "*/5 * * * *", 1, "HTTP 503",
        )  # fmt: skip
        assert len(await store.pins()) == 1

    async def test_remove_pin_and_unknown_pins(self, store: Any) -> None:
        pin = await store.add_pin(PinnedSource(0, "eng", "/srv/a.md"))
        assert await store.remove_pin("eng", "/srv/a.md") is True
        assert await store.remove_pin("eng", "/srv/a.md") is False
        with pytest.raises(NotFound):
            await store.record_pin_run(pin.pin_id, ok=True, at=T0)

    async def test_pin_run_times_come_back_in_utc(self, store: Any) -> None:
        pin = await store.add_pin(PinnedSource(0, "eng", "/srv/a.md"))
        at = datetime(2025, 3, 1, 15, 0, tzinfo=timezone(timedelta(hours=3)))
        done = await store.record_pin_run(pin.pin_id, ok=True, at=at)
        stored = (await store.pins())[0]
        for got in (done.last_success_at, stored.last_success_at):
            assert got == T0 and got.utcoffset() == timedelta(0)

    async def test_naive_times_are_refused(self, store: Any) -> None:
        pin = await store.add_pin(PinnedSource(0, "eng", "/srv/a.md"))
        with pytest.raises(InvalidInput, match="naive"):
            await store.record_pin_run(pin.pin_id, ok=True, at=T0.replace(tzinfo=None))

    # AdminStore

    async def test_admins_per_platform(self, store: Any) -> None:
        assert await store.is_admin("slack", "U1") is False
        await store.add_admin("slack", "U1")
        await store.add_admin("slack", "U1")  # idempotent
        assert await store.is_admin("slack", "U1") is True
        assert await store.is_admin("telegram", "U1") is False
        assert await store.remove_admin("slack", "U1") is True
        assert await store.remove_admin("slack", "U1") is False
        assert await store.is_admin("slack", "U1") is False

    # LeaseLock

    async def test_a_lease_has_one_holder_until_it_expires(self, store: Any, clock: ManualClock) -> None:
        assert await store.acquire("reingest", "replica-a", ttl_s=30) is True
        assert await store.acquire("reingest", "replica-b", ttl_s=30) is False
        clock.advance(29)
        assert await store.acquire("reingest", "replica-b", ttl_s=30) is False
        clock.advance(1)  # expired exactly now
        assert await store.acquire("reingest", "replica-b", ttl_s=30) is True
        assert await store.acquire("reingest", "replica-a", ttl_s=30) is False

    async def test_the_holder_renews_its_lease(self, store: Any, clock: ManualClock) -> None:
        assert await store.acquire("reingest", "replica-a", ttl_s=30) is True
        clock.advance(20)
        assert await store.acquire("reingest", "replica-a", ttl_s=30) is True  # renewed to t=50
        clock.advance(20)
        assert await store.acquire("reingest", "replica-b", ttl_s=30) is False
        clock.advance(10)
        assert await store.acquire("reingest", "replica-b", ttl_s=30) is True

    async def test_release_frees_the_lease_for_its_holder_only(self, store: Any) -> None:
        assert await store.acquire("reingest", "replica-a", ttl_s=30) is True
        await store.release("reingest", "replica-b")  # not the holder: nothing happens
        assert await store.acquire("reingest", "replica-b", ttl_s=30) is False
        await store.release("reingest", "replica-a")
        assert await store.acquire("reingest", "replica-b", ttl_s=30) is True
        await store.release("never-held", "replica-a")

    async def test_racing_acquirers_get_one_winner(self, store: Any, clock: ManualClock) -> None:
        won = await asyncio.gather(*(store.acquire("job", f"owner-{i}", ttl_s=10) for i in range(20)))
        assert sum(won) == 1
        clock.advance(10)
        won = await asyncio.gather(*(store.acquire("job", f"owner-{i}", ttl_s=10) for i in range(20)))
        assert sum(won) == 1

    async def test_leases_are_named(self, store: Any) -> None:
        assert await store.acquire("a", "replica-a", ttl_s=30) is True
        assert await store.acquire("b", "replica-b", ttl_s=30) is True

    async def test_a_lease_needs_a_positive_ttl(self, store: Any) -> None:
        with pytest.raises(InvalidInput):
            await store.acquire("a", "replica-a", ttl_s=0)

    # AnswerHistory (what the admin console reads)

    async def _log_of_five(self, store: Any, clock: ManualClock) -> None:
        """Five answers a minute apart: two in 'ops', one declined, votes of every kind."""
        asker = Asker("slack", "U9", "C1", "T1", thread_id="1700.1")
        for answer_id, space, declined in [
            ("h1", "eng", False),
            ("h2", "eng", True),
            ("h3", "ops", False),
            ("h4", "eng", False),
            ("h5", "ops", False),
        ]:
            await store.record_answer(make_answer(answer_id, space_id=space, declined=declined), asker)
            clock.advance(60)
        for vote in [
            Vote("h1", "U1", 1),
            Vote("h2", "U1", -1, reason="it exists, see the wiki", platform="slack"),
            Vote("h4", "U1", 1),
            Vote("h4", "U2", -1, reason="outdated", platform="telegram"),
        ]:
            await store.record_vote(vote)
            clock.advance(1)

    async def test_the_question_log_is_newest_first_with_votes_and_a_total(
        self, store: Any, clock: ManualClock
    ) -> None:
        await self._log_of_five(store, clock)
        page = await store.question_log(QuestionLogQuery())
        assert page.total == 5
        assert [e.answer.answer_id for e in page.entries] == ["h5", "h4", "h3", "h2", "h1"]
        h4 = page.entries[1]
        assert h4.answer == make_answer("h4")
        assert h4.asked_at == T0 + timedelta(minutes=3)
        assert h4.asker == Asker("slack", "U9", "C1", "T1", thread_id="1700.1")
        assert (h4.up, h4.down, h4.reasons) == (1, 1, ("outdated",))
        assert h4.votes == (
            RecordedVote("U1", 1, None, "", T0 + timedelta(minutes=5, seconds=2)),
            RecordedVote("U2", -1, "outdated", "telegram", T0 + timedelta(minutes=5, seconds=3)),
        )
        second = await store.question_log(QuestionLogQuery(limit=2, offset=2))
        assert [e.answer.answer_id for e in second.entries] == ["h3", "h2"]
        assert second.total == 5
        assert (await store.question_log(QuestionLogQuery(limit=2, offset=4))).entries[
            0
        ].answer.answer_id == "h1"

    async def test_the_question_log_filters_by_space_vote_declined_and_date(
        self, store: Any, clock: ManualClock
    ) -> None:
        await self._log_of_five(store, clock)

        async def ids(**filters: Any) -> list[str]:
            page = await store.question_log(QuestionLogQuery(**filters))
            assert page.total == len(page.entries)
            return [e.answer.answer_id for e in page.entries]

        assert await ids(space_id="ops") == ["h5", "h3"]
        assert await ids(space_id="nowhere") == []
        assert await ids(vote="up") == ["h4", "h1"]
        assert await ids(vote="down") == ["h4", "h2"]
        assert await ids(vote="none") == ["h5", "h3"]
        assert await ids(declined=True) == ["h2"]
        assert await ids(declined=False, space_id="eng") == ["h4", "h1"]
        assert await ids(since=T0 + timedelta(minutes=1), until=T0 + timedelta(minutes=3)) == ["h3", "h2"]
        kyiv = timezone(timedelta(hours=2))  # the bounds are instants, whatever their zone
        assert await ids(since=(T0 + timedelta(minutes=4)).astimezone(kyiv)) == ["h5"]
        assert await ids(space_id="eng", vote="down", declined=False) == ["h4"]

    async def test_a_logged_answer_comes_with_its_votes(self, store: Any, clock: ManualClock) -> None:
        await self._log_of_five(store, clock)
        h2 = await store.logged_answer("h2")
        assert h2 is not None and h2.answer.declined
        assert h2.votes == (
            RecordedVote("U1", -1, "it exists, see the wiki", "slack", T0 + timedelta(minutes=5, seconds=1)),
        )
        assert await store.logged_answer("nope") is None
        await store.record_answer(make_answer("cli-1"), None)
        cli = await store.logged_answer("cli-1")
        assert cli is not None and cli.asker is None and cli.votes == ()

    async def test_the_review_queue_holds_thumbs_down_most_recently_voted_first(
        self, store: Any, clock: ManualClock
    ) -> None:
        await self._log_of_five(store, clock)
        await store.record_vote(Vote("h3", "U1", -1, reason="wrong team"))
        clock.advance(1)
        queue = await store.review_queue()
        assert [e.answer.answer_id for e in queue] == ["h3", "h4", "h2"]
        assert queue[1].reasons == ("outdated",)
        assert [e.answer.answer_id for e in await store.review_queue("eng")] == ["h4", "h2"]
        assert [e.answer.answer_id for e in await store.review_queue(exclude=["h4", "zz"])] == ["h3", "h2"]
        assert [e.answer.answer_id for e in await store.review_queue(limit=1)] == ["h3"]
        # a thumbs-down taken back leaves the queue; a new one on an old answer puts it on top
        await store.record_vote(Vote("h3", "U1", 1))
        clock.advance(1)
        await store.record_vote(Vote("h2", "U7", -1, reason="still wrong"))
        assert [e.answer.answer_id for e in await store.review_queue()] == ["h2", "h4"]
        assert (await store.review_queue())[0].reasons == ("it exists, see the wiki", "still wrong")

    async def test_usage_per_day_counts_questions_votes_and_time_to_first_token(
        self, store: Any, clock: ManualClock
    ) -> None:
        def timed(prefill: float) -> Timings:
            return Timings(retrieval_s=0.05, prefill_s=prefill, total_s=prefill + 2)

        # T0 is 2025-03-01 12:00 UTC. Something 40 days ago is outside a 30-day window.
        clock.now = T0 - timedelta(days=40)
        await store.record_answer(make_answer("old", timings=timed(9.0)), None)
        clock.now = T0 - timedelta(days=2)  # 2025-02-27
        for i, prefill in enumerate([1.0, 2.0, 3.0, 10.0]):
            await store.record_answer(make_answer(f"d1-{i}", timings=timed(prefill)), None)
        await store.record_answer(make_answer("d1-cached", timings=timed(0.2), cache_hit=True), None)
        await store.record_answer(make_answer("d1-declined", declined=True, timings=Timings(0.05)), None)
        await store.record_answer(make_answer("d1-ops", space_id="ops", timings=timed(7.0)), None)
        await store.record_vote(Vote("d1-0", "U1", 1))
        await store.record_vote(Vote("d1-0", "U2", 1))
        await store.record_vote(Vote("d1-1", "U1", -1))
        await store.record_vote(Vote("d1-ops", "U1", -1))
        clock.now = T0  # today: one question so far
        await store.record_answer(make_answer("today", timings=timed(4.0)), None)

        report = await store.usage("eng", days=30)
        assert report.space_id == "eng"
        assert len(report.days) == 30
        assert report.days[0].day == date(2025, 1, 31) and report.days[-1].day == date(2025, 3, 1)
        by_day = {d.day: d for d in report.days}
        feb27 = by_day[date(2025, 2, 27)]
        assert (feb27.questions, feb27.declined, feb27.up, feb27.down) == (6, 1, 2, 1)
        assert (feb27.ttft_p50_s, feb27.ttft_p90_s) == (2.0, 10.0)  # generated answers only
        assert feb27.helpful_rate == 2 / 3 and feb27.declined_rate == 1 / 6
        assert by_day[date(2025, 3, 1)].questions == 1 and by_day[date(2025, 3, 1)].ttft_p50_s == 4.0
        empty = by_day[date(2025, 2, 28)]
        assert (empty.questions, empty.ttft_p50_s, empty.helpful_rate, empty.declined_rate) == (
            0,
            None,
            None,
            None,
        )
        assert (report.questions, report.declined, report.up, report.down) == (7, 1, 2, 1)

        everything = await store.usage(None, days=3)
        assert [d.questions for d in everything.days] == [7, 0, 1]
        assert everything.down == 2
        assert (await store.usage("eng", days=1)).questions == 1
        with pytest.raises(InvalidInput):
            await store.usage("eng", days=0)

    # VerifiedStore

    async def test_a_verified_answer_round_trips(self, store: Any) -> None:
        verified = make_verified(
            question="Как подключиться к VPN?",
            text="Откройте портал vpn.example и войдите через SSO [1].\n\n- шаг 1\n- шаг 2",
            lang="ru",
            from_answer_id="ans-1",
            sources=(
                Source(
                    1, "guides/vpn.md", "VPN", "VPN › Установка", "/srv/docs/guides/vpn.md", None, "guide"
                ),
                Source(
                    2,
                    "wiki/pw",
                    "Passwords",
                    "Passwords",
                    "https://wiki.example/pw",
                    "https://wiki.example/pw",
                ),
            ),
            doc_versions=(("guides/vpn.md", "a" * 64), ("wiki/pw", "b" * 64)),
        )
        assert await store.save_verified(verified) == verified
        assert await store.get_verified("ver-1") == verified
        assert await store.verified_answers("eng") == [verified]
        assert await store.get_verified("nope") is None

    async def test_verifying_the_same_question_again_replaces_it_and_keeps_its_id(self, store: Any) -> None:
        await store.save_verified(make_verified("ver-1", text="old"))
        again = await store.save_verified(
            make_verified("ver-2", question="  how do I CONNECT to the vpn ", text="new", author="slack:U9")
        )
        assert (again.verified_id, again.text, again.author) == ("ver-1", "new", "slack:U9")
        assert await store.verified_answers("eng") == [again]
        assert await store.get_verified("ver-2") is None

    async def test_concurrent_verifications_of_one_question_leave_one(self, store: Any) -> None:
        await asyncio.gather(
            *(store.save_verified(make_verified(f"ver-{i}", text=f"t{i}")) for i in range(10))
        )
        assert len(await store.verified_answers("eng")) == 1

    async def test_verified_answers_belong_to_their_space_newest_first(
        self, store: Any, clock: ManualClock
    ) -> None:
        old = await store.save_verified(make_verified("v-old", question="Q one", created_at=T0))
        new = await store.save_verified(
            make_verified("v-new", question="Q two", created_at=T0 + timedelta(hours=1))
        )
        other = await store.save_verified(make_verified("v-ops", space_id="ops", question="Q one"))
        assert await store.verified_answers("eng") == [new, old]
        assert await store.verified_answers("ops") == [other]
        assert [v.verified_id for v in await store.verified_answers()] == ["v-new", "v-old", "v-ops"]
        assert await store.verified_answers("nowhere") == []

    async def test_remove_verified_says_whether_it_was_there(self, store: Any) -> None:
        await store.save_verified(make_verified("ver-1"))
        assert await store.remove_verified("ver-1") is True
        assert await store.remove_verified("ver-1") is False
        assert await store.verified_answers() == []

    async def test_an_answer_from_a_verified_answer_leads_back_to_it(self, store: Any) -> None:
        verified = await store.save_verified(make_verified("ver-1"))
        answer = make_answer("from-verified", text=verified.text, model="verified", verified=verified)
        await store.record_answer(answer, Asker("slack", "U1", "C1"))
        assert await store.get_answer("from-verified") == answer
        await store.remove_verified("ver-1")
        assert (await store.get_answer("from-verified")).verified is None  # the log keeps the text

    # FeedbackStore: votes as retrieval sees them

    async def test_chunk_votes_are_the_votes_on_the_cited_chunks_of_the_space(
        self, store: Any, clock: ManualClock
    ) -> None:
        cites_one = make_answer(
            "a-cites", sources=(_chunk_source(1, "a.md"), _chunk_source(2, "b.md", cited=False))
        )
        cites_none = make_answer(
            "a-none",
            question="Where is the VPN portal?",
            sources=(_chunk_source(1, "c.md", cited=False), _chunk_source(2, "d.md", cited=False)),
        )
        no_chunk = make_answer("a-old", sources=(Source(1, "e.md", "e", "e", "/srv/e.md", None),))
        verified = await store.save_verified(make_verified("ver-1"))
        from_verified = make_answer("a-ver", sources=(_chunk_source(1, "f.md"),), verified=verified)
        elsewhere = make_answer("a-ops", space_id="ops", sources=(_chunk_source(1, "g.md"),))
        for answer in (cites_one, cites_none, no_chunk, from_verified, elsewhere):
            await store.record_answer(answer, None)
            await store.record_vote(Vote(answer.answer_id, "U1", 1))
        clock.advance(60)
        await store.record_vote(Vote("a-cites", "U2", 1))
        await store.record_vote(Vote("a-none", "U1", -1))  # changed: counts once, as -1, at the new time

        votes = sorted(await store.chunk_votes("eng"), key=lambda v: (v.chunk_id, v.at))
        q, later = cites_one.question, T0 + timedelta(seconds=60)
        assert votes == [
            ChunkVote(cites_one.sources[0].chunk_id, "a.md", 1, T0, q),
            ChunkVote(cites_one.sources[0].chunk_id, "a.md", 1, later, q),
            ChunkVote(cites_none.sources[0].chunk_id, "c.md", -1, later, cites_none.question),
            ChunkVote(cites_none.sources[1].chunk_id, "d.md", -1, later, cites_none.question),
        ]
        assert [v.doc_id for v in await store.chunk_votes("ops")] == ["g.md"]
        assert await store.chunk_votes("nowhere") == []

    async def test_the_answer_a_message_shows(self, store: Any) -> None:
        await store.record_answer(make_answer("ans-1"), Asker("telegram", "7", "-100"))
        await store.link_message("ans-1", "56")
        assert await store.answer_of_message("telegram", "-100", "56") == "ans-1"
        assert await store.answer_of_message("telegram", "-100", "57") is None
        assert await store.answer_of_message("telegram", "-200", "56") is None
        assert await store.answer_of_message("slack", "-100", "56") is None

    # RetentionStore

    async def test_forgetting_a_person_deletes_their_questions_and_votes_only(self, store: Any) -> None:
        alice, bob = Asker("slack", "U1", "C1"), Asker("slack", "U2", "C1")
        await store.record_answer(make_answer("alice-1", question="Q alice 1"), alice)
        await store.record_answer(make_answer("alice-2", question="Q alice 2"), alice)
        await store.record_answer(make_answer("bob-1", question="Q bob"), bob)
        # the same user id on another platform is another person
        await store.record_answer(make_answer("tg-1"), Asker("telegram", "U1", "42"))
        await store.link_message("alice-1", "1.0")
        await store.record_vote(Vote("alice-1", "U2", 1, platform="slack"))  # bob on alice's answer
        await store.record_vote(Vote("alice-2", "U1", -1, platform="slack"))  # alice on her own
        await store.record_vote(Vote("bob-1", "U1", -1, platform="slack"))  # alice on bob's
        await store.record_vote(Vote("bob-1", "U2", 1, platform="slack"))
        await store.record_vote(Vote("tg-1", "U1", 1, platform="telegram"))

        assert await store.forget_user("slack", "U1") == ForgetReport(answers=2, votes=1)
        assert await store.get_answer("alice-1") is None and await store.get_answer("alice-2") is None
        assert await store.thread_of_message("slack", "C1", "1.0") is None
        assert await store.get_answer("bob-1") is not None and await store.get_answer("tg-1") is not None
        stats = await store.feedback_stats()
        assert (stats.answers, stats.up, stats.down) == (2, 2, 0)
        assert await store.forget_user("slack", "U1") == ForgetReport(answers=0, votes=0)

    async def test_purging_old_answers_takes_their_votes_along(self, store: Any, clock: ManualClock) -> None:
        await store.record_answer(make_answer("old"), Asker("slack", "U1", "C1"))
        await store.record_vote(Vote("old", "U2", 1))
        clock.advance(3600)
        await store.record_answer(make_answer("new"), Asker("slack", "U1", "C1"))
        await store.record_vote(Vote("new", "U2", -1))
        assert await store.purge_answers(T0 + timedelta(seconds=1)) == 1
        assert await store.get_answer("old") is None and await store.get_answer("new") is not None
        stats = await store.feedback_stats()
        assert (stats.answers, stats.up, stats.down) == (1, 0, 1)
        assert await store.purge_answers(T0) == 0

    # SourceStateStore

    async def test_a_source_state_round_trips_with_its_cursor(self, store: Any) -> None:
        assert await store.source_state("eng", "https://docs.example/guide/#crawl") is None
        state = SourceState(
            "eng",
            "https://docs.example/guide/#crawl",
            "site",
            last_run_at=T0,
            last_success_at=T0,
            documents=2,
            skipped=1,
            cursor={
                "items": {
                    "https://docs.example/guide/": {"doc": "https://docs.example/guide/", "etag": '"v1"'}
                },
                "docs": ["https://docs.example/guide/", "https://docs.example/guide/ещё"],
                "commit": None,
            },
        )
        await store.save_source_state(state)
        assert await store.source_state("eng", state.location) == state
        assert await store.source_states() == [state]
        assert await store.source_state("ops", state.location) is None  # spaces are separate

    async def test_saving_a_source_state_again_replaces_it(self, store: Any) -> None:
        first = SourceState("eng", "git+file:///srv/repo.git", "git", last_run_at=T0, cursor={"commit": "a"})
        await store.save_source_state(first)
        later = T0 + timedelta(hours=1)
        failed = SourceState(
            "eng", first.location, "git", last_run_at=later, last_error="unreachable", cursor={"commit": "a"}
        )
        await store.save_source_state(failed)
        assert await store.source_states("eng") == [failed]
        got = await store.source_state("eng", first.location)
        assert got is not None and got.last_run_at == later and got.last_run_at.utcoffset() == timedelta(0)
        assert got.failing and not first.failing

    async def test_source_states_are_listed_by_space_and_removed(self, store: Any) -> None:
        for space, location in (("ops", "b"), ("eng", "z"), ("eng", "a")):
            await store.save_source_state(SourceState(space, location, "site", cursor={}))
        assert [(s.space_id, s.location) for s in await store.source_states()] == [
            ("eng", "a"), ("eng", "z"), ("ops", "b"),
        ]  # fmt: skip
        assert [s.location for s in await store.source_states("eng")] == ["a", "z"]
        assert await store.remove_source_state("eng", "a") is True
        assert await store.remove_source_state("eng", "a") is False
        assert [s.location for s in await store.source_states("eng")] == ["z"]

    async def test_source_state_times_must_be_aware(self, store: Any) -> None:
        with pytest.raises(InvalidInput, match="naive"):
            await store.save_source_state(
                SourceState("eng", "x", "site", last_run_at=T0.replace(tzinfo=None), cursor={})
            )
