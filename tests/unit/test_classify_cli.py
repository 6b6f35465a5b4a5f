"""`ragbot classify` end to end through the real parser, rules only (CLASSIFY_USE_MODEL=false):
the model stage has its own tests, and the real model runs in tests/integration."""

import json

import pytest
import yaml

from bot.cli import main


@pytest.fixture(autouse=True)
def rules_only(monkeypatch, tmp_path):
    monkeypatch.setenv("CLASSIFY_USE_MODEL", "false")
    monkeypatch.setenv("DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)  # no stray .env


def test_classify_paths(tmp_path, capsys):
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "RELEASE_NOTES.md").write_text("# Releases\n\n## v1.2.0\n\n- Fixed login.\n", encoding="utf-8")
    (docs / "FAQ.ru.md").write_text(
        "# Часто задаваемые вопросы\n\n### Как войти?\n\nЧерез SSO.\n", encoding="utf-8"
    )
    (docs / "lunch.md").write_text("# Lunch\n\nSoup on Mondays.\n", encoding="utf-8")
    (docs / "typed.md").write_text("---\ntype: policy\n---\n# Lunch rules\n\nNo fish.\n", encoding="utf-8")

    assert main(["classify", str(docs)]) == 0
    lines = {
        line.split()[-1].rsplit("/", 1)[-1]: line.split()[:3] for line in capsys.readouterr().out.splitlines()
    }
    assert lines["RELEASE_NOTES.md"][:2] == ["release_notes", "rules"]
    assert lines["FAQ.ru.md"][:2] == ["faq", "rules"]
    assert lines["lunch.md"] == ["unknown", "fallback", "0.00"]
    assert lines["typed.md"] == ["policy", "front_matter", "1.00"]

    assert main(["classify", "--json", str(docs / "FAQ.ru.md"), str(docs / "missing.md")]) == 1
    rows = json.loads(capsys.readouterr().out)
    assert rows[0]["doc_type"] == "faq" and 0 < rows[0]["confidence"] < 1
    assert "No such file" in rows[1]["error"]


def test_taxonomy_prints_a_loadable_template(capsys):
    assert main(["classify", "taxonomy"]) == 0
    data = yaml.safe_load(capsys.readouterr().out)
    assert "runbook" in data["types"] and data["types"]["faq"]["cues"]["title"]


def test_actions_take_no_paths(capsys):
    assert main(["classify", "train", "x.md"]) == 1
    assert "takes no paths" in capsys.readouterr().err


def test_eval_on_the_held_out_split(capsys):
    assert main(["classify", "eval", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["split"] == "test" and report["n"] >= 50
    assert sum(report["stage_share"].values()) == pytest.approx(1.0)
    assert report["stage_share"]["model"] == 0 and report["stage_share"]["nli"] == 0
    assert report["stage_accuracy"]["rules"] > 0.9  # rules decide rarely, and then rightly
    assert len(report["confusion"]) == len(report["labels"]) == 8
    assert sum(map(sum, report["confusion"])) == report["n"]
