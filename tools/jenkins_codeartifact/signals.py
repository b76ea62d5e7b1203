"""SIGTERM/SIGINT as exceptions, cleanup that a second signal cannot interrupt, and threads that never
take a signal.

Jenkins aborts a build with SIGTERM (``timeout`` too), whose default kills the process without running
any ``finally``: temp pip.conf files, smoke-test containers and half-moved files would stay behind. The
CLIs install :func:`handlers`, which turn the first signal into :class:`Terminated` (SIGTERM) or
``KeyboardInterrupt`` (SIGINT), so every ``finally`` and context manager on the way out runs.

A second signal must not interrupt that cleanup half-way (a stopped container not yet restarted, a
secret file not yet removed). So once a signal has been raised, later ones are only noted; and code
that must finish once started wraps itself in :func:`deferred`, which holds a first signal until the
block ends.

Python runs handlers in the main thread only, while the kernel hands a process-directed signal to any
thread that does not block it. Threads started through :class:`Workers` and :func:`start_thread` block
SIGINT/SIGTERM, so every abort lands on the main thread and interrupts its plain waits at once.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import logging
import os
import signal
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any, TypeVar

log = logging.getLogger("jenkins_codeartifact")

EXIT_SIGINT = 128 + signal.SIGINT  # 130, what a shell reports for Ctrl-C
EXIT_SIGTERM = 128 + signal.SIGTERM  # 143, what Jenkins sees after an abort


class Terminated(BaseException):
    """SIGTERM turned into an exception (a BaseException, so ``except Exception`` does not swallow it)."""


_lock = threading.Lock()
_depth = 0  # how many deferred() blocks are open (signal handlers run in the main thread only)
_pending: list[int] = []
_raised: int | None = None  # the signal already raised: the process is on its way out
_closing = False  # the command's work is over: signals are noted, never raised
_aborted = False  # the command ended on a signal
T = TypeVar("T")


def finishing(aborted: bool = False) -> None:
    """The work is over (done, failed or aborted): from now on a signal cannot interrupt the wrap-up.

    ``aborted``: it ended on a signal, so the process ignores further ones while it exits (see handlers).
    """
    global _closing, _aborted
    _closing = True
    _aborted = _aborted or aborted


def _raise(signum: int) -> None:
    global _raised
    _raised = signum
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise Terminated


def _handler(signum: int, frame: FrameType | None) -> None:
    if _raised is not None or _closing or _depth:
        if signum not in _pending:
            _pending.append(signum)
        log.warning("WARNING: %s received while cleaning up; finishing the cleanup first", signal.strsignal(signum))
        return
    _raise(signum)


@contextlib.contextmanager
def deferred() -> Iterator[None]:
    """Hold SIGTERM/SIGINT until the block ends, then raise the first one held (if none was raised yet).

    For cleanup that must run to the end once started: restoring the previous container, removing a
    secret file, writing the report.
    """
    global _depth
    with _lock:  # worker threads defer too (a container they must restore): the count is shared
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            due = _pending[0] if not _depth and _pending and _raised is None and not _closing else None
        if due is not None:
            if threading.current_thread() is threading.main_thread():
                _raise(due)
            else:  # handlers run in the main thread: deliver it again, now that nothing defers it
                _pending.clear()
                os.kill(os.getpid(), due)


_CAUGHT = frozenset({signal.SIGINT, signal.SIGTERM})


@contextlib.contextmanager
def _blocked() -> Iterator[None]:
    """SIGINT/SIGTERM blocked in the calling thread for the block: a thread started inside inherits that
    mask, so it never takes them; a signal that arrives meanwhile waits and goes to the main thread."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, _CAUGHT)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


class Workers(concurrent.futures.ThreadPoolExecutor):
    """A thread pool whose threads never take SIGINT/SIGTERM, so the kernel hands every abort to the main
    thread, whose plain waits (``future.result()``, ``proc.wait()``) it interrupts at once.

    For work where parallelism is the feature (uploads side by side, jobsync's requests). A worker must
    not start a child process: the child would inherit the blocked mask and ignore an abort.
    """

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> concurrent.futures.Future[T]:
        with _blocked():  # the pool starts its threads inside submit
            return super().submit(fn, *args, **kwargs)


def start_thread(target: Callable[..., object], *args: object, name: str) -> threading.Thread:
    """A daemon thread that never takes SIGINT/SIGTERM (see :class:`Workers`), started."""
    thread = threading.Thread(target=target, args=args, name=name, daemon=True)
    with _blocked():
        thread.start()
    return thread


def received() -> int | None:
    """The signal that is ending this process, if any (for a report written during cleanup)."""
    return _raised


@contextlib.contextmanager
def handlers(restore: bool = True) -> Iterator[None]:
    """Install the handlers for the block (main thread only; elsewhere a no-op), then restore the old ones.

    ``restore=False`` (a real process about to exit) keeps them, and after an abort ignores further
    signals: a second SIGTERM arriving during the interpreter's exit must not kill the process (-15
    instead of 143) before it has finished exiting.
    """
    global _raised, _closing, _aborted
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGTERM, signal.SIGINT)}
    _raised, _closing, _aborted = None, False, False
    _pending.clear()
    try:
        yield
    finally:
        if restore:
            for sig, old in previous.items():
                signal.signal(sig, old)
            _raised, _closing, _aborted = None, False, False
            _pending.clear()
        elif _raised is not None or _aborted:
            # Aborted and about to exit: the interpreter's finalisation puts the default handlers back
            # before it ends, so a further signal would still kill it; ignoring them there cannot.
            for sig in previous:
                signal.signal(sig, signal.SIG_IGN)
        else:
            finishing()
