"""Checking the settings of ``ragbot serve`` before anything is started, and deciding which chat
adapters run.

Every problem is collected and reported at once, each with the variable to set and why, so a
person fixing ``.env`` does not restart the service once per mistake. Warnings (a secret
without its token, a webhook Telegram cannot reach) are logged and the service starts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import urlparse

from bot.console import settings_problems as console_problems
from bot.logs import redacted_url
from bot.settings import Settings
from core.errors import ConfigError

__all__ = ["AdapterPlan", "adapter_plan", "check_settings"]

_TELEGRAM_TOKEN = re.compile(r"^\d+:[A-Za-z0-9_-]+$")
_WEBHOOK_SECRET = re.compile(r"^[A-Za-z0-9_-]{1,256}$")


def _is_set(secret: object) -> bool:
    value = secret.get_secret_value() if secret is not None else ""  # type: ignore[attr-defined]
    return bool(value.strip())


@dataclass(frozen=True)
class AdapterPlan:
    name: str  # "slack" | "telegram"
    enabled: bool
    why: str  # "http", "polling", or why it is off

    def describe(self) -> str:
        return f"{self.name}: {'on' if self.enabled else 'off'} ({self.why})"


def adapter_plan(settings: Settings) -> list[AdapterPlan]:
    """An adapter runs when its token is set; the rest of its settings are checked by
    ``check_settings``."""
    slack, telegram = settings.slack, settings.telegram
    plans = []
    if _is_set(slack.bot_token):
        plans.append(AdapterPlan("slack", True, f"{slack.mode} mode"))
    else:
        plans.append(AdapterPlan("slack", False, "SLACK_BOT_TOKEN not set"))
    if _is_set(telegram.bot_token):
        plans.append(AdapterPlan("telegram", True, f"{telegram.mode} mode"))
    else:
        plans.append(AdapterPlan("telegram", False, "TELEGRAM_BOT_TOKEN not set"))
    return plans


def check_settings(settings: Settings) -> list[str]:
    """Raise ``ConfigError`` listing every problem that would stop the service; return the
    warnings (to be logged)."""
    errors: list[str] = []
    warnings: list[str] = []
    _check_slack(settings, errors, warnings)
    _check_telegram(settings, errors, warnings)
    _check_llm(settings, errors, warnings)
    errors.extend(console_problems(settings.console))
    if settings.answer.context_chunks_min > settings.answer.context_chunks_max:
        errors.append(
            f"ANSWER_CONTEXT_CHUNKS_MIN ({settings.answer.context_chunks_min}) is larger than "
            f"ANSWER_CONTEXT_CHUNKS_MAX ({settings.answer.context_chunks_max})."
        )
    if errors:
        lines = "\n".join(f"  - {e}" for e in errors)
        raise ConfigError(f"ragbot serve cannot start, {len(errors)} setting(s) to fix:\n{lines}")
    return warnings


def _check_slack(settings: Settings, errors: list[str], warnings: list[str]) -> None:
    s = settings.slack
    if not _is_set(s.bot_token):
        others = [
            n
            for n, v in (("SLACK_SIGNING_SECRET", s.signing_secret), ("SLACK_APP_TOKEN", s.app_token))
            if _is_set(v)
        ]
        if others:
            warnings.append(f"{' and '.join(others)} set but SLACK_BOT_TOKEN is not: Slack stays off.")
        return
    token = s.bot_token.get_secret_value().strip()  # type: ignore[union-attr]
    if not token.startswith("xoxb-"):
        warnings.append("SLACK_BOT_TOKEN does not start with xoxb-: use the app's Bot User OAuth Token.")
    if s.mode == "http" and not _is_set(s.signing_secret):
        errors.append(
            "SLACK_BOT_TOKEN is set in HTTP mode (SLACK_MODE=http) without SLACK_SIGNING_SECRET: ragbot cannot "
            "verify that requests to /slack/events come from Slack. Set SLACK_SIGNING_SECRET (the app's Basic "
            "Information > Signing Secret), or use SLACK_MODE=socket with SLACK_APP_TOKEN."
        )
    if s.mode == "socket" and not _is_set(s.app_token):
        errors.append(
            "SLACK_MODE=socket needs SLACK_APP_TOKEN: an app-level token (xapp-...) with the "
            "connections:write scope (the app's Basic Information > App-Level Tokens)."
        )
    if s.mode == "socket" and _is_set(s.app_token) and not s.app_token.get_secret_value().startswith("xapp-"):  # type: ignore[union-attr]
        warnings.append("SLACK_APP_TOKEN does not start with xapp-: Socket Mode needs an app-level token.")


def _check_telegram(settings: Settings, errors: list[str], warnings: list[str]) -> None:
    t = settings.telegram
    if not _is_set(t.bot_token):
        if _is_set(t.webhook_secret) or t.webhook_url:
            warnings.append("TELEGRAM_WEBHOOK_* set but TELEGRAM_BOT_TOKEN is not: Telegram stays off.")
        return
    if not _TELEGRAM_TOKEN.match(t.bot_token.get_secret_value().strip()):  # type: ignore[union-attr]
        errors.append(
            "TELEGRAM_BOT_TOKEN does not look like a bot token (digits, a colon, then letters: 123456:ABC-...); "
            "copy it from @BotFather."
        )
    if t.mode != "webhook":
        return
    if not _is_set(t.webhook_secret):
        errors.append(
            "TELEGRAM_MODE=webhook needs TELEGRAM_WEBHOOK_SECRET: without it anyone could post updates to "
            "/telegram/webhook. Use 1-256 characters A-Z a-z 0-9 _ - (e.g. `openssl rand -hex 32`)."
        )
    elif not _WEBHOOK_SECRET.match(t.webhook_secret.get_secret_value()):  # type: ignore[union-attr]
        errors.append("TELEGRAM_WEBHOOK_SECRET may only contain A-Z a-z 0-9 _ - (1-256 characters).")
    if t.webhook_url and urlparse(t.webhook_url).scheme != "https":
        errors.append(
            "TELEGRAM_WEBHOOK_URL is not an https:// URL: Telegram only delivers webhooks over HTTPS "
            "(ports 443, 80, 88 or 8443); put a TLS proxy in front of /telegram/webhook."
        )
    if not t.webhook_url:
        warnings.append(
            "TELEGRAM_MODE=webhook without TELEGRAM_WEBHOOK_URL: ragbot serves /telegram/webhook but does not "
            "register it with Telegram (setWebhook); do that yourself or set the URL."
        )


def _check_llm(settings: Settings, errors: list[str], warnings: list[str]) -> None:
    llm = settings.llm
    if llm.mode == "embedded":
        return
    examples = {
        "ollama": "http://ollama:11434",
        "vllm": "http://vllm:8000/v1",
        "tgi": "http://tgi:80",
        "openai": "https://api.openai.com/v1",
    }
    if not llm.base_url:
        errors.append(
            f"LLM_MODE={llm.mode} needs LLM_BASE_URL, the server's address (e.g. {examples[llm.mode]})."
        )
    if llm.mode in ("ollama", "openai") and not llm.model:
        example = "qwen2.5:7b-instruct" if llm.mode == "ollama" else "gpt-4o-mini"
        errors.append(f"LLM_MODE={llm.mode} needs LLM_MODEL, the model's name (e.g. {example}).")
    if llm.mode == "vllm" and llm.base_url and not llm.base_url.rstrip("/").endswith("/v1"):
        warnings.append(
            f"LLM_BASE_URL={redacted_url(llm.base_url)} for vLLM usually ends in /v1 (e.g. http://vllm:8000/v1)."
        )
