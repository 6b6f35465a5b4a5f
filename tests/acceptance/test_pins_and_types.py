"""Pinned sources kept fresh by the scheduler of `ragbot serve` (docs/operations.md), and a
deployment's own document types (CLASSIFY_TAXONOMY_FILE, docs/classification.md) used alike by
ingestion, the question prefix and the help of every surface."""

from __future__ import annotations

import asyncio
import json

from acceptance_harness import Deployment, json_lines
from conftest import Wiki, slack_env
from test_slack import ADMIN, CHANNEL, command, final_answer, mention

from bot.testing.fake_slack import FakeSlack
from core.testing.fake_llm_servers import FakeLLMServer

NEW_PAGE = """<!doctype html><html lang="en"><head><title>Database failover runbook</title></head>
<body><main><h1>Database failover runbook</h1>
<p>Since the move to the new cluster, promote the replica with
<code>ledgerctl promote --node ledger-replica-2</code>; patroni is gone.</p></main></body></html>"""


def prompts(llm: FakeLLMServer) -> list[str]:
    return [r.prompt_text for r in llm.requests if r.path.endswith("/chat/completions")]


async def test_a_page_pinned_without_an_interval_is_refreshed_on_the_configured_default(
    team: Deployment, wiki: Wiki, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    """`ragbot pin URL --space S` (no --every): SCHEDULER_DEFAULT_EVERY_S applies. The page
    changes; the scheduler of `ragbot serve` reads it again, and the next answer is made from the
    new text. `ragbot unpin` then removes it."""
    team.set(CLASSIFY_USE_MODEL="false", SCHEDULER_DEFAULT_EVERY_S="60")
    url = f"{wiki.url}/runbook.html"
    pinned = await team.ok("pin", url, "--space", "ops")
    assert f"pinned {url} in ops (every 1 min)" in pinned.out, pinned
    (space,) = json_lines((await team.ok("status", "--json")).out)
    assert space["pins"][0]["every_s"] == 60
    await team.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")

    async with team.server(**slack_env(slack)) as server:
        thread = await mention(slack, server, "how do I fail over the ledger database?")
        await final_answer(slack, thread)
        assert "patronictl failover" in prompts(llm)[-1]

        wiki.pages["/runbook.html"] = NEW_PAGE
        fetched = len(wiki.requests)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + 150  # the pin is due a minute after it was made
        while len(wiki.requests) == fetched:
            assert loop.time() < deadline, f"the scheduler did not read the page again:\n{server.log[-3000:]}"
            await asyncio.sleep(1)
        for attempt in range(1, 11):  # the re-ingestion finishes a moment after the fetch
            thread = await mention(slack, server, "how do I fail over the ledger database?")
            await final_answer(slack, thread)
            if "ledgerctl promote" in prompts(llm)[-1]:
                break
            await asyncio.sleep(attempt)
        assert "ledgerctl promote --node ledger-replica-2" in prompts(llm)[-1]
        assert "patronictl failover" not in prompts(llm)[-1], "the old version is gone"

    unpinned = await team.ok("unpin", url, "--space", "ops")
    assert "1 removed" in unpinned.out, unpinned
    assert json_lines((await team.ok("status", "--json")).out) == [], "no documents, no pins left"


# the example of docs/classification.md, and runbooks
TAXONOMY = r"""
types:
  adr:
    description: an architecture decision record
    aliases: [decision, решение]
    hypothesis: an architecture decision record
    cues:
      filename: ['\badr\b']
      path: ['^decisions$']
      title: ['^adr[- ]?\d+', 'архитектурное решение']
      heading: ['decision\b', 'решение\b']
      front_matter: ['\badr\b']
      keywords: ['\bwe decided\b', '\bрешили\b']
  runbook:
    description: an operational runbook
    aliases: [runbooks]
    cues:
      path: ['^runbooks$']
"""


async def test_a_taxonomy_file_drives_ingestion_the_question_prefix_and_help(
    team: Deployment, slack: FakeSlack, llm: FakeLLMServer
) -> None:
    """docs/classification.md: a deployment's own types, e.g. `decision: why Kafka?`."""
    (team.root / "taxonomy.yaml").write_text(TAXONOMY, encoding="utf-8")
    decisions = team.root / "handbook" / "decisions"
    decisions.mkdir()
    (decisions / "kafka.md").write_text(
        "# ADR 7: Kafka for the ledger events\n\nWe chose Kafka over RabbitMQ because the ledger needs "
        "replayable, ordered event streams and retention of thirty days.\n",
        encoding="utf-8",
    )
    team.set(CLASSIFY_TAXONOMY_FILE="taxonomy.yaml", CLASSIFY_USE_MODEL="false")
    await team.ok("ingest", "./handbook", "--space", "ops")
    found = json_lines((await team.ok("search", "Kafka ledger events", "--space", "ops", "--json")).out)
    types = {hit["section"]: hit["doc_type"] for hit in found["hits"]}
    assert types["ADR 7: Kafka for the ledger events"] == "adr", types
    assert types.get("Rotating the API keys") != "adr", types

    await team.ok("ask", "decision: why Kafka?", "--space", "ops")
    assert "We chose Kafka over RabbitMQ" in prompts(llm)[-1]
    assert "Rotating the API keys" not in prompts(llm)[-1], "only decisions reach the model"

    await team.ok("bind", "--platform", "slack", "--channel", CHANNEL, "--space", "ops")
    async with team.server(**slack_env(slack, SLACK_ADMIN_USER_IDS=json.dumps([ADMIN]))) as server:
        thread = await mention(slack, server, "decision: why Kafka?")
        await final_answer(slack, thread)
        assert "We chose Kafka over RabbitMQ" in prompts(llm)[-1]
        assert "Rotating the API keys" not in prompts(llm)[-1]
        help_text = await command(slack, server, "help")
        assert "`adr: ...`" in help_text and "(adr, runbook)" in help_text, help_text
        assert "howto" not in help_text, "the built-in types are not offered"
