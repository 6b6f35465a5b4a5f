"""Signing in to the console as a chat identity (docs/console.md): an admin asks the bot for a
one-time link (`/ragbot console` in Slack, `/console` in a private Telegram chat) and follows it.
Non-admins get no link, a link for a non-admin identity is refused, a link works once and for
five minutes, and an admin removed from the bot loses the console at once.

Slack runs through the real serve runtime and the local fake Slack; Telegram through the real
adapter and the local fake Bot API, with the console served beside it."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from console_fixtures import (  # noqa: F401 - no_outside_settings is a fixture
    PASSWORD,
    SLACK_ADMIN,
    SLACK_USER,
    ConsoleBench,
    ConsoleClient,
    hidden_value,
    no_outside_settings,
    open_console,
)
from telegram_fixtures import ADMIN, GROUP, USER, TelegramBench, make_bench_service, settings_for

from bot.console import build_console, mount_console, sign_in_links
from bot.console.identities import ConsoleAdmins
from bot.settings import ConsoleSettings
from bot.telegram.adapter import TelegramAdapter
from bot.testing.fake_telegram import FakeTelegram
from core.testing.scripted_chat import ScriptedChatModel

pytestmark = pytest.mark.usefixtures("no_outside_settings")

PUBLIC = "https://ragbot.example.com"  # CONSOLE_PUBLIC_URL: where people open the console
LINK = re.compile(re.escape(PUBLIC) + r"(/admin/login/link\?token=[^\s>|)]+)")


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[ConsoleBench]:
    bench, close = await open_console(tmp_path, slack=True, console={"public_url": PUBLIC})
    try:
        yield bench
    finally:
        await close()


async def slash(bench: ConsoleBench, text: str, *, user: str, key: str) -> str:
    fake = bench.slack
    assert fake is not None
    delivery = await fake.send_command(
        bench.url + "/slack/events", fake.command(text, user=user, channel="C0ANY", response_key=key)
    )
    assert delivery.status == 200
    (reply,) = await fake.wait_for(lambda: [c for c in fake.calls_of("response_url") if c.args["key"] == key])
    assert reply.args["response_type"] == "ephemeral", "a sign-in link is for the person alone"
    return reply.args["text"]


def link_path(reply: str) -> str:
    found = LINK.search(reply)
    assert found is not None, reply
    return found.group(1)


async def test_a_slack_admin_signs_in_with_a_link_from_the_bot_once(bench: ConsoleBench) -> None:
    reply = await slash(bench, "console", user=SLACK_ADMIN, key="r-console")
    assert "works once, for 5 minutes" in reply
    path = link_path(reply)

    browser = bench.client()
    try:
        signed_in = await browser.get(path, follow=False)
        assert signed_in.status == 303 and signed_in.headers["Location"] == "/admin/"
        page = await browser.get("/admin/")
        assert page.css_text("#identity") == f"Signed in as slack:{SLACK_ADMIN}"
    finally:
        await browser.aclose()

    again = bench.client()
    try:
        used = await again.get(path, follow=False)
        assert (
            used.status == 403
            and used.css_text("#error") == "This sign-in link was used already. Ask the bot for a new one."
        )
        assert (await again.get("/admin/spaces", follow=False)).status == 303, "no session from a used link"
    finally:
        await again.aclose()


async def test_a_non_admin_gets_no_link_and_a_link_for_one_is_refused(bench: ConsoleBench) -> None:
    reply = await slash(bench, "console", user=SLACK_USER, key="r-user")
    assert "only ragbot admins" in reply and PUBLIC not in reply

    # a link made with the console's key for someone who is not an admin (say, an admin's link
    # tool misused): the console checks the identity itself
    links = sign_in_links(bench.runtime.settings.console)
    assert links is not None
    person = bench.client()
    try:
        refused = await person.get(links.issue(f"slack:{SLACK_USER}").removeprefix(PUBLIC), follow=False)
        assert refused.status == 403
        assert (
            refused.css_text("#error")
            == "This chat account is not a ragbot admin, so it cannot use the console."
        )
        assert not any(c.startswith("ragbot_console=") for c in refused.cookies)
        for made_up in ("slack:", "nobody:U1", "console", "console:mallory"):
            assert (await person.get(links.issue(made_up).removeprefix(PUBLIC), follow=False)).status == 403
        assert (await person.get("/admin/spaces", follow=False)).status == 303
    finally:
        await person.aclose()


async def test_links_expire_and_cannot_be_altered(bench: ConsoleBench) -> None:
    settings = bench.runtime.settings.console
    stale = sign_in_links(settings, clock=lambda: time.time() - 301)
    assert stale is not None
    person = bench.client()
    try:
        expired = await person.get(stale.issue(f"slack:{SLACK_ADMIN}").removeprefix(PUBLIC), follow=False)
        assert expired.status == 403 and "not valid or has expired" in expired.css_text("#error")

        path = link_path(await slash(bench, "console", user=SLACK_ADMIN, key="r-alter"))
        token = path.split("token=", 1)[1]
        payload, mac = token.split(".")
        forged = await person.get(f"/admin/login/link?token={payload[:-3]}AAA.{mac}", follow=False)
        assert forged.status == 403
        other_key = sign_in_links(
            ConsoleSettings(enabled=True, password="another password!", public_url=PUBLIC)
        )
        assert other_key is not None
        foreign = await person.get(other_key.issue(f"slack:{SLACK_ADMIN}").removeprefix(PUBLIC), follow=False)
        assert foreign.status == 403
        assert (await person.get("/admin/spaces", follow=False)).status == 303
    finally:
        await person.aclose()


async def test_an_admin_removed_from_the_bot_loses_the_console_at_once(bench: ConsoleBench) -> None:
    await bench.service.add_admin("slack", "U0OPS")  # `ragbot admins add --platform slack U0OPS`
    path = link_path(await slash(bench, "console", user="U0OPS", key="r-ops"))
    person = bench.client()
    try:
        assert (await person.get(path, follow=False)).status == 303
        page = await person.get("/admin/sources")
        assert page.status == 200 and page.css_text("#identity") == "Signed in as slack:U0OPS"
        csrf = hidden_value(await person.get("/admin/questions"), "csrf")

        assert await bench.service.remove_admin("slack", "U0OPS")
        gone = await person.get("/admin/sources", follow=False)
        assert gone.status == 303 and gone.headers["Location"] == "/admin/login?not_admin=1"
        told = await person.get(gone.headers["Location"])
        assert (
            told.css_text("#error")
            == "This chat account is not a ragbot admin, so it cannot use the console."
        )
        assert (await person.post("/admin/logout", {"csrf": csrf})).status in (401, 403)
    finally:
        await person.aclose()


async def test_without_a_public_url_the_bot_says_how_to_turn_links_on(tmp_path: Path) -> None:
    bench, close = await open_console(tmp_path, slack=True)
    try:
        reply = await slash(bench, "console", user=SLACK_ADMIN, key="r-off")
        assert "sign-in links are off" in reply and "CONSOLE_PUBLIC_URL" in reply
    finally:
        await close()


async def test_a_telegram_admin_gets_a_link_in_a_private_chat_only(tmp_path: Path) -> None:
    fake = await FakeTelegram().start()
    service = await make_bench_service(tmp_path, ScriptedChatModel("ok"))
    console_settings = ConsoleSettings(enabled=True, password=PASSWORD, public_url=PUBLIC)
    adapter = TelegramAdapter(settings_for(fake), service, console=sign_in_links(console_settings))
    await adapter.start()
    app = web.Application()
    mount_console(
        app, build_console(console_settings, service, admins=ConsoleAdmins(service, telegram=[ADMIN]))
    )
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    person = ConsoleClient(str(server.make_url("")).rstrip("/"))
    try:
        tg = TelegramBench(fake, adapter, service, ScriptedChatModel("ok"))
        await tg.group("/console", user=ADMIN)
        assert "in a private chat" in tg.texts(GROUP)[-1] and PUBLIC not in tg.texts(GROUP)[-1]
        await tg.dm("/console", user=USER)
        assert "only ragbot admins" in tg.texts(USER)[-1]
        await tg.dm("/console", user=ADMIN)
        path = link_path(tg.texts(ADMIN)[-1].replace("&amp;", "&"))
        assert (await person.get(path, follow=False)).status == 303
        assert (await person.get("/admin/")).css_text("#identity") == f"Signed in as telegram:{ADMIN}"
    finally:
        await person.aclose()
        await server.close()
        await adapter.aclose(grace_s=1.0)
        await service.aclose()
        await fake.aclose()
