"""Run a command with its memory capped by a cgroup, to measure what a component needs rather
than what it happens to hold.

A process's resident memory includes file pages it has read (Qdrant's payload and write-ahead
log, mapped from disk); the kernel drops those under pressure, so RSS overstates the need. Under
a cgroup limit the kernel must keep the whole process (Python, libraries, the engine, its heap and
whatever file pages it keeps touching) within the cap, and the search latency shows what that
costs. Needs a writable cgroup memory controller (v1 ``/sys/fs/cgroup/memory`` or v2 with the
memory controller delegated), which usually means root; otherwise ``run_capped`` says why not.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path

__all__ = ["CappedRun", "evict_file_pages", "run_capped"]

_V1 = Path("/sys/fs/cgroup/memory")
_V2 = Path("/sys/fs/cgroup")


@dataclass(frozen=True)
class CappedRun:
    stdout: str
    peak_mb: float | None  # the cgroup's peak usage (process memory + page cache charged to it)
    limit_hits: int | None  # times the cap forced reclaim (v1 failcnt, v2 memory.events max)


def evict_file_pages(root: Path) -> None:
    """Drop the page cache of every file under ``root`` (written back first), so the next reader
    faults them in again, charged to its own cgroup: pages cached earlier stay charged to whoever
    read them and would slip past the cap."""
    for path in root.rglob("*"):
        if not path.is_file():
            continue
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def _cgroup_dir() -> tuple[Path, str] | str:
    """A fresh cgroup and its version, or why none can be made."""
    name = f"ragbot-bench-{uuid.uuid4().hex[:8]}"
    if (_V1 / "memory.limit_in_bytes").exists():
        path, version = _V1 / name, "v1"
    elif "memory" in _read(_V2 / "cgroup.subtree_control"):
        path, version = _V2 / name, "v2"
    else:
        return "no cgroup memory controller this process may use"
    try:
        path.mkdir()
    except OSError as e:
        return f"cannot create a cgroup ({e.strerror}); run the benchmark as root"
    return path, version


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except OSError:
        return ""


def _limit(path: Path, version: str, limit_mb: int | None) -> None:
    # no swap: under the cap the kernel must drop file pages, not park the heap on disk
    if version == "v1":
        (path / "memory.swappiness").write_text("0")
        if limit_mb is not None:
            (path / "memory.limit_in_bytes").write_text(str(limit_mb * 2**20))
    else:
        swap = path / "memory.swap.max"
        if swap.exists():
            swap.write_text("0")
        if limit_mb is not None:
            (path / "memory.max").write_text(str(limit_mb * 2**20))


def run_capped(cmd: list[str], limit_mb: int | None) -> CappedRun | str:
    """Run ``cmd`` inside a new cgroup limited to ``limit_mb`` (None: no limit, only accounted);
    a string says why it could not."""
    made = _cgroup_dir()
    if isinstance(made, str):
        return made
    path, version = made
    try:
        try:
            _limit(path, version, limit_mb)
        except OSError as e:
            return f"cannot set the cgroup's limit ({e.strerror})"
        procs = path / "cgroup.procs"
        # the child joins the cgroup before it execs, so all its memory is charged there
        done = subprocess.run(
            cmd,
            preexec_fn=lambda: procs.write_text(str(os.getpid())),
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode == -signal.SIGKILL:
            return f"killed by the kernel: {limit_mb} MB was not enough"
        if done.returncode != 0:
            tail = done.stderr.strip().splitlines()[-1:] or ["no output"]
            return f"the capped run failed (exit {done.returncode}): {tail[0]}"
        if version == "v1":
            peak = int(_read(path / "memory.max_usage_in_bytes") or 0)
            hits = int(_read(path / "memory.failcnt") or 0)
        else:
            peak = int(_read(path / "memory.peak") or 0)
            events = dict(line.split() for line in _read(path / "memory.events").splitlines())
            hits = int(events.get("max", 0))
        return CappedRun(done.stdout, round(peak / 2**20, 1) if peak else None, hits)
    finally:
        try:
            path.rmdir()
        except OSError:
            pass  # a cgroup with page cache still charged is removed by the kernel later
