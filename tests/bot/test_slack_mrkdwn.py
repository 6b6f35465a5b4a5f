"""The model's Markdown as Slack mrkdwn, and answers cut into Block Kit messages."""

from __future__ import annotations

import pytest

from bot.chat.feedback import decode
from bot.chat.markdown import parse_blocks
from bot.slack.blocks import answer_footer, answer_parts, feedback_block, reason_blocks, sources_block
from bot.slack.mrkdwn import escape, render_blocks
from core.models import Answer, Source, Timings


def mrkdwn(markdown: str) -> str:
    return render_blocks(parse_blocks(markdown))


@pytest.mark.parametrize(
    ("markdown", "expected"),
    [
        ("**bold** and __also bold__", "*bold* and *also bold*"),
        ("*italic* and _italic_", "_italic_ and _italic_"),
        (
            "see [the runbook](https://wiki.example.com/run?a=1&b=2)",
            "see <https://wiki.example.com/run?a=1&amp;b=2|the runbook>",
        ),
        ("bare https://example.com/x.", "bare <https://example.com/x|https://example.com/x>."),
        ("run `make deploy` now", "run `make deploy` now"),
        ("a < b && c > d", "a &lt; b &amp;&amp; c &gt; d"),
        ("<!channel> <@U123>", "&lt;!channel&gt; &lt;@U123&gt;"),
        ("# Title\n\nText", "*Title*\n\nText"),
        ("## A **bold** heading", "*A bold heading*"),
        ("- one\n- two", "• one\n• two"),
        ("3. three\n4. four", "3. three\n4. four"),
        ("> quoted", "> quoted"),
        ("**bold with [link](https://x.io)**", "*bold with <https://x.io|link>*"),
        ("** spaced **", " *spaced* "),  # Slack ignores markers that do not touch the text
    ],
)
def test_inline_and_block_rendering(markdown, expected):
    assert mrkdwn(markdown) == expected


def test_code_blocks_are_fenced_and_escaped():
    assert (
        mrkdwn("```bash\nkubectl get pods | grep <name>\n```")
        == "```\nkubectl get pods | grep &lt;name&gt;\n```"
    )
    # a fence still open (mid-stream) runs to the end
    assert mrkdwn("Run:\n```\nmake deploy") == "Run:\n\n```\nmake deploy\n```"


def test_tables_become_aligned_code_blocks():
    table = "| Service | Owner |\n|---|---|\n| billing | **ops** |\n| search | data |"
    assert mrkdwn(table) == ("```\nService | Owner\n--------+------\nbilling | ops\nsearch  | data\n```")


def test_link_labels_cannot_break_out():
    assert mrkdwn("[a|b>c](https://x.io/p|q)") == "<https://x.io/p%7Cq|a¦b&gt;c>"


def test_escape_is_idempotent_only_once():
    assert escape("&amp;") == "&amp;amp;"  # what the model wrote is shown as written


def _answer(text: str, sources: tuple[Source, ...] = (), answer_id: str = "a1b2c3") -> Answer:
    return Answer(answer_id, "q", "ops", text, sources, "en", "m", Timings())


def test_short_answer_is_one_message_with_the_footer():
    answer = _answer("Run **make deploy** [1].")
    (part,) = answer_parts(answer.text, footer=answer_footer(answer))
    assert part.blocks[0]["text"]["text"] == "Run *make deploy* [1]."
    assert part.blocks[-1]["type"] == "actions"
    assert part.text == "Run *make deploy* [1]."


def test_long_answers_split_within_slack_limits_and_lose_nothing():
    paragraphs = [f"Paragraph {i}: " + "word " * 150 for i in range(400)]  # ~306,000 characters
    parts = answer_parts("\n\n".join(paragraphs), footer=[feedback_block("abc")])
    assert len(parts) >= 306_000 // 40_000 + 1
    for part in parts:
        sections = [b for b in part.blocks if b["type"] == "section"]
        assert len(part.blocks) <= 50
        assert all(len(b["text"]["text"]) <= 3000 for b in sections)
        assert sum(len(b["text"]["text"]) for b in sections) <= 40_000
        assert len(part.text) <= 3000
    text = "\n".join(b["text"]["text"] for p in parts for b in p.blocks if b["type"] == "section")
    assert [int(x.split(":")[0]) for x in text.split("Paragraph ")[1:]] == list(range(400))
    assert parts[-1].blocks[-1]["block_id"] == "ragbot_feedback"
    assert all(b["type"] == "section" for p in parts[:-1] for b in p.blocks)


def test_one_huge_paragraph_is_cut_by_words():
    (part,) = answer_parts("x " * 5000)  # 10,000 characters, no blank lines
    assert len(part.blocks) == 4 and all(len(b["text"]["text"]) <= 3000 for b in part.blocks)
    assert sum(b["text"]["text"].count("x") for b in part.blocks) == 5000


def test_sources_are_listed_and_linked():
    sources = (
        Source(
            1,
            "deploy",
            "Deploying",
            "Deploying",
            "https://wiki.example.com/deploy?x=1&y=2",
            "https://wiki.example.com/deploy?x=1&y=2",
        ),
        Source(2, "notes", "Notes <draft>", "Notes", "/srv/docs/notes.md", None),
        Source(3, "old", "Old", "Old", "/srv/docs/old.md", None, cited=False),
    )
    answer = _answer("Deploy with make [1] and see [2].", tuple(sources))
    block = sources_block(answer)
    assert block["type"] == "context"
    assert block["elements"][0]["text"] == (
        "*Sources*\n[1] <https://wiki.example.com/deploy?x=1&amp;y=2|Deploying>\n[2] Notes &lt;draft&gt;"
    )
    uncited = _answer("I could not find it.", (Source(1, "d", "Doc", "Doc", "/d.md", None, cited=False),))
    assert sources_block(uncited)["elements"][0]["text"] == "*Retrieved (not cited)*\n[1] Doc"
    assert sources_block(_answer("no sources")) is None


def test_feedback_and_reason_buttons_carry_decodable_values():
    up, down = feedback_block("a1b2c3")["elements"]
    assert decode(up["value"]).value == 1 and decode(down["value"]).value == -1
    prompt, actions = reason_blocks("a1b2c3", "ru", "Что не так?")
    assert actions["block_id"] == "ragbot_reasons:ru"
    reasons = [decode(b["value"]).reason for b in actions["elements"]]
    assert reasons == ["wrong", "outdated", "incomplete", "sources", "language", None]
    assert actions["elements"][-1]["text"]["text"] == "Другое…"
