"""Question -> retrieval in the space -> context -> compression -> prompt -> streamed tokens -> Answer.

``ask`` is an async generator of ``AnswerEvent``s: the queue position while waiting for the
model, the sources as soon as retrieval is done (so a chat can show them early), the text as
the model writes it, and finally the whole ``Answer`` with its timings. Errors before the first
token are raised (``CoreError``, with a message for the person); once text has been streamed an
error ends the answer with a note instead, because the person has already read half of it; so
does the token limit (LLM_MAX_TOKENS), at the last complete sentence (``core.answer.generation``).
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import aclosing
from dataclasses import replace

from core.answer.attribution import drawn_from
from core.answer.cache import AnswerCache, CacheKey
from core.answer.compress import ContextCompressor
from core.answer.context import select_context, to_sources
from core.answer.conversation import fit_conversation
from core.answer.gate import GenerationGate
from core.answer.generation import AnswerStream
from core.answer.prompt import PHRASES, build_messages, cited_numbers, is_decline
from core.answer.query_rewrite import standalone_query
from core.answer.verified import VerifiedMatch, VerifiedMatcher
from core.errors import EmptyQuestion, LLMEmptyAnswer, QuestionTooLong
from core.models import (
    Answer,
    AnswerDone,
    AnswerEvent,
    ChatMessage,
    ConversationMessage,
    Question,
    QueuePosition,
    SearchFilters,
    SourcesFound,
    TextDelta,
    Timings,
    Turn,
)
from core.ports import Catalog, ChatModel, TextAnalyzer
from core.retrieval.hybrid import HybridRetriever
from core.settings import AnswerSettings, LLMSettings
from core.text import detect_lang, estimate_tokens, tell_lang

__all__ = ["Answerer", "VERIFIED_MODEL"]

log = logging.getLogger(__name__)


class Answerer:
    def __init__(
        self,
        *,
        retriever: HybridRetriever,
        chat: ChatModel,
        catalog: Catalog,
        settings: AnswerSettings | None = None,
        llm: LLMSettings | None = None,
        cache: AnswerCache | None = None,
        gate: GenerationGate | None = None,
        verified: VerifiedMatcher | None = None,
        analyzer: TextAnalyzer | None = None,
        fast_chat: ChatModel | None = None,
    ) -> None:
        self.retriever = retriever
        self.chat = chat
        self.catalog = catalog
        self.settings = settings or AnswerSettings()
        self.llm = llm or LLMSettings()
        self.cache = cache
        self.gate = gate or GenerationGate(self.llm.concurrency)
        self.verified = verified
        # the models retrieval loaded score the parts of the context (core.answer.compress)
        self.compressor = ContextCompressor(retriever.embedder, analyzer)
        self.fast_chat = fast_chat  # LLM_FAST_MODEL: answers questions in LLM_FAST_LANGS

    def model_for(self, lang: str) -> ChatModel:
        if self.fast_chat is not None and lang in self.llm.fast_langs:
            return self.fast_chat
        return self.chat

    def validate(self, question: Question) -> str:
        text = question.text.strip()
        if not text:
            raise EmptyQuestion("The question is empty: write what you would like to know.")
        if len(text) > self.settings.max_question_chars:
            raise QuestionTooLong(
                f"The question is {len(text):,} characters long; the limit is "
                f"{self.settings.max_question_chars:,}. Please shorten it to the question itself."
            )
        return text

    async def ask(self, question: Question) -> AsyncIterator[AnswerEvent]:
        started = time.perf_counter()
        text = self.validate(question)
        history = question.history[-self.settings.history_turns :] if self.settings.history_turns else ()
        # the questions asked of the bot in the thread are its history already: not twice
        asked = {t.text.strip() for t in history if t.role == "user"}
        conversation = fit_conversation(
            [m for m in question.conversation if m.text.strip() not in asked],
            self.settings.thread_context_tokens,
        )
        lang = _answer_lang(text, question.default_lang, [m.text for m in conversation])
        phrases = PHRASES.get(lang, PHRASES["en"])
        top_k = question.top_k or self.retriever.settings.top_k

        # A verified answer first: a person vouched for it, and it costs no model call. Not for a
        # follow-up, whose meaning depends on what came before.
        vector = None
        if self.verified is not None and not question.skip_verified and not history:
            match, vector = await self.verified.match(question.space_id, text, lang)
            if match is not None:
                answer = _from_verified(match, question, text, lang, time.perf_counter() - started)
                yield SourcesFound(answer.sources)
                yield TextDelta(answer.text)
                yield AnswerDone(answer)
                return

        key = None
        if self.cache is not None and not history and not conversation:
            generation = await self.catalog.generation(question.space_id)
            key = CacheKey.of(text, question.space_id, question.doc_type, top_k, generation)
            cached = self.cache.get(key)
            if cached is not None:
                answer = replace(
                    cached,
                    answer_id=_new_id(),
                    cache_hit=True,
                    timings=Timings(total_s=time.perf_counter() - started),
                )
                yield SourcesFound(answer.sources)
                yield TextDelta(answer.text)
                yield AnswerDone(answer)
                return

        # A follow-up ("and how do I undo it?", "how do we fix this?") is searched with the salient
        # terms of what was said before it: the thread's messages, then the earlier questions.
        query = standalone_query(text, _earlier(conversation, history))
        if query != text:  # the terms themselves stay out of the log: threads hold what people paste
            log.debug(
                "answer.query_rewritten space=%s terms=%d", question.space_id, len(query[len(text) :].split())
            )
        result = await self.retriever.search(
            query,
            SearchFilters(question.space_id, question.doc_type),
            top_k=max(top_k, self.settings.context_chunks_max),
            vector=vector if query == text else None,
        )
        items = select_context(
            result.hits,
            min_chunks=self.settings.context_chunks_min,
            max_chunks=min(self.settings.context_chunks_max, max(top_k, self.settings.context_chunks_min)),
            token_budget=self.settings.context_tokens,
        )
        budget = self.settings.prompt_budget(self.llm.mode)
        if budget and items:
            items = await self.compressor.compress(query, items, budget=budget, lang=lang)
        sources = to_sources(items)
        yield SourcesFound(sources)

        if not items:
            # nothing indexed (or nothing of this doc_type): no model call can help
            answer = Answer(
                answer_id=_new_id(),
                question=text,
                space_id=question.space_id,
                text=phrases.no_documents,
                sources=(),
                lang=lang,
                model=self.model_for(lang).name,
                timings=Timings(retrieval_s=result.seconds, total_s=time.perf_counter() - started),
                declined=True,
                doc_type=question.doc_type,
            )
            yield TextDelta(answer.text)
            yield AnswerDone(answer)
            return

        context_tokens = sum(estimate_tokens(i.text) for i in items)
        chat = self.model_for(lang)

        def messages_for(insist: bool) -> list[ChatMessage]:
            return build_messages(
                text,
                items,
                lang=lang,
                max_tokens=self.llm.max_tokens,
                history=history,
                conversation=conversation,
                insist=insist,
            )

        queued_at = time.perf_counter()
        turns = self.gate.turns()
        async with aclosing(turns):
            async for position in turns:
                yield QueuePosition(position)
        generation = AnswerStream(
            chat,
            lang=lang,
            phrases=phrases,
            max_tokens=self.llm.max_tokens,
            temperature=self.llm.temperature,
            log_fields=f"space={question.space_id}",
        )
        try:
            asked_at = time.perf_counter()
            async with aclosing(generation.run(messages_for)) as pieces:
                async for piece in pieces:
                    yield TextDelta(piece)
            finished_at = time.perf_counter()
        finally:
            self.gate.release()

        body = generation.text
        first_at = generation.first_token_at  # the model's prefill: what the metrics call time to first token
        usage = generation.usage
        if not body.strip():
            raise LLMEmptyAnswer("The language model returned an empty answer. Please try again or rephrase.")
        # the [n] the model wrote; failing those, the passages whose text the answer repeats
        cited = cited_numbers(body, len(items)) or drawn_from(body, items)
        answer = Answer(
            answer_id=_new_id(),
            question=text,
            space_id=question.space_id,
            text=body,
            sources=to_sources(items, cited),
            lang=lang,
            model=chat.name,
            timings=Timings(
                retrieval_s=result.seconds,
                queue_s=asked_at - queued_at,
                prefill_s=(first_at or finished_at) - asked_at,
                decode_s=finished_at - (first_at or finished_at),
                total_s=finished_at - started,
                prompt_tokens=usage.prompt_tokens
                if usage
                else sum(estimate_tokens(m.content) for m in messages_for(False)),
                context_tokens=context_tokens,
                completion_tokens=usage.completion_tokens if usage else generation.deltas,
            ),
            declined=is_decline(body),
            interrupted=generation.interrupted,
            doc_type=question.doc_type,
        )
        if key is not None and generation.interrupted is None:
            self.cache.put(key, answer)
        yield AnswerDone(answer)


VERIFIED_MODEL = "verified"  # Answer.model of an answer served from a verified answer


def _from_verified(match: VerifiedMatch, question: Question, text: str, lang: str, seconds: float) -> Answer:
    verified = match.verified
    return Answer(
        answer_id=_new_id(),
        question=text,
        space_id=question.space_id,
        text=verified.text,
        sources=tuple(replace(s, cited=True) for s in verified.sources),
        lang=lang,
        model=VERIFIED_MODEL,
        timings=Timings(retrieval_s=seconds, total_s=seconds),
        doc_type=question.doc_type,
        verified=verified,
    )


def _answer_lang(text: str, default: str | None, conversation: list[str]) -> str:
    """The question's language; when its words do not tell ("PVC Pending?"), the channel's
    language, else the conversation's, else English."""
    told = tell_lang(text) or default or tell_lang("\n".join(conversation[-3:]))
    return told or detect_lang(text)


def _earlier(conversation: list[ConversationMessage], history: tuple[Turn, ...]) -> list[str]:
    """What was said before the question, newest first: the thread's messages, then the earlier
    questions asked of the bot that the thread did not already show."""
    said = [m.text for m in reversed(conversation)]
    seen = {t.strip() for t in said}
    asked = [t.text for t in reversed(history) if t.role == "user" and t.text.strip() not in seen]
    return said + asked


def _new_id() -> str:
    return uuid.uuid4().hex[:16]
