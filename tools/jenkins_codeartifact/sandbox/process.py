"""Background services by pidfile: start detached, wait until they answer, stop exactly what was started.

Other people run services on the same machine, so nothing here looks processes up by name: a pidfile
records the PID, the kernel's start time of that process and the command it runs. A pidfile that cannot
prove it still names that very process (PID reused by someone else, no start time, another command
line, an old or damaged file) is stale: it is never signalled, and ``up`` starts the service afresh.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from .. import files
from ..errors import OperationError

log = logging.getLogger(__name__)

# Children started by this process; kept so they can be reaped (no zombies, no ResourceWarning).
PROBE_TIMEOUT = 2.0  # one readiness probe; wait_ready's deadline bounds the whole wait
_children: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True)
class Service:
    """One background process of the sandbox: its name names the pidfile and the log file in DIR."""

    name: str
    directory: Path

    @property
    def pidfile(self) -> Path:
        return self.directory / f"{self.name}.pid"

    @property
    def logfile(self) -> Path:
        return self.directory / f"{self.name}.log"

    def pid(self) -> int | None:
        """The recorded PID if that very process is still running, else None."""
        try:
            record = json.loads(self.pidfile.read_text(encoding="utf-8"))
            pid, started, argv = int(record["pid"]), str(record["start"]), [str(a) for a in record["argv"]]
        except (OSError, ValueError, TypeError, KeyError):
            return None  # absent, or not proof of anything
        child = _children.get(pid)
        if child is not None:  # started by this very process: no need to guess (it may not have exec'd yet)
            return pid if child.poll() is None else None
        running, fields = _probe(pid)
        if not running or _start_time(fields) != started or not _same_command(_cmdline(pid), argv):
            return None
        return pid

    def start(self, argv: Sequence[str], env: Mapping[str, str] | None = None, cwd: Path | None = None) -> int:
        """Start ``argv`` in its own session (it outlives the CLI), output appended to the log file."""
        self.directory.mkdir(parents=True, exist_ok=True)
        with self.logfile.open("ab") as out:
            out.write(f"--- {time.strftime('%Y-%m-%d %H:%M:%S')} starting: {' '.join(argv)}\n".encode())
            out.flush()
            proc = subprocess.Popen(
                list(argv),
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                env=dict(env) if env is not None else None,
                cwd=cwd,
                start_new_session=True,
            )
        _children[proc.pid] = proc
        self._record(proc.pid, argv)
        log.debug("started %s: pid %d, log %s", self.name, proc.pid, self.logfile)
        return proc.pid

    def _record(self, pid: int, argv: Sequence[str]) -> None:
        record = {"pid": pid, "start": _start_time(_stat_fields(pid)), "argv": list(argv)}
        files.write(self.pidfile, json.dumps(record) + "\n")

    def stop(self, timeout: float = 15.0) -> bool:
        """SIGTERM the recorded process, SIGKILL it after ``timeout``; remove the pidfile. True if it ran."""
        pid = self.pid()
        if pid is not None:
            log.debug("stopping %s (pid %d)", self.name, pid)
            _signal(pid, signal.SIGTERM)
            if not _wait_gone(pid, timeout):
                log.warning("%s (pid %d) ignored SIGTERM for %.0fs, killing it", self.name, pid, timeout)
                _signal(pid, signal.SIGKILL)
                _wait_gone(pid, 5.0)
        self.pidfile.unlink(missing_ok=True)
        return pid is not None

    def tail(self, lines: int = 15) -> str:
        """The end of the log, for error messages that should say why a service did not come up."""
        try:
            text = self.logfile.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.rstrip().splitlines()[-lines:])

    def wait_ready(self, check: Callable[[], bool], what: str, timeout: float) -> None:
        """Poll ``check`` until it is true; fail early if the process died, naming the log either way."""
        deadline = time.monotonic() + timeout
        delay = 0.05
        while True:
            with contextlib.suppress(Exception):
                if check():
                    return
            if self.pid() is None:
                raise OperationError(
                    f"{self.name} exited before answering on {what}; last log lines:\n{self.tail()}",
                    hint=f"see {self.logfile}",
                )
            if time.monotonic() > deadline:
                raise OperationError(
                    f"{self.name} did not answer on {what} within {timeout:.0f}s",
                    hint=f"see {self.logfile}",
                )
            time.sleep(delay)
            delay = min(delay * 1.5, 0.5)


def alive(pid: int) -> bool:
    """True if ``pid`` runs and is not a zombie (a dead child we have not reaped yet)."""
    return _probe(pid)[0]


def _probe(pid: int) -> tuple[bool, list[str] | None]:
    """:func:`alive` for ``pid`` and, if it runs, its :func:`_stat_fields`: /proc/<pid>/stat read once."""
    _reap(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False, None
    except PermissionError:
        return True, _stat_fields(pid)
    fields = _stat_fields(pid)
    return fields is None or fields[0] != "Z", fields


def _stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (the state first), None if unreadable."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8")
    except OSError:
        return None
    return stat.rpartition(")")[2].split()


def _cmdline(pid: int) -> list[str]:
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return []
    return raw.decode(errors="replace").split("\0")[:-1]


def _same_command(cmdline: list[str], argv: Sequence[str]) -> bool:
    """True if ``cmdline`` runs ``argv``: same arguments, and ``argv[0]`` among what precedes them
    (a script started through its ``#!`` interpreter shows as ``python /path/script args``)."""
    args = list(argv[1:])
    head = cmdline[: len(cmdline) - len(args)]
    if not head or cmdline[len(head) :] != args:
        return False
    return os.path.basename(argv[0]) in {os.path.basename(part) for part in head}


def _start_time(fields: list[str] | None) -> str | None:
    """Clock ticks since boot at which the process of ``fields`` started: with the PID, its identity."""
    return None if fields is None else fields[19]


def _reap(pid: int) -> None:
    proc = _children.get(pid)
    if proc is not None and proc.poll() is not None:
        del _children[pid]


def _signal(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, sig)


def _wait_gone(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def port_free(port: int, host: str = "127.0.0.1") -> bool:
    """True if nothing listens on ``host:port``, so a health check there would be answered by us."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port_numbers(count: int, host: str = "127.0.0.1") -> list[int]:
    """``count`` distinct ports the kernel considers free right now (all held open until all are chosen)."""
    socks: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.bind((host, 0))
            socks.append(sock)
        return [s.getsockname()[1] for s in socks]
    finally:
        for sock in socks:
            sock.close()
