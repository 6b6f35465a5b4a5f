"""The model's Markdown as Telegram HTML: the tags Telegram knows, escaping that always parses
(checked with the fake server's Telegram-strict parser), and splitting by the visible length."""

from __future__ import annotations

import pytest

from bot.chat.markdown import parse_blocks
from bot.telegram.html import render_markdown, split_html, visible_length, visible_text
from bot.telegram.rendering import answer_parts, preview_html
from bot.testing.fake_telegram import EntityParseError, parse_telegram_html
from core.models import Answer, Source, Timings


def test_inline_markup():
    html = render_markdown(
        'Run **`make deploy`** *now*, see [the guide](https://wiki.example.com/a?b=1&c="2").'
    )
    assert html == (
        "Run <b><code>make deploy</code></b> <i>now</i>, see "
        '<a href="https://wiki.example.com/a?b=1&amp;c=&quot;2&quot;">the guide</a>.'
    )
    assert parse_telegram_html(html) == "Run make deploy now, see the guide."


def test_text_is_escaped():
    html = render_markdown("if a < b && c > d then <script>alert(1)</script> & done")
    assert "<script>" not in html
    assert html == "if a &lt; b &amp;&amp; c &gt; d then &lt;script&gt;alert(1)&lt;/script&gt; &amp; done"
    assert parse_telegram_html(html) == "if a < b && c > d then <script>alert(1)</script> & done"


def test_headings_lists_code_quotes():
    md = (
        "# Deploy\n\nSteps:\n\n1. build\n2. `push` it\n\n- one\n- two\n\n"
        "```python\nif x < 1:\n    print('&')\n```\n\n> careful"
    )
    html = render_markdown(md)
    assert html == (
        "<b>Deploy</b>\n\nSteps:\n\n1. build\n2. <code>push</code> it\n\n• one\n• two\n\n"
        "<pre><code class=\"language-python\">if x &lt; 1:\n    print('&amp;')</code></pre>\n\n"
        "<blockquote>careful</blockquote>"
    )
    parse_telegram_html(html)


def test_tables_become_aligned_preformatted_text():
    html = render_markdown("| Service | Owner |\n|---|---|\n| **billing** | ops & co |\n| auth | sec |")
    assert html == ("<pre>Service | Owner\n--------+---------\nbilling | ops &amp; co\nauth    | sec</pre>")
    assert "**" not in visible_text(html)


def test_half_written_markdown_still_parses():
    for partial in (
        "**bold but not closed",
        "```bash\nmake deploy",
        "[a link](https://exa",
        "a <b> tag & an `inline",
    ):
        parse_telegram_html(render_markdown(partial))
    assert parse_telegram_html(render_markdown("```bash\nmake deploy")) == "make deploy"


def test_visible_length_counts_utf16_after_entities():
    assert visible_length("<b>a&amp;b</b>") == 3
    assert visible_length("😀") == 2  # outside the BMP: two UTF-16 code units, as Telegram counts


def test_split_keeps_every_part_within_the_limit_and_loses_nothing():
    md = "\n\n".join(f"Paragraph {i} with **bold** & `code` <tags>." for i in range(300))
    parts = split_html(parse_blocks(md), 1000)
    assert len(parts) > 5
    for part in parts:
        assert visible_length(part) <= 1000
        parse_telegram_html(part)
    seen = "\n\n".join(visible_text(p) for p in parts)
    assert all(f"Paragraph {i} " in seen for i in range(300))


def test_a_huge_code_block_is_cut_by_lines():
    md = "```\n" + "\n".join(f"line {i} " + "x" * 60 for i in range(400)) + "\n```"
    parts = split_html(parse_blocks(md))
    assert len(parts) >= 7
    assert all(p.startswith("<pre>") and visible_length(p) <= 4096 for p in parts)


def _answer(text: str, sources: tuple[Source, ...]) -> Answer:
    return Answer("a1", "q", "ops", text, sources, "en", "m", Timings())


def test_answer_ends_with_numbered_linked_sources():
    sources = (
        Source(1, "deploy.md", "Deploying", "Deploying › Billing", "/srv/docs/deploy.md", None),
        Source(
            3, "wiki", "Runbook <prod>", "Runbook <prod>", "https://wiki/x?a=1&b=2", "https://wiki/x?a=1&b=2"
        ),
        Source(2, "old", "Old", "Old", "/srv/old.md", None, cited=False),
    )
    (html,) = answer_parts(_answer("Run it [1][3].", sources))
    assert html.endswith(
        "<b>Sources</b>\n1. Deploying › Billing\n3. "
        '<a href="https://wiki/x?a=1&amp;b=2">Runbook &lt;prod&gt;</a>'
    )
    parse_telegram_html(html)


def test_preview_is_marked_unfinished_and_fits():
    assert preview_html("Run **it**", mark=True) == "Run <b>it</b> …"
    long = preview_html("word " * 3000, mark=False)
    assert visible_length(long) <= 4096 and long.endswith(" …")


@pytest.mark.parametrize(
    "bad",
    ["<b>unclosed", "<foo>x</foo>", "a & b", "x < y", "<i>a</b>", "&nbsp;"],
)
def test_the_fake_server_refuses_what_telegram_refuses(bad: str):
    with pytest.raises(EntityParseError):
        parse_telegram_html(bad)
