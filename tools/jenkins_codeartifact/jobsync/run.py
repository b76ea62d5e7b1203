"""``jobsync run JOB``: one build of a job from its spec, on this machine, the way Jenkins would run it.

No Jenkins runs where this project is built, and engineers want to try a job before pushing its spec.
So the runner reproduces what a build sees (a workspace per job that persists between builds, a git
checkout honouring ``clean``, Jenkins' environment variables, credentials bound and masked, shell steps
and stages as separate processes, ``timeout`` and ``timestamps``, a console log and a result) and
refuses, before touching anything, what it cannot reproduce faithfully: hand-written Groovy, git
credentials, branch wildcards, disabled jobs.

It runs the model, not the Jenkinsfile, but a pipeline is refused when the checked-out Jenkinsfile is not
the spec's rendering, since Jenkins would run that file.
"""

from __future__ import annotations

import fcntl
import logging
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any, TextIO

from .. import files, redact, signals
from ..errors import ConfigError, OperationError, PreconditionError
from . import jenkinsfile, runparts
from .model import Freestyle, Git, Job
from .workspace import NODE_NAME, checkout, environment

log = logging.getLogger(__name__)

MASK = "****"  # what the credentials-binding plugin prints instead of a bound value
GRACE = 2.5  # SIGTERM to a step's process group, SIGKILL after this: an abort ends within 5 s even so
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


Credential = runparts.Credential
load_credentials = runparts.load_credentials


@dataclass(frozen=True)
class Step:
    """One process: a freestyle shell step, or a pipeline stage's ``sh``."""

    name: str
    script: str
    env: tuple[tuple[str, str], ...] = ()  # the stage's own variables: STAGE_NAME, bound credentials
    stage: bool = False


@dataclass
class StepResult:
    name: str
    result: str  # SUCCESS, FAILURE, ABORTED or SKIPPED
    exit_code: int | None = None
    seconds: float = 0.0


@dataclass
class Build:
    """What a finished (or aborted) build reports."""

    job: str
    number: int
    workspace: str
    log: str
    result: str = "SUCCESS"  # or FAILURE, ABORTED, NOT_BUILT (refused after the fetch)
    git_commit: str | None = None
    steps: list[StepResult] = field(default_factory=list)

    def as_report(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Plan:
    """Everything decided before the workspace is touched; building it is where refusals happen."""

    job: Job
    steps: tuple[Step, ...]
    secrets: tuple[str, ...]
    branch: str | None  # the one branch to check out (``*/main`` -> ``main``)
    environment: tuple[tuple[str, str], ...] = ()
    timeout: float | None = None
    timestamps: bool = False
    files: tuple[tuple[str, str], ...] = ()  # secret files to write: (variable, content)


def _branch(git: Git, job: Job) -> str:
    spec = git.branch
    name = spec[2:] if spec.startswith("*/") else spec.removeprefix("refs/heads/").removeprefix("origin/")
    if not name or any(c in name for c in "*?[]") or name.startswith(":"):
        raise ConfigError(
            f"{job.source}: git.branch {spec!r}: jobsync run builds one named branch, not a pattern",
            hint="use '*/NAME' or NAME in the spec",
        )
    return name


def _entry(credentials: Mapping[str, Credential] | None, cid: str, where: str, i: int) -> Credential:
    entry = (credentials or {}).get(cid)
    if entry is None:
        missing = "no --credentials FILE given" if credentials is None else "not in the credentials file"
        raise ConfigError(
            f"job {where}: bindings[{i}] needs credentials {cid!r}: {missing}",
            hint=f"add {cid}: {{...}} to --credentials FILE (CA_CREDENTIALS_FILE)",
        )
    return entry


def plan(job: Job, credentials: Mapping[str, Credential] | None, checkout: Path | None) -> Plan:
    """The steps of ``job`` with their bindings, or a ConfigError naming what cannot be run faithfully."""
    where = f"{job.name!r} ({job.source})"
    if job.disabled:
        raise ConfigError(f"job {where} is disabled: Jenkins would not build it", hint="set disabled: false")
    if job.git is None and checkout is not None:
        raise ConfigError(f"job {where} has no git checkout: --checkout does not apply")
    if job.git is not None and job.git.credentials and checkout is None:
        raise ConfigError(
            f"job {where}: git.credentials {job.git.credentials!r} are Jenkins' own and cannot be used here",
            hint="clone the repository yourself and pass --checkout DIR",
        )
    branch = _branch(job.git, job) if job.git else None

    def usernames(cid: str, user: str, password: str, what: str) -> tuple[tuple[str, str], ...]:
        entry = (credentials or {}).get(cid)
        if entry is None:
            missing = "no --credentials FILE given" if credentials is None else "not in the credentials file"
            raise ConfigError(
                f"job {where}: {what} needs credentials {cid!r}: {missing}",
                hint=f"add {cid}: {{username: ..., password: ...}} to --credentials FILE (CA_CREDENTIALS_FILE)",
            )
        if entry.username is None or entry.password is None:
            raise ConfigError(f"job {where}: credentials {cid!r} must be a username and password for {what}")
        return ((user, entry.username), (password, entry.password))

    if isinstance(job, Freestyle):
        binds = [
            runparts.bind(b, _entry(credentials, b.credentials, where, i), where) for i, b in enumerate(job.bindings)
        ]
        bound = tuple(pair for b in binds for pair in b.env)
        secret_files = tuple(f for b in binds for f in b.files)
        steps = tuple(Step(f"shell step {i + 1}", script, bound) for i, script in enumerate(job.shell))
        secrets = (*(v for _, v in bound), *(v for _, v in secret_files))
        minutes = None if job.timeout is None else job.timeout.minutes * 60.0
        if job.timeout is not None and job.timeout.kind == "no-activity":
            log.info("note: the no-activity timeout is applied as an absolute one (%d minutes)", job.timeout.minutes)
        return Plan(job, steps, secrets, branch, timeout=minutes, timestamps=job.timestamps, files=secret_files)
    if job.jenkinsfile is None:
        raise ConfigError(
            f"job {where}: its Jenkinsfile is hand-written Groovy; jobsync run only runs pipelines "
            "rendered from a 'jenkinsfile:' block",
        )
    spec = job.jenkinsfile
    bound = usernames(spec.credentials, jenkinsfile.USERNAME_VARIABLE, jenkinsfile.PASSWORD_VARIABLE, "withCredentials")
    steps = tuple(Step(title, command, (("STAGE_NAME", title), *bound), True) for title, command in jenkinsfile.STAGES)
    secrets = tuple(v for _, v in bound)
    minutes = spec.timeout_minutes if job.timeout is None else job.timeout.minutes
    if job.timeout is not None and job.timeout.kind == "no-activity":
        log.info("note: the no-activity timeout is applied as an absolute one (%d minutes)", minutes)
    return Plan(job, steps, secrets, branch, spec.environment, minutes * 60.0, True)


class Console:
    """The build's console: masked, optionally timestamped lines to the terminal and to the build's log."""

    def __init__(self, stream: TextIO, log_file: IO[str], secrets: Sequence[str]) -> None:
        self.stream, self.log_file, self.timestamps = stream, log_file, False
        values = sorted({s for s in secrets if s}, key=len, reverse=True)  # longest first: "ab" inside "abc"
        self._mask = re.compile("|".join(map(re.escape, values))) if values else None
        self._lock = threading.Lock()

    def mask(self, text: str) -> str:
        return redact.scrub(self._mask.sub(MASK, text) if self._mask else text)

    def line(self, text: str) -> None:
        text = self.mask(text)
        if self.timestamps:
            now = datetime.now(UTC)
            text = f"[{now:%Y-%m-%dT%H:%M:%S}.{now.microsecond // 1000:03d}Z] {text}"
        with self._lock:
            self.stream.write(text + "\n")
            self.stream.flush()
            self.log_file.write(text + "\n")
            self.log_file.flush()

    def pump(self, pipe: IO[bytes]) -> None:
        """Copy a child's output line by line (masking needs whole lines, as Jenkins' masker does)."""
        for raw in iter(pipe.readline, b""):
            self.line(raw.decode("utf-8", "replace").rstrip("\r\n"))


def _stop(proc: subprocess.Popen[bytes], console: Console) -> None:
    """SIGTERM to the step's process group, SIGKILL after the grace period; never interrupted by a signal."""
    for sig, wait in ((signal.SIGTERM, GRACE), (signal.SIGKILL, 1.0)):
        console.line(f"Sending {signal.Signals(sig).name} to the step's process group {proc.pid}")
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            continue
        if sig == signal.SIGTERM:  # the leader is gone: its children get what Jenkins' process killer gives
            with suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
        return


class _TimedOut(Exception):
    pass


def _run_step(
    step: Step, job: Job, env: dict[str, str], workspace: Path, console: Console, deadline: float | None
) -> int:
    """Run one step as its own process group; its exit code. Raises _TimedOut at the build's deadline."""
    tmp = Path(f"{workspace}@tmp")
    tmp.mkdir(parents=True, exist_ok=True)
    script = tmp / (
        f"durable-{os.getpid()}-{step.name.replace(' ', '-')}.sh" if step.stage else f"jenkins{os.getpid()}.sh"
    )
    script.write_text(step.script + "\n", encoding="utf-8")
    first = step.script.split("\n", 1)[0]
    argv = [*first[2:].split(), str(script)] if first.startswith("#!") else ["/bin/sh", "-xe", str(script)]
    console.line("[Pipeline] sh" if step.stage else f"[{job.name.rpartition('/')[2]}] $ {' '.join(argv)}")
    proc: subprocess.Popen[bytes] | None = None
    reader = threading.Thread(target=console.pump, daemon=True)
    try:
        with signals.deferred():  # a signal now is raised once both exist, inside this try
            try:
                proc = subprocess.Popen(
                    argv, cwd=workspace, env={**env, **dict(step.env)}, stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True,
                )  # fmt: skip
            except OSError as exc:  # a #! line naming a missing interpreter: the step fails, as in Jenkins
                console.line(f"ERROR: cannot run {argv[0]}: {exc.strerror or exc}")
                return 127
            reader = signals.start_thread(console.pump, proc.stdout, name="console")  # never takes a signal
        try:
            code = proc.wait(_left(deadline))  # a plain wait: an abort reaches this thread and ends it
            # a background process may still hold the output open: wait for it too, as Jenkins would
            _join(reader, _left(deadline))
        except (subprocess.TimeoutExpired, TimeoutError):
            raise _TimedOut from None
        return code
    except BaseException:
        with signals.deferred():
            if proc is not None:
                _stop(proc, console)
            if reader.is_alive():
                reader.join(0.5)
        raise
    finally:
        if proc is not None:
            with suppress(ProcessLookupError):  # what the step left running in its group: Jenkins' process killer
                os.killpg(proc.pid, signal.SIGKILL)
            if proc.stdout is not None:
                proc.stdout.close()
        script.unlink(missing_ok=True)


def _left(deadline: float | None) -> float | None:
    """Seconds until ``deadline`` (``time.monotonic()``), never negative; None for no deadline."""
    return None if deadline is None else max(0.0, deadline - time.monotonic())


def _join(thread: threading.Thread, timeout: float | None) -> None:
    thread.join(timeout)
    if thread.is_alive():
        raise TimeoutError


@contextmanager
def _job_lock(job_dir: Path, name: str) -> Iterator[None]:
    job_dir.mkdir(parents=True, exist_ok=True)
    with open(job_dir / ".lock", "w") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise PreconditionError(f"a build of {name!r} is already running (state in {job_dir})") from None
        yield


def _next_number(job_dir: Path) -> int:
    path = job_dir / "nextBuildNumber"
    try:
        number = int(path.read_text(encoding="utf-8").strip() or "1") if path.exists() else 1
    except ValueError:
        raise ConfigError(f"{path}: not a build number", hint="fix or delete the file") from None
    files.write(path, f"{number + 1}\n")
    return number


def run(
    p: Plan,
    state_dir: Path,
    params: Mapping[str, str] | None = None,
    source: Path | None = None,
    stream: TextIO | None = None,
    on_abort: Callable[[Build], None] | None = None,
) -> Build:
    """Run planned build ``p`` to its end; an abort (signal) finishes the console and ``on_abort``, then re-raises."""
    job = p.job
    job_dir = state_dir / "jobs" / job.name
    workspace = (state_dir / "workspace" / job.name).absolute()
    with _job_lock(job_dir, job.name):
        number = _next_number(job_dir)
        build_dir = job_dir / "builds" / str(number)
        build_dir.mkdir(parents=True, exist_ok=True)
        build = Build(job.name, number, str(workspace), str(build_dir / "log"))
        with open(build.log, "w", encoding="utf-8") as log_file:
            console = Console(stream or sys.stdout, log_file, p.secrets)
            _build(p, build, console, workspace, params or {}, source, on_abort)
    return build


def _build(
    p: Plan,
    build: Build,
    console: Console,
    workspace: Path,
    params: Mapping[str, str],
    source: Path | None,
    on_abort: Callable[[Build], None] | None,
) -> None:
    job = p.job
    deadline = None if p.timeout is None else time.monotonic() + p.timeout
    pending = list(p.steps)
    current: Step | None = None
    try:
        env = _prepare(p, build, console, workspace, params, source)
        while pending:
            current = pending.pop(0)
            if current.stage:
                console.line(f"[Pipeline] {{ ({current.name})")
            start = time.monotonic()
            code = _run_step(current, job, env, workspace, console, deadline)
            result = StepResult(current.name, "SUCCESS" if code == 0 else "FAILURE", code, time.monotonic() - start)
            build.steps.append(result)
            if current.stage:
                console.line("[Pipeline] }")
            current = None
            if code != 0:
                console.line(f"Build step '{result.name}' marked build as failure (exit code {code})")
                build.result = "FAILURE"
                break
    except _TimedOut:
        console.line(f"Timeout has been exceeded ({p.timeout:.0f}s): Cancelling nested steps due to timeout")
        build.result = "ABORTED"
    except OperationError as exc:  # checkout failed: Jenkins fails the build
        console.line(f"ERROR: {exc.message}")
        build.result = "FAILURE"
    except ConfigError as exc:  # refused after the fetch (the Jenkinsfile): nothing ran
        console.line(f"ERROR: {exc.message}")
        build.result = "NOT_BUILT"
        _finish(build, console, None, pending)
        console.line(f"Finished: {build.result}")
        raise
    except BaseException:
        with signals.deferred():
            build.result = "ABORTED"
            _finish(build, console, current, pending)
            console.line("Aborted by signal")
            console.line("Finished: ABORTED")
            if on_abort:
                on_abort(build)
        raise
    finally:
        runparts.remove_secret_files(workspace)
    _finish(build, console, current, pending)
    console.line(f"Finished: {build.result}")


def _prepare(
    p: Plan, build: Build, console: Console, workspace: Path, params: Mapping[str, str], source: Path | None
) -> dict[str, str]:
    """The build's first console lines, its workspace checked out and its environment (secret files written)."""
    job = p.job
    console.line(f"Started by jobsync run (build #{build.number} of {job.name})")
    console.line(f"Building on the {NODE_NAME} node in workspace {workspace}")
    console.timestamps = p.timestamps
    workspace.mkdir(parents=True, exist_ok=True)
    git_env = checkout(p, workspace, console, source) if job.git else {}
    build.git_commit = git_env.get("GIT_COMMIT")
    extra = {**git_env, **dict(p.environment), **runparts.write_secret_files(p.files, workspace)}
    env = environment(job, build.number, workspace, params, extra)
    if p.secrets:
        names = sorted({k for s in p.steps for k, v in s.env if v in p.secrets})
        console.line("Masking supported pattern matches of " + " or ".join(f"${n}" for n in names))
    return env


def _finish(build: Build, console: Console, current: Step | None, pending: list[Step]) -> None:
    if current is not None:
        build.steps.append(StepResult(current.name, "ABORTED"))
    for step in pending:
        if step.stage:
            console.line(f'Stage "{step.name}" skipped due to earlier failure(s)')
        build.steps.append(StepResult(step.name, "SKIPPED"))
    pending.clear()


def parse_params(values: Sequence[str]) -> dict[str, str]:
    """``--param K=V``: build parameters, which Jenkins passes to the build as environment variables."""
    out = {}
    for value in values:
        key, sep, val = value.partition("=")
        if not sep or not _ENV_NAME.fullmatch(key):
            raise ConfigError(f"--param {value!r}: expected NAME=VALUE with NAME a valid variable name")
        out[key] = val
    return out
