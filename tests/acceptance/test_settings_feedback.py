"""The verified-answer settings, as an operator sets them (docs/feedback.md): which questions a
verified answer written with `ragbot verified add` takes from `ragbot ask`, and which go to the
model server. The registry in test_settings_live.py names this test for each variable."""

from __future__ import annotations

from acceptance_harness import Deployment, json_lines, model_questions

from core.testing.fake_llm_servers import FakeLLMServer

RIGHT = "Rotate them in the vault UI: Billing › Keys › Rotate."
REWORDED = "How can I rotate the API keys"  # e5 cosine to the verified question: 0.995
RUSSIAN = "Как выполнить ротацию ключей API?"  # 0.938


async def test_the_verified_settings_decide_which_questions_it_takes(
    team: Deployment, llm: FakeLLMServer
) -> None:
    team.set(CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    await team.ok(
        "verified", "add", "--space", "ops", "--question", "How do I rotate the API keys?", "--text", RIGHT
    )

    async def from_verified(question: str, **env: str) -> bool:
        answer = json_lines((await team.ok("ask", question, "--space", "ops", "--json", env=env)).out)
        return answer["verified"] is not None

    assert await from_verified(REWORDED)  # the defaults
    assert await from_verified(RUSSIAN)
    model_calls = len([r for r in llm.requests if r.path.endswith("/chat/completions")])
    assert model_calls == 0
    assert not await from_verified(REWORDED, VERIFIED_THRESHOLD="0.999")
    assert not await from_verified(REWORDED, VERIFIED_ENABLED="false")
    assert not await from_verified(RUSSIAN, VERIFIED_CROSS_LANG_THRESHOLD="0.95")
    assert await from_verified(RUSSIAN, VERIFIED_THRESHOLD="0.999")  # one language's bar, not the other's
    assert len(model_questions(llm.requests)) == 3
