"""Builds the HNSW index of an embedded Qdrant shard in a child process, on a copy of the shard.

Why: qdrant-edge never indexes on its own (there is no background optimizer in the embedded
engine); ``EdgeShard.optimize()`` must be called, and it merges the appendable segment into
HNSW-indexed ones once it passes the indexing threshold. qdrant-edge-py 0.9.0 holds the GIL for
the whole call. Measured: a Python thread that ticks every millisecond got one tick during a 16 s
optimise of 30k 384-d vectors, and ~1 min for 100k on 2 cores. ``asyncio.to_thread`` is no help
then: the event loop, the Slack acks (3 s) and every search would stop for that long.

Why a copy: the shard's WAL is locked by the process that opened it (a second open fails with
``WouldBlock``). So the parent, holding its write lock, flushes and copies the shard; this module's
``main`` optimises the copy in a separate interpreter; ``QdrantEdgeIndex`` then swaps the copy in.
Searches go on against the live shard the whole time.

Run as ``python -m core.backends.qdrant_edge_optimize SHARD_DIR`` (only ``QdrantEdgeIndex`` does).
"""

from __future__ import annotations

import asyncio
import json
import logging
import shutil
import sys
from pathlib import Path

from qdrant_edge import EdgeShard

from core.errors import IndexUnavailable

__all__ = ["copy_shard", "optimize_in_child", "main"]

log = logging.getLogger(__name__)


def copy_shard(live: Path, work: Path) -> None:
    """Copy a flushed shard directory (blocking: run it in a thread). ``work`` must not exist."""
    shutil.copytree(live, work, symlinks=True)


async def optimize_in_child(work: Path) -> dict[str, int | bool]:
    """Optimise the shard at ``work`` in a child interpreter; return what it reported.

    The child is killed if the caller is cancelled or fails, so no orphan keeps the copy open."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        __name__,
        str(work),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        out, err = await proc.communicate()
    except BaseException:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
        raise
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-3:]
        raise IndexUnavailable(
            f"Building the vector index failed (optimizer exited with {proc.returncode}): "
            f"{' | '.join(tail) or 'no output'}"
        )
    try:
        return json.loads(out.decode().strip().splitlines()[-1])
    except (ValueError, IndexError) as e:
        raise IndexUnavailable(f"The vector index optimizer gave no result: {out[-200:]!r}") from e


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m core.backends.qdrant_edge_optimize SHARD_DIR", file=sys.stderr)
        return 2
    shard = EdgeShard.load(args[0])
    try:
        changed = shard.optimize()
        shard.flush()
        info = shard.info()
        report = {
            "optimized": bool(changed),
            "points": info.points_count,
            "indexed": info.indexed_vectors_count,
            "segments": info.segments_count,
        }
    finally:
        shard.close()
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
