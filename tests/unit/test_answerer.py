"""The answer flow over fakes: events in order, citations, refusals, errors, cache, queue."""

import asyncio
import re
from pathlib import Path

import pytest

from core.errors import EmptyQuestion, LLMTimeout, LLMUnavailable, QuestionTooLong
from core.models import (
    AnswerDone,
    ConversationMessage,
    Question,
    QueuePosition,
    SourcesFound,
    TextDelta,
    Turn,
)
from core.settings import AnswerSettings, LLMSettings
from core.testing.fake_service import make_service
from core.testing.memory_indexes import MemoryKeywordIndex
from core.testing.scripted_chat import ScriptedChatModel


@pytest.fixture
def folder(tmp_path):
    (tmp_path / "restart.md").write_text(
        "# Restarting the API\n\nRun `systemctl restart api` on the gateway host.\n"
    )
    (tmp_path / "backup.md").write_text("# Backups\n\nNightly backups go to the vault bucket for 30 days.\n")
    (tmp_path / "ru.md").write_text("# Отпуск\n\nЗаявление на отпуск подают за две недели через портал.\n")
    return tmp_path


async def _collect(service, question):
    return [event async for event in service.ask(question)]


async def test_events_come_in_order_and_cited_sources_are_marked(folder):
    chat = ScriptedChatModel("Run systemctl restart api [1].")
    service = make_service(chat=chat)
    await service.ingest("ops", [str(folder)])

    events = await _collect(service, Question("How do I restart the API?", "ops"))

    assert isinstance(events[0], SourcesFound)
    assert isinstance(events[-1], AnswerDone)
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1 and "".join(deltas) == events[-1].answer.text
    answer = events[-1].answer
    assert [s.n for s in answer.sources if s.cited] == [1]
    assert answer.sources[0].title == "restart" or "Restart" in answer.sources[0].section
    assert answer.timings.completion_tokens == len(deltas)
    # the model saw the numbered context and the question
    prompt = chat.requests[0][-1].content
    assert "[1]" in prompt and "How do I restart the API?" in prompt


async def test_an_answer_citing_nothing_lists_sources_as_uncited(folder):
    service = make_service(chat=ScriptedChatModel("Restart it with systemctl."))
    await service.ingest("ops", [str(folder)])
    answer = (await _collect(service, Question("How do I restart the API?", "ops")))[-1].answer
    assert answer.sources and not answer.cites_any


async def test_an_answer_that_repeats_a_passage_without_brackets_cites_it(folder):
    copied = "Nightly backups go to the vault bucket for 30 days."
    service = make_service(chat=ScriptedChatModel(f"From the docs: {copied}"))
    await service.ingest("ops", [str(folder)])
    answer = (await _collect(service, Question("Where do backups go and for how long?", "ops")))[-1].answer
    cited = [s for s in answer.sources if s.cited]
    assert [s.location.rsplit("/", 1)[-1] for s in cited] == ["backup.md"]


def in_the_asked_language(messages) -> str:
    russian = "по-русски" in messages[-1].content or "на русском" in messages[-1].content
    return "Заявление подают за две недели [1]." if russian else "Run systemctl restart api [1]."


async def test_russian_question_gets_russian_instructions_after_the_same_system_text(folder):
    chat = ScriptedChatModel(in_the_asked_language)
    service = make_service(chat=chat)
    await service.ingest("hr", [str(folder)])
    answer = (await _collect(service, Question("Как оформить отпуск?", "hr")))[-1].answer
    await _collect(service, Question("How do I restart the API?", "hr"))
    assert answer.lang == "ru"
    ru, en = chat.requests
    assert ru[-1].content.rstrip().endswith("по-русски по фрагментам выше, ставя ссылки вида [1].")
    assert en[-1].content.rstrip().endswith("in English from the passages above, citing them like [1].")
    # the fixed part comes first and is the same for every question, so the server reuses its prefill
    assert ru[0].role == en[0].role == "system" and ru[0].content == en[0].content
    assert "Как оформить отпуск?" not in ru[0].content and "[1]" not in ru[0].content.split("example")[0]


async def test_decline_is_recognised(folder):
    service = make_service(chat=ScriptedChatModel("I could not find the answer in the documents."))
    await service.ingest("ops", [str(folder)])
    answer = (await _collect(service, Question("What is the CEO's birthday?", "ops")))[-1].answer
    assert answer.declined


async def test_empty_space_is_told_without_calling_the_model():
    chat = ScriptedChatModel()
    service = make_service(chat=chat)
    answer = (await _collect(service, Question("anything?", "nothing-here")))[-1].answer
    assert answer.declined and "no documents" in answer.text
    assert chat.requests == []


@pytest.mark.parametrize("text, error", [("   ", EmptyQuestion), ("x" * 20_000, QuestionTooLong)])
async def test_bad_questions_fail_before_any_model_call(folder, text, error):
    chat = ScriptedChatModel()
    service = make_service(chat=chat)
    await service.ingest("ops", [str(folder)])
    with pytest.raises(error) as caught:
        await _collect(service, Question(text, "ops"))
    assert caught.value.message
    assert chat.requests == []


async def test_model_failure_before_first_token_is_raised(folder):
    service = make_service(chat=ScriptedChatModel(fail_with=LLMUnavailable("The model server is down.")))
    await service.ingest("ops", [str(folder)])
    with pytest.raises(LLMUnavailable):
        await _collect(service, Question("How do I restart the API?", "ops"))
    assert service.answerer.gate.active == 0  # the slot was given back


async def test_model_failure_mid_stream_ends_with_a_note(folder):
    chat = ScriptedChatModel("one two three four five", fail_after=(3, LLMTimeout("no tokens for 240 s")))
    service = make_service(chat=chat)
    await service.ingest("ops", [str(folder)])
    events = await _collect(service, Question("How do I restart the API?", "ops"))
    answer = events[-1].answer
    # "three" may be half a word when the model fails: only whole words are kept
    assert answer.text.startswith("one two ") and "three" not in answer.text
    assert "cut off" in answer.text and answer.interrupted == "timeout"
    assert "".join(e.text for e in events if isinstance(e, TextDelta)) == answer.text


async def test_cache_hit_then_dropped_after_reingestion(folder):
    chat = ScriptedChatModel("Run systemctl restart api [1].")
    service = make_service(chat=chat)
    await service.ingest("ops", [str(folder)])
    first = (await _collect(service, Question("How do I restart the API?", "ops")))[-1].answer
    second = (await _collect(service, Question("how do i restart the api", "ops")))[-1].answer
    assert second.cache_hit and second.text == first.text and second.answer_id != first.answer_id
    assert len(chat.requests) == 1

    (folder / "restart.md").write_text("# Restarting the API\n\nUse `apictl restart` now.\n")
    await service.ingest("ops", [str(folder)])
    third = (await _collect(service, Question("How do I restart the API?", "ops")))[-1].answer
    assert not third.cache_hit and len(chat.requests) == 2


async def test_follow_up_carries_history_and_is_not_cached(folder):
    chat = ScriptedChatModel("Yes [1].")
    service = make_service(chat=chat)
    await service.ingest("ops", [str(folder)])
    history = (Turn("user", "How do I restart the API?"), Turn("assistant", "Run systemctl restart api [1]."))
    for _ in range(2):
        await _collect(service, Question("and on the gateway?", "ops", history=history))
    assert len(chat.requests) == 2
    roles = [m.role for m in chat.requests[0]]
    assert roles == ["system", "user", "assistant", "user"]


async def test_concurrency_limit_queues_and_reports_positions(folder):
    chat = ScriptedChatModel("Run it [1].", delay=0.01)
    service = make_service(chat=chat, concurrency=1, cache_ttl_s=0)
    await service.ingest("ops", [str(folder)])

    results = await asyncio.gather(
        *[_collect(service, Question(f"restart question {i}", "ops")) for i in range(4)]
    )

    positions = [[e.position for e in events if isinstance(e, QueuePosition)] for events in results]
    assert all(isinstance(events[-1], AnswerDone) for events in results)
    assert sorted(p[0] for p in positions if p) == [1, 2, 3]  # three waited, at 1, 2 and 3
    assert all(p == sorted(p, reverse=True) for p in positions)  # a place in the queue only improves
    assert service.answerer.gate.active == 0 and service.queue_length == 0


SPEC_DIR = Path(__file__).resolve().parents[1] / "data" / "spec"

LONG = (
    "Restart the API with systemctl restart api on the gateway host [1]. "
    "Check its status with systemctl status api afterwards [1]. "
    "If it does not come back within a minute, the gateway logs under /var/log/api hold the reason and"
)


async def test_an_answer_reaching_the_token_limit_ends_at_its_last_sentence_with_a_note(folder):
    words = len(LONG.split(" "))
    chat = ScriptedChatModel(LONG + " more words that never fit")
    service = make_service(chat=chat, llm=LLMSettings(max_tokens=words))
    await service.ingest("ops", [str(folder)])
    events = await _collect(service, Question("How do I restart the API?", "ops"))
    answer = events[-1].answer
    streamed = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert streamed == answer.text  # what was streamed is what is kept: nothing to take back
    body, note = answer.text.split("\n\n")
    assert (
        body
        == "Restart the API with systemctl restart api on the gateway host [1]. Check its status with systemctl status api afterwards [1]."
    )
    assert note == "(The answer was shortened to fit its length limit: ask about one part of it for more.)"
    assert answer.interrupted is None and not answer.declined
    assert [s.n for s in answer.sources if s.cited] == [1]


async def test_an_answer_within_the_limit_gets_no_note(folder):
    chat = ScriptedChatModel(LONG + ".")
    service = make_service(chat=chat, llm=LLMSettings(max_tokens=512))
    await service.ingest("ops", [str(folder)])
    answer = (await _collect(service, Question("How do I restart the API?", "ops")))[-1].answer
    assert answer.text == LONG + "."


async def test_the_prompt_asks_for_an_answer_sized_to_the_token_limit(folder):
    chat = ScriptedChatModel("Run it [1].")
    service = make_service(chat=chat, llm=LLMSettings(max_tokens=200))
    await service.ingest("ops", [str(folder)])
    await _collect(service, Question("How do I restart the API?", "ops"))
    assert "Keep the whole answer under 50 words." in chat.requests[0][0].content


async def test_the_prompt_carries_the_parts_that_bear_on_the_question(tmp_path):
    """ANSWER_PROMPT_TOKENS: a small budget keeps the sentence that answers and drops the rest of the
    chunk; 0 sends whole chunks."""
    filler = " ".join(f"The cafeteria menu lists dish number {i} for the week." for i in range(30))
    (tmp_path / "ops.md").write_text(f"# Operations\n\n{filler} The VPN gateway listens on TCP port 4433.\n")
    question = Question("Which TCP port does the VPN gateway listen on?", "ops")
    prompts = {}
    for budget in (60, 0):
        chat = ScriptedChatModel("Port 4433 [1].")
        service = make_service(chat=chat, answer=AnswerSettings(prompt_tokens=budget))
        await service.ingest("ops", [str(tmp_path)])
        answer = (await _collect(service, question))[-1].answer
        prompts[budget] = chat.requests[0][-1].content
        assert answer.timings.context_tokens <= (60 if budget else 10_000)
    assert "port 4433" in prompts[60] and "dish number 7 " not in prompts[60]
    assert "port 4433" in prompts[0] and "dish number 7 " in prompts[0]


async def test_a_citation_names_the_heading_of_the_part_it_cites():
    """The spec file's LLM_TIMEOUT line sits in a chunk whose first heading is 'Классификация
    (doc_type)'; the answer cites the passage holding it, and its source names 'Наблюдаемость и
    надёжность', the section the line is in."""

    def cite_the_passage_with_the_answer(messages) -> str:
        passages = re.findall(r"^\[(\d+)\] [^\n]*\n((?:.(?!^\[\d+\] ))*)", messages[-1].content, re.M | re.S)
        n = next(n for n, text in passages if "LLM_TIMEOUT" in text)
        return f"По умолчанию LLM_TIMEOUT равен 240 с [{n}]."

    service = make_service(chat=ScriptedChatModel(cite_the_passage_with_the_answer))
    await service.ingest("infra", [str(SPEC_DIR)])
    answer = (await _collect(service, Question("Какой LLM_TIMEOUT по умолчанию?", "infra")))[-1].answer
    cited = [s for s in answer.sources if s.cited]
    assert len(cited) == 1, answer.sources
    assert cited[0].section.endswith("Практики оптимизации › Наблюдаемость и надёжность")
    assert "Классификация" not in cited[0].section


async def test_the_fast_model_answers_the_languages_it_is_set_for(folder):
    big, small = ScriptedChatModel("Big [1].", name="big"), ScriptedChatModel("Small [1].", name="small")
    service = make_service(chat=big, fast_chat=small, llm=LLMSettings(fast_model="small", fast_langs=["en"]))
    await service.start()
    assert big.started and small.started
    await service.ingest("ops", [str(folder)])
    en = (await _collect(service, Question("How do I restart the API?", "ops")))[-1].answer
    ru = (await _collect(service, Question("Как оформить отпуск?", "ops")))[-1].answer
    assert (en.model, en.text, ru.model, ru.text) == ("small", "Small [1].", "big", "Big [1].")
    await service.aclose()
    assert not big.started and not small.started


async def test_an_answer_begun_in_the_wrong_language_is_asked_again_firmly_and_only_that_is_shown(folder):
    def english_first(messages) -> str:
        if "на русском языке" in messages[-1].content:  # the insisting last line
            return "Заявление на отпуск подают за две недели через портал [1]."
        return "The leave request is filed two weeks ahead through the portal [1]."

    chat = ScriptedChatModel(english_first)
    service = make_service(chat=chat)
    await service.ingest("hr", [str(folder)])
    events = await _collect(service, Question("Как оформить отпуск?", "hr"))
    answer = events[-1].answer
    shown = "".join(e.text for e in events if isinstance(e, TextDelta))
    assert shown == answer.text == "Заявление на отпуск подают за две недели через портал [1]."
    first, second = chat.requests
    # the same prompt up to its last line, so the server reuses the prefill of all of it
    assert first[:-1] == second[:-1]
    before, _, last = second[-1].content.rpartition("\n\n")
    assert first[-1].content.startswith(before + "\n\n")
    assert last.startswith("Отвечай только на русском языке")


async def test_a_second_answer_in_the_wrong_language_is_kept_rather_than_asked_a_third_time(folder):
    chat = ScriptedChatModel("The leave request is filed two weeks ahead through the portal [1].")
    service = make_service(chat=chat)
    await service.ingest("hr", [str(folder)])
    answer = (await _collect(service, Question("Как оформить отпуск?", "hr")))[-1].answer
    assert answer.text.startswith("The leave request") and len(chat.requests) == 2


# -- the conversation a question is asked in (docs/chat.md) ------------------------------------

PVC_THREAD = (
    ConversationMessage("U1", "the nightly job died again"),
    ConversationMessage("U2", "looks like the vault bucket refused the upload, backups are missing"),
    ConversationMessage("U3", "+1, same here"),
)


class _RecordingKeywords(MemoryKeywordIndex):
    """The in-memory keyword index, noting what it was asked to search for."""

    def __init__(self) -> None:
        super().__init__()
        self.queries: list[str] = []

    async def search(self, text, filters, limit):  # noqa: ANN001, ANN201 - the port's signature
        self.queries.append(text)
        return await super().search(text, filters, limit)


async def test_the_thread_reaches_the_prompt_as_conversation_and_steers_retrieval(folder):
    chat = ScriptedChatModel("Backups go to the vault bucket [1].")
    keywords = _RecordingKeywords()
    service = make_service(chat=chat, keywords=keywords)
    await service.ingest("ops", [str(folder)])

    answer = (await _collect(service, Question("how do we fix this?", "ops", conversation=PVC_THREAD)))[
        -1
    ].answer

    prompt = chat.requests[-1][-1].content
    assert "The conversation the question was asked in" in prompt
    for message in PVC_THREAD:
        assert f"{message.author}: {message.text}" in prompt
    # searched with the thread's salient terms, not with its chatter
    query = keywords.queries[-1]
    assert query.startswith("how do we fix this?")
    assert {"vault", "bucket", "backups", "upload"} <= set(query.split()) and "same" not in query.split()
    assert answer.sources[0].location.endswith("backup.md")


async def test_a_question_with_its_thread_is_not_answered_from_the_cache(folder):
    chat = ScriptedChatModel("Backups go to the vault bucket [1].")
    service = make_service(chat=chat)
    await service.ingest("ops", [str(folder)])
    for _ in range(2):
        await _collect(service, Question("where do backups go?", "ops", conversation=PVC_THREAD))
    assert len(chat.requests) == 2


async def test_the_thread_context_budget_is_a_setting(folder):
    chat = ScriptedChatModel("Yes [1].")
    service = make_service(chat=chat, answer=AnswerSettings(thread_context_tokens=0))
    await service.ingest("ops", [str(folder)])
    await _collect(service, Question("how do we fix this?", "ops", conversation=PVC_THREAD))
    assert "vault bucket refused" not in chat.requests[0][-1].content


async def test_the_channel_language_answers_a_question_whose_words_do_not_tell(folder):
    chat = ScriptedChatModel("Да [1].")
    service = make_service(chat=chat)
    await service.ingest("ops", [str(folder)])
    told = (await _collect(service, Question("how do I restart the API?", "ops", default_lang="ru")))[-1]
    untold = (await _collect(service, Question("systemctl restart api", "ops", default_lang="ru")))[-1]
    assert told.answer.lang == "en"  # the question's own language wins
    assert untold.answer.lang == "ru" and "по-русски" in chat.requests[-1][-1].content
    fallback = (await _collect(service, Question("systemctl status api", "ops")))[-1]
    assert fallback.answer.lang == "en"


async def test_a_question_already_in_the_history_is_not_repeated_as_conversation(folder):
    chat = ScriptedChatModel("Yes [1].")
    service = make_service(chat=chat)
    await service.ingest("ops", [str(folder)])
    history = (Turn("user", "How do I restart the API?"), Turn("assistant", "Run systemctl restart api [1]."))
    thread = (
        ConversationMessage("U1", "How do I restart the API?"),  # the earlier mention, read with the thread
        ConversationMessage("U2", "it failed on the gateway host"),
    )
    await _collect(service, Question("and now?", "ops", history=history, conversation=thread))
    everything = "\n".join(m.content for m in chat.requests[0])
    assert everything.count("How do I restart the API?") == 1
    assert "U2: it failed on the gateway host" in everything
