"""A signal the kernel hands to a worker thread still ends the main thread's wait at once."""

from __future__ import annotations

import queue
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from jenkins_codeartifact import signals


def _to_worker(ident: int, sig: int = signal.SIGTERM) -> None:
    """Deliver ``sig`` to one worker thread, as the kernel may do with a kill aimed at the process."""
    time.sleep(0.3)
    signal.pthread_kill(ident, sig)


def test_a_future_wait_is_ended_by_a_signal_a_worker_took():
    with ThreadPoolExecutor(1) as pool, signals.handlers():
        busy = pool.submit(time.sleep, 5)
        worker = next(t for t in threading.enumerate() if t.name.startswith("ThreadPoolExecutor"))
        assert worker.ident is not None
        threading.Thread(target=_to_worker, args=(worker.ident,), daemon=True).start()
        started = time.monotonic()
        with pytest.raises(signals.Terminated):
            signals.wait(busy.result)
        assert time.monotonic() - started < 0.3 + 2 * signals.POLL + 0.5
        assert signals.received() == signal.SIGTERM
        busy.cancel()


def test_a_queue_wait_is_ended_by_sigint_a_worker_took():
    results: queue.Queue[int] = queue.Queue()
    worker = threading.Thread(target=time.sleep, args=(5,), daemon=True)
    worker.start()
    assert worker.ident is not None
    with signals.handlers():
        threading.Thread(target=_to_worker, args=(worker.ident, signal.SIGINT), daemon=True).start()
        started = time.monotonic()
        with pytest.raises(KeyboardInterrupt):
            signals.wait(lambda t: results.get(timeout=t))
        assert time.monotonic() - started < 0.3 + 2 * signals.POLL + 0.5


def test_wait_returns_the_answer_and_keeps_a_deadline():
    answers: queue.Queue[str] = queue.Queue()
    threading.Timer(0.5, answers.put, args=("done",)).start()
    assert signals.wait(lambda t: answers.get(timeout=t)) == "done"
    started = time.monotonic()
    with pytest.raises(queue.Empty):
        signals.wait(lambda t: answers.get(timeout=t), deadline=time.monotonic() + 0.5)
    assert 0.45 < time.monotonic() - started < 1.0
