"""This process's memory as the kernel reports it, for the benchmarks. Standard library only:
the dense probe imports it inside a memory cap, where every import counts."""

from __future__ import annotations

__all__ = ["status_mb"]


def status_mb(key: str) -> float:
    """A field of /proc/self/status (``VmRSS``, ``RssAnon``...) in MB; 0.0 when there is none."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) / 1024
    return 0.0
