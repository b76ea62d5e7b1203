"""Aborts reach the main thread: the threads we start block SIGTERM/SIGINT, so plain waits end at once."""

from __future__ import annotations

import signal
import subprocess
import sys
import textwrap
import time

import pytest

from jenkins_codeartifact import signals

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
