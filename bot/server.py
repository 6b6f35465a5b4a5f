"""`ragbot serve`: run the ``Runtime`` until SIGTERM or SIGINT, then shut it down gracefully.

One process serves everything: ragbot is asyncio, so one process handles many concurrent
questions (the model server, not the web tier, is the bottleneck; the spec's "2-4 Uvicorn
workers" are replaced by one event loop and LLM_CONCURRENCY). Several replicas are possible with
a Qdrant server and PostgreSQL (docs/deployment.md: what runs where).

Exit codes: 0 after a clean shutdown; 1 when the settings are wrong or a component cannot start
(the CLI prints the ``CoreError`` message: "error: Cannot reach Qdrant at ..."). A signal during
the start (loading the model takes a while) stops the start and exits 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal

from bot.runtime import Runtime, build_runtime
from bot.settings import Settings

__all__ = ["run", "serve_until_stopped"]

log = logging.getLogger(__name__)

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


async def run(settings: Settings) -> int:
    runtime = build_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()

    def on_signal(sig: signal.Signals) -> None:
        if stop.is_set():
            log.warning("serve.signal_again signal=%s: still closing answers in flight", sig.name)
            return
        log.info("serve.signal signal=%s", sig.name)
        stop.set()

    installed = []
    for sig in _SIGNALS:
        with contextlib.suppress(NotImplementedError, RuntimeError):  # not on Windows / not the main thread
            loop.add_signal_handler(sig, on_signal, sig)
            installed.append(sig)
    try:
        await serve_until_stopped(runtime, stop)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)
    return 0


async def serve_until_stopped(runtime: Runtime, stop: asyncio.Event) -> None:
    """Start the runtime, wait for ``stop``, close it. A failed start is closed at once (grace 0)
    and its error raised; a stop during the start cancels the start."""
    starting = asyncio.create_task(runtime.start(), name="runtime-start")
    stopped = asyncio.create_task(stop.wait(), name="stop-signal")
    try:
        await asyncio.wait({starting, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not starting.done():
            log.info("serve.start_interrupted")
            starting.cancel()
            await asyncio.gather(starting, return_exceptions=True)
            await runtime.aclose(0)
            return
        if starting.exception() is not None:
            await runtime.aclose(0)
            starting.result()  # raises the start's error
        await stopped
        await runtime.aclose()
    finally:
        stopped.cancel()
        if not starting.done():
            starting.cancel()
        await asyncio.gather(starting, stopped, return_exceptions=True)
