"""The child process of the embedded LLM backend: hosts llama.cpp's own HTTP server
(xllamacpp) on a free loopback port.

Run as a script by ``llm_embedded`` (``python llamacpp_server.py``), not imported: it needs only
the standard library and xllamacpp. The protocol with the parent is three lines long:

1. the parent writes one JSON line of configuration to stdin (stdin, not argv, because it holds
   the per-run API key and argv is visible to every user of the machine);
2. the child answers one JSON line on stdout: ``{"ok": true, "address": "http://127.0.0.1:PORT"}``
   once the model is loaded and the server listens, or ``{"ok": false, "error": "..."}``;
3. the child serves until its stdin reaches end-of-file, then exits at once.

Because of (3) the server cannot outlive the bot: when the parent exits or is killed, the
kernel closes the pipe and the child follows. llama.cpp's log goes to stderr, which the parent
reads.

Why a process and not the in-process ``xllamacpp.Server``: a llama.cpp abort (a bad model
file, an assertion) must not take the Slack and Telegram adapters down with it, and a stuck
server can always be killed.
"""

from __future__ import annotations

import json
import os
import signal
import sys


def _answer(payload: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(payload) + "\n")
    sys.stdout.flush()


def main() -> int:
    # Ctrl-C in a terminal reaches the whole process group; the parent decides when we stop.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        config = json.loads(sys.stdin.readline())
    except ValueError as e:
        _answer({"ok": False, "error": f"unreadable configuration: {e}"})
        return 2
    try:
        import xllamacpp
    except ImportError as e:
        _answer({"ok": False, "error": f"xllamacpp is not installed ({e}); pip install xllamacpp"})
        return 2

    params = xllamacpp.CommonParams()
    params.model.path = config["model_path"]
    params.hostnames = ["127.0.0.1"]
    params.port = 0  # the kernel picks a free port; listening_address reports it
    params.n_parallel = int(config["parallel"])
    params.n_ctx = int(config["n_ctx"]) * params.n_parallel  # llama.cpp splits n_ctx between slots
    threads = int(config.get("threads") or 0)
    if threads > 0:
        params.cpuparams.n_threads = threads
        params.cpuparams_batch.n_threads = threads
    params.api_keys = [config["api_key"]]
    params.model_alias = {config["alias"]}
    try:
        server = xllamacpp.Server(params)
    except Exception as e:  # xllamacpp raises RuntimeError; the log on stderr says why
        _answer({"ok": False, "error": str(e)})
        return 1
    _answer({"ok": True, "address": server.listening_address})
    sys.stdin.buffer.read()  # returns at end-of-file: the parent closed the pipe, or died
    # Exit at once. A graceful ``del server`` waits for the running llama.cpp batch, and a long
    # prompt's prefill cannot be interrupted: the child would linger for a minute after the bot.
    # There is nothing to save (the model is mapped read-only, the KV cache is memory).
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
