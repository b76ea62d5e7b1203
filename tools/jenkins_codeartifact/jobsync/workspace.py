"""The workspace of a ``jobsync run`` build: the git plugin's checkout and Jenkins' environment variables.

The checkout follows what the git plugin does on an agent (init once, fetch the one branch into
``refs/remotes/origin``, clean, check out the commit detached), so a workspace persists between builds
exactly as far as the spec's ``clean`` lets it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import ConfigError, OperationError
from . import jenkinsfile
from .model import Job, Pipeline

if TYPE_CHECKING:
    from .run import Console, Plan

NODE_NAME = "built-in"  # Jenkins' name for the controller node since 2.307
GIT_TIMEOUT = 600.0  # the git plugin's default: 10 minutes per command


def _git(console: Console, cwd: Path, *args: str) -> str:
    console.line(" > git " + " ".join(args) + f" # timeout={int(GIT_TIMEOUT // 60)}")
    env = {**os.environ, "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"}
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, env=env, stdin=subprocess.DEVNULL, capture_output=True, timeout=GIT_TIMEOUT
        )
    except subprocess.TimeoutExpired:
        raise OperationError(f"git {args[0]} timed out after {GIT_TIMEOUT:.0f}s") from None
    if done.returncode != 0:
        for line in done.stderr.decode("utf-8", "replace").splitlines():
            console.line(line)
        raise OperationError(f"git {args[0]} failed (exit {done.returncode})")
    return done.stdout.decode("utf-8", "replace").strip()


def source_repository(directory: Path) -> tuple[str, str | None]:
    """``--checkout DIR``: its committed HEAD and current branch, or exit 2 if it is not a git repository."""
    env = {**os.environ, "LC_ALL": "C"}

    def git(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True, env=env, timeout=60)

    head = git("rev-parse", "--verify", "-q", "HEAD^{commit}")
    if not directory.is_dir() or head.returncode != 0:
        raise ConfigError(f"--checkout {directory}: not a git repository with a commit", hint="commit first")
    branch = git("symbolic-ref", "-q", "--short", "HEAD").stdout.strip() or None
    return head.stdout.strip(), branch


def checkout(p: Plan, workspace: Path, console: Console, source: Path | None) -> dict[str, str]:
    """Fetch and check out like the git plugin (init, fetch one branch, clean, detached checkout)."""
    git = p.job.git
    assert git is not None and p.branch is not None
    if git.clean == "wipe" and workspace.exists():
        console.line("Wiping out workspace first.")
        shutil.rmtree(workspace)
    workspace.mkdir(parents=True, exist_ok=True)
    if not (workspace / ".git").is_dir():
        console.line(f"Cloning repository {git.url}")
        _git(console, workspace, "init", "-q", str(workspace))
    branch = p.branch
    if source is not None:
        commit, local_branch = source_repository(source)
        branch = local_branch or branch
        console.line(f"Fetching the committed HEAD of {source} (--checkout) in place of {git.url}")
        _git(
            console,
            workspace,
            "fetch",
            "--no-tags",
            "--force",
            "--",
            str(source.resolve()),
            f"+HEAD:refs/remotes/origin/{branch}",
        )
    else:
        console.line(f"Fetching changes from the remote Git repository {git.url}")
        _git(
            console,
            workspace,
            "fetch",
            "--no-tags",
            "--force",
            "--",
            git.url,
            f"+refs/heads/{branch}:refs/remotes/origin/{branch}",
        )
        commit = _git(console, workspace, "rev-parse", f"refs/remotes/origin/{branch}^{{commit}}")
    _git(console, workspace, "config", "remote.origin.url", git.url)
    if isinstance(p.job, Pipeline):  # read from the commit, as a lightweight checkout does, before the workspace
        _check_jenkinsfile(p.job, workspace, commit)
    if git.clean == "before-checkout":
        console.line("Cleaning workspace")
        _git(console, workspace, "clean", "-fdxq")
    console.line(f"Checking out Revision {commit} (origin/{branch})")
    _git(console, workspace, "checkout", "-q", "-f", commit)
    subject = _git(console, workspace, "log", "-1", "--format=%s", commit)
    console.line(f'Commit message: "{subject}"')
    return {"GIT_COMMIT": commit, "GIT_BRANCH": f"origin/{branch}", "GIT_URL": git.url}


def _check_jenkinsfile(job: Pipeline, workspace: Path, commit: str) -> None:
    shown = subprocess.run(
        ["git", "show", f"{commit}:{job.script_path}"], cwd=workspace, capture_output=True, timeout=60
    )
    if shown.returncode != 0 or shown.stdout != jenkinsfile.render(job).encode("utf-8"):
        raise ConfigError(
            f"{job.script_path} in the checkout is not the rendering of {job.name!r} ({job.source}): "
            "Jenkins would run that file, jobsync run runs the spec",
            hint="run `jobsync render --write-jenkinsfiles` and commit the result",
        )


def environment(
    job: Job, number: int, workspace: Path, params: Mapping[str, str], extra: Mapping[str, str]
) -> dict[str, str]:
    """The caller's environment (an agent's reaches its builds), build parameters, Jenkins' variables, ``extra``."""
    tag_name = job.name.replace("/", "-")
    env = {**os.environ, **params}
    env.update(
        BUILD_NUMBER=str(number),
        BUILD_ID=str(number),
        BUILD_DISPLAY_NAME=f"#{number}",
        BUILD_TAG=f"jenkins-{tag_name}-{number}",
        JOB_NAME=job.name,
        JOB_BASE_NAME=job.name.rpartition("/")[2],
        WORKSPACE=str(workspace),
        WORKSPACE_TMP=f"{workspace}@tmp",
        NODE_NAME=NODE_NAME,
        NODE_LABELS=NODE_NAME,
        EXECUTOR_NUMBER="0",
    )
    env.update(extra)
    return env
