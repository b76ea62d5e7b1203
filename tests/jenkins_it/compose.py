"""The compose project of the harness: which CLI, up/down/logs/exec, each child process under a deadline.

``docker compose`` (v2) where the docker CLI has the plugin, else Debian's ``docker-compose`` (v1);
``CA_COMPOSE`` names another command (the tests' fake). Children run in their own session so that an
abort can end the whole child (``docker compose up --build`` starts builders of its own) by its PID, and
a wait of ours is never longer than its deadline.
"""

from __future__ import annotations

import os
import shlex
import shutil
import signal
import subprocess
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .rest import Deadline, DeadlineExceeded

STOP_GRACE = 2.0  # seconds a child gets between SIGTERM and SIGKILL


class ComposeError(Exception):
    """A compose (or other child) command failed: its argv, exit code and the end of its output."""


def compose_command(which: Callable[[str], str | None] = shutil.which) -> list[str] | None:
    """The compose CLI as an argv prefix, or None when there is none."""
    override = os.environ.get("CA_COMPOSE")
    if override:
        return shlex.split(override)
    docker = which("docker")
    if docker:
        try:
            probe = subprocess.run([docker, "compose", "version"], capture_output=True, timeout=20)
        except (OSError, subprocess.TimeoutExpired):
            probe = None
        if probe is not None and probe.returncode == 0:
            return [docker, "compose"]
    v1 = which("docker-compose")
    return [v1] if v1 else None


def _stop(proc: subprocess.Popen[str]) -> None:
    """End ``proc`` and what it started (its own session, so its process group is its PID)."""
    for sig, grace in ((signal.SIGTERM, STOP_GRACE), (signal.SIGKILL, STOP_GRACE)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run_child(
    argv: Sequence[str], deadline: Deadline, *, cwd: Path, env: Mapping[str, str], capture: bool = True
) -> subprocess.CompletedProcess[str]:
    """Run ``argv`` until it exits or ``deadline`` passes; an exception here (SIGTERM) ends it too."""
    out = subprocess.PIPE if capture else None
    proc = subprocess.Popen(
        list(argv), cwd=cwd, env=dict(env), stdout=out, stderr=subprocess.STDOUT if capture else None, text=True,
        start_new_session=True, stdin=subprocess.DEVNULL,
    )  # fmt: skip
    chunks: list[str] = []
    try:
        while True:
            try:
                text, _ = proc.communicate(timeout=min(0.2, max(deadline.left(), 0.01)))
                chunks.append(text or "")
                break
            except subprocess.TimeoutExpired:
                if deadline.left() <= 0:
                    raise DeadlineExceeded(
                        f"{shlex.join(argv[:4])} ...: did not finish within {deadline.seconds:g} s"
                    ) from None
    finally:
        if proc.returncode is None:
            _stop(proc)
    return subprocess.CompletedProcess(list(argv), proc.returncode, "".join(chunks), "")


@dataclass
class Compose:
    """One compose project (``-p NAME``) of the repository's compose file(s)."""

    command: list[str]
    root: Path
    project: str
    files: tuple[str, ...] = ("docker-compose.yml",)
    env: dict[str, str] = field(default_factory=dict)

    def argv(self, *args: str) -> list[str]:
        flags = [f for name in self.files for f in ("-f", name)]
        return [*self.command, "-p", self.project, *flags, *args]

    def run(self, *args: str, deadline: Deadline, capture: bool = True) -> str:
        proc = run_child(self.argv(*args), deadline, cwd=self.root, env={**os.environ, **self.env}, capture=capture)
        if proc.returncode != 0:
            tail = "\n".join((proc.stdout or "").splitlines()[-20:])
            raise ComposeError(f"{shlex.join(self.argv(*args))}: exit {proc.returncode}\n{tail}".rstrip())
        return proc.stdout or ""

    def up(self, deadline: Deadline) -> None:
        """Build the images and start every service (the build's output goes straight to ours)."""
        self.run("up", "-d", "--build", deadline=deadline, capture=False)

    def down(self, seconds: float) -> None:
        """Stop and remove the containers, networks and volumes (``-v``: Jenkins' home, devpi's data)."""
        self.run("down", "-v", "--remove-orphans", "-t", "1", deadline=Deadline(seconds, "compose down"))

    def logs(self, service: str, seconds: float = 30.0) -> str:
        """The last lines of ``service``'s log, for a failure's report."""
        return self.run("logs", "--no-color", "--tail", "200", service, deadline=Deadline(seconds, "compose logs"))

    def stopped(self, seconds: float = 30.0) -> list[str]:
        """The services that are not running (exited, crashed, never started); one-shot ones included."""
        every = self.run("config", "--services", deadline=Deadline(seconds, "compose config")).split()
        running = self.run("ps", "--services", "--filter", "status=running", deadline=Deadline(seconds, "compose ps"))
        return [name for name in every if name not in running.split()]

    def exec(self, service: str, *cmd: str, deadline: Deadline) -> str:
        return self.run("exec", "-T", service, *cmd, deadline=deadline)
