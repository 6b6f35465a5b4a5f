"""At most N generations at once (the spec: limit concurrent generations so the model server
does not run out of memory); the rest wait in order and learn their place in the queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

__all__ = ["GenerationGate"]


class _Waiter:
    __slots__ = ("wake",)

    def __init__(self) -> None:
        self.wake = asyncio.Event()


class GenerationGate:
    def __init__(self, limit: int) -> None:
        if limit < 1:
            raise ValueError("limit must be at least 1")
        self.limit = limit
        self.active = 0
        self._queue: list[_Waiter] = []

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def _notify(self) -> None:
        for waiter in self._queue:
            waiter.wake.set()

    async def turns(self) -> AsyncIterator[int]:
        """Yield the 1-based queue position whenever it changes; finish once the caller holds a
        slot, which it must give back with ``release()``. Closing the iterator early (the asker
        went away) leaves the queue."""
        me = _Waiter()
        self._queue.append(me)
        granted = False
        last = 0
        try:
            while True:
                if self._queue[0] is me and self.active < self.limit:
                    self._queue.pop(0)
                    self.active += 1
                    granted = True
                    self._notify()
                    return
                position = self._queue.index(me) + 1
                if position != last:
                    last = position
                    yield position
                    continue  # the world may have moved while the caller handled the position
                me.wake.clear()
                await me.wake.wait()
        finally:
            if not granted:
                self._queue.remove(me)
                self._notify()

    def release(self) -> None:
        self.active -= 1
        self._notify()
