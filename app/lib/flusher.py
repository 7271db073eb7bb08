"""A per-process buffer that hands its records to the workers in batches: every `interval` seconds, or at
once when `max_records` wait. Subclasses say how one flush hands them over; a flush that fails keeps them
for the next one."""

from __future__ import annotations

import asyncio
import logging
from typing import Generic, TypeVar

R = TypeVar("R")


class PeriodicFlusher(Generic[R]):
    name = "flusher"

    def __init__(self, *, interval: float, max_records: int) -> None:
        self._interval = interval
        self._max_records = max_records
        self._pending: list[R] = []
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._log = logging.getLogger(f"alchemi.{self.name}")

    @property
    def pending(self) -> int:
        return len(self._pending)

    def _added(self) -> None:
        if len(self._pending) >= self._max_records:
            self._wake.set()

    async def flush(self) -> None:
        raise NotImplementedError

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name=self.name)

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            try:
                await self._task
            except asyncio.CancelledError:
                pass
        await self.flush()

    async def _run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), timeout=self._interval)
            except asyncio.TimeoutError:
                pass
            self._wake.clear()
            try:
                await self.flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - the records stay; the next tick retries
                self._log.warning("flush failed; will retry", extra={"error": type(exc).__name__,
                                                                      "pending": len(self._pending)})
                await asyncio.sleep(min(self._interval * 10, 1.0))
