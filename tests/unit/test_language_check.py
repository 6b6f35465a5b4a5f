"""Deciding from an answer's first words whether it is in the question's language."""

import pytest

from core.answer.language import language_verdict


@pytest.mark.parametrize(
    ("text", "lang", "verdict"),
    [
        ("Модуль", "ru", True),
        ("`d8 k get pvc` и", "ru", None),  # a command says nothing; "и" is too little yet
        ("To change the DVCR StorageClass, stop", "ru", False),
        ("I could not find the answer in the documents.", "ru", False),
        ("Чтобы сменить StorageClass, остановите DVCR", "ru", True),
        ("`sds-local-volume` v1alpha1 spec.replication", "ru", None),  # identifiers only: undecided
        ("To change the DVCR", "en", True),
        ("To", "en", None),
        ("Чтобы сменить StorageClass у DVCR, нужно", "en", False),
        ("```yaml\nkind: ModuleConfig\nmetadata:\n  name: sds-local-volume", "en", None),
        ("The `ModuleConfig` ресурс", "en", None),
    ],
)
def test_language_verdict(text, lang, verdict):
    assert language_verdict(text, lang) is verdict


async def test_an_answer_with_no_prose_to_judge_still_streams():
    """Identifiers or code only: undecided for ever, so the held text goes out once it reaches
    HOLD_AT_MOST characters rather than at the end of the answer."""
    from core.answer.generation import HOLD_AT_MOST, AnswerStream
    from core.answer.prompt import PHRASES
    from core.models import ChatMessage
    from core.testing.scripted_chat import ScriptedChatModel

    words = [f"w{i}" for i in range(200)]
    stream = AnswerStream(
        ScriptedChatModel(" ".join(words)), lang="en", phrases=PHRASES["en"], max_tokens=512, temperature=0.1
    )
    pieces = [p async for p in stream.run(lambda insist: [ChatMessage("user", "q")])]
    assert len(pieces) > 10, "streamed piece by piece, not in one block at the end"
    assert HOLD_AT_MOST - 10 <= len(pieces[0]) <= HOLD_AT_MOST + 10  # the guard keeps the last word back
    assert "".join(pieces) == " ".join(words)
