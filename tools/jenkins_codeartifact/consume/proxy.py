"""The local target's front: a small TCP proxy on the real port, switched from one container to the next.

Two containers cannot bind one port, so without something in front an update is down for as long as the
new application takes to start. The proxy is a process of its own (``python -m
jenkins_codeartifact.consume.proxy``) that outlives the command; its state file names its PID and the
backend it forwards to. Every new connection reads the backend from that file (when the file changed),
so a switch is one atomic rename: connections made after it reach the new container, those already open
finish on the old one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .. import files
from ..errors import OperationError

CONNECT_TIMEOUT = 5.0  # seconds the proxy gives a backend to accept a connection
START_TIMEOUT = 5.0  # seconds the proxy gets to listen
STOP_TIMEOUT = 5.0  # seconds it gets to exit on SIGTERM before SIGKILL
MODULE = "jenkins_codeartifact.consume.proxy"
_KEPT_ENV = frozenset({"PATH", "PYTHONPATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"})


# ------------------------------------------------------------------------------------ the proxy process


class _Backend:
    """The ``backend`` of the state file, read for every connection (a few microseconds; a cache keyed on
    the file's inode and mtime could miss a switch made within one timestamp tick)."""

    def __init__(self, state: Path) -> None:
        self.state, self.address = state, ("127.0.0.1", 0)

    def get(self) -> tuple[str, int]:
        try:
            host, _, port = json.loads(self.state.read_text(encoding="utf-8"))["backend"].rpartition(":")
            self.address = (host, int(port))
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            pass  # removed, or not ours to read: keep the last good backend
        return self.address


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    with contextlib.suppress(OSError):
        while data := await reader.read(65536):
            writer.write(data)
            await writer.drain()
        if writer.can_write_eof():
            writer.write_eof()  # a half-close, as the client sent it: the answer may still come back


async def _handle(backend: _Backend, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        up_reader, up_writer = await asyncio.wait_for(asyncio.open_connection(*backend.get()), CONNECT_TIMEOUT)
    except (OSError, TimeoutError):
        writer.close()
        return
    try:
        await asyncio.gather(_pipe(reader, up_writer), _pipe(up_reader, writer))
    finally:
        for w in (writer, up_writer):
            w.close()


async def _serve(host: str, port: int, state: Path, ready: Path) -> None:
    backend = _Backend(state)
    server = await asyncio.start_server(lambda r, w: _handle(backend, r, w), host, port)
    files.write(ready, str(os.getpid()))
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    async with server:
        await stop.wait()


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog=f"python -m {MODULE}", description="the local target's TCP proxy")
    p.add_argument("--listen", required=True, metavar="HOST:PORT")
    p.add_argument("--state", required=True, type=Path, metavar="FILE")
    args = p.parse_args(argv)
    host, _, port = args.listen.rpartition(":")
    try:
        asyncio.run(_serve(host, int(port), args.state, ready_file(args.state)))
    except OSError as exc:
        sys.stderr.write(f"cannot listen on {args.listen}: {exc.strerror or exc}\n")
        return 1
    return 0


# ------------------------------------------------------------------------------------ control from the CLI


@dataclass(frozen=True)
class State:
    """What the state file says: the proxy's PID, its port, the backend it forwards to."""

    pid: int
    port: int
    backend: str
    container: str = ""  # the container the backend is (the local target's live one)


def ready_file(state: Path) -> Path:
    return state.with_suffix(".ready")


def read_state(state: Path) -> State | None:
    try:
        data: dict[str, Any] = json.loads(state.read_text(encoding="utf-8"))
        return State(int(data["pid"]), int(data["port"]), str(data["backend"]), str(data.get("container", "")))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def running(state: Path) -> State | None:
    """The state of the proxy of ``state`` if that proxy runs (its PID is ours, checked by command line)."""
    found = read_state(state)
    return found if found is not None and _is_ours(found.pid, state) else None


def _is_ours(pid: int, state: Path) -> bool:
    if pid <= 0:
        return False
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return False
    return MODULE.encode() in cmdline and str(state).encode() in cmdline


def switch(state: Path, backend: str, container: str) -> None:
    """Point the running proxy at ``backend`` (``host:port``, which is ``container``): one atomic replace."""
    found = read_state(state)
    if found is None:
        raise OperationError(f"the local target's proxy state {state} is gone", hint="rerun the deploy")
    _write(state, State(found.pid, found.port, backend, container))


def _write(state: Path, value: State) -> None:
    data = {"pid": value.pid, "port": value.port, "backend": value.backend, "container": value.container}
    files.write(state, json.dumps(data))


def start(state: Path, port: int, backend: str, container: str) -> State:
    """Start the proxy on 127.0.0.1:``port`` forwarding to ``backend``; it outlives this process."""
    state.parent.mkdir(parents=True, exist_ok=True)
    ready = ready_file(state)
    ready.unlink(missing_ok=True)
    _write(state, State(0, port, backend, container))  # the backend is there before the first connection
    # It needs nothing of ours (no token, no AWS key in a process that lives for weeks); Jenkins' process
    # tree killer spares a process whose BUILD_ID is not the build's.
    env = {k: v for k, v in os.environ.items() if k in _KEPT_ENV}
    env.update(BUILD_ID="dontKillMe", JENKINS_NODE_COOKIE="dontKillMe")
    log = state.with_suffix(".log")
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", MODULE, "--listen", f"127.0.0.1:{port}", "--state", str(state)],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=out,
            start_new_session=True,  # not in the command's process group: a Ctrl-C of the build spares it
            env=env,
        )
    deadline = time.monotonic() + START_TIMEOUT
    while not ready.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            _end(proc.pid)
            tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-1:] if log.exists() else []
            state.unlink(missing_ok=True)
            raise OperationError(
                f"the local target's proxy did not start on 127.0.0.1:{port}: {tail[0] if tail else 'no reason given'}",
                hint=f"is something else listening on port {port}? (ss -ltnp 'sport = :{port}')",
            )
        time.sleep(0.05)
    value = State(proc.pid, port, backend, container)
    _write(state, value)
    return value


def stop(state: Path) -> int | None:
    """Stop the proxy of ``state`` (SIGTERM, then SIGKILL) and remove its files; its PID, or None."""
    found = running(state)
    if found is not None:
        _end(found.pid)
    for path in (state, ready_file(state)):
        path.unlink(missing_ok=True)
    return found.pid if found else None


def _end(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_TIMEOUT
    while time.monotonic() < deadline:
        with contextlib.suppress(ChildProcessError):
            if os.waitpid(pid, os.WNOHANG)[0]:  # our child (started in this process): reap it
                return
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


if __name__ == "__main__":
    sys.exit(main())
