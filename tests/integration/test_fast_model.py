"""LLM_FAST_MODEL / LLM_FAST_LANGS through the real wiring: English questions go to the fast model,
the others to LLM_MODEL, on the same OpenAI-compatible server (real e5, qdrant-edge, Whoosh,
SQLite; the model server is local and fake)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.bootstrap import build_service
from bot.settings import Settings
from core.models import AnswerDone, Question
from core.settings import ClassifySettings, LLMSettings
from core.testing.fake_llm_servers import FakeLLMServer

pytestmark = pytest.mark.slow


async def ask(service, text: str) -> AnswerDone:
    events = [e async for e in service.ask(Question(text, "ops"))]
    assert isinstance(events[-1], AnswerDone)
    return events[-1]


@pytest.mark.parametrize(
    ("fast_langs", "en_model", "ru_model"), [(["en"], "small", "big"), (["ru"], "big", "small")]
)
async def test_the_fast_model_answers_its_languages(tmp_path: Path, fast_langs, en_model, ru_model) -> None:
    (tmp_path / "docs").mkdir()
    (tmp_path / "docs" / "vpn.md").write_text("# VPN\n\nThe VPN gateway listens on TCP port 4433.\n")
    (tmp_path / "docs" / "vpn.ru.md").write_text("# VPN\n\nVPN-шлюз слушает TCP-порт 4433.\n")
    async with FakeLLMServer("openai", reply="Port 4433 [1].") as server:
        settings = Settings(
            data_dir=tmp_path / "data",
            classify=ClassifySettings(use_model=False),
            llm=LLMSettings(
                mode="vllm", base_url=server.base_url, model="big", fast_model="small", fast_langs=fast_langs
            ),
        )
        service = build_service(settings)
        await service.start()
        try:
            await service.ingest("ops", [str(tmp_path / "docs")])
            en = await ask(service, "Which port does the VPN gateway listen on?")
            server.reply = "Порт 4433 [1]."
            ru = await ask(service, "Какой порт слушает VPN-шлюз?")
        finally:
            await service.aclose()
    asked = [r.body["model"] for r in server.requests if r.path.endswith("/chat/completions")]
    assert asked == [en_model, ru_model]
    assert (en.answer.model, ru.answer.model) == (f"vllm:{en_model}", f"vllm:{ru_model}")


def test_without_a_fast_model_one_model_answers_everything(tmp_path: Path) -> None:
    from bot.bootstrap import build_fast_chat_model

    settings = Settings(data_dir=tmp_path, llm=LLMSettings(mode="vllm", base_url="http://127.0.0.1:9/v1"))
    assert build_fast_chat_model(settings) is None
