"""Stage 1: rules on file names, folders, titles, headings and front matter, EN and RU."""

import pytest

from core.classify.rules import RuleSet
from core.classify.taxonomy import default_taxonomy
from core.classify.view import view_of

RULES = RuleSet(default_taxonomy())


def decide(*, title="", text="Some text.", source="doc.md", metadata=None):
    view = view_of(title=title, text=text, source=source, metadata=metadata or {})
    return RULES.decide(view)


@pytest.mark.parametrize(
    "source, title, text, metadata, expected",
    [
        ("docs/RELEASE_NOTES.md", "Releases", "## v1.2.0\n\n- fixed a bug", {}, "release_notes"),
        ("/repo/CHANGELOG.md", "Changelog", "## [2.0.0]\n\n### Added", {}, "release_notes"),
        ("docs/RELEASE_NOTES.ru.md", "Релизы", "## v1.10.2\n\n### Исправления", {}, "release_notes"),
        ("docs/FAQ.md", "The module: FAQ", "### How do I ...?", {}, "faq"),
        ("docs/FAQ_RU.md", "Модуль: FAQ", "### Как ...?", {}, "faq"),
        ("help/vpn.md", "Часто задаваемые вопросы о VPN", "Нужен ли VPN?", {}, "faq"),
        (
            "ops/api-outage.md",
            "Postmortem: API outage on 12 March",
            "## Timeline\n\n## Root cause",
            {},
            "postmortem",
        ),
        ("ops/k8s.md", "Разбор инцидента: обновление кластера", "## Хронология", {}, "postmortem"),
        ("kb/db.md", "Runbook: PostgreSQL replica lag", "## Diagnose", {}, "runbook"),
        ("kb/rotate.md", "Регламент смены паролей", "1. Выгрузите список", {}, "runbook"),
        ("notes/2024-03-15.md", "Протокол встречи 15.03", "## Участники\n\n## Решения", {}, "meeting_notes"),
        (
            "notes/sync.md",
            "Weekly sync",
            "## Attendees\n\nDana, Lee\n\n## Action items\n\n- Lee: PR",
            {},
            "meeting_notes",
        ),
        ("policies/x.md", "Password policy", "Passwords must be long.", {}, "policy"),
        ("x.md", "Data retention", "Text.", {"category": "policy"}, "policy"),
        ("x.md", "CDN purge review", "Text.", {"tags": "postmortem, cdn"}, "postmortem"),
        (
            "https://docs.example.com/lambda/latest/API_CreateAlias.md",
            "CreateAlias",
            "## Request Syntax",
            {},
            "reference",
        ),
        ("guides/QUICK_START.md", "Quick start", "Step 1", {}, "howto"),
        ("guides/vpn.md", "Как настроить VPN на macOS", "1. Установите WireGuard.", {}, "howto"),
    ],
)
def test_confident_cues_decide(source, title, text, metadata, expected):
    decision = decide(title=title, text=text, source=source, metadata=metadata)
    assert decision is not None and decision.doc_type == expected
    assert decision.stage == "rules" and 0.5 < decision.confidence < 1


@pytest.mark.parametrize(
    "source, title, text",
    [
        ("notes.md", "Platform overview", "What the platform does."),  # no cue at all
        ("x.md", "Мораторий на релизы", "В периоды повышенной нагрузки ..."),  # "релиз" mid-title is no cue
        ("x.md", "Release process policy", "Rules for releases."),  # two types, equally strong
        ("runbooks/x.md", "Database", "Text."),  # a folder alone is not enough
        ("x.md", "Database", "## Timeline\n\n## Impact"),  # headings alone are not enough
    ],
)
def test_weak_or_ambiguous_cues_leave_it_to_the_model(source, title, text):
    assert decide(title=title, text=text, source=source) is None


def test_evidence_counts_weak_cues_for_the_model():
    view = view_of(
        title="Database",
        text="## Timeline\n\nThe outage was detected at 10:02 UTC.",
        source="x.md",
        metadata={},
    )
    evidence = RULES.evidence(view)
    assert evidence.hits["postmortem"]["heading"] == 1
    assert evidence.hits["postmortem"]["keywords"] >= 3  # outage, detected, utc
    features = RULES.features(evidence)
    assert features.shape == (6 * len(RULES.taxonomy.names),) and features.max() <= 1.0


@pytest.mark.parametrize(
    "source, filename, folders",
    [
        ("docs/RELEASE_NOTES.ru.md", "release notes", ("docs",)),
        ("/srv/kb/ReleaseNotes.md", "release notes", ("srv", "kb")),
        ("FAQ_RU.md", "faq", ()),
        (
            "https://wiki.example.com/space/run-books/db%20failover.html",
            "db failover",
            ("space", "run books"),
        ),
        (r"C:\docs\on_call\restart.md", "restart", ("c:", "docs", "on call")),
    ],
)
def test_view_normalises_names(source, filename, folders):
    view = view_of(title="T", text="x", source=source, metadata={})
    assert (view.filename, view.folders) == (filename, folders)


def test_view_folds_case_and_yo():
    view = view_of(title="Отчёт об инциденте", text="# Хронология\n\nтекст", source="x.md", metadata={})
    assert view.title == "отчет об инциденте" and view.headings == ("хронология",)
    assert decide(title="Отчёт об инциденте", text="Текст.").doc_type == "postmortem"
