"""README.md, as written: the commands of its "Using it" block run in order against a fresh
installation (the folder and the URL replaced by a local handbook and a local wiki), and the
commands it says `ragbot --help` lists are there. When the README and the program drift apart,
these fail."""

from __future__ import annotations

import re
import shlex

from acceptance_harness import REPO, Deployment, json_lines, model_questions
from conftest import Wiki

from core.testing.fake_llm_servers import FakeLLMServer

README = (REPO / "README.md").read_text(encoding="utf-8")
PLACEHOLDER_URL = "https://wiki.example/runbook.html"


def usage_commands() -> list[list[str]]:
    """The `ragbot ...` lines of the bash block under "## Using it", comments stripped."""
    section = README.split("## Using it", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S)
    assert block, "README.md has a bash block under '## Using it'"
    commands = []
    for line in block.group(1).splitlines():
        line = re.sub(r"\s{2,}#.*$", "", line).strip()
        if line.startswith("ragbot "):
            commands.append(shlex.split(line)[1:])
    return commands


def test_the_usage_block_is_what_these_tests_run() -> None:
    names = [c[0] for c in usage_commands()]
    assert names == ["ingest", "search", "ask", "ask", "pin", "bind", "serve"], (
        "README's usage block changed: make the journey below follow it"
    )


async def test_the_readme_usage_block_runs_as_written(
    team: Deployment, wiki: Wiki, llm: FakeLLMServer
) -> None:
    url = f"{wiki.url}/runbook.html"
    results = {}
    for args in usage_commands():
        args = [url if a == PLACEHOLDER_URL else a for a in args]
        key = " ".join(args[:2])
        if args[0] == "serve":
            server = await team.server().start()  # ready: /readyz is 200
            status, body = await server.get("/readyz")
            assert status == 200 and body["ready"] is True, body
            assert await server.stop() == 0, server.log
            continue
        results[key] = await team.ok(*args)

    ingest = results["ingest ./handbook"]
    assert re.search(r"space ops: 4 added \(\d+ chunks written", ingest.out), ingest
    search = results["search how do I rotate the API keys?"]
    assert "Rotating the API keys" in search.out.splitlines()[0], search

    chats = model_questions(llm.requests)
    assert len(chats) == 2, "one question to the model per `ragbot ask`"
    english = results["ask how do I rotate the API keys?"]
    assert "vault write billing/keys/rotate" in english.out and "Sources:" in english.out, english
    asked = chats[0].prompt_text
    assert "Rotating the API keys" in asked and "how do I rotate the API keys?" in asked

    # "runbook: ..." asks within one document type: only runbooks reach the model
    russian = results["ask runbook: как перезапустить шлюз?"]
    assert "Sources:" in russian.out, russian
    prompt = chats[1].prompt_text
    assert "kubectl rollout restart deployment/billing-gateway" in prompt
    assert "Onboarding to the billing team" not in prompt, "the guide is not a runbook"
    assert "как перезапустить шлюз?" in prompt and "runbook:" not in prompt

    pin = results[f"pin {url}"]
    assert f"pinned {url} in ops (every 6 h)" in pin.out, pin
    assert "bind --platform" in results, results
    assert "slack C0123 now answers from space ops" in results["bind --platform"].out

    status = json_lines((await team.ok("status", "--space", "ops", "--json")).out)
    (space,) = status
    assert space["documents"] == 4, status
    assert [p["location"] for p in space["pins"]] == [url]
    assert space["pins"][0]["every_s"] == 6 * 3600


async def test_help_lists_every_command_the_readme_names(team: Deployment) -> None:
    sentence = re.search(r"`ragbot --help` lists every command: (.*?)\.\n\n", README, re.S)
    assert sentence, "README.md names the commands `ragbot --help` lists"
    named = {m.split()[0] for m in re.findall(r"`([a-z][^`]*)`", sentence.group(1))}
    result = await team.ok("--help")
    listed = set(re.findall(r"^\s{4}([a-z]+)\s", result.out, re.M))
    assert named <= listed, f"in the README, not in --help: {sorted(named - listed)}"
    for command in sorted(listed):
        assert (await team.ok(command, "--help")).code == 0
