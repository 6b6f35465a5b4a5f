"""The local Slack the adapter tests run against. It lives in ``bot.slack.fake_api`` because the
benchmark (``ragbot bench slack``) uses it too; tests import it from here."""

from bot.slack.fake_api import ApiCall, Delivery, FakeMessage, FakeSlack

__all__ = ["ApiCall", "Delivery", "FakeMessage", "FakeSlack"]
