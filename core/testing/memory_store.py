"""In-memory reference of the store ports: Catalog, AnswerLog, AskedQuestions, FeedbackStore,
BindingStore, PinStore, AdminStore, LeaseLock, VerifiedStore, RetentionStore, SourceStateStore,
AnswerHistory and PromptStore. Obvious rather than fast; the SQL backend passes the same contract
suite (``core.testing.contracts.store``).

Everything runs on one event loop without awaiting in the middle of an update, so each method is
atomic just as each SQL statement is."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from core.errors import InvalidInput, NotFound
from core.models import (
    Answer,
    Asker,
    Binding,
    ChunkVote,
    DocumentRecord,
    FeedbackStats,
    ForgetReport,
    LoggedAnswer,
    PinnedSource,
    QuestionLogPage,
    QuestionLogQuery,
    RatedAnswer,
    RecordedVote,
    SourceState,
    SpaceSummary,
    Turn,
    UsageReport,
    VerifiedAnswer,
    Vote,
    VoteResult,
)
from core.text import normalise_question
from core.usage import AnswerFacts, summarise_usage, usage_window

__all__ = ["MemoryStore"]


def _utcnow() -> datetime:
    return datetime.now(UTC)


def _utc(value: datetime | None) -> datetime | None:
    """As the SQL store keeps times: aware, in UTC; naive times are refused."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise InvalidInput(f"naive datetime {value!r}: ragbot stores timezone-aware UTC times")
    return value.astimezone(UTC)


def _newest_first(at: datetime) -> float:
    return -at.timestamp()


@dataclass(frozen=True)
class _LoggedAnswer:
    answer: Answer
    asker: Asker | None
    created_at: datetime


@dataclass(frozen=True)
class _StoredVote:
    vote: Vote
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class _Lease:
    owner: str
    expires_at: datetime


class MemoryStore:
    """All the store ports in dictionaries. ``clock`` is the source of "now" (timestamps, leases)."""

    def __init__(self, *, clock: Callable[[], datetime] = _utcnow) -> None:
        self._clock = clock
        self._docs: dict[str, dict[str, DocumentRecord]] = defaultdict(dict)
        self._generation: dict[str, int] = defaultdict(int)
        self._answers: dict[str, _LoggedAnswer] = {}
        self._messages: dict[tuple[str, str, str], str] = {}  # (platform, channel_id, message_id) -> answer
        self._votes: dict[tuple[str, str], _StoredVote] = {}  # (answer_id, user_id)
        self._bindings: dict[tuple[str, str, str], Binding] = {}  # (platform, team_id, channel_id)
        self._pins: dict[int, PinnedSource] = {}
        self._next_pin_id = 1
        self._admins: set[tuple[str, str]] = set()
        self._leases: dict[str, _Lease] = {}
        self._acquires = 0
        self._verified: dict[str, VerifiedAnswer] = {}
        self._sources: dict[tuple[str, str], SourceState] = {}  # (space_id, location)
        self._prompts: dict[str, list[str]] = {}

    async def start(self) -> None:
        return None

    async def aclose(self) -> None:
        return None

    # Catalog

    async def live_documents(self, space_id: str) -> dict[str, DocumentRecord]:
        return dict(self._docs.get(space_id, {}))

    async def set_live(self, record: DocumentRecord) -> None:
        self._docs[record.space_id][record.doc_id] = replace(record, ingested_at=_utc(record.ingested_at))
        self._generation[record.space_id] += 1

    async def remove(self, space_id: str, doc_id: str) -> None:
        if self._docs.get(space_id, {}).pop(doc_id, None) is not None:
            self._generation[space_id] += 1

    async def spaces(self) -> list[SpaceSummary]:
        out = []
        for space_id, docs in sorted(self._docs.items()):
            if not docs:
                continue
            last = max((d.ingested_at for d in docs.values() if d.ingested_at), default=None)
            out.append(SpaceSummary(space_id, len(docs), sum(d.chunks for d in docs.values()), last))
        return out

    async def generation(self, space_id: str) -> int:
        return self._generation.get(space_id, 0)

    # AnswerLog

    async def record_answer(self, answer: Answer, asker: Asker | None) -> None:
        """Recording the same answer id twice keeps the first record (a retry is harmless)."""
        self._answers.setdefault(answer.answer_id, _LoggedAnswer(answer, asker, self._clock()))

    async def get_answer(self, answer_id: str) -> Answer | None:
        logged = self._answers.get(answer_id)
        if logged is None:
            return None
        return self._as_now(logged.answer)

    def _as_now(self, answer: Answer) -> Answer:
        if answer.verified is None:
            return answer
        # as the SQL store does: the verified answer as it is now (None once removed)
        return replace(answer, verified=self._verified.get(answer.verified.verified_id))

    async def thread_turns(
        self, platform: str, channel_id: str, thread_id: str, limit: int = 6
    ) -> list[Turn]:
        """The last ``limit`` answers of the thread, oldest first, each as a question and an answer turn."""
        if limit <= 0:
            return []
        in_thread = [
            la
            for la in self._answers.values()
            if la.asker is not None
            and (la.asker.platform, la.asker.channel_id, la.asker.thread_id)
            == (platform, channel_id, thread_id)
        ]
        in_thread.sort(key=lambda la: (la.created_at, la.answer.answer_id))
        return [
            turn
            for la in in_thread[-limit:]
            for turn in (Turn("user", la.answer.question), Turn("assistant", la.answer.text))
        ]

    async def link_message(self, answer_id: str, message_id: str) -> None:
        """Remember a message (in the answer's platform and channel) that shows the answer."""
        logged = self._answers.get(answer_id)
        if logged is None:
            raise NotFound(f"There is no answer {answer_id!r} to link message {message_id!r} to.")
        asker = logged.asker or Asker(platform="", user_id="")
        self._messages[(asker.platform, asker.channel_id, message_id)] = answer_id

    async def thread_of_message(self, platform: str, channel_id: str, message_id: str) -> str | None:
        """The thread id of the answer ``message_id`` shows ("" if it was not in a thread); None
        when the message shows no answer of the bot's."""
        answer_id = self._messages.get((platform, channel_id, message_id))
        if answer_id is None:
            return None
        asker = self._answers[answer_id].asker
        return asker.thread_id if asker else ""

    async def answer_of_message(self, platform: str, channel_id: str, message_id: str) -> str | None:
        return self._messages.get((platform, channel_id, message_id))

    # AskedQuestions

    async def asked_questions(self, space_id: str, limit: int = 50) -> list[tuple[str, int]]:
        counts: dict[str, int] = defaultdict(int)
        last: dict[str, datetime] = {}
        for la in self._answers.values():
            a = la.answer
            if a.space_id != space_id or a.declined or a.interrupted is not None:
                continue
            counts[a.question] += 1
            last[a.question] = max(last.get(a.question, la.created_at), la.created_at)
        ordered = sorted(counts, key=lambda q: (-counts[q], _newest_first(last[q]), q))
        return [(q, counts[q]) for q in ordered[: max(limit, 0)]]

    # FeedbackStore

    async def record_vote(self, vote: Vote) -> VoteResult:
        if vote.value not in (1, -1):
            raise InvalidInput(f"a vote is +1 or -1, not {vote.value}")
        if vote.answer_id not in self._answers:
            raise NotFound(f"There is no answer {vote.answer_id!r} to vote on.")
        now = self._clock()
        key = (vote.answer_id, vote.user_id)
        before = self._votes.get(key)
        self._votes[key] = _StoredVote(vote, before.created_at if before else now, now)
        previous = before.vote.value if before else None
        return VoteResult(vote, changed=previous is not None and previous != vote.value, previous=previous)

    async def feedback_stats(self, space_id: str | None = None, worst: int = 5) -> FeedbackStats:
        """Totals over the space (or everything), and the ``worst`` answers by net rating.

        "Worst" means at least one down vote, ordered by up minus down, then most down votes, then
        most recent; each comes with its question and the reasons given with its down votes."""
        logged = {
            a: la for a, la in self._answers.items() if space_id is None or la.answer.space_id == space_id
        }
        by_answer: dict[str, list[_StoredVote]] = defaultdict(list)
        for (answer_id, _user), stored in self._votes.items():
            if answer_id in logged:
                by_answer[answer_id].append(stored)
        up = sum(1 for votes in by_answer.values() for s in votes if s.vote.value > 0)
        down = sum(1 for votes in by_answer.values() for s in votes if s.vote.value < 0)

        rated = []
        for answer_id, votes in by_answer.items():
            n_up = sum(1 for s in votes if s.vote.value > 0)
            n_down = len(votes) - n_up
            if n_down == 0:
                continue
            downs = sorted(
                (s for s in votes if s.vote.value < 0), key=lambda s: (s.updated_at, s.vote.user_id)
            )
            reasons = tuple(s.vote.reason for s in downs if s.vote.reason)
            rated.append(
                (
                    logged[answer_id],
                    RatedAnswer(answer_id, logged[answer_id].answer.question, n_up, n_down, reasons),
                )
            )
        # Most recent first among equals, then answer_id: sort by the later keys first (the sort is stable).
        rated.sort(key=lambda pair: pair[1].answer_id)
        rated.sort(key=lambda pair: pair[0].created_at, reverse=True)
        rated.sort(key=lambda pair: (pair[1].up - pair[1].down, -pair[1].down))
        return FeedbackStats(space_id, len(logged), up, down, tuple(r for _, r in rated[: max(worst, 0)]))

    async def chunk_votes(self, space_id: str) -> list[ChunkVote]:
        """Each vote on a generated answer of the space, once per chunk it cited (every chunk it
        was given when it cited none); sources without a chunk count for nothing."""
        out = []
        for (answer_id, _user), stored in self._votes.items():
            answer = self._answers[answer_id].answer
            if answer.space_id != space_id or answer.verified is not None:
                continue
            cited = [s for s in answer.sources if s.cited] or list(answer.sources)
            out.extend(
                ChunkVote(s.chunk_id, s.doc_id, stored.vote.value, stored.updated_at, answer.question)
                for s in cited
                if s.chunk_id
            )
        return out

    # BindingStore

    async def bind(self, binding: Binding) -> None:
        self._bindings[(binding.platform, binding.team_id, binding.channel_id)] = binding

    async def unbind(self, platform: str, channel_id: str, team_id: str = "") -> bool:
        return self._bindings.pop((platform, team_id, channel_id), None) is not None

    async def binding_for(self, platform: str, channel_id: str, team_id: str = "") -> Binding | None:
        return self._bindings.get((platform, team_id, channel_id))

    async def bindings(self, space_id: str | None = None) -> list[Binding]:
        return [b for _, b in sorted(self._bindings.items()) if space_id is None or b.space_id == space_id]

    # PromptStore

    async def set_suggested_prompts(self, space_id: str, prompts: Sequence[str]) -> None:
        if prompts:
            self._prompts[space_id] = list(prompts)
        else:
            self._prompts.pop(space_id, None)

    async def suggested_prompts(self, space_id: str) -> list[str]:
        return list(self._prompts.get(space_id, []))

    # PinStore

    async def add_pin(self, pin: PinnedSource) -> PinnedSource:
        """Pin a location; pinning it again changes its schedule and keeps its run history."""
        if pin.every_s is None and not pin.cron:
            raise InvalidInput(f"pin {pin.location!r} needs a schedule: an interval or a cron expression")
        if pin.every_s is not None and pin.every_s <= 0:
            raise InvalidInput(f"pin {pin.location!r}: the interval must be positive, not {pin.every_s}s")
        schedule = {
            "every_s": pin.every_s,
            "cron": pin.cron,
            "doc_type": pin.doc_type,
            "pinned_by": pin.pinned_by,
        }
        for stored in self._pins.values():
            if (stored.space_id, stored.location) == (pin.space_id, pin.location):
                updated = replace(stored, **schedule)
                self._pins[stored.pin_id] = updated
                return updated
        created = PinnedSource(self._next_pin_id, pin.space_id, pin.location, **schedule)
        self._pins[created.pin_id] = created
        self._next_pin_id += 1
        return created

    async def remove_pin(self, space_id: str, location: str) -> bool:
        for pin_id, stored in list(self._pins.items()):
            if (stored.space_id, stored.location) == (space_id, location):
                del self._pins[pin_id]
                return True
        return False

    async def pins(self, space_id: str | None = None) -> list[PinnedSource]:
        return [p for _, p in sorted(self._pins.items()) if space_id is None or p.space_id == space_id]

    async def record_pin_run(
        self, pin_id: int, *, ok: bool, at: datetime, error: str | None = None
    ) -> PinnedSource:
        at = _utc(at)
        stored = self._pins.get(pin_id)
        if stored is None:
            raise NotFound(f"There is no pinned source #{pin_id}.")
        if ok:
            updated = replace(stored, last_success_at=at, consecutive_failures=0, last_error=None)
        else:
            updated = replace(
                stored,
                last_failure_at=at,
                consecutive_failures=stored.consecutive_failures + 1,
                last_error=error,
            )
        self._pins[pin_id] = updated
        return updated

    # AdminStore

    async def add_admin(self, platform: str, user_id: str) -> None:
        self._admins.add((platform, user_id))

    async def remove_admin(self, platform: str, user_id: str) -> bool:
        if (platform, user_id) in self._admins:
            self._admins.remove((platform, user_id))
            return True
        return False

    async def is_admin(self, platform: str, user_id: str) -> bool:
        return (platform, user_id) in self._admins

    # LeaseLock

    async def acquire(self, name: str, owner: str, ttl_s: float) -> bool:
        """Take the lease if it is free, expired, or already ours (then it is renewed)."""
        if ttl_s <= 0:
            raise InvalidInput(f"a lease needs a positive ttl, not {ttl_s}")
        now = self._clock()
        self._acquires += 1
        if self._acquires % 100 == 0:  # as the SQL store does: expired one-shot claims go
            self._leases = {n: lease for n, lease in self._leases.items() if lease.expires_at > now}
        held = self._leases.get(name)
        if held is not None and held.owner != owner and held.expires_at > now:
            return False
        self._leases[name] = _Lease(owner, now + timedelta(seconds=ttl_s))
        return True

    async def release(self, name: str, owner: str) -> None:
        held = self._leases.get(name)
        if held is not None and held.owner == owner:
            del self._leases[name]

    # AnswerHistory

    def _logged(self, la: _LoggedAnswer) -> LoggedAnswer:
        stored = sorted(
            (s for (answer_id, _), s in self._votes.items() if answer_id == la.answer.answer_id),
            key=lambda s: (s.updated_at, s.vote.user_id),
        )
        votes = tuple(
            RecordedVote(s.vote.user_id, s.vote.value, s.vote.reason, s.vote.platform, s.updated_at)
            for s in stored
        )
        return LoggedAnswer(self._as_now(la.answer), la.created_at, la.asker, votes)

    async def question_log(self, query: QuestionLogQuery) -> QuestionLogPage:
        """Newest first; ``total`` counts every match, ``limit``/``offset`` cut the page."""
        since, until = _utc(query.since), _utc(query.until)
        matches = []
        for la in self._answers.values():
            a = la.answer
            if query.space_id is not None and a.space_id != query.space_id:
                continue
            if query.declined is not None and a.declined != query.declined:
                continue
            if (since is not None and la.created_at < since) or (
                until is not None and la.created_at >= until
            ):
                continue
            logged = self._logged(la)
            if query.vote == "up" and not logged.up:
                continue
            if query.vote == "down" and not logged.down:
                continue
            if query.vote == "none" and logged.votes:
                continue
            matches.append(logged)
        matches.sort(key=lambda x: (x.asked_at, x.answer.answer_id), reverse=True)
        page = matches[query.offset : query.offset + query.limit] if query.limit > 0 else []
        return QuestionLogPage(tuple(page), len(matches))

    async def logged_answer(self, answer_id: str) -> LoggedAnswer | None:
        la = self._answers.get(answer_id)
        return self._logged(la) if la is not None else None

    async def review_queue(
        self, space_id: str | None = None, *, exclude: Collection[str] = (), limit: int = 50
    ) -> list[LoggedAnswer]:
        """Answers with at least one down vote, most recently voted down first."""
        excluded = set(exclude)
        queue = []
        for la in self._answers.values():
            if la.answer.answer_id in excluded:
                continue
            if space_id is not None and la.answer.space_id != space_id:
                continue
            logged = self._logged(la)
            last_down = max((v.at for v in logged.votes if v.value < 0), default=None)
            if last_down is not None:
                queue.append((last_down, logged))
        queue.sort(key=lambda pair: (pair[0], pair[1].answer.answer_id), reverse=True)
        return [logged for _, logged in queue[: max(limit, 0)]]

    async def usage(self, space_id: str | None = None, days: int = 30) -> UsageReport:
        first, start = usage_window(days, self._clock())
        facts = []
        for la in self._answers.values():
            if la.created_at < start or (space_id is not None and la.answer.space_id != space_id):
                continue
            logged = self._logged(la)
            a = la.answer
            facts.append(
                AnswerFacts(
                    la.created_at, a.declined, a.cache_hit, a.timings.prefill_s, logged.up, logged.down
                )
            )
        return summarise_usage(space_id, facts, first, days)

    # VerifiedStore

    async def save_verified(self, verified: VerifiedAnswer) -> VerifiedAnswer:
        """Insert it, or replace the space's verified answer to the same question (keeping its id)."""
        verified = replace(verified, created_at=_utc(verified.created_at), needs_review=False)
        key = normalise_question(verified.question)
        for stored in self._verified.values():
            if stored.space_id == verified.space_id and normalise_question(stored.question) == key:
                verified = replace(verified, verified_id=stored.verified_id)
                break
        self._verified[verified.verified_id] = verified
        return verified

    async def get_verified(self, verified_id: str) -> VerifiedAnswer | None:
        return self._verified.get(verified_id)

    async def verified_answers(self, space_id: str | None = None) -> list[VerifiedAnswer]:
        found = [v for v in self._verified.values() if space_id is None or v.space_id == space_id]
        found.sort(key=lambda v: v.verified_id)
        found.sort(key=lambda v: v.created_at, reverse=True)
        return found

    async def remove_verified(self, verified_id: str) -> bool:
        return self._verified.pop(verified_id, None) is not None

    # RetentionStore

    async def forget_user(self, platform: str, user_id: str) -> ForgetReport:
        theirs = {
            a
            for a, la in self._answers.items()
            if la.asker is not None and (la.asker.platform, la.asker.user_id) == (platform, user_id)
        }
        votes = [
            key
            for key, stored in self._votes.items()
            if key[1] == user_id and stored.vote.platform == platform and key[0] not in theirs
        ]
        for key in votes:
            del self._votes[key]
        self._drop_answers(theirs)
        return ForgetReport(answers=len(theirs), votes=len(votes))

    async def purge_answers(self, before: datetime) -> int:
        before = _utc(before)
        old = {a for a, la in self._answers.items() if la.created_at < before}
        self._drop_answers(old)
        return len(old)

    def _drop_answers(self, answer_ids: set[str]) -> None:
        """Delete answers with their votes and message links, as the SQL store's cascades do."""
        for answer_id in answer_ids:
            del self._answers[answer_id]
        self._votes = {k: v for k, v in self._votes.items() if k[0] not in answer_ids}
        self._messages = {k: a for k, a in self._messages.items() if a not in answer_ids}

    # SourceStateStore

    async def source_state(self, space_id: str, location: str) -> SourceState | None:
        return self._sources.get((space_id, location))

    async def save_source_state(self, state: SourceState) -> None:
        # a copy of the cursor, round-tripped through JSON as the SQL store keeps it
        self._sources[(state.space_id, state.location)] = replace(
            state,
            last_run_at=_utc(state.last_run_at),
            last_success_at=_utc(state.last_success_at),
            cursor=json.loads(json.dumps(dict(state.cursor))),
        )

    async def source_states(self, space_id: str | None = None) -> list[SourceState]:
        return [s for key, s in sorted(self._sources.items()) if space_id is None or key[0] == space_id]

    async def remove_source_state(self, space_id: str, location: str) -> bool:
        return self._sources.pop((space_id, location), None) is not None
