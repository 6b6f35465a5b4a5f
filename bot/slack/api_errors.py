"""Reading slack_sdk's ``SlackApiError``: a rate limit (-> ``RetryLater``), a workspace that does
not offer a feature (remembered, then the fallback is used), or anything else."""

from __future__ import annotations

from slack_sdk.errors import SlackApiError

from bot.chat.streaming import RetryLater

__all__ = ["REFUSALS", "error_code", "is_rate_limited", "is_refusal", "retry_later"]

# Errors that mean "this workspace/app cannot use the method at all", not "this call was wrong":
# the answer falls back, and later answers in the workspace skip the method.
REFUSALS = frozenset(
    {
        "not_allowed",
        "unknown_method",
        "feature_not_enabled",
        "missing_scope",
        "not_allowed_token_type",
        "method_deprecated",
        "access_denied",
        "team_access_not_granted",
        "no_permission",
    }
)


def error_code(error: SlackApiError) -> str:
    data = getattr(error.response, "data", None)
    return str(data.get("error", "")) if isinstance(data, dict) else ""


def is_rate_limited(error: SlackApiError) -> bool:
    return getattr(error.response, "status_code", 0) == 429 or error_code(error) == "ratelimited"


def is_refusal(error: SlackApiError) -> bool:
    return error_code(error) in REFUSALS


def retry_later(error: SlackApiError) -> RetryLater:
    """The platform's own wait (Retry-After, seconds), or a second when it gave none."""
    headers = getattr(error.response, "headers", None) or {}
    value = next((v for k, v in dict(headers).items() if k.lower() == "retry-after"), None)
    if isinstance(value, list):  # some transports give every header as a list
        value = value[0] if value else None
    try:
        seconds = float(value) if value is not None else 1.0
    except ValueError:
        seconds = 1.0
    return RetryLater(max(seconds, 0.0))
