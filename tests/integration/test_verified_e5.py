"""Verified answers with the real embedding model (multilingual-e5-small) at the default
thresholds (docs/feedback.md): a rewording and a Russian translation are answered from the
verified answer; the opposite action, worded almost the same, is not."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import pytest_asyncio

from core.backends.e5_embedder import E5Embedder
from core.service import RagService
from core.testing.fake_service import final_answer, make_service
from core.testing.scripted_chat import ScriptedChatModel

pytestmark = [pytest.mark.slow, pytest.mark.asyncio(loop_scope="module")]

QUESTION = "How do I rotate the API keys?"


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def service(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[RagService]:
    docs: Path = tmp_path_factory.mktemp("docs")
    (docs / "keys.md").write_text(
        "# API keys\n\nRotate the keys in the vault; revoke a leaked key at once.\n"
    )
    service = make_service(embedder=E5Embedder(batch_size=4), chat=ScriptedChatModel("From the docs [1]."))
    await service.start()
    await service.ingest("ops", [str(docs)])
    await service.verify_answer("ops", QUESTION, "Vault UI: Billing › Keys › Rotate.", author="cli:dana")
    try:
        yield service
    finally:
        await service.aclose()


@pytest.mark.parametrize(
    ("asked", "lang"),
    [("How can I rotate the API keys", "en"), ("Как выполнить ротацию ключей API?", "ru")],
)
async def test_a_rewording_and_a_translation_get_the_verified_answer(
    service: RagService, asked: str, lang: str
):
    answer = (await final_answer(service, asked)).answer
    assert answer.verified is not None and answer.verified.question == QUESTION
    assert answer.lang == lang and answer.text == "Vault UI: Billing › Keys › Rotate."


async def test_the_opposite_action_is_answered_by_the_model(service: RagService):
    answer = (await final_answer(service, "How do I revoke the API keys?")).answer
    assert answer.verified is None and answer.model == "scripted"
