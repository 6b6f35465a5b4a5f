"""The acceptance tests know nothing of ragbot's code: they may import only the local servers that
stand in for the platforms and the language model (HOUSE_STYLE.md, habit 11). A test that reached
into the internals would test what the code's authors assume, not what the docs promise."""

from __future__ import annotations

import ast
from pathlib import Path

PLATFORM_FAKES = {"bot.testing.fake_slack", "bot.testing.fake_telegram", "core.testing.fake_llm_servers"}


def test_acceptance_tests_stay_outside() -> None:
    reached_in = []
    for path in sorted(Path(__file__).parent.glob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [node.module]
            else:
                continue
            for name in names:
                if name.split(".")[0] in ("core", "bot", "migrations") and name not in PLATFORM_FAKES:
                    reached_in.append(f"{path.name}:{node.lineno} imports {name}")
    assert not reached_in, reached_in
