"""A push's progress for the console: a line at least every few seconds, bytes and layers, also when the
engine is silent (a 2 GB layer to a slow registry must not look like a hang, nor a hang like progress).

The engine's push stream is read in a thread that only feeds a queue: the SDK's stream cannot be read
with a timeout and resumed, and the main thread must be free to report (and to take SIGTERM).
"""

from __future__ import annotations

import queue
import time
from collections.abc import Iterable, Iterator
from typing import Any

from .. import signals
from ..console import Progress

_DONE = ("Pushed", "Layer already exists", "Mounted from")


def heartbeat(chunks: Iterable[Any], every: float) -> Iterator[Any]:
    """The items of ``chunks``, and None whenever ``every`` seconds pass without one; the stream's own
    exception is raised here, in the caller's thread."""
    items: queue.Queue[tuple[bool, Any]] = queue.Queue()

    def read() -> None:
        try:
            for chunk in chunks:
                items.put((True, chunk))
            items.put((False, None))
        except BaseException as exc:  # handed to the caller
            items.put((False, exc))

    signals.start_thread(read, name="push-stream")  # blocks SIGINT/SIGTERM: the main thread takes them
    while True:
        try:
            more, item = items.get(timeout=every)  # the reader thread blocks signals: an abort ends this wait
        except queue.Empty:
            yield None
            continue
        if not more:
            if item is not None:
                raise item
            return
        yield item


class PushMeter:
    """Bytes sent and layers done, from the engine's progress chunks; a summary line when one is due."""

    def __init__(self, progress: Progress, every: float) -> None:
        self.progress, self.every = progress, every
        self.sent: dict[str, tuple[int, int]] = {}  # layer -> (current, total) bytes
        self.layers: set[str] = set()
        self.done: set[str] = set()
        self.last = time.monotonic()

    def see(self, chunk: dict[str, Any]) -> None:
        layer, status = str(chunk.get("id") or ""), str(chunk.get("status") or "")
        if layer:
            self.layers.add(layer)
            detail = chunk.get("progressDetail") or {}
            if isinstance(detail.get("current"), int):
                self.sent[layer] = (detail["current"], int(detail.get("total") or 0))
            if status.startswith(_DONE):
                self.done.add(layer)
        if time.monotonic() - self.last >= self.every:
            self.report()

    def report(self) -> None:
        # the engine's "current" can pass its "total" (it counts the compressed stream): never "242 MB of 234 MB"
        current = sum(min(c, t) if t else c for c, t in self.sent.values())
        total = sum(t for _, t in self.sent.values())
        size = f"{_size(current)} of {_size(total)}" if total else _size(current)
        self.progress.line(f"pushing: {size} sent, {len(self.done)}/{len(self.layers)} layers done")
        self.last = time.monotonic()


def _size(n: int) -> str:
    value = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1000 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"
