"""A crawled site in Slack, end to end: an admin pins the team's docs site with `/ragbot pin <url>
crawl`; a question about a page is answered citing the page's own URL; the page changes, the pin
runs (as the scheduler runs it), and the next answer cites the new text. The real slack-bolt app,
the fake Slack Web API, the real HttpFetcher against a local static site, and a model that answers
from the passage it is given (so what it says is what retrieval put in front of it)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from slack_fixtures import ADMIN, CHANNEL, open_bench

from bot.scheduler import PinScheduler
from core.backends.http_fetcher import HttpFetcher
from core.models import ChatMessage, OutcomeStatus
from core.settings import IngestSettings, SchedulerSettings
from core.testing.fake_site import FakeSite, page_html
from core.testing.scripted_chat import ScriptedChatModel

VPN_PAGE = "/handbook/vpn.html"


def answer_from_context(messages: Sequence[ChatMessage]) -> str:
    """The first sentence about the VPN in the context, citing its passage, as a model would."""
    prompt = messages[-1].content
    context = prompt.split("Passages:", 1)[1].split("\n\nQuestion:", 1)[0]
    for number, passage in re.findall(r"\[(\d+)\] (.*?)(?=\n\n\[\d+\] |\Z)", context, re.DOTALL):
        sentence = re.search(r"[^.\n]*\bVPN\b[^.\n]*\.", passage.split("\n", 1)[-1])
        if sentence:
            return f"{sentence.group(0).strip()} [{number}]"
    return "I could not find the answer in the documents."


def handbook() -> FakeSite:
    site = FakeSite()
    site.add(
        "/handbook/",
        page_html("Handbook", "Everything about working here.", links=["vpn.html", "leave.html"]),
    )
    site.add(
        VPN_PAGE, page_html("VPN", "To connect to the VPN, open WireGuard and import the office profile.")
    )
    site.add("/handbook/leave.html", page_html("Leave", "Ask for leave two weeks ahead in the HR portal."))
    return site


async def _command(bench, text: str, key: str) -> str:
    delivery = await bench.fake.send_command(
        bench.url, bench.fake.command(text, user=ADMIN, channel=CHANNEL, response_key=key)
    )
    assert delivery.status == 200
    (reply,) = await bench.fake.wait_for(
        lambda: [c for c in bench.fake.calls_of("response_url") if c.args["key"] == key], 20.0
    )
    return reply.args["text"]


async def test_an_answer_cites_the_crawled_page_and_follows_it_after_the_pin_runs(tmp_path: Path) -> None:
    site = handbook()
    await site.start()
    chat = ScriptedChatModel(answer_from_context)
    fetcher = HttpFetcher(IngestSettings(fetch_timeout=5.0))
    bench, close = await open_bench(
        tmp_path, chat=chat, service_options={"fetcher": fetcher, "cache_ttl_s": 0}
    )
    try:
        reply = await _command(bench, f"pin <{site.url}/handbook/> crawl every 1h", "pin")
        assert f"Pinned {site.url}/handbook/#crawl" in reply and "3 added" in reply
        status = await _command(bench, "status", "status")
        assert f"site {site.url}/handbook/#crawl: 3 documents" in status and "— ok" in status

        thread = await bench.mention("how do I connect to the VPN?")
        (first,) = await bench.final(CHANNEL, thread)
        assert "open WireGuard and import the office profile" in first.text
        footer = first.block_text()
        assert f"<{site.url}{VPN_PAGE}|VPN>" in footer  # the page's own URL, as a Slack link

        site.change(
            VPN_PAGE, page_html("VPN", "To connect to the VPN, install Tailscale and sign in with SSO.")
        )
        (pin,) = await bench.service.pins("ops")
        scheduler = PinScheduler(bench.service, SchedulerSettings())
        run = await scheduler.run_now(pin)  # what the scheduler does when the pin is due
        assert run is not None and run.error is None and run.report is not None
        assert run.report.count(OutcomeStatus.UPDATED) == 1 and run.report.count(OutcomeStatus.UNCHANGED) == 2

        thread = await bench.mention("how do I connect to the VPN now?")
        (second,) = await bench.final(CHANNEL, thread)
        assert "install Tailscale and sign in with SSO" in second.text
        assert "WireGuard" not in second.text
        assert f"<{site.url}{VPN_PAGE}|VPN>" in second.block_text()
        asked = chat.requests[-1][-1].content
        assert "Tailscale" in asked and "WireGuard" not in asked  # the old version left the index
    finally:
        await close()
        await site.aclose()
