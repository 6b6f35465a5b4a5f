"""The console as docs/console.md tells an operator to turn it on: the real `ragbot serve` command
with CONSOLE_ENABLED and CONSOLE_PASSWORD in its environment. The run with real backends loads the
embedder, so it is marked slow."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest
from selectolax.lexbor import LexborHTMLParser

from core.testing.fake_llm_servers import FakeLLMServer

PASSWORD = "a console password for tests"


def ragbot(*args: str, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    """The installed `ragbot` console script of this virtualenv, with nothing of the caller's
    environment but PATH (and PYTHONPATH, which points a worktree's tests at its own code)."""
    script = Path(sys.executable).with_name("ragbot")
    assert script.is_file(), "ragbot is not installed in this environment (pip install -e .)"
    base = {"PATH": os.environ.get("PATH", ""), "HOME": str(cwd)}
    if os.environ.get("PYTHONPATH"):
        base["PYTHONPATH"] = os.environ["PYTHONPATH"]
    return subprocess.Popen(
        [str(script), *args],
        env=base | env,
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_ragbot_serve_refuses_a_console_without_a_strong_password(tmp_path: Path) -> None:
    process = ragbot(
        "serve",
        env={"CONSOLE_ENABLED": "true", "CONSOLE_PASSWORD": "hunter2", "DATA_DIR": str(tmp_path)},
        cwd=tmp_path,
    )
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 1, stderr
    assert "CONSOLE_PASSWORD of at least 12 characters" in stderr
    assert "hunter2" not in stderr


@pytest.mark.slow
async def test_ragbot_serve_with_the_console_on_signs_an_admin_in(tmp_path: Path) -> None:
    port = free_port()
    async with FakeLLMServer("openai", model="fake-model") as llm:
        env = {
            "DATA_DIR": str(tmp_path / "data"),
            "PORT": str(port),
            "LLM_MODE": "vllm",
            "LLM_BASE_URL": llm.base_url,
            "LLM_MODEL": "fake-model",
            "HF_HUB_OFFLINE": "1",
            "CONSOLE_ENABLED": "true",
            "CONSOLE_PASSWORD": PASSWORD,
        }
        process = ragbot("serve", env=env, cwd=tmp_path)
        url = f"http://127.0.0.1:{port}"
        try:
            async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as http:
                for _ in range(1200):  # up to 2 minutes for imports and models
                    assert process.poll() is None, process.communicate()[1]
                    try:
                        async with http.get(f"{url}/readyz") as r:
                            if r.status == 200:
                                break
                    except aiohttp.ClientConnectionError:
                        pass
                    await asyncio.sleep(0.1)
                async with http.get(f"{url}/admin") as r:
                    assert r.status == 200 and str(r.url).endswith("/admin/login?next=/admin/")
                    form = LexborHTMLParser(await r.text())
                token = form.css_first("input[name=login_token]").attributes["value"]
                data = {
                    "name": "ops lead",
                    "password": PASSWORD,
                    "login_token": token,
                    "next": "/admin/usage",
                }
                async with http.post(f"{url}/admin/login", data=data) as r:
                    assert r.status == 200 and str(r.url).endswith("/admin/usage")
                    page = LexborHTMLParser(await r.text())
                assert page.css_first("#identity").text() == "Signed in as console:ops lead"
                async with http.get(f"{url}/admin/questions") as r:
                    assert r.status == 200
            process.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.to_thread(process.communicate, timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.communicate()
    assert process.returncode == 0, stderr
    assert "serve.route console /admin/" in stderr and "console.login identity=console:ops lead" in stderr
    assert PASSWORD not in stderr
