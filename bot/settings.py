"""The settings of the running service: the chat platforms and the HTTP server, around the RAG
library's own (``core.settings.CoreSettings``). Nothing is instantiated at import time: the CLI
builds one ``Settings()`` and passes it on.

Every variable, with its default, is listed in ``docs/configuration.md`` and ``.env.example``
(rendered from these classes by ``ragbot config docs|env``)."""

from __future__ import annotations

import typing
from typing import Literal

from pydantic import Field, SecretStr, ValidationError
from pydantic_settings import BaseSettings, SettingsConfigDict
from pydantic_settings.exceptions import SettingsError

from core.errors import ConfigError
from core.settings import CoreSettings

__all__ = [
    "Settings",
    "SlackSettings",
    "TelegramSettings",
    "ServerSettings",
    "ConsoleSettings",
    "load_settings",
]


def _section(prefix: str) -> SettingsConfigDict:
    return SettingsConfigDict(env_prefix=prefix, env_file=".env", extra="ignore")


class SlackSettings(BaseSettings):
    model_config = _section("SLACK_")

    bot_token: SecretStr | None = None
    signing_secret: SecretStr | None = None
    app_token: SecretStr | None = None  # socket mode
    mode: Literal["http", "socket"] = "http"
    api_base_url: str = "https://slack.com/api/"
    admin_user_ids: list[str] = Field(default_factory=list)
    workspace_admins_are_admins: bool = False
    alert_channel: str | None = None
    update_budget_per_min: int = Field(45, ge=1)  # chat.update is Tier 3: ~50/min per workspace
    default_space: str | None = None  # DMs to the bot answer from this space unless the DM is bound


class TelegramSettings(BaseSettings):
    model_config = _section("TELEGRAM_")

    bot_token: SecretStr | None = None
    mode: Literal["polling", "webhook"] = "polling"
    webhook_secret: SecretStr | None = None
    webhook_url: str | None = None  # public URL Telegram posts to (webhook mode)
    api_base_url: str = "https://api.telegram.org"
    admin_user_ids: list[int] = Field(default_factory=list)
    default_space: str | None = None
    dm_spaces: list[str] = Field(default_factory=list)  # spaces anyone may choose for a private chat (/space)
    # streaming edits (and drafts) per chat at most this often: Telegram allows about one message
    # a second per chat, counted on its side, so 1.1 s leaves a margin for network jitter
    edit_interval_s: float = Field(1.1, ge=0.2)


class ServerSettings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    host: str = "127.0.0.1"  # the container image sets 0.0.0.0
    port: int = Field(8080, ge=0, le=65535)
    # on SIGTERM/SIGINT, answers in flight get this long to finish before they are closed with a
    # "restarting" note; docker compose's stop_grace_period must leave ~15 s more than this
    shutdown_grace_s: float = Field(20.0, ge=0)


class ConsoleSettings(BaseSettings):
    """The admin console: web pages under /admin on the HTTP server, for admins only (docs/console.md)."""

    model_config = _section("CONSOLE_")

    enabled: bool = False  # serve the admin console under /admin (needs CONSOLE_PASSWORD)
    # the console's secret, 12+ characters: people sign in with it, and a key derived from it signs
    # sessions (replicas with the same password accept each other's; changing it signs everyone out)
    password: SecretStr | None = None
    session_hours: float = Field(12.0, gt=0, le=720)  # a session ends this long after signing in
    # failed sign-ins allowed per client address within CONSOLE_LOGIN_WINDOW_S; more are refused (429)
    login_attempts: int = Field(5, ge=1)
    login_window_s: float = Field(300.0, gt=0)  # the window of CONSOLE_LOGIN_ATTEMPTS, in seconds
    # the console's address as people open it (https://ragbot.example.com); the bot's sign-in links
    # for Slack and Telegram admins start with it; empty: no sign-in links, password only
    public_url: str | None = None


class Settings(CoreSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore")

    slack: SlackSettings = Field(default_factory=SlackSettings)
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    server: ServerSettings = Field(default_factory=ServerSettings)
    console: ConsoleSettings = Field(default_factory=ConsoleSettings)


def load_settings() -> Settings:
    """``Settings()`` from the environment and ``.env``, or ``ConfigError`` naming every variable
    that cannot be read, with its value (never a secret's) and what it accepts. pydantic stops at
    the first section that fails; a person fixing ``.env`` wants the whole list at once."""
    problems: list[str] = []
    sections: dict[str, BaseSettings] = {}
    for name, info in Settings.model_fields.items():
        model = info.annotation
        if not (isinstance(model, type) and issubclass(model, BaseSettings)):
            continue
        try:
            sections[name] = model()
        except (ValidationError, SettingsError) as e:
            problems += _describe(e, model)
            sections[name] = model.model_construct()  # so the general variables are checked too
    try:
        settings = Settings(**sections)
    except (ValidationError, SettingsError) as e:
        problems += _describe(e, Settings)
    if len(problems) == 1:
        raise ConfigError(f"{problems[0]} (docs/configuration.md lists every variable)")
    if problems:
        listed = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(
            f"{len(problems)} setting(s) cannot be read (docs/configuration.md lists every variable):\n{listed}"
        )
    return settings


def _env_name(model: type[BaseSettings], field: str) -> str:
    return f"{model.model_config.get('env_prefix', '')}{field}".upper()


def _is_secret(model: type[BaseSettings], field: str) -> bool:
    info = model.model_fields.get(field)
    return info is not None and SecretStr in (info.annotation, *typing.get_args(info.annotation))


def _describe(error: ValidationError | SettingsError, model: type[BaseSettings]) -> list[str]:
    if isinstance(error, SettingsError):  # a list or JSON value that is not JSON
        field = str(error).split('"')[1] if str(error).count('"') >= 2 else "?"
        return [f'{_env_name(model, field)} is not valid JSON: write a list like ["A", "B"] or [1, 2].']
    out = []
    for item in error.errors():
        field = str(item["loc"][0]) if item["loc"] else "?"
        shown = "" if _is_secret(model, field) else f"={item.get('input')!r}"
        accepts = str(item["msg"]).removeprefix("Input should be ").removeprefix("Value error, ")
        out.append(f"{_env_name(model, field)}{shown}: expected {accepts}.")
    return out
