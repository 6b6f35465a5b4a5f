"""docs/feedback.md, as an operator and the people in a channel live it: a verified answer written
with `ragbot verified add` beside a running `ragbot serve`; the same question asked in Slack in
other words is answered from it, marked, with no call to the model; "Did not help" brings a
generated answer; the vote shows in `ragbot feedback stats`; `ragbot forget --user` deletes the
person's questions."""

from __future__ import annotations

from acceptance_harness import Deployment, json_lines
from conftest import REPLY, slack_env
from test_slack import ALICE, CHANNEL, final_answer, mention, shown

from bot.testing.fake_slack import FakeSlack
from core.testing.fake_llm_servers import FakeLLMServer

RIGHT = "Rotate them in the vault UI: Billing › Keys › Rotate. The CLI path is retired."


def model_calls(llm: FakeLLMServer) -> int:
    return len([r for r in llm.requests if r.path.endswith("/chat/completions")])


async def test_a_verified_answer_answers_in_slack_without_the_model(
    team: Deployment, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    team.set(CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    await team.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    async with team.server(**slack_env(slack)) as server:
        thread = await mention(slack, server, "how do I rotate the API keys?")
        generated = await final_answer(slack, thread)
        assert REPLY.split(" [")[0] in shown(generated) and model_calls(llm) == 1

        added = await team.ok(
            "verified", "add", "--space", "ops", "--question", "How do I rotate the API keys?",
            "--text", RIGHT, "--author", "cli:dana", "--json",
        )  # fmt: skip
        assert json_lines(added.out)["question"] == "How do I rotate the API keys?"

        thread = await mention(slack, server, "How can I rotate the API keys")
        verified = await final_answer(slack, thread)
        assert RIGHT.split(":")[0] in shown(verified)
        assert "Verified answer" in shown(verified) and "dana" in shown(verified)
        assert model_calls(llm) == 1, "answered without the model"

        did_not_help = next(b for b in verified.buttons() if b["action_id"] == "ragbot_did_not_help")
        await slack.send_interaction(
            f"{server.url}/slack/events", slack.button_click(verified, did_not_help, user=ALICE)
        )
        fallback = await final_answer(slack, thread, count=2)
        assert REPLY.split(" [")[0] in shown(fallback) and model_calls(llm) == 2

        stats = json_lines((await team.ok("feedback", "stats", "--space", "ops", "--json")).out)
        assert stats["down"] == 1 and stats["worst"][0]["reasons"] == ["did not help (verified answer)"]

        listed = json_lines((await team.ok("verified", "list", "--json")).out)
        assert [v["author"] for v in listed] == ["cli:dana"] and listed[0]["needs_review"] is False

        forgot = await team.ok("forget", "--user", f"slack:{ALICE}")
        assert "deleted 3 questions with their answers and 0 votes" in forgot.out, forgot
        stats = json_lines((await team.ok("feedback", "stats", "--space", "ops", "--json")).out)
        assert (stats["answers"], stats["votes"]) == (0, 0)
    # the verified answer is the team's, not the person's: forget keeps it
    kept = json_lines((await team.ok("verified", "list", "--json")).out)
    assert [v["verified_id"] for v in kept] == [listed[0]["verified_id"]]
