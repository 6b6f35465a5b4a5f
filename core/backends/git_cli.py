"""Git repositories through the ``git`` program (``core.ports.GitClient``).

Each remote has a bare, shallow cache under ``DATA_DIR/sources/git/``: a run fetches the one
commit it needs (``git fetch --depth=1``), lists its tree with blob ids (``ls-tree -r -l``) and
reads the blobs it asks for in one ``cat-file --batch``. Git never prompts (GIT_TERMINAL_PROMPT=0,
SSH in batch mode): credentials come from the ragbot user's SSH keys or Git credential helper,
and a refusal becomes a message, not a hang. Each git command is bounded by GIT_TIMEOUT_S."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import signal
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import urlsplit

from core.errors import CoreError, SourceDenied, SourceNotFound, SourceUnreachable
from core.ports import GitEntry

__all__ = ["GitCli"]

log = logging.getLogger(__name__)

_FILE_MODES = {b"100644", b"100755"}


class GitCli:
    def __init__(self, cache_dir: Path, *, timeout_s: float = 300.0, program: str = "git") -> None:
        self.cache_dir = Path(cache_dir)
        self.timeout_s = timeout_s
        self.program = program
        self._locks: dict[str, asyncio.Lock] = {}

    async def fetch(self, remote: str, ref: str | None) -> str:
        repo = self._repo(remote)
        async with self._locks.setdefault(remote, asyncio.Lock()):
            if not (repo / "HEAD").exists():
                await asyncio.to_thread(repo.mkdir, parents=True, exist_ok=True)
                await self._run(remote, ref, "init", "--bare", "--quiet", str(repo), cwd=self.cache_dir)
            target = ref or "HEAD"
            local = f"refs/ragbot/{hashlib.sha1(target.encode()).hexdigest()[:16]}"
            await self._run(
                remote, ref, "fetch", "--depth=1", "--no-tags", "--quiet", "--force", remote, f"+{target}:{local}",
                cwd=repo,
            )  # fmt: skip
            out = await self._run(remote, ref, "rev-parse", "--verify", f"{local}^{{commit}}", cwd=repo)
        commit = out.decode().strip()
        log.debug("git.fetched remote=%s ref=%s commit=%s", remote, target, commit[:12])
        return commit

    async def list_files(self, remote: str, commit: str, under: str | None) -> list[GitEntry]:
        out = await self._run(
            remote, None, "ls-tree", "-r", "-l", "-z", "--full-tree", commit, cwd=self._repo(remote)
        )
        prefix = (under or "").strip("/")
        entries = []
        for record in out.split(b"\0"):
            if not record:
                continue
            meta, _, path_bytes = record.partition(b"\t")
            mode, kind, blob, size = meta.split()
            if kind != b"blob" or mode not in _FILE_MODES:
                continue  # links, submodules
            path = path_bytes.decode("utf-8", errors="surrogateescape")
            if prefix and path != prefix and not path.startswith(prefix + "/"):
                continue
            entries.append(GitEntry(path=path, blob=blob.decode(), size=int(size)))
        return entries

    async def read_blobs(self, remote: str, blobs: Sequence[str]) -> dict[str, bytes]:
        if not blobs:
            return {}
        request = "".join(f"{b}\n" for b in blobs).encode()
        out = await self._run(remote, None, "cat-file", "--batch", cwd=self._repo(remote), stdin=request)
        found: dict[str, bytes] = {}
        pos = 0
        for blob in blobs:
            end = out.index(b"\n", pos)
            header = out[pos:end].split()
            if len(header) < 3 or header[1] != b"blob":  # "<id> missing"
                raise SourceUnreachable(
                    f"The Git cache of {remote} lacks blob {blob}; it will be fetched again."
                )
            size = int(header[2])
            found[blob] = out[end + 1 : end + 1 + size]
            pos = end + 1 + size + 1
        return found

    def _repo(self, remote: str) -> Path:
        return self.cache_dir / hashlib.sha1(remote.encode()).hexdigest()[:20]

    async def _run(
        self, remote: str, ref: str | None, *args: str, cwd: Path, stdin: bytes | None = None
    ) -> bytes:
        env = dict(os.environ)
        env.update({"GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C", "LANG": "C"})
        env.setdefault("GIT_SSH_COMMAND", "ssh -o BatchMode=yes")
        try:
            proc = await asyncio.create_subprocess_exec(
                self.program, *args, cwd=cwd, env=env,
                stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                start_new_session=True,  # its helpers (git-remote-https, ssh) are stopped with it
            )  # fmt: skip
        except FileNotFoundError as e:
            raise SourceUnreachable(
                f"Cannot read Git repositories: the '{self.program}' program is not installed (apt-get install git)."
            ) from e
        try:
            out, err = await asyncio.wait_for(proc.communicate(stdin), timeout=self.timeout_s)
        except asyncio.CancelledError:  # shutting down: git does not outlive the run
            _kill_group(proc.pid)
            raise
        except TimeoutError as e:
            _kill_group(proc.pid)
            await proc.wait()
            raise SourceUnreachable(
                f"git {args[0]} of {remote} took longer than {self.timeout_s:g} s (GIT_TIMEOUT_S); "
                "it was stopped."
            ) from e
        if proc.returncode != 0:
            error = _explain(remote, ref, err.decode("utf-8", errors="replace"))
            log.warning("git.failed command=%s remote=%s code=%s stderr=%s", args[0], remote,
                        proc.returncode, err.decode("utf-8", errors="replace").strip()[-500:])  # fmt: skip
            raise error
        return out


def _kill_group(pid: int) -> None:
    """The whole process group: a helper left running (git-remote-https, ssh) would hold the
    pipes open, and ``wait()`` with them."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, signal.SIGKILL)


def _explain(remote: str, ref: str | None, stderr: str) -> CoreError:
    """git's stderr -> a sentence for the person who asked."""
    text = stderr.lower()
    host = urlsplit(remote).hostname or remote
    if (
        "could not resolve host" in text
        or "name or service not known" in text
        or "could not resolve hostname" in text
    ):
        return SourceUnreachable(f"Cannot find the host {host}: the name does not resolve.")
    if "connection refused" in text or "couldn't connect to server" in text or "failed to connect" in text:
        return SourceUnreachable(f"{host} refused the connection (nothing is listening on that port).")
    if "timed out" in text:
        return SourceUnreachable(f"{host} did not answer (the connection timed out).")
    if "couldn't find remote ref" in text or "invalid refspec" in text:
        return SourceNotFound(f"There is no branch or tag '{ref or 'HEAD'}' in {remote}.")
    if any(
        sign in text
        for sign in (
            "authentication failed",
            "could not read username",
            "could not read password",
            "permission denied (publickey",
            "host key verification failed",
            "the requested url returned error: 401",
            "the requested url returned error: 403",
        )
    ):
        return SourceDenied(
            f"{remote} refused access: give ragbot's user an SSH key (git+ssh://) or a Git credential "
            "helper that can read it."
        )
    if (
        "not found" in text
        or "does not appear to be a git repository" in text
        or "does not exist" in text
        or "no such file or directory" in text
    ):
        return SourceNotFound(f"There is no Git repository at {remote} (or ragbot may not read it).")
    last = next((line.strip() for line in reversed(stderr.splitlines()) if line.strip()), "no message")
    return SourceUnreachable(f"git could not read {remote}: {last}")
