"""The Dockerfile check before a build: every install goes to the private index, through the secret.

A RUN step that installs Python packages without mounting the ``pipconf`` secret sends pip (or uv,
poetry, pipenv) to public PyPI: on an agent with internet access it installs public packages under
private names without a word, the dependency confusion CodeArtifact exists to stop. So before the
build, the Dockerfile is parsed (dockerfile-parse: continuation lines, comments, line numbers) and
each RUN's shell words are read (shlex); a step that cannot be checked gets a warning, a step that
goes around the index is a usage error (exit 2) naming the file and line. ``--allow-public-index``
turns the errors into warnings, for a Dockerfile whose author knows.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from dockerfile_parse import DockerfileParser

from ..errors import ConfigError
from . import pipconf, shellwords

log = logging.getLogger(__name__)

# Variables through which pip, uv or poetry take another index (ENV or ARG): the secret must be the only one.
INDEX_VARIABLES = re.compile(
    r"(PIP_(EXTRA_)?INDEX_URL|UV_(EXTRA_|DEFAULT_)?INDEX(_URL)?|UV_INDEX_STRATEGY|POETRY_REPOSITORIES_\w+|"
    r"PIPENV_PYPI_MIRROR)"
)
# Where pip reads a config file without being told: the secret mounted here needs no other word.
PIP_CONFIG_PATHS = ("/etc/pip.conf", "/etc/xdg/pip/pip.conf", "/root/.config/pip/pip.conf", "/root/.pip/pip.conf")
OVERRIDE_HINT = "pass --allow-public-index (CA_ALLOW_PUBLIC_INDEX=1) if this is on purpose"
MOUNT_HINT = (
    f"add --mount=type=secret,id={pipconf.SECRET_ID},target=/etc/pip.conf to that RUN (pip reads it there; "
    "uv: see docs/consume-deploy.md), or " + OVERRIDE_HINT
)


@dataclass
class Findings:
    """What the check found: errors stop the build (exit 2), warnings are logged and the build goes on."""

    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class _Run:
    line: int  # 1-based, the RUN's first line
    mounts: tuple[dict[str, str], ...]
    command: str


def check(
    docker_file: Path, context: Path, *, allow_public_index: bool = False, base_image: str | None = None
) -> list[str]:
    """Check ``docker_file``; raise :class:`ConfigError` on the first problem, return the warnings."""
    found = inspect(docker_file, context, base_image=base_image)
    if found.errors and not allow_public_index:
        more = f" (and {len(found.errors) - 1} more)" if len(found.errors) > 1 else ""
        raise ConfigError(found.errors[0] + more, hint=MOUNT_HINT if "secret" in found.errors[0] else OVERRIDE_HINT)
    warnings = [*(f"{e} (allowed by --allow-public-index)" for e in found.errors), *found.warnings]
    for warning in warnings:
        log.warning("%s", warning)
    return warnings


def inspect(docker_file: Path, context: Path, *, base_image: str | None = None) -> Findings:
    """Every finding of ``docker_file`` (errors and warnings), each naming the file and line."""
    try:
        text = docker_file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{docker_file}: cannot read it ({exc})") from exc
    parser = DockerfileParser(fileobj=io.BytesIO(text.encode("utf-8")))
    found = Findings()
    env_config = ""  # PIP_CONFIG_FILE set by ENV: a secret mounted there is read too
    froms: list[tuple[int, str]] = []
    for item in parser.structure:
        where = f"{docker_file}:{item['startline'] + 1}"
        kind, value = item["instruction"], item["value"]
        if kind == "FROM":
            froms.append((item["startline"] + 1, value))
        elif kind in ("ENV", "ARG"):
            for name, setting in _assignments(value):
                if INDEX_VARIABLES.fullmatch(name):
                    found.errors.append(f"{where}: {kind} {name} points installers at another index than the secret")
                if name == "PIP_CONFIG_FILE":
                    env_config = setting
        elif kind == "RUN":
            run = _run(item["startline"] + 1, value)
            _check_run(run, where, context, env_config, found)
    if base_image:
        _check_base_image(docker_file, froms, base_image, found)
    return found


def _assignments(value: str) -> Iterator[tuple[str, str]]:
    """``KEY=VALUE`` pairs of an ENV or ARG (also the old ``ENV KEY VALUE`` form)."""
    try:
        words = shlex.split(value)
    except ValueError:
        words = value.split()
    if words and "=" not in words[0]:
        yield words[0], " ".join(words[1:])
        return
    for word in words:
        name, _, setting = word.partition("=")
        yield name, setting


def _run(line: int, value: str) -> _Run:
    """A RUN's ``--mount`` options and its command (the exec form ``["sh", "-c", ...]`` joined back)."""
    mounts: list[dict[str, str]] = []
    rest = value.lstrip()
    while rest.startswith("--"):
        flag, _, rest = rest.partition(" ")
        rest = rest.lstrip()
        if flag.startswith("--mount="):
            pairs = (part.partition("=") for part in flag[len("--mount=") :].split(","))
            mounts.append({key.strip(): val.strip() for key, _, val in pairs})
    if rest.startswith("["):
        with contextlib.suppress(ValueError, TypeError):
            rest = shlex.join(json.loads(rest))
    return _Run(line, tuple(mounts), rest)


def _secret_target(run: _Run) -> str | None:
    """Where this RUN mounts the pipconf secret, or None if it does not."""
    for mount in run.mounts:
        if mount.get("type") != "secret":
            continue
        target = mount.get("target") or mount.get("dst") or mount.get("destination") or ""
        if (mount.get("id") or os.path.basename(target)) == pipconf.SECRET_ID:
            return target or f"/run/secrets/{pipconf.SECRET_ID}"
    return None


def _check_run(run: _Run, where: str, context: Path, env_config: str, found: Findings) -> None:
    if run.command.startswith("<<"):
        found.warnings.append(f"{where}: a heredoc RUN is not checked for installs that bypass the index")
        return
    for setting in shellwords.index_settings(run.command):
        found.errors.append(f"{where}: `{setting}` writes an index into the image's pip.conf (a token with it)")
    installs = list(shellwords.installs(run.command))
    target = _secret_target(run)
    for install in installs:
        if install.offline:
            continue
        if target is None:
            other = [m.get("id", "") for m in run.mounts if m.get("type") == "secret"]
            wrong = f" (it mounts the secret {other[0]!r}, not {pipconf.SECRET_ID!r})" if other else ""
            found.errors.append(
                f"{where}: `{install.words}` does not mount the {pipconf.SECRET_ID} secret{wrong}: "
                "it would install from public PyPI"
            )
            return
        reads = install.tool == "pip" and target in (*PIP_CONFIG_PATHS, env_config)
        if not reads and target not in run.command:  # uv, poetry, pipenv never read a pip.conf by themselves
            found.errors.append(
                f"{where}: the {pipconf.SECRET_ID} secret is mounted at {target}, where {install.tool} does not "
                f"read it, and the command never names it: `{install.words}` would install from public PyPI"
            )
            return
        for option in install.index_options:
            found.errors.append(f"{where}: `{option}` in `{install.words}` names an index other than the secret's")
        for requirements in install.requirement_files:
            found.errors.extend(_requirements_file(where, context, requirements, run))
    if not installs and target is None and (script := shellwords.opaque_script(run.command)):
        found.warnings.append(
            f"{where}: `{script}` runs a script this check cannot see into; if it installs packages, "
            f"mount the {pipconf.SECRET_ID} secret for it"
        )


def _requirements_file(where: str, context: Path, name: str, run: _Run) -> list[str]:
    """Index options inside a requirements file the RUN names, found in the context (bind mounts
    mapped back to their source; else the path, then its name, under the context)."""
    candidates = []
    for mount in run.mounts:
        target = (mount.get("target") or mount.get("dst") or "").rstrip("/")
        if mount.get("type") == "bind" and "from" not in mount and target and (name + "/").startswith(target + "/"):
            candidates.append(os.path.join(mount.get("source", ""), name[len(target) :].lstrip("/")))
    candidates += [name.lstrip("/"), os.path.basename(name)]
    for candidate in filter(None, candidates):
        path = context / candidate
        if path.is_file() and context.resolve() in path.resolve().parents:
            return _index_lines(path, where, set())
    return []


def _index_lines(path: Path, where: str, seen: set[Path]) -> list[str]:
    """The index options of a requirements file and the files it includes with -r/-c."""
    seen.add(path.resolve())
    errors: list[str] = []
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return errors
    for number, line in enumerate(lines, start=1):
        words = line.split("#", 1)[0].split()
        if not words:
            continue
        if shellwords.INDEX_OPTION.fullmatch(words[0].split("=", 1)[0]):
            errors.append(f"{path}:{number}: `{line.strip()}` names another index (installed by {where})")
        elif words[0] in ("-r", "--requirement", "-c", "--constraint") and len(words) > 1:
            included = path.parent / words[1]
            if included.is_file() and included.resolve() not in seen:
                errors.extend(_index_lines(included, where, seen))
    return errors


def _check_base_image(docker_file: Path, froms: list[tuple[int, str]], base_image: str, found: Findings) -> None:
    """One warning when the final stage's FROM (followed through stage names) ignores ``BASE_IMAGE``."""
    stages: dict[str, tuple[int, str]] = {}
    for line, value in froms:
        words = value.split()
        words = [w for w in words if not w.startswith("--")]
        if len(words) >= 3 and words[1].lower() == "as":
            stages[words[2].lower()] = (line, words[0])
    if not froms:
        return
    line, value = froms[-1]
    image = next(w for w in [*value.split(), ""] if not w.startswith("--"))
    for _ in range(len(froms)):
        if image.lower() not in stages:
            break
        line, image = stages[image.lower()]
    if "BASE_IMAGE" not in image:
        found.warnings.append(
            f"{docker_file}:{line}: FROM {image} is fixed, so --base-image {base_image} is ignored "
            "(declare ARG BASE_IMAGE=... before it and write FROM ${BASE_IMAGE})"
        )
