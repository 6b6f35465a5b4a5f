"""In the conversation, as docs/chat.md describes it: `ragbot serve` with the Slack app, a
channel bound from the CLI with its settings (`ragbot bind ... --mode --visibility`), the thread a
mention is called into read and shown to the model, private answers with a Share button, every
question answered in `questions` mode, suggested prompts in the assistant thread, and the App
Home tab. Only what Slack and the model server see is looked at."""

from __future__ import annotations

import itertools
import json

import pytest
from acceptance_harness import Deployment, Server
from conftest import slack_env

from bot.testing.fake_slack import FakeMessage, FakeSlack
from core.testing.fake_llm_servers import FakeLLMServer

CHANNEL, PRIVATE = "C0123", "C0PRIV"
ADMIN, ALICE, BOB, CAROL = "U0ADMIN", "U0ALICE", "U0BOB", "U0CAROL"
_ts = itertools.count(1)
VOLUMES = """# Volumes stuck in Pending

A PersistentVolumeClaim of the ledger service stays `Pending` when its StorageClass has no free
LVM volume group on the node: `kubectl describe pvc` shows `FailedScheduling`. Free space in the
volume group or move the pod to a node that has one, then delete the pod so it is scheduled again.
"""
_events = itertools.count(1)


def next_ts() -> str:
    return f"1695000000.{next(_ts):06d}"


async def deliver(fake: FakeSlack, server: Server, event: dict) -> None:
    delivery = await fake.send_event(f"{server.url}/slack/events", event, event_id=f"EvConv{next(_events)}")
    assert delivery.status == 200, delivery


async def final_in(fake: FakeSlack, channel: str, thread_ts: str, seconds: float = 60.0) -> FakeMessage:
    def done() -> FakeMessage | None:
        return next((m for m in fake.thread(channel, thread_ts) if m.buttons() and not m.streaming), None)

    return await fake.wait_for(done, seconds)


def shown(message: FakeMessage) -> str:
    return message.text + "\n" + message.block_text()


@pytest.fixture
def ops(team: Deployment) -> Deployment:
    team.set(CLASSIFY_USE_MODEL="false")
    return team


async def test_a_mention_in_a_discussion_is_answered_with_the_thread_and_questions_mode_works(
    ops: Deployment, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    """docs/chat.md: three people discuss a volume stuck in Pending in a thread, someone asks the
    bot "how do we fix this?": the model sees the three messages, and the search found the page
    about them (asked without the thread, the same words find another page first). The channel is
    in questions mode: a question nobody was asked is answered, thanks are not."""
    (ops.root / "handbook" / "guides" / "volumes.md").write_text(VOLUMES, encoding="utf-8")
    await ops.ok("ingest", "./handbook", "--space", "ops")
    bound = await ops.ok(
        "bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops", "--mode", "questions"
    )
    assert "questions, thread" in bound.out
    again = await ops.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    assert "questions, thread" in again.out, "binding again keeps what it does not change"
    async with ops.server(**slack_env(slack)) as server:
        alone = next_ts()
        await deliver(
            slack, server, slack.mention("how do we fix this?", channel=CHANNEL, user=ALICE, ts=alone)
        )
        assert "[1] Volumes stuck in Pending" not in (await final_in(slack, CHANNEL, alone)).block_text()

        parent = next_ts()
        slack.say("the ledger deploy is stuck since the morning", channel=CHANNEL, user=ALICE, ts=parent)
        slack.say(
            "kubectl says pvc/data-ledger-0 stays Pending: FailedScheduling",
            channel=CHANNEL,
            user=BOB,
            ts=next_ts(),
            thread_ts=parent,
        )
        slack.say("+1, same on staging", channel=CHANNEL, user=CAROL, ts=next_ts(), thread_ts=parent)
        await deliver(
            slack,
            server,
            slack.mention("how do we fix this?", channel=CHANNEL, user=ALICE, ts=next_ts(), thread_ts=parent),
        )
        answer = await final_in(slack, CHANNEL, parent)

        prompt = [r for r in llm.requests if r.path.endswith("/chat/completions")][-1].prompt_text
        assert "the ledger deploy is stuck since the morning" in prompt
        assert "kubectl says pvc/data-ledger-0 stays Pending: FailedScheduling" in prompt
        assert "+1, same on staging" in prompt
        assert "[1] Volumes stuck in Pending" in answer.block_text(), "searched for what the thread is about"

        thanks = next_ts()
        await deliver(slack, server, slack.say("thanks, all good", channel=CHANNEL, user=BOB, ts=thanks))
        asked = next_ts()
        await deliver(
            slack, server, slack.say("how do I rotate the API keys?", channel=CHANNEL, user=CAROL, ts=asked)
        )
        answered = await final_in(slack, CHANNEL, asked)
        assert "vault write billing/keys/rotate" in shown(answered)
        assert not slack.thread(CHANNEL, thanks)


async def test_private_answers_share_prompts_and_home(ops: Deployment, slack: FakeSlack) -> None:
    """A channel bound with `--visibility private`: the asker alone sees the answer, and "Share in
    thread" posts it. An admin sets the suggested prompts with `/ragbot config prompts`, and the
    assistant thread offers them; the App Home tab lists the channels."""
    await ops.ok("ingest", "./handbook", "--space", "ops")
    await ops.ok(
        "bind", "--platform", "slack", "--channel", PRIVATE, "--space", "ops", "--visibility", "private"
    )
    env = slack_env(slack, SLACK_ADMIN_USER_IDS=json.dumps([ADMIN]), SLACK_DEFAULT_SPACE="ops")
    async with ops.server(**env) as server:
        thread = next_ts()
        await deliver(
            slack,
            server,
            slack.mention("how do I rotate the API keys?", channel=PRIVATE, user=ALICE, ts=thread),
        )
        answer = await slack.wait_for(
            lambda: next((m for m in slack.ephemeral(ALICE) if m.buttons()), None), 60
        )
        assert "vault write billing/keys/rotate" in shown(answer)
        assert not slack.thread(PRIVATE, thread), "nobody else sees it"
        share = next(b for b in answer.buttons() if b["text"]["text"] == "Share in thread")
        await slack.send_interaction(
            f"{server.url}/slack/events", slack.button_click(answer, share, user=ALICE, response_key="share")
        )
        shared = await final_in(slack, PRIVATE, thread)
        assert f"Shared by <@{ALICE}>" in shared.block_text() and "vault write billing/keys/rotate" in shown(
            shared
        )

        await slack.send_command(
            f"{server.url}/slack/events",
            slack.command(
                'config prompts "How do I rotate the API keys?" "Who approves a rotation?"',
                user=ADMIN,
                channel=PRIVATE,
                response_key="cfg",
            ),
        )
        (reply,) = await slack.wait_for(
            lambda: [c for c in slack.calls_of("response_url") if c.args.get("key") == "cfg"], 60
        )
        assert "set by an admin" in reply.args["text"]
        await deliver(
            slack, server, slack.assistant_thread_started(user=ALICE, channel="D0ALICE", thread_ts=next_ts())
        )
        (prompts,) = await slack.wait_for(lambda: slack.suggested_prompts, 60)
        assert [p["message"] for p in prompts["prompts"]] == [
            "How do I rotate the API keys?",
            "Who approves a rotation?",
        ]

        await deliver(slack, server, slack.app_home_opened(user=ALICE))
        home = await slack.wait_for(lambda: slack.home_views.get(ALICE), 60)
        assert f"<#{PRIVATE}> → `ops`: answers when mentioned, privately to the asker" in json.dumps(
            home, ensure_ascii=False
        )


TINY_CORPUS = [
    {
        "id": "keys",
        "title": "Rotating the API keys",
        "text": "Rotate the billing API keys with vault write billing/keys/rotate, then deploy them.",
    },
    {
        "id": "backups",
        "title": "Backups",
        "text": "Nightly backups of the ledger database go to the s3 vault bucket and are kept 30 days.",
    },
    {
        "id": "gateway",
        "title": "Перезапуск шлюза",
        "text": "Шлюз перезапускают командой kubectl rollout restart deployment/billing-gateway.",
    },
    {
        "id": "onboarding",
        "title": "Onboarding",
        "text": "A new engineer gets access to the repository and staging and a buddy in the first week.",
    },
]
TINY_QUERIES = [
    {"id": "q1", "text": "How do I rotate the billing API keys?", "lang": "en"},
    {"id": "q2", "text": "How long are ledger database backups kept?", "lang": "en"},
    {"id": "q3", "text": "Как перезапустить шлюз billing-gateway?", "lang": "ru"},
    {"id": "q4", "text": "What does a new engineer get in the first week?", "lang": "en"},
]


async def test_the_follow_up_evaluation_scores_a_set(ops: Deployment) -> None:
    """docs/retrieval.md: `ragbot eval followups DIR --json` builds follow-ups from a BEIR-like set
    and scores the follow-up alone, after the whole thread, and rewritten."""
    tiny = ops.root / "tiny"
    tiny.mkdir()
    (tiny / "corpus.jsonl").write_text("\n".join(json.dumps(d, ensure_ascii=False) for d in TINY_CORPUS))
    (tiny / "queries.jsonl").write_text("\n".join(json.dumps(q, ensure_ascii=False) for q in TINY_QUERIES))
    qrels = [
        "query_id\tdoc_id\trelevance",
        "q1\tkeys\t1",
        "q2\tbackups\t1",
        "q3\tgateway\t1",
        "q4\tonboarding\t1",
    ]
    (tiny / "qrels.tsv").write_text("\n".join(qrels) + "\n")
    result = await ops.ok("eval", "followups", "./tiny", "--json")
    scores = json.loads(result.out)
    # three threads per query; the one Russian query has no other Russian topic to drift from
    assert scores["set"] == "tiny" and scores["n_items"] == 4 + 3 + 3, scores
    followup = scores["ndcg@10"]["followup"]
    assert set(followup) == {"alone", "thread", "rewrite"} and followup["rewrite"]["n"] == 4
    assert followup["rewrite"]["all"] > followup["alone"]["all"], followup
    assert scores["ndcg@10"]["new_topic"]["rewrite"]["all"] == pytest.approx(
        scores["ndcg@10"]["new_topic"]["alone"]["all"]
    ), "questions complete by themselves are searched as written"


async def test_a_thread_budget_of_zero_keeps_the_thread_from_the_model(
    ops: Deployment, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    """ANSWER_THREAD_CONTEXT_TOKENS=0: the mention is answered, and nothing of the discussion
    above it reaches the model (docs/chat.md)."""
    ops.set(ANSWER_THREAD_CONTEXT_TOKENS="0")
    await ops.ok("ingest", "./handbook", "--space", "ops")
    await ops.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    async with ops.server(**slack_env(slack)) as server:
        parent = next_ts()
        slack.say("the ledger deploy is stuck since the morning", channel=CHANNEL, user=ALICE, ts=parent)
        slack.say("+1, same on staging", channel=CHANNEL, user=CAROL, ts=next_ts(), thread_ts=parent)
        await deliver(
            slack,
            server,
            slack.mention("how do we fix this?", channel=CHANNEL, user=BOB, ts=next_ts(), thread_ts=parent),
        )
        await final_in(slack, CHANNEL, parent)
    prompt = [r for r in llm.requests if r.path.endswith("/chat/completions")][-1].prompt_text
    assert "how do we fix this?" in prompt
    assert "the ledger deploy is stuck" not in prompt and "same on staging" not in prompt
