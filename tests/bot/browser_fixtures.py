"""A real browser for the console tests: Debian's Chromium driven by Selenium through Debian's
chromedriver (both named, so Selenium Manager downloads nothing), headless, with a fresh profile
and its background networking off (the test machine has no internet, and Chromium waits on it).

Selenium's calls block; the console runs on the test's own event loop, so every browser call goes
through ``asyncio.to_thread`` (``Browser``) and the server keeps answering meanwhile.

CI installs ``chromium`` and ``chromium-driver`` (.ci/run) and sets RAGBOT_REQUIRE_BROWSER=1:
there a missing browser fails the test; elsewhere the test is skipped, loudly."""

from __future__ import annotations

import asyncio
import os
import shutil
import tempfile
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
FLAGS = (
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
WAIT_S = 20.0


def _missing() -> str | None:
    return ", ".join(str(p) for p in (CHROMIUM, CHROMEDRIVER) if not p.exists()) or None


class Browser:
    """One Chromium window; the async face of Selenium's blocking calls."""

    def __init__(self, driver: Any) -> None:
        self.driver = driver

    async def _run(self, fn: Callable[[], Any]) -> Any:
        return await asyncio.to_thread(fn)

    async def go(self, url: str) -> None:
        await self._run(lambda: self.driver.get(url))

    async def size(self, width: int, height: int) -> None:
        await self._run(lambda: self.driver.set_window_size(width, height))

    async def wait_for(self, css: str) -> Any:
        """The element once it is on the page (after a navigation, say)."""
        return await self._run(
            lambda: WebDriverWait(self.driver, WAIT_S).until(
                ec.presence_of_element_located((By.CSS_SELECTOR, css))
            )
        )

    async def type(self, css: str, text: str) -> None:
        element = await self.wait_for(css)
        await self._run(lambda: (element.clear(), element.send_keys(text)))

    async def click(self, css: str) -> None:
        element = await self.wait_for(css)
        await self._run(element.click)

    async def text(self, css: str) -> str:
        element = await self.wait_for(css)
        return await self._run(lambda: element.text)

    async def url(self) -> str:
        return await self._run(lambda: self.driver.current_url)

    async def script(self, js: str) -> Any:
        return await self._run(lambda: self.driver.execute_script(js))


@pytest.fixture(name="browser")
async def browser_fixture() -> AsyncIterator[Browser]:
    missing = _missing()
    if missing:
        why = (
            f"no browser for the console tests: missing {missing} (apt-get install chromium chromium-driver)"
        )
        if os.environ.get("RAGBOT_REQUIRE_BROWSER") == "1":
            pytest.fail(f"a browser is required (RAGBOT_REQUIRE_BROWSER=1) but {why}")
        pytest.skip(f"!!! BROWSER TEST NOT RUN: {why}")
    profile = tempfile.mkdtemp(prefix="ragbot-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = str(CHROMIUM)
    for flag in (*FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = await asyncio.to_thread(
        lambda: webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
    )
    try:
        await asyncio.to_thread(driver.set_window_size, 1280, 900)
        yield Browser(driver)
    finally:
        await asyncio.to_thread(driver.quit)
        shutil.rmtree(profile, ignore_errors=True)
