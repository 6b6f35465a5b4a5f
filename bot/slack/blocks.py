"""Block Kit for answers: the text cut to Slack's limits, the sources, the feedback buttons, the
thumbs-down follow-up and its modal. Pure functions of their inputs: dicts ready for the Web API."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from bot.chat.feedback import REASONS, FeedbackAction, encode, reason_label
from bot.chat.markdown import parse_blocks, split_blocks
from bot.chat.sources import sources_for
from bot.chat.verified import did_not_help_label, encode_fallback, verified_note
from bot.slack.mrkdwn import escape, render_blocks
from core.models import Answer, Source

__all__ = [
    "SECTION_CHARS",
    "MAX_BLOCKS",
    "MESSAGE_CHARS",
    "VOTE_ACTION",
    "REASON_ACTION",
    "OTHER_REASON_ACTION",
    "REASON_VIEW",
    "MessagePart",
    "label",
    "answer_parts",
    "sources_block",
    "feedback_block",
    "answer_footer",
    "reason_blocks",
    "reason_modal",
    "FALLBACK_ACTION",
    "VERIFY_ACTION",
    "VERIFY_VIEW",
    "verified_block",
    "verified_feedback_block",
    "verify_offer_block",
    "verify_modal",
    "SHARE_ACTION",
    "share_block",
    "share_value",
    "read_share_value",
    "shared_by_block",
]

# Slack's limits: a section's text, blocks per message, characters per message
SECTION_CHARS = 3000
MAX_BLOCKS = 50
MESSAGE_CHARS = 40_000
_FOOTER_BLOCKS = 2  # sources + buttons under the last part
_FALLBACK_CHARS = 2900  # the notification text of a message with blocks

VOTE_ACTION = "ragbot_vote"  # + "_up" / "_down"
REASON_ACTION = "ragbot_reason"  # + "_<code>"
OTHER_REASON_ACTION = "ragbot_reason_other"
REASON_VIEW = "ragbot_reason_view"
FALLBACK_ACTION = "ragbot_did_not_help"  # under a verified answer: answer again from the documents
VERIFY_ACTION = "ragbot_verify"  # an admin's vote acknowledgement: write the verified answer
VERIFY_VIEW = "ragbot_verify_view"
_SLACK_INPUT_CHARS = 3000  # the most a plain_text_input holds
SHARE_ACTION = "ragbot_share"  # under a private (ephemeral) answer: post it in the thread

# Slack-only UI words (the platform-neutral sentences live in bot/chat/messages.py)
_LABELS = {
    "en": {
        "other": "Other…",
        "modal_title": "Feedback",
        "modal_label": "What was wrong with the answer?",
        "modal_hint": "A sentence is enough: what was missing, wrong or outdated.",
        "send": "Send",
        "cancel": "Cancel",
        "command_working": "Working on it…",
        "verify_correct": "✍️ Write the right answer",
        "verify_endorse": "✅ Mark as verified",
        "verify_title": "Verified answer",
        "verify_question": "Question",
        "verify_answer": "Answer",
        "verify_hint": "From now on this question, and the same asked in other words, is answered with this text, marked as verified by you.",
        "save": "Save",
        "share": "Share in thread",
        "shared_by": "Shared by <@{user}>",
        "private": "Only you can see this answer.",
    },
    "ru": {
        "other": "Другое…",
        "modal_title": "Отзыв",
        "modal_label": "Что было не так с ответом?",
        "modal_hint": "Достаточно одного предложения: чего не хватило, что неверно или устарело.",
        "send": "Отправить",
        "cancel": "Отмена",
        "command_working": "Выполняю…",
        "verify_correct": "✍️ Написать верный ответ",
        "verify_endorse": "✅ Отметить как проверенный",
        "verify_title": "Проверенный ответ",
        "verify_question": "Вопрос",
        "verify_answer": "Ответ",
        "verify_hint": "Теперь на этот вопрос, и на тот же другими словами, отвечает этот текст с пометкой, что его проверили вы.",
        "save": "Сохранить",
        "share": "Показать в треде",
        "shared_by": "Поделился <@{user}>",
        "private": "Этот ответ видите только вы.",
    },
}


def label(lang: str, key: str) -> str:
    return _LABELS.get(lang, _LABELS["en"])[key]


@dataclass(frozen=True)
class MessagePart:
    """One Slack message of an answer: notification text and blocks."""

    text: str
    blocks: list[dict[str, Any]] = field(default_factory=list)


def _section(text: str) -> dict[str, Any]:
    # expand: without it Slack folds long sections behind "Show more"
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}, "expand": True}


def _fallback(sections: Sequence[str]) -> str:
    text = "\n\n".join(sections)
    return text if len(text) <= _FALLBACK_CHARS else text[: _FALLBACK_CHARS - 1].rstrip() + "…"


def answer_parts(
    markdown: str,
    *,
    footer: Sequence[dict[str, Any]] = (),
    section_chars: int = SECTION_CHARS,
    max_blocks: int = MAX_BLOCKS,
    message_chars: int = MESSAGE_CHARS,
) -> list[MessagePart]:
    """The answer as one or more messages within Slack's limits, cut between Markdown blocks
    (inside one only when it alone is too long); ``footer`` blocks go under the last one."""
    measure = lambda bs: len(render_blocks(bs))  # noqa: E731 - the size Slack will count
    groups = split_blocks(parse_blocks(markdown), section_chars, measure)
    sections = [t for t in (render_blocks(g) for g in groups) if t.strip()] or ["…"]
    per_message = max_blocks - _FOOTER_BLOCKS
    messages: list[list[str]] = [[]]
    for text in sections:
        current = messages[-1]
        if current and (len(current) >= per_message or sum(map(len, current)) + len(text) > message_chars):
            messages.append(current := [])
        current.append(text)
    parts = [MessagePart(_fallback(m), [_section(t) for t in m]) for m in messages]
    last = parts[-1]
    return [*parts[:-1], MessagePart(last.text, [*last.blocks, *footer])]


def _source_item(source: Source) -> str:
    title = (source.title or source.location or source.doc_id).strip()
    title = title if len(title) <= 100 else title[:99] + "…"
    if source.url:
        return f"[{source.n}] <{escape(source.url).replace('|', '%7C')}|{escape(title).replace('|', '¦')}>"
    return f"[{source.n}] {escape(title)}"


def sources_block(answer: Answer, *, max_chars: int = SECTION_CHARS) -> dict[str, Any] | None:
    """A context block listing the sources under the answer (None when there are none)."""
    listed = sources_for(answer)
    if not listed.sources:
        return None
    text = f"*{escape(listed.heading)}*"
    for source in listed.sources:
        item = _source_item(source)
        if len(text) + len(item) + 3 > max_chars:
            text += "\n…"
            break
        text += "\n" + item
    return {"type": "context", "block_id": "ragbot_sources", "elements": [{"type": "mrkdwn", "text": text}]}


def _button(text: str, action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "button",
        "text": {"type": "plain_text", "text": text, "emoji": True},
        "action_id": action_id,
        "value": value,
    }


def feedback_block(answer_id: str) -> dict[str, Any]:
    return {
        "type": "actions",
        "block_id": "ragbot_feedback",
        "elements": [
            _button("👍", f"{VOTE_ACTION}_up", encode(FeedbackAction(answer_id, 1))),
            _button("👎", f"{VOTE_ACTION}_down", encode(FeedbackAction(answer_id, -1))),
        ],
    }


def verified_block(answer: Answer) -> dict[str, Any] | None:
    """A context block naming who verified the answer and when (None for a generated answer)."""
    note = verified_note(answer)
    if note is None:
        return None
    text = render_blocks(parse_blocks(note))
    return {"type": "context", "block_id": "ragbot_verified", "elements": [{"type": "mrkdwn", "text": text}]}


def verified_feedback_block(answer_id: str, lang: str) -> dict[str, Any]:
    """👍, and "did not help" instead of 👎: it brings a generated answer (docs/feedback.md)."""
    return {
        "type": "actions",
        "block_id": "ragbot_feedback",
        "elements": [
            _button("👍", f"{VOTE_ACTION}_up", encode(FeedbackAction(answer_id, 1))),
            _button(did_not_help_label(lang), FALLBACK_ACTION, encode_fallback(answer_id)),
        ],
    }


def answer_footer(answer: Answer) -> list[dict[str, Any]]:
    sources = sources_block(answer)
    if answer.verified is not None:
        note = verified_block(answer)
        buttons = verified_feedback_block(answer.answer_id, answer.lang)
        return [*([note] if note else []), *([sources] if sources else []), buttons]
    return [*([sources] if sources else []), feedback_block(answer.answer_id)]


def reason_blocks(answer_id: str, lang: str, prompt: str) -> list[dict[str, Any]]:
    """The thumbs-down follow-up: the quick reasons as buttons, and "Other…" for free text.
    The block id carries the language, because an ephemeral message's click carries no text."""
    buttons = [
        _button(
            reason_label(code, lang), f"{REASON_ACTION}_{code}", encode(FeedbackAction(answer_id, -1, code))
        )
        for code in REASONS
    ]
    buttons.append(_button(label(lang, "other"), OTHER_REASON_ACTION, encode(FeedbackAction(answer_id, -1))))
    return [
        _section(escape(prompt)),
        {"type": "actions", "block_id": f"ragbot_reasons:{lang}", "elements": buttons},
    ]


def reason_modal(answer_id: str, lang: str, *, channel_id: str, thread_ts: str) -> dict[str, Any]:
    """A modal with one plain-text input; private_metadata says where to acknowledge."""
    meta = json.dumps({"a": answer_id, "l": lang, "c": channel_id, "t": thread_ts}, separators=(",", ":"))
    return {
        "type": "modal",
        "callback_id": REASON_VIEW,
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": label(lang, "modal_title")},
        "submit": {"type": "plain_text", "text": label(lang, "send")},
        "close": {"type": "plain_text", "text": label(lang, "cancel")},
        "blocks": [
            {
                "type": "input",
                "block_id": "reason",
                "label": {"type": "plain_text", "text": label(lang, "modal_label")},
                "hint": {"type": "plain_text", "text": label(lang, "modal_hint")},
                "element": {
                    "type": "plain_text_input",
                    "action_id": "text",
                    "multiline": True,
                    "max_length": 500,
                },
            }
        ],
    }


def verify_offer_block(answer_id: str, lang: str, *, endorse: bool) -> dict[str, Any]:
    """For an admin, under the acknowledgement of their vote: write the verified answer (after 👎)
    or vouch for this one (after 👍). Both open ``verify_modal``."""
    key = "verify_endorse" if endorse else "verify_correct"
    return {
        "type": "actions",
        "block_id": f"ragbot_verify:{lang}",
        "elements": [_button(label(lang, key), VERIFY_ACTION, answer_id)],
    }


def verify_modal(answer: Answer, lang: str, *, channel_id: str, thread_ts: str) -> dict[str, Any]:
    """The question and the answer, both editable, prefilled from the answer voted on."""
    meta = json.dumps(
        {"a": answer.answer_id, "l": lang, "c": channel_id, "t": thread_ts}, separators=(",", ":")
    )

    def field(block_id: str, key: str, value: str, *, multiline: bool) -> dict[str, Any]:
        element: dict[str, Any] = {
            "type": "plain_text_input",
            "action_id": "text",
            "multiline": multiline,
            "max_length": _SLACK_INPUT_CHARS,
        }
        if value.strip():
            element["initial_value"] = value[:_SLACK_INPUT_CHARS]
        return {
            "type": "input",
            "block_id": block_id,
            "label": {"type": "plain_text", "text": label(lang, key)},
            "element": element,
        }

    return {
        "type": "modal",
        "callback_id": VERIFY_VIEW,
        "private_metadata": meta,
        "title": {"type": "plain_text", "text": label(lang, "verify_title")},
        "submit": {"type": "plain_text", "text": label(lang, "save")},
        "close": {"type": "plain_text", "text": label(lang, "cancel")},
        "blocks": [
            field("question", "verify_question", answer.question, multiline=False),
            field("answer", "verify_answer", answer.text, multiline=True),
            {"type": "context", "elements": [{"type": "plain_text", "text": label(lang, "verify_hint")}]},
        ],
    }


def share_value(answer_id: str, thread_ts: str) -> str:
    """The Share button's value: the answer and the thread to post it in."""
    return f"share:{answer_id}:{thread_ts}"


def read_share_value(value: str) -> tuple[str, str] | None:
    """(answer_id, thread_ts) from a Share button's value; None for anything else."""
    parts = (value or "").split(":")
    if len(parts) != 3 or parts[0] != "share" or not (1 <= len(parts[1]) <= 32 and parts[1].isalnum()):
        return None
    if not re.fullmatch(r"\d+\.\d+", parts[2]):
        return None
    return parts[1], parts[2]


def share_block(answer_id: str, thread_ts: str, lang: str) -> dict[str, Any]:
    """Under a private answer: who sees it, and the button that posts it in the thread."""
    return {
        "type": "actions",
        "block_id": f"ragbot_share:{lang}",
        "elements": [_button(label(lang, "share"), SHARE_ACTION, share_value(answer_id, thread_ts))],
    }


def shared_by_block(user_id: str, lang: str) -> dict[str, Any]:
    text = label(lang, "shared_by").format(user=re.sub(r"[^A-Z0-9]", "", user_id))
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
