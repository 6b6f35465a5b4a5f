"""Logging set-up: key=value lines (or JSON) on stderr, with secrets scrubbed.

Every module logs through ``logging.getLogger(__name__)`` with key=value fields in the message;
the redacting filter is a last line of defence for tokens that slip into a message anyway
(an exception text that echoes a URL with a token, say)."""

from __future__ import annotations

import json
import logging
import re
import sys
import time

__all__ = ["configure_logging", "RedactingFilter", "redact", "redacted_url"]

_SECRET_PATTERNS = [
    re.compile(r"xox[abposr]-[A-Za-z0-9-]{6,}"),  # Slack bot/user/app tokens
    re.compile(r"xapp-[A-Za-z0-9-]{6,}"),
    re.compile(r"\b\d{6,12}:[A-Za-z0-9_-]{30,}\b"),  # Telegram bot tokens
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(r"(?i)((?:api[_-]?key|token|secret|password)=)[^\s&\"']+"),
    re.compile(r"(?i)(postgres(?:ql)?(?:\+\w+)?://[^:/\s]+:)[^@\s]+(@)"),
]


def redact(text: str) -> str:
    for pattern in _SECRET_PATTERNS:
        if pattern.groups >= 2:
            text = pattern.sub(lambda m: m.group(1) + "***" + m.group(2), text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: m.group(1) + "***", text)
        else:
            text = pattern.sub("***", text)
    return text


def redacted_url(url: str) -> str:
    """A URL fit for a log line or a page: no user name or password, no query or fragment (either
    may carry a token). Never raises: any database, Qdrant or model server URL an operator may
    write (``sqlite:///data/ragbot.db`` has no host at all) is shown, only ever shortened."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.split("?", 1)[0].split("#", 1)[0]
    authority, slash, path = rest.partition("/")
    host = authority.rpartition("@")[2]  # user:password@host -> host
    return f"{scheme}://{host}{slash}{path}".split("?", 1)[0].split("#", 1)[0]


class RedactingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        record.msg, record.args = redact(message), None
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        return True


class _KeyValueFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
        line = f"{stamp}Z level={record.levelname.lower()} logger={record.name} {record.getMessage()}"
        if record.exc_text:
            line += "\n" + record.exc_text
        return line


class _JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        payload = {
            "ts": record.created,
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        if record.exc_text:
            payload["exc"] = record.exc_text
        return json.dumps(payload, ensure_ascii=False)


def configure_logging(level: str = "INFO", fmt: str = "kv") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter() if fmt == "json" else _KeyValueFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # third-party chatter that would drown ours at INFO
    for noisy in ("httpx", "httpcore", "aiohttp.access", "apscheduler.executors.default", "alembic.runtime"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
