"""Slack: a slack-bolt AsyncApp whose listeners turn events into RagService calls."""

from bot.slack.adapter import SlackAdapter

__all__ = ["SlackAdapter"]
