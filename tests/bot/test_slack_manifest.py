"""docs/slack-app-manifest.yml is the app the code expects: every event the listeners take is
subscribed, the slash command and the request URLs are the ones served, and the scopes cover the
Web API methods the adapter calls (docs/chat.md lists why each is there)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from bot.slack.adapter import EVENTS_PATH
from bot.slack.commands import COMMAND
from bot.slack.listeners import Listeners

MANIFEST = Path(__file__).resolve().parents[2] / "docs" / "slack-app-manifest.yml"

# the Events API names of a `message` listener, by conversation type
MESSAGE_EVENTS = {"message.channels", "message.groups", "message.im", "message.mpim"}
# Web API method the adapter calls -> a bot scope that allows it
SCOPES = {
    "chat.postMessage / chat.update / chat.postEphemeral / chat.*Stream": "chat:write",
    "conversations.replies in public channels": "channels:history",
    "conversations.replies in private channels": "groups:history",
    "conversations.replies in DMs": "im:history",
    "files shared in a thread": "files:read",
    "assistant.threads.setStatus / setSuggestedPrompts / setTitle": "assistant:write",
    "app_mention events": "app_mentions:read",
    "/ragbot": "commands",
}


class _Recorder:
    """Stands in for the bolt app: notes what the listeners register."""

    def __init__(self) -> None:
        self.events: list[str] = []
        self.commands: list[str] = []

    def middleware(self, *_: Any) -> None:
        return None

    def event(self, name: str):  # noqa: ANN201 - a decorator, as bolt's
        self.events.append(name)
        return lambda f: f

    def command(self, name: str):  # noqa: ANN201
        self.commands.append(name)
        return lambda f: f

    def action(self, _: Any):  # noqa: ANN201
        return lambda f: f

    def view(self, _: Any):  # noqa: ANN201
        return lambda f: f

    def error(self, _: Any) -> None:
        return None


def _manifest() -> dict[str, Any]:
    return yaml.safe_load(MANIFEST.read_text(encoding="utf-8"))


def test_every_event_the_app_listens_to_is_subscribed():
    app = _Recorder()
    listeners = Listeners(
        questions=None,  # type: ignore[arg-type] - only registration runs here
        commands=None,  # type: ignore[arg-type]
        votes=None,  # type: ignore[arg-type]
        sharing=None,  # type: ignore[arg-type]
        assistant=None,  # type: ignore[arg-type]
        claims=None,  # type: ignore[arg-type]
        spawn=lambda coro, name: None,  # type: ignore[arg-type, return-value]
        bot_user_id=lambda: "U0BOT",
        closing=lambda: False,
    )
    listeners.register(app)  # type: ignore[arg-type]
    subscribed = set(_manifest()["settings"]["event_subscriptions"]["bot_events"])
    wanted = {e for e in app.events if e != "message"} | (
        MESSAGE_EVENTS if "message" in app.events else set()
    )
    assert wanted <= subscribed, f"subscribe to {sorted(wanted - subscribed)}"
    assert {"assistant_thread_started", "app_home_opened"} <= wanted
    assert app.commands == [COMMAND]
    assert [c["command"] for c in _manifest()["features"]["slash_commands"]] == [COMMAND]


def test_the_request_urls_are_the_events_endpoint_and_the_scopes_cover_the_calls():
    manifest = _manifest()
    urls = [
        manifest["settings"]["event_subscriptions"]["request_url"],
        manifest["settings"]["interactivity"]["request_url"],
        *(c["url"] for c in manifest["features"]["slash_commands"]),
    ]
    assert all(u == f"https://YOUR-HOST{EVENTS_PATH}" for u in urls), urls
    scopes = set(manifest["oauth_config"]["scopes"]["bot"])
    missing = {what: scope for what, scope in SCOPES.items() if scope not in scopes}
    assert not missing, missing
    assert manifest["features"]["app_home"]["home_tab_enabled"] is True
    assert manifest["features"]["assistant_view"]["assistant_description"]
