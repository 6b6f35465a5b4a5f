"""The console in a real browser (Chromium, through Selenium; tests/bot/browser_fixtures.py),
against the real ``ragbot serve`` runtime with the real Slack adapter talking to the local fake
Slack: the journey of issue 16. A person asks in Slack and votes the answer down with a reason; an
admin signs in to the console, opens the review queue and writes a verified answer; the same
question asked in Slack again is answered from it, marked as verified, without a model call."""

from __future__ import annotations

from collections.abc import AsyncIterator
from itertools import count
from pathlib import Path

import pytest
from browser_fixtures import Browser, browser_fixture  # noqa: F401 - the fixture
from console_fixtures import (  # noqa: F401 - no_outside_settings is a fixture
    PASSWORD,
    SLACK_CHANNEL,
    SLACK_USER,
    ConsoleBench,
    no_outside_settings,
    open_console,
)

from bot.chat.feedback import decode
from bot.slack.adapter import EVENTS_PATH
from bot.testing.fake_slack import FakeMessage, FakeSlack

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("no_outside_settings")]

QUESTION = "How do I deploy the billing service?"
CORRECTED = (
    "Billing deploys need the release manager's approval first; then run `make deploy` on the release branch."
)

_ts = count(1)


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[ConsoleBench]:
    bench, close = await open_console(tmp_path, slack=True)
    try:
        assert (await bench.service.ingest("ops", [str(bench.docs)])).ok
        yield bench
    finally:
        await close()


async def ask_in_slack(bench: ConsoleBench, text: str) -> FakeMessage:
    """@mention the bot in the bound channel; the final answer (the message with the vote buttons)."""
    fake = bench.slack
    assert fake is not None
    ts = f"1700000000.{next(_ts):06d}"
    event = fake.mention(text, channel=SLACK_CHANNEL, user=SLACK_USER, ts=ts)
    delivery = await fake.send_event(bench.url + EVENTS_PATH, event, event_id=f"Ev{ts.replace('.', '')}")
    assert delivery.status == 200, delivery

    def answered() -> FakeMessage | None:
        done = [m for m in fake.thread(SLACK_CHANNEL, ts) if m.buttons() and not m.streaming]
        return done[0] if done else None

    return await fake.wait_for(answered, 20.0)


async def click(fake: FakeSlack, url: str, message: FakeMessage, action_id: str, key: str) -> None:
    button = next(b for b in message.buttons() if b["action_id"] == action_id)
    delivery = await fake.send_interaction(
        url, fake.button_click(message, button, user=SLACK_USER, response_key=key)
    )
    assert delivery.status == 200


def said(message: FakeMessage) -> str:
    return message.text + "\n" + message.block_text()


async def test_a_thumbs_down_fixed_in_the_console_is_answered_from_it_in_slack(
    bench: ConsoleBench, browser: Browser
) -> None:
    fake = bench.slack
    assert fake is not None
    events = bench.url + EVENTS_PATH

    # a person asks in Slack, gets a generated answer and votes it down: "outdated"
    first = await ask_in_slack(bench, QUESTION)
    assert "make deploy from the release branch" in said(first)
    answer_id = decode(first.buttons()[0]["value"]).answer_id
    await click(fake, events, first, "ragbot_vote_down", "r-down")
    (reasons,) = await fake.wait_for(lambda: fake.ephemeral(SLACK_USER))
    await click(fake, events, reasons, "ragbot_reason_outdated", "r-reason")
    await fake.wait_for(lambda: fake.calls_of("response_url"))
    calls = len(bench.chat.requests)
    assert calls == 1

    # an admin signs in to the console in a browser; the review queue shows the thumbs-down
    await browser.go(bench.url + "/admin/review")
    assert "/admin/login?next=" in await browser.url()
    await browser.type("#name", "Dana")
    await browser.type("#password", PASSWORD)
    await browser.click("#sign-in")
    card = f"#review-{answer_id}"
    assert QUESTION in await browser.text(f"{card} .question")
    assert await browser.text(f"{card} ul.reasons") == "outdated"
    assert (await browser.url()).endswith("/admin/review")

    # ... and writes the verified answer from there
    await browser.click(f"{card} a.write")
    assert "make deploy from the release branch" in await browser.text("#original")
    await browser.type("#text", CORRECTED)
    await browser.click("#save-verified")
    assert await browser.text("#notice") == "Saved. Matching questions are answered from it now."
    assert await browser.text("section.verified .author") == "console:Dana"
    assert CORRECTED in await browser.text("section.verified .text")
    (verified,) = await bench.service.verified_answers("ops")
    assert verified.from_answer_id == answer_id

    # the same question in Slack: answered from it at once, marked as verified, no model call
    second = await ask_in_slack(bench, QUESTION)
    assert len(bench.chat.requests) == calls, "no model call for a verified answer"
    second_id = decode(second.buttons()[0]["value"]).answer_id
    logged = await bench.service.logged_answer(second_id)
    assert logged is not None and logged.answer.verified is not None
    assert logged.answer.verified.verified_id == verified.verified_id
    text = said(second)
    assert CORRECTED.replace("`", "") in text.replace("`", "")
    assert "Verified answer" in text and "by Dana" in text, f"not marked as verified in Slack: {text}"

    # the console's question log shows it, and where it came from
    await browser.go(f"{bench.url}/admin/questions/{second_id}")
    assert "Answered from a verified answer by console:Dana" in await browser.text("#verified-note")


@pytest.mark.parametrize("lang", ["en", "ru"])
async def test_every_page_fits_a_phone_screen(bench: ConsoleBench, browser: Browser, lang: str) -> None:
    """Usable on a phone: at 390 px wide no page scrolls sideways as a whole (wide tables scroll
    inside their own box), and the navigation and forms stay on screen."""
    first = await ask_in_slack(bench, QUESTION)
    answer_id = decode(first.buttons()[0]["value"]).answer_id
    await bench.service.pin("ops", str(bench.docs / "deploy.md"))
    await browser.size(390, 844)
    await browser.go(f"{bench.url}/admin/login?lang={lang}")
    await browser.type("#name", "Dana")
    await browser.type("#password", PASSWORD)
    await browser.click("#sign-in")
    await browser.wait_for("#identity")
    for path in [
        "/admin/spaces",
        "/admin/spaces/ops",
        "/admin/sources",
        "/admin/bindings",
        "/admin/questions",
        f"/admin/questions/{answer_id}",
        f"/admin/review/{answer_id}",
        "/admin/verified",
        "/admin/usage",
    ]:
        await browser.go(bench.url + path)
        await browser.wait_for("main")
        page_width, view_width = await browser.script(
            "return [document.documentElement.scrollWidth, window.innerWidth]"
        )
        assert page_width <= view_width, f"{path} is {page_width}px wide on a {view_width}px screen"
        assert await browser.script("return document.documentElement.lang") == lang
