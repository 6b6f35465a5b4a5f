"""Running ragbot the way README.md and docs/ tell an operator to, and looking at it only from
outside (HOUSE_STYLE.md, habit 11).

- ``Deployment``: one team's installation: a working folder (``data/``, documents, ``.env`` live
  there) and the environment its commands run with. Commands run the installed ``ragbot``
  console script as a subprocess; what they print and return is all a test sees.
- ``Server``: ``ragbot serve`` in a subprocess, reached over HTTP, stopped with SIGTERM.
- The platforms and the model are the local servers that speak their APIs
  (``bot/testing/fake_slack.py``, ``bot/testing/fake_telegram.py``,
  ``core/testing/fake_llm_servers.py``): what ragbot sends them is what a platform would see.

Nothing of ragbot's internals is imported here or in the tests
(``test_acceptance_tests_stay_outside`` checks it). The environment a command runs with starts
clean: every variable ``.env.example`` lists is removed from the caller's environment, so only
what a test sets, as an operator would, reaches ragbot."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

__all__ = [
    "REPO",
    "RAGBOT",
    "Deployment",
    "Result",
    "Server",
    "documented_variables",
    "free_port",
    "json_lines",
    "model_questions",
]

REPO = Path(__file__).resolve().parents[2]
# the console script the package installs, next to the interpreter running the tests
RAGBOT = Path(shutil.which("ragbot", path=str(Path(sys.executable).parent)) or "ragbot")


def documented_variables() -> list[str]:
    """Every variable ``.env.example`` lists, ragbot's and docker compose's, in its order."""
    names = []
    for line in (REPO / ".env.example").read_text(encoding="utf-8").splitlines():
        m = re.match(r"#\s*([A-Z][A-Z0-9_]*)=", line)
        if m:
            names.append(m.group(1))
    return names


# The last line of a prompt asked again because the first answer came in the other language
# (docs/answering.md): the local model servers answer in English whatever the question's language.
_INSIST = ("Answer in English only (not in Russian)", "Отвечай только на русском языке")


def model_questions(requests: list[Any]) -> list[Any]:
    """The chat requests a model server received, one per question: the language retries left out."""
    chats = [r for r in requests if r.path.endswith(("/chat/completions", "/api/chat", "/generate_stream"))]
    return [r for r in chats if not any(line in r.prompt_text for line in _INSIST)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def json_lines(text: str) -> Any:
    """The JSON document a ``--json`` command printed (log lines go to stderr)."""
    return json.loads(text)


@dataclass(frozen=True)
class Result:
    args: tuple[str, ...]
    code: int
    out: str
    err: str

    @property
    def text(self) -> str:
        return self.out + self.err

    def __str__(self) -> str:
        return f"ragbot {' '.join(self.args)} -> {self.code}\n--- stdout\n{self.out}\n--- stderr\n{self.err[-4000:]}"


class Deployment:
    """A team's installation in ``root``: commands run there (``data/`` is relative to it)."""

    def __init__(self, root: Path, **env: str) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        documented = set(documented_variables())
        self.env = {k: v for k, v in os.environ.items() if k not in documented}
        # the Makefile's environment: no model hub on this machine (README, set-up)
        self.env |= {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "PYTHONUNBUFFERED": "1"}
        self.env |= env
        self._servers = 0

    def set(self, **env: str) -> None:
        self.env |= env

    def unset(self, *names: str) -> None:
        for name in names:
            self.env.pop(name, None)

    async def cli(self, *args: str, env: Mapping[str, str] | None = None, within: float = 300.0) -> Result:
        process = await asyncio.create_subprocess_exec(
            str(RAGBOT),
            *args,
            cwd=self.root,
            env=self.env | dict(env or {}),
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), within)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AssertionError(f"ragbot {' '.join(args)} did not finish within {within:.0f} s") from None
        return Result(tuple(args), process.returncode or 0, out.decode(), err.decode())

    async def ok(self, *args: str, env: Mapping[str, str] | None = None, within: float = 300.0) -> Result:
        """Run a command that must succeed."""
        result = await self.cli(*args, env=env, within=within)
        assert result.code == 0, str(result)
        return result

    def server(self, **env: str) -> Server:
        self._servers += 1
        return Server(self, env, self.root / f"serve-{self._servers}.log")


class Server:
    """``ragbot serve`` on a free port of 127.0.0.1; its log is kept in the deployment's folder."""

    def __init__(self, deployment: Deployment, env: Mapping[str, str], log_path: Path) -> None:
        self.deployment = deployment
        self.port = free_port()
        self.env = deployment.env | {"HOST": "127.0.0.1", "PORT": str(self.port)} | dict(env)
        self.log_path = log_path
        self.process: asyncio.subprocess.Process | None = None
        self.returncode: int | None = None

    @property
    def url(self) -> str:
        """Where the server is reached: the HOST it was started with (127.0.0.1 unless a test set
        another loopback address)."""
        return f"http://{self.env['HOST']}:{self.port}"

    @property
    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace") if self.log_path.exists() else ""

    async def start(self, *, ready: bool = True, within: float = 180.0) -> Server:
        """Start and wait until ``/healthz`` answers (and ``/readyz`` says ready, unless not
        ``ready``). A process that exits first fails the test with its log."""
        await self.launch()
        await self.wait_for("/healthz", within=within)
        if ready:
            await self.wait_for("/readyz", within=within)
        return self

    async def launch(self) -> None:
        """Start the process and return at once (a test of a refused start waits for its exit)."""
        with self.log_path.open("ab") as log:
            self.process = await asyncio.create_subprocess_exec(
                str(RAGBOT),
                "serve",
                cwd=self.deployment.root,
                env=self.env,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=asyncio.subprocess.STDOUT,
            )

    async def wait_for(self, path: str, *, within: float = 180.0) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            if self.process is not None and self.process.returncode is not None:
                raise AssertionError(
                    f"ragbot serve exited with {self.process.returncode}:\n{self.log[-6000:]}"
                )
            with contextlib.suppress(aiohttp.ClientError, TimeoutError):
                status, _ = await self.get(path)
                if status == 200:
                    return
            if loop.time() > deadline:
                raise AssertionError(f"{path} was not 200 within {within:.0f} s:\n{self.log[-6000:]}")
            await asyncio.sleep(0.1)

    async def get(self, path: str) -> tuple[int, Any]:
        timeout = aiohttp.ClientTimeout(total=10)
        async with aiohttp.ClientSession(timeout=timeout) as http, http.get(self.url + path) as response:
            if response.content_type == "application/json":
                return response.status, await response.json()
            return response.status, await response.text()

    async def post(self, path: str, data: bytes | str, headers: Mapping[str, str]) -> tuple[int, str]:
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as http,
            http.post(self.url + path, data=data, headers=dict(headers)) as response,
        ):
            return response.status, await response.text()

    async def stop(self, sig: int = signal.SIGTERM, *, within: float = 60.0) -> int:
        """Send ``sig`` and wait for the process to end; its exit code."""
        if self.process is None:
            return 0
        if self.process.returncode is None:
            self.process.send_signal(sig)
            try:
                await asyncio.wait_for(self.process.wait(), within)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
                raise AssertionError(
                    f"ragbot serve did not stop within {within:.0f} s:\n{self.log[-4000:]}"
                ) from None
        self.returncode = self.process.returncode
        return self.returncode

    async def wait_exit(self, *, within: float = 120.0) -> int:
        """For a process expected to stop by itself (a refused configuration)."""
        assert self.process is not None
        await asyncio.wait_for(self.process.wait(), within)
        self.returncode = self.process.returncode
        return self.returncode or 0

    async def __aenter__(self) -> Server:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()
