"""What ``make jenkins-it`` proves against the real Jenkins of docker-compose.yml, step by step.

up (images built) -> Jenkins ready -> ``jobsync apply`` the specs -> ``jobsync diff --verify`` finds no
drift (Jenkins' own re-serialisation of our config.xml) -> producer: SUCCESS, the package on the
stand-in index -> consumer: SUCCESS, the image deployed to the local target and its page answering ->
producer again: SUCCESS without upload -> no secret in either console -> ``apply --prune`` of an emptied
owner deletes only its job -> ``down -v``. Every step has a deadline; a failure prints the services'
logs; SIGTERM ends it within 5 s with the project brought down.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from jenkins_codeartifact import signals

from . import probe
from .compose import Compose, compose_command, run_child
from .rest import Build, Deadline, Jenkins

PROJECT = "ca-jenkins-it"
OWNER = "jenkins-it:jenkins/jobs"
SCRATCH_OWNER = "jenkins-it:scratch"
SCRATCH_JOB = "jenkins-it-scratch"
PACKAGE = "fantastic-ascii"
Write = Callable[[str], object]


class Unavailable(Exception):
    """The compose Jenkins cannot run here: the reason of the skip (a failure under CA_REQUIRE_JENKINS=1)."""


class ScenarioFailed(AssertionError):
    """A step did not give what it should (one line, plus the console or output that shows why)."""


@dataclass
class Options:
    root: Path
    compose: list[str] | None = None  # None: docker compose or docker-compose (compose_command)
    url: str = "http://127.0.0.1:8080/"
    user: str = "admin"
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18))  # the local admin's, per run
    project: str = PROJECT
    files: tuple[str, ...] = ("docker-compose.yml",)
    probe: bool = True
    index_url: str = "http://127.0.0.1:3141/aws/my-repository/+simple/"
    page_url: str = "http://127.0.0.1:8088/"  # CA_LOCAL_PORT of the jenkins service, in its network
    up_seconds: float = 2400.0  # the first build of both images downloads Jenkins' plugins and the wheels
    ready_seconds: float = 300.0
    build_seconds: float = 900.0
    down_seconds: float = 180.0
    abort_down_seconds: float = 4.0  # SIGTERM: the whole run ends within 5 s
    # fresh per run, so that the consoles can be searched for them
    aws_secret: str = field(default_factory=lambda: "it-" + secrets.token_hex(16))
    ca_token: str = field(default_factory=lambda: "it-" + secrets.token_hex(16))

    def compose_env(self) -> dict[str, str]:
        return {
            "JENKINS_ADMIN_USER": self.user,
            "JENKINS_ADMIN_PASSWORD": self.password,
            "AWS_SECRET_ACCESS_KEY": self.aws_secret,
            "SANDBOX_AWS_PASSWORD": self.ca_token,
        }

    def secrets(self) -> dict[str, str]:
        return {"the AWS secret key": self.aws_secret, "the CodeArtifact token": self.ca_token,
                "the Jenkins password": self.password}  # fmt: skip


def preflight(opts: Options) -> list[str]:
    """The compose command, or :class:`Unavailable` with the first reason it cannot run here."""
    command = opts.compose or compose_command()
    if opts.probe:
        reason = probe.registry_reason(probe.pinned_image(opts.root))
        reason = reason or probe.engine_reason(command, shutil.which("docker"))
        if reason:
            raise Unavailable(reason)
    if command is None:
        raise Unavailable("neither `docker compose` nor `docker-compose` is installed")
    return command


def docker_gid() -> dict[str, str]:
    """``DOCKER_GID`` (the group the jenkins user needs for the engine's socket), unless already set."""
    host = os.environ.get("DOCKER_HOST", "unix:///var/run/docker.sock")
    if "DOCKER_GID" in os.environ or not host.startswith("unix://"):
        return {}
    try:
        return {"DOCKER_GID": str(os.stat(host.removeprefix("unix://")).st_gid)}
    except OSError:
        return {}


def run(opts: Options, write: Write) -> None:
    """The whole scenario; raises :class:`Unavailable`, :class:`ScenarioFailed` or what a step raised."""
    command = preflight(opts)
    env = {**opts.compose_env(), **(docker_gid() if opts.probe else {})}  # a real engine's socket only
    project = Compose(command, opts.root, opts.project, opts.files, env)
    aborted = False
    try:
        write(f"[jenkins-it] compose project {opts.project}: up --build\n")
        project.up(Deadline(opts.up_seconds, "compose up --build"))
        jenkins = Jenkins(opts.url, opts.user, opts.password)
        version = jenkins.wait_ready(Deadline(opts.ready_seconds, f"Jenkins at {opts.url}"))
        write(f"[jenkins-it] Jenkins {version} is up\n")
        _steps(opts, project, jenkins, write)
    except (signals.Terminated, KeyboardInterrupt):
        aborted = True
        raise
    except BaseException:
        _print_logs(project, write)
        raise
    finally:
        write("[jenkins-it] compose down -v\n")
        project.down(opts.abort_down_seconds if aborted else opts.down_seconds)


def _print_logs(project: Compose, write: Write) -> None:
    """The logs of the services that are not running (those that failed), else Jenkins' own."""
    try:
        stopped = project.stopped()
        write(f"[jenkins-it] services not running: {', '.join(stopped) or 'none'}\n")
        logs = "".join(project.logs(service) for service in stopped or ["jenkins"])
    except Exception as exc:  # the logs are a diagnosis: their own failure must not hide the first one
        logs = f"(compose logs failed: {exc})\n"
    for line in logs.splitlines():
        write(f"[logs] {line}\n")


def _steps(opts: Options, project: Compose, jenkins: Jenkins, write: Write) -> None:
    specs = opts.root / "jenkins" / "jobs"
    _jobsync(opts, write, "apply", "--jobs-dir", str(specs), "--owner", OWNER)
    plan = _jobsync(opts, write, "diff", "--verify", "--jobs-dir", str(specs), "--owner", OWNER)
    counts: dict[str, int] = plan.get("counts") or {}
    if any(n for action, n in counts.items() if action != "unchanged") or counts.get("unchanged") != 2:
        raise ScenarioFailed(f"jobsync diff --verify right after apply: {plan.get('plan')}")
    first = _passed(jenkins.build("producer", Deadline(opts.build_seconds, "producer"), write))
    # an SCM poll may have built (and published) before our trigger: then ours found the version there
    _expect(first, f"published {PACKAGE} ", "nothing uploaded (--skip-existing)")
    _on_index(opts)
    jenkins.wait_idle("consumer", Deadline(opts.build_seconds, "consumer idle"))
    consumer = _passed(jenkins.build("consumer", Deadline(opts.build_seconds, "consumer"), write))
    _page_answers(opts, project)
    second = _passed(jenkins.build("producer", Deadline(opts.build_seconds, "producer again"), write))
    _expect(second, "nothing uploaded (--skip-existing)")
    for build in (first, consumer, second):
        _masked(opts, build)
    _prune(opts, jenkins, write)
    write("[jenkins-it] every check passed\n")


def _jobsync(opts: Options, write: Write, *args: str) -> dict[str, Any]:
    """Run ``jobsync ARGS`` against the compose Jenkins (credentials in its environment, never argv)."""
    with tempfile.TemporaryDirectory(prefix="jenkins-it-") as tmp:
        report = Path(tmp) / "report.json"
        argv = [sys.executable, "-m", "jenkins_codeartifact.cli.jobsync", *args, "--report", str(report)]
        env = {**os.environ, "JENKINS_URL": opts.url, "JENKINS_USER": opts.user, "JENKINS_API_TOKEN": opts.password}
        proc = run_child(argv, Deadline(opts.build_seconds, f"jobsync {args[0]}"), cwd=opts.root, env=env)
        for line in (proc.stdout or "").splitlines():
            write(f"[jobsync {args[0]}] {line}\n")
        if proc.returncode != 0:
            raise ScenarioFailed(f"jobsync {' '.join(args[:2])}: exit {proc.returncode}")
        data: dict[str, Any] = json.loads(report.read_text(encoding="utf-8"))
        return data


def _passed(build: Build) -> Build:
    if not build.passed:
        raise ScenarioFailed(f"{build.job} #{build.number}: {build.result} ({build.url}console)")
    return build


def _expect(build: Build, *texts: str) -> None:
    """One of ``texts`` is in the build's console."""
    if not any(text in build.console for text in texts):
        raise ScenarioFailed(f"{build.job} #{build.number}: its console lacks {' or '.join(map(repr, texts))}")


def _masked(opts: Options, build: Build) -> None:
    for what, value in opts.secrets().items():
        if value in build.console:
            raise ScenarioFailed(f"{build.job} #{build.number}: {what} is in the console, unmasked")


def _on_index(opts: Options) -> None:
    url = f"{opts.index_url}{PACKAGE}/"
    try:
        resp = requests.get(url, auth=("aws", opts.ca_token), timeout=10)
    except requests.RequestException as exc:
        raise ScenarioFailed(f"GET {url}: {type(exc).__name__}") from exc
    if resp.status_code != 200 or ".whl" not in resp.text:
        raise ScenarioFailed(f"GET {url}: HTTP {resp.status_code}, no wheel of {PACKAGE} on the stand-in index")


def _page_answers(opts: Options, project: Compose) -> None:
    """The deployed page, asked from inside the jenkins service (it shares the engine's network)."""
    code = f"import urllib.request; print(urllib.request.urlopen({opts.page_url!r}, timeout=10).status)"
    out = project.exec("jenkins", "python3", "-c", code, deadline=Deadline(60, "page check"))
    if out.strip().splitlines()[-1:] != ["200"]:
        raise ScenarioFailed(f"{opts.page_url} from the jenkins service: {out.strip()!r}, expected 200")


def _prune(opts: Options, jenkins: Jenkins, write: Write) -> None:
    """A second owner's job, then that owner emptied: ``apply --prune`` deletes it and nothing else."""
    with tempfile.TemporaryDirectory(prefix="jenkins-it-owner-") as tmp:
        specs = Path(tmp)
        (specs / "scratch.yml").write_text(
            f"jobs:\n  - name: {SCRATCH_JOB}\n    type: freestyle\n    shell:\n      - echo scratch\n", encoding="utf-8"
        )
        _jobsync(opts, write, "apply", "--jobs-dir", str(specs), "--owner", SCRATCH_OWNER)
        (specs / "scratch.yml").unlink()
        _jobsync(
            opts, write, "apply", "--prune", "--max-delete", "1", "--jobs-dir", str(specs), "--owner", SCRATCH_OWNER
        )
    names = jenkins.job_names(Deadline(30, "job list"))
    if SCRATCH_JOB in names or not {"producer", "consumer"} <= names:
        raise ScenarioFailed(f"after the prune of owner {SCRATCH_OWNER}: jobs {sorted(names)}")
