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


def test_background_work_overlaps_and_hands_back_its_result_or_its_error():
    started = time.monotonic()
    slow = signals.background(lambda: time.sleep(0.5) or "loaded")
    time.sleep(0.4)  # the caller's own work meanwhile
    assert slow() == "loaded" and slow() == "loaded"
    assert time.monotonic() - started < 0.8  # 0.5 s, not 0.9 s: the two ran at once

    def broken() -> str:
        raise RuntimeError("cannot load jenkins-codeartifact/uv")

    failing = signals.background(broken)
    with pytest.raises(RuntimeError, match="cannot load jenkins-codeartifact/uv"):
        failing()


def test_waiting_for_background_work_is_ended_by_a_signal_and_never_waits_for_the_thread():
    with signals.handlers():
        stuck = signals.background(time.sleep, 30)  # an engine that never answers the load
        worker = next(t for t in threading.enumerate() if t.name == "sleep")
        assert worker.daemon  # the interpreter's exit does not wait for it
        threading.Thread(target=_to_worker, args=(threading.main_thread().ident,), daemon=True).start()
        started = time.monotonic()
        with pytest.raises(signals.Terminated):
            stuck()
        assert time.monotonic() - started < 0.3 + 2 * signals.POLL + 0.5


# --- worker threads that block the signals: the kernel hands every abort to the main thread ----------

import subprocess  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

_ABORTED_WAIT = textwrap.dedent(
    """
    import sys, time, threading
    from jenkins_codeartifact import signals
    with signals.handlers(), signals.Workers(4) as pool:
        busy = [pool.submit(time.sleep, 30) for _ in range(4)]
        reader = signals.start_thread(time.sleep, 30, name="reader")
        print("ready", flush=True)
        try:
            {wait}
        except signals.Terminated:
            print("aborted", time.monotonic(), flush=True)
            for f in busy:
                f.cancel()
            import os
            os._exit(143)
    """
)


@pytest.mark.parametrize(
    "wait",
    [
        "busy[0].result()",  # a plain future wait
        "reader.join()",  # a plain join of a thread
        "__import__('subprocess').Popen(['sleep', '30']).wait()",  # a child process, started by the main thread
    ],
)
def test_a_kill_aimed_at_the_process_ends_a_plain_wait_of_the_main_thread_at_once(wait):
    """`kill PID` (process-directed, as Jenkins' abort and `timeout` send it) while four workers and a
    reader thread run: the main thread's plain blocking wait ends within half a second, every time."""
    for _ in range(5):
        child = subprocess.Popen(
            [sys.executable, "-c", _ABORTED_WAIT.format(wait=wait)], stdout=subprocess.PIPE, text=True
        )
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "ready"
        time.sleep(0.1)
        sent = time.monotonic()
        child.send_signal(signal.SIGTERM)  # kill(2) on the pid: any thread that does not block it may take it
        try:
            line = child.stdout.readline().split()
            assert child.wait(timeout=5) == 143
        finally:
            child.kill()
        assert line[:1] == ["aborted"] and float(line[1]) - sent < 0.5


def test_workers_return_results_and_keep_the_main_thread_able_to_take_signals():
    with signals.Workers(2) as pool:
        masks = list(pool.map(lambda _: signal.pthread_sigmask(signal.SIG_BLOCK, []), range(4)))
    assert all({signal.SIGINT, signal.SIGTERM} <= set(m) for m in masks)
    assert not {signal.SIGINT, signal.SIGTERM} & set(signal.pthread_sigmask(signal.SIG_BLOCK, []))
