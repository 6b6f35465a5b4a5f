"""The service's side of per-channel settings, suggested prompts and attachments read as
conversation (core/service.py; docs/chat.md)."""

import pytest

from core.errors import FileTooLarge, InvalidInput, UnsupportedType
from core.models import Binding, Question
from core.testing.fake_service import final_answer, make_service
from core.testing.scripted_chat import ScriptedChatModel


@pytest.fixture
async def service(tmp_path):
    (tmp_path / "deploy.md").write_text("# Deploying\n\nRun make deploy from the release branch.\n")
    svc = make_service(chat=ScriptedChatModel("Run make deploy [1]."), cache_ttl_s=0)
    await svc.ingest("ops", [str(tmp_path)])
    return svc


async def test_channel_settings_are_checked_and_changed_one_at_a_time(service):
    await service.bind(Binding("slack", "C1", "ops", team_id="T1"))
    changed = await service.configure_channel("slack", "C1", "T1", mode="questions", lang="ru")
    assert (changed.mode, changed.visibility, changed.lang, changed.space_id) == (
        "questions",
        "thread",
        "ru",
        "ops",
    )
    again = await service.configure_channel("slack", "C1", "T1", visibility="private")
    assert (again.mode, again.visibility, again.lang) == ("questions", "private", "ru")
    for bad, message in (
        ({"mode": "loud"}, "not a mode"),
        ({"visibility": "secret"}, "not a visibility"),
        ({"doc_type": "memes"}, "not a document type"),
        ({"lang": "de"}, "not a language"),
        ({"colour": "red"}, "Unknown channel setting"),
    ):
        with pytest.raises(InvalidInput, match=message):
            await service.configure_channel("slack", "C1", "T1", **bad)
    with pytest.raises(InvalidInput, match="not a mode"):
        await service.bind(Binding("slack", "C2", "ops", mode="loud"))
    with pytest.raises(InvalidInput, match="not bound"):
        await service.configure_channel("slack", "C9", "T1", mode="questions")
    assert (await service.binding_for("slack", "C1", "T1")).visibility == "private"


async def test_suggested_prompts_are_an_admins_choice_else_the_most_asked(service):
    assert await service.suggested_prompts("ops") == []
    for text in ("How do I deploy?", "how do I deploy", "Where are the runbooks?"):
        await final_answer(service, text)
    # the same question in another case and without its question mark counts once, in its latest wording
    assert await service.suggested_prompts("ops") == ["how do I deploy", "Where are the runbooks?"]
    assert await service.set_suggested_prompts("ops", ["  Who   approves deploys? ", ""]) == [
        "Who approves deploys?"
    ]
    assert await service.suggested_prompts("ops") == ["Who approves deploys?"]
    with pytest.raises(InvalidInput, match="at most 4"):
        await service.set_suggested_prompts("ops", [f"question {i}" for i in range(5)])
    await service.set_suggested_prompts("ops", [])
    assert await service.suggested_prompts("ops") == ["how do I deploy", "Where are the runbooks?"]


async def test_a_question_the_documents_could_not_answer_is_never_suggested(tmp_path):
    service = make_service(chat=ScriptedChatModel("I could not find the answer in the documents."))
    (tmp_path / "a.md").write_text("# A\n\nSomething.\n")
    await service.ingest("ops", [str(tmp_path)])
    async for _ in service.ask(Question("what is the weather?", "ops")):
        pass
    assert await service.top_questions("ops") == []


async def test_attachments_are_read_as_text_and_logs_count_as_text(service):
    log = b"10:31 billing-worker OOMKilled\n10:32 restarting\n"
    assert "OOMKilled" in await service.read_attachment("worker.log", log)
    assert "OOMKilled" in await service.read_attachment("dump", log, media_type="application/json")
    with pytest.raises(FileTooLarge):
        await service.read_attachment("big.log", b"x" * 101, max_bytes=100)
    with pytest.raises(UnsupportedType):
        await service.read_attachment("photo.png", b"\x89PNG....", media_type="image/png")
    assert (await service.spaces())[0].documents == 1  # read, never ingested
