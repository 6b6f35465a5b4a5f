"""The console's security model (docs/console.md), from outside, over real HTTP against the real
``ragbot serve`` runtime: nothing without a session, a CSRF token on every form, a rate-limited
sign-in, signed sessions that work across replicas and expire, secrets never rendered, strict
headers on every response."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from console_fixtures import (  # noqa: F401 - no_outside_settings is a fixture
    PASSWORD,
    ConsoleBench,
    ConsoleClient,
    Seeded,
    console_bench,
    hidden_value,
    no_outside_settings,
    open_console,
)

from bot.console import build_console, mount_console
from bot.console.context import LOGIN_COOKIE, SESSION_COOKIE
from bot.settings import ConsoleSettings
from bot.settings_check import check_settings
from core.errors import ConfigError
from core.settings import LLMSettings
from core.testing.fake_service import make_service
from core.testing.scripted_chat import ScriptedChatModel

pytestmark = pytest.mark.usefixtures("no_outside_settings")


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[ConsoleBench]:
    bench, close = await open_console(tmp_path, console={"login_attempts": 3, "login_window_s": 600})
    try:
        yield bench
    finally:
        await close()


@pytest.fixture
async def seeded(bench: ConsoleBench) -> Seeded:
    return await bench.seed()


def console_routes(service: Any) -> list[tuple[str, str]]:
    """(method, path template) of every route the console serves, read from its router."""
    app = build_console(ConsoleSettings(password=PASSWORD), service)
    out = []
    for route in app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        out.append((route.method, info.get("path") or info.get("formatter", "")))
    return out


def fill(template: str, seeded: Seeded) -> str:
    values = {
        "{space}": "ops",
        "{answer_id}": seeded.asked,
        "{pin_id}": str(seeded.file_pin),
        "{verified_id}": "v-1",
        "{tail}": "no/such/page",
    }
    for key, value in values.items():
        template = template.replace(key, value)
    return "/admin" + template


async def test_every_console_route_without_a_session_leads_to_sign_in_or_401(
    bench: ConsoleBench, seeded: Seeded
) -> None:
    routes = console_routes(bench.service)
    assert len(routes) >= 10, routes
    anonymous = bench.client()
    try:
        checked = 0
        for method, template in routes:
            path = fill(template, seeded)
            if template in ("/login", "/login/link"):
                continue  # public: the sign-in form, and sign-in links (checked below)
            for verb in ("GET", "POST") if method == "*" else (method,):
                if verb == "HEAD":
                    continue
                if verb == "GET":
                    page = await anonymous.get(path, follow=False)
                    assert page.status == 303, (verb, path, page.status)
                    assert page.headers["Location"].startswith("/admin/login?next="), (path, page.headers)
                else:
                    page = await anonymous.post(path, {"csrf": "guess"})
                    assert page.status == 401, (verb, path, page.status)
                assert seeded.asked not in page.text and "billing" not in page.text, path
                checked += 1
        assert checked >= 10
        for query in ("", "?token=", "?token=forged.token"):
            refused = await anonymous.get(f"/admin/login/link{query}", follow=False)
            assert refused.status == 403 and "sign-in link is not valid" in refused.css_text("#error")
        # the entry point and unknown paths too; and the redirect keeps the page asked for
        assert (await anonymous.get("/admin", follow=False)).headers["Location"] == "/admin/"
        landing = await anonymous.get(f"/admin/questions/{seeded.asked}")
        assert landing.url.endswith(f"/admin/login?next=/admin/questions/{seeded.asked}")
        assert landing.status == 200 and landing.html.css_first("form#login") is not None
    finally:
        await anonymous.aclose()
    # nothing was changed by the anonymous POSTs: the pin has not run again, nobody is signed in
    pins = {p.pin_id: p for p in await bench.service.pins()}
    assert pins[seeded.failing_pin].consecutive_failures == 1


async def test_signing_in_opens_the_page_asked_for_and_signing_out_closes_it(
    bench: ConsoleBench, seeded: Seeded
) -> None:
    person = bench.client()
    try:
        done = await person.login("Alice Smith", next_path=f"/admin/questions/{seeded.asked}")
        assert done.status == 303 and done.headers["Location"] == f"/admin/questions/{seeded.asked}"
        page = await person.get(done.headers["Location"])
        assert page.status == 200 and page.css_text("#identity") == "Signed in as console:Alice Smith"

        out = await person.post("/admin/logout", {"csrf": hidden_value(page, "csrf")})
        assert out.status == 303 and out.headers["Location"] == "/admin/login?signed_out=1"
        assert any(c.startswith(f"{SESSION_COOKIE}=") and "Max-Age=0" in c for c in out.cookies)
        assert (await person.get("/admin/spaces", follow=False)).status == 303
    finally:
        await person.aclose()


async def test_the_next_page_after_signing_in_stays_in_the_console(bench: ConsoleBench) -> None:
    for target in ["//evil.example/admin/", "https://evil.example/", "/other", "/admin\\@evil.example"]:
        person = bench.client()
        try:
            done = await person.login(next_path=target)
            assert done.status == 303 and done.headers["Location"] == "/admin/", target
        finally:
            await person.aclose()


async def test_a_wrong_password_is_refused_and_counted_then_the_address_waits(
    bench: ConsoleBench, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    person = bench.client()
    try:
        for _ in range(3):  # CONSOLE_LOGIN_ATTEMPTS=3 in this bench
            page = await person.login(password="not the password")
            assert page.status == 401 and page.css_text("#error") == "Wrong password."
            assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in page.cookies)
        blocked = await person.login()  # even the right password waits now
        assert blocked.status == 429
        assert 1 <= int(blocked.headers["Retry-After"]) <= 600
        assert "Too many failed attempts" in blocked.css_text("#error")
        assert (await person.get("/admin/spaces", follow=False)).status == 303
    finally:
        await person.aclose()
    assert "console.login_failed" in caplog.text and "console.login_throttled" in caplog.text
    assert "not the password" not in caplog.text and PASSWORD not in caplog.text


async def test_the_sign_in_form_needs_its_own_token(bench: ConsoleBench) -> None:
    """Login CSRF: a form posted from another site has no nonce cookie and no matching token."""
    stranger = bench.client()
    try:
        page = await stranger.post(
            "/admin/login", {"name": "mallory", "password": PASSWORD, "login_token": "forged", "next": ""}
        )
        assert page.status == 403 and "expired" in page.css_text("#error")
        assert not any(c.startswith(f"{SESSION_COOKIE}=") for c in page.cookies)
    finally:
        await stranger.aclose()


async def test_every_form_carries_a_csrf_token_and_every_post_checks_it(
    bench: ConsoleBench, seeded: Seeded
) -> None:
    person, other = bench.client(), bench.client()
    try:
        await person.login()
        await other.login("bob")
        await bench.service.verify_answer(
            "ops", "How do I roll back?", "Run make rollback.", author="cli:test"
        )
        pages = [
            "/admin/",
            "/admin/spaces/ops",
            "/admin/sources",
            "/admin/questions",
            f"/admin/questions/{seeded.asked}",
            f"/admin/review/{seeded.asked}",
            "/admin/verified",
        ]
        token = ""
        for path in pages:
            page = await person.get(path)
            forms = page.html.css("form[method=post]")
            assert forms, path
            for form in forms:
                field = form.css_first("input[name=csrf]")
                assert field is not None and field.attributes["value"], (path, form.attributes)
                token = field.attributes["value"] or ""
        others = await other.csrf()
        assert others != token, "each session has its own token"

        post_routes = [
            fill(t, seeded) for m, t in console_routes(bench.service) if m == "POST" and t != "/login"
        ]
        assert any("/run" in p for p in post_routes) and "/admin/logout" in post_routes
        for path in post_routes:
            for bad in ({}, {"csrf": ""}, {"csrf": "forged"}, {"csrf": others}):
                page = await person.post(path, bad)
                assert page.status == 403, (path, bad, page.status)
            crossed = await person.post(path, {"csrf": token}, headers={"Origin": "https://evil.example"})
            assert crossed.status == 403, path
        # none of them did anything: the failing pin did not run, the session is still open
        pins = {p.pin_id: p for p in await bench.service.pins()}
        assert pins[seeded.failing_pin].consecutive_failures == 1
        assert (await person.get("/admin/spaces", follow=False)).status == 200
        # and with the token the same form works
        ran = await person.post(f"/admin/sources/{seeded.failing_pin}/run", {"csrf": token})
        assert ran.status == 303 and ran.headers["Location"] == "/admin/sources?msg=ran_failed"
        pins = {p.pin_id: p for p in await bench.service.pins()}
        assert pins[seeded.failing_pin].consecutive_failures == 2
    finally:
        await person.aclose()
        await other.aclose()


async def test_sessions_are_signed_and_expire(tmp_path: Path) -> None:
    """A cookie made up or altered is no session; a real one ends after CONSOLE_SESSION_HOURS (by
    the console's clock); one made with another password is refused; another replica with the same
    password accepts it."""
    now = [1_000_000.0]
    service = make_service()
    await service.start()
    servers = []
    try:
        for password in (PASSWORD, PASSWORD, "a different password"):
            app = web.Application()
            settings = ConsoleSettings(password=password, session_hours=1)
            mount_console(app, build_console(settings, service, clock=lambda: now[0]))
            server = TestServer(app, host="127.0.0.1")
            await server.start_server()
            servers.append(server)
        first, replica, stranger = (str(s.make_url("")).rstrip("/") for s in servers)

        person = ConsoleClient(first)
        try:
            await person.login()
            cookie = next(c for c in person.http.cookie_jar if c.key == SESSION_COOKIE).value
        finally:
            await person.aclose()

        async def status(base: str, value: str) -> int:
            client = ConsoleClient(base)
            try:
                client.http.cookie_jar.update_cookies({SESSION_COOKIE: value})
                return (await client.get("/admin/spaces", follow=False)).status
            finally:
                await client.aclose()

        payload, mac = cookie.split(".")
        assert await status(first, cookie) == 200
        assert await status(replica, cookie) == 200, "replicas sharing the password share sessions"
        assert await status(stranger, cookie) == 303, "another password, another key"
        assert await status(first, f"{payload}.{mac[:-2]}AA") == 303
        assert await status(first, f"{payload[:-4]}AAAA.{mac}") == 303
        assert await status(first, "garbage") == 303
        now[0] += 3600 + 1
        assert await status(first, cookie) == 303, "expired after CONSOLE_SESSION_HOURS"
    finally:
        for server in servers:
            await server.close()
        await service.aclose()


async def test_a_refused_address_may_sign_in_again_once_the_window_has_passed() -> None:
    now = [1_000_000.0]
    service = make_service()
    await service.start()
    app = web.Application()
    settings = ConsoleSettings(password=PASSWORD, login_attempts=2, login_window_s=60)
    mount_console(app, build_console(settings, service, clock=lambda: now[0]))
    server = TestServer(app, host="127.0.0.1")
    await server.start_server()
    person = ConsoleClient(str(server.make_url("")).rstrip("/"))
    try:
        for _ in range(2):
            assert (await person.login(password="wrong guess")).status == 401
            now[0] += 10
        blocked = await person.login()
        assert blocked.status == 429 and blocked.headers["Retry-After"] == "40"
        now[0] += 39
        assert (await person.login()).status == 429
        now[0] += 2  # the first failure has left CONSOLE_LOGIN_WINDOW_S
        assert (await person.login(password="wrong again")).status == 401
        assert (await person.login()).status == 429, "two failures in the window again"
        now[0] += 60
        assert (await person.login()).status == 303
    finally:
        await person.aclose()
        await server.close()
        await service.aclose()


async def test_the_session_cookie_is_httponly_lax_and_secure_behind_https(bench: ConsoleBench) -> None:
    """Behind a TLS proxy (X-Forwarded-Proto: https) the cookies are Secure; the client here speaks
    plain http to the runtime, so the form's nonce cookie is sent back by hand, as a browser would
    over https."""
    for headers, secure in (({}, False), ({"X-Forwarded-Proto": "https"}, True)):
        person = bench.client(headers=headers)
        try:
            form = await person.get("/admin/login")
            nonce_cookie = next(c for c in form.cookies if c.startswith(f"{LOGIN_COOKIE}="))
            nonce = nonce_cookie.split(";")[0].split("=", 1)[1]
            done = await person.post(
                "/admin/login",
                {
                    "name": "alice",
                    "password": PASSWORD,
                    "login_token": hidden_value(form, "login_token"),
                    "next": "",
                },
                headers={"Cookie": f"{LOGIN_COOKIE}={nonce}"},
            )
            assert done.status == 303, done.text
            cookie = next(c for c in done.cookies if c.startswith(f"{SESSION_COOKIE}="))
            for c in (cookie, nonce_cookie):
                assert "HttpOnly" in c and "SameSite=Lax" in c and "Path=/admin" in c
                assert ("Secure" in c) is secure, c
        finally:
            await person.aclose()


async def test_every_response_forbids_framing_scripts_and_caching(
    bench: ConsoleBench, seeded: Seeded
) -> None:
    person = bench.client()
    try:
        responses = [await person.get("/admin/login"), await person.get("/admin/spaces", follow=False)]
        await person.login()
        for path in [
            "/admin/",
            "/admin/sources",
            "/admin/questions",
            f"/admin/questions/{seeded.asked}",
            "/admin/usage",
            "/admin/nope",
        ]:
            responses.append(await person.get(path))
        responses.append(await person.post("/admin/logout", {"csrf": "forged"}))
        for page in responses:
            h = page.headers
            assert h["X-Frame-Options"] == "DENY", page.url
            csp = h["Content-Security-Policy"]
            assert "default-src 'none'" in csp and "frame-ancestors 'none'" in csp and "script" not in csp
            assert h["Cache-Control"] == "no-store" and h["X-Content-Type-Options"] == "nosniff"
            assert "<script" not in page.text.lower()
            nonce = csp.split("'nonce-")[1].split("'")[0] if "nonce-" in csp else ""
            for style in page.html.css("style"):
                assert style.attributes.get("nonce") == nonce, page.url
    finally:
        await person.aclose()


async def test_secrets_never_reach_a_page(tmp_path: Path) -> None:
    bench, close = await open_console(
        tmp_path, slack=True, llm=LLMSettings(api_key="sk-llm-api-key-super-secret")
    )
    try:
        assert bench.slack is not None
        secrets = {
            "console password": PASSWORD,
            "slack token": bench.slack.token,
            "slack signing secret": bench.slack.signing_secret,
            "llm key": "sk-llm-api-key-super-secret",
            "pin token": "sekrit-pin-token-123",
        }
        seeded = await bench.seed()
        person = bench.client()
        try:
            await person.login()
            seen = []
            for path in [
                "/admin/",
                "/admin/spaces/ops",
                "/admin/sources",
                "/admin/bindings",
                "/admin/questions",
                f"/admin/questions/{seeded.asked}",
                "/admin/usage",
                "/admin/no/such",
            ]:
                page = await person.get(path)
                assert page.status in (200, 404), path
                seen.append(page.text + repr(page.headers))
            sources = await person.get("/admin/sources")
            assert "https://wiki.invalid/runbook?token=***" in sources.text, (
                "the location shows, its token not"
            )
            everything = "\n".join(seen)
            for name, value in secrets.items():
                assert value not in everything, f"the {name} reached a page"
        finally:
            await person.aclose()
    finally:
        await close()


async def test_the_console_does_not_start_without_a_strong_password(tmp_path: Path) -> None:
    for password in ("short", None):
        bench = console_bench(tmp_path, console={"password": password})
        with pytest.raises(ConfigError, match="CONSOLE_PASSWORD of at least 12 characters"):
            check_settings(bench.runtime.settings)
        with pytest.raises(ConfigError, match="CONSOLE_PASSWORD"):
            await bench.runtime.start()
        await bench.aclose()


async def test_off_by_default_no_console_route_exists(tmp_path: Path) -> None:
    assert ConsoleSettings().enabled is False
    bench, close = await open_console(tmp_path, console={"enabled": False})
    try:
        client = bench.client()
        try:
            for path in ["/admin", "/admin/", "/admin/login"]:
                assert (await client.get(path, follow=False)).status == 404, path
        finally:
            await client.aclose()
    finally:
        await close()


class SlowStart(ScriptedChatModel):
    """A model that loads until told to (the embedded one takes ~30 s)."""

    def __init__(self) -> None:
        super().__init__("ok")
        self.release = asyncio.Event()

    async def start(self) -> None:
        await self.release.wait()


async def test_the_console_says_starting_until_the_service_is_up(tmp_path: Path) -> None:
    """ragbot serve opens its HTTP server before the models load: the console answers 503 then,
    the sign-in form included, without touching the store that is not open yet."""
    chat = SlowStart()
    bench = console_bench(tmp_path, chat=chat)
    starting = asyncio.create_task(bench.runtime.start())
    client = None
    try:
        while bench.runtime._runner is None:  # noqa: ASYNC110 - the HTTP server comes up first
            await asyncio.sleep(0.01)
        client = bench.client()
        for path in ["/admin/login", "/admin/spaces"]:
            page = await client.get(path, follow=False)
            assert page.status == 503, path
            assert "starting" in page.css_text("#message")
        chat.release.set()
        await starting
        assert (await client.get("/admin/login")).status == 200
    finally:
        chat.release.set()
        await asyncio.gather(starting, return_exceptions=True)
        if client is not None:
            await client.aclose()
        await bench.aclose()
