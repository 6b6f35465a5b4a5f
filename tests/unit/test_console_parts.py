"""The console's pure parts: its words in both languages, the language choice, where sign-in may
lead, the SVG charts. The pages themselves are tested over HTTP (tests/bot/test_console_*.py)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from pathlib import Path

import pytest
from selectolax.lexbor import LexborHTMLParser

from bot.console.auth import safe_next
from bot.console.charts import bar_chart, line_chart
from bot.console.i18n import TEXTS, pick_lang, translator
from bot.console.pages import MESSAGES

TEMPLATES = Path(__file__).resolve().parents[2] / "bot" / "console" / "templates"
NAV = ["spaces", "sources", "bindings", "questions", "review", "verified", "usage"]


def test_every_text_exists_in_english_and_russian_with_the_same_placeholders() -> None:
    assert set(TEXTS["en"]) == set(TEXTS["ru"])
    for key, english in TEXTS["en"].items():
        russian = TEXTS["ru"][key]
        assert set(re.findall(r"{(\w+)}", english)) == set(re.findall(r"{(\w+)}", russian)), key
        assert russian != english or key in ("up", "down", "title"), f"{key} is not translated"


def test_every_text_a_template_asks_for_exists() -> None:
    used = set()
    for template in TEMPLATES.glob("*.html"):
        used |= set(
            re.findall(r"""\bt\(\s*["']([a-z0-9_]+)["']\s*[,)]""", template.read_text(encoding="utf-8"))
        )
    used |= {f"nav_{key}" for key in NAV} | {f"msg_{key}" for key in MESSAGES}
    # keys the handlers pass to the templates (message pages, sign-in errors and notices)
    for module in TEMPLATES.parent.glob("*.py"):
        code = module.read_text(encoding="utf-8")
        used |= set(re.findall(r'(?:message_page\(request, \d+, |error=|notice=)"([a-z_]+)"', code))
    assert not used - set(TEXTS["en"]), sorted(used - set(TEXTS["en"]))
    assert len(used) > 60


@pytest.mark.parametrize(
    ("chosen", "accept", "lang"),
    [
        (None, None, "en"),
        (None, "ru-RU,ru;q=0.9,en-US;q=0.8", "ru"),
        (None, "de-DE,de;q=0.9,ru;q=0.8,en;q=0.7", "ru"),
        (None, "en;q=0.4, ru;q=0.9", "ru"),
        (None, "fr, de", "en"),
        (None, "ru;q=bogus, en", "en"),
        ("en", "ru", "en"),
        ("ru", "en", "ru"),
        ("xx", "ru", "ru"),
    ],
)
def test_the_language_is_the_switch_then_the_browser_then_english(
    chosen: str | None, accept: str | None, lang: str
) -> None:
    assert pick_lang(chosen, accept) == lang


def test_a_translation_fills_its_placeholders() -> None:
    assert translator("ru")("signed_in_as", who="console:Мария") == "Вы вошли как console:Мария"
    assert translator("xx")("sign_in") == "Sign in"


@pytest.mark.parametrize(
    ("target", "goes"),
    [
        ("/admin/questions?space=ops", "/admin/questions?space=ops"),
        ("/admin/", "/admin/"),
        (None, "/admin/"),
        ("", "/admin/"),
        ("//evil.example/admin/", "/admin/"),
        ("https://evil.example/admin/", "/admin/"),
        ("/admin\\..\\evil", "/admin/"),
        ("/metrics", "/admin/"),
        ("/administrator", "/admin/"),
    ],
)
def test_signing_in_leads_only_to_console_pages(target: str | None, goes: str) -> None:
    assert safe_next(target) == goes


def _svg(markup: str) -> LexborHTMLParser:
    return LexborHTMLParser(f"<html><body>{markup}</body></html>")


def test_bars_are_as_tall_as_their_share_of_the_largest_and_say_their_day_and_value() -> None:
    days = [date(2025, 3, 1) + timedelta(days=i) for i in range(4)]
    svg = _svg(bar_chart(days, [2, 0, 4, 1], label="Questions per day"))
    bars = svg.css("rect")
    heights = [float(b.attributes["height"] or 0) for b in bars]
    assert heights[2] > 0 and heights[1] == 0
    assert heights[0] == pytest.approx(heights[2] / 2) and heights[3] == pytest.approx(heights[2] / 4)
    assert [b.css_first("title").text() for b in bars] == [
        "2025-03-01: 2",
        "2025-03-02: 0",
        "2025-03-03: 4",
        "2025-03-04: 1",
    ]
    assert svg.css_first("svg").attributes["aria-label"] == "Questions per day"


def test_a_day_without_a_value_breaks_the_line_instead_of_dropping_to_zero() -> None:
    days = [date(2025, 3, 1) + timedelta(days=i) for i in range(5)]
    svg = _svg(
        line_chart(days, [0.5, 1.0, None, 0.25, 0.75], label="Helpful", fmt="{:.0%}".format, fixed_max=1.0)
    )
    lines = svg.css("polyline")
    assert [len((p.attributes["points"] or "").split()) for p in lines] == [2, 2]
    assert [c.css_first("title").text() for c in svg.css("circle")] == [
        "2025-03-01: 50%",
        "2025-03-02: 100%",
        "2025-03-04: 25%",
        "2025-03-05: 75%",
    ]
    assert bar_chart([], [], label="empty") == ""
