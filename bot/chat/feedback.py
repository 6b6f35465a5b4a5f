"""Feedback buttons: compact ids that fit Telegram's 64-byte callback_data and Slack's
action values, and the quick reasons offered after a thumbs-down."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["FeedbackAction", "REASONS", "encode", "decode", "reason_label"]

# code -> (English, Russian): short enough for a button
REASONS: dict[str, tuple[str, str]] = {
    "wrong": ("Wrong", "Неверно"),
    "outdated": ("Outdated", "Устарело"),
    "incomplete": ("Incomplete", "Неполно"),
    "sources": ("Bad sources", "Не те источники"),
    "language": ("Wrong language", "Не тот язык"),
}

_PREFIX = "fb"


@dataclass(frozen=True)
class FeedbackAction:
    answer_id: str
    value: int  # +1 / -1
    reason: str | None = None  # a REASONS code, only with -1


def encode(action: FeedbackAction) -> str:
    """'fb:+:<answer_id>', 'fb:-:<answer_id>', 'fb:-:<answer_id>:<reason>' (at most ~40 bytes)."""
    sign = "+" if action.value > 0 else "-"
    parts = [_PREFIX, sign, action.answer_id] + ([action.reason] if action.reason else [])
    return ":".join(parts)


def decode(data: str) -> FeedbackAction | None:
    """None for anything that is not a well-formed feedback id (forged or stale payloads)."""
    parts = (data or "").split(":")
    if len(parts) not in (3, 4) or parts[0] != _PREFIX or parts[1] not in ("+", "-"):
        return None
    answer_id = parts[2]
    if not (1 <= len(answer_id) <= 32 and answer_id.isalnum()):
        return None
    reason = parts[3] if len(parts) == 4 else None
    if reason is not None and (parts[1] != "-" or reason not in REASONS):
        return None
    return FeedbackAction(answer_id, 1 if parts[1] == "+" else -1, reason)


def reason_label(code: str, lang: str) -> str:
    en, ru = REASONS[code]
    return ru if lang == "ru" else en
