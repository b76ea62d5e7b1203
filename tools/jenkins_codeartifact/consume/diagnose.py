"""Why an image build failed, from the installer's own words (pip's or uv's), naming package and version.

Only the failing step's output is read: the lines BuildKit prints as ``#N 1.234 text``. Its summary
lines (``executor failed running [/bin/sh -c ...]``, ``ERROR: failed to solve: process ...``) quote the
RUN script itself, so any ``echo`` in the script would read as the cause. The patterns were written
against real failing builds recorded in tests/data/installer_output (record.py there makes them again).

pip says the same "from versions: none" for a project the index lacks, for one with only an sdist
under ``--only-binary`` and for an index that answered 5xx; the index's own page for that project
(:class:`Lookup`, one GET after the build) tells them apart.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from ..errors import OperationError
from .containers import ENGINE_HINT

_STEP_LINE = re.compile(r"^#\d+ \d+(?:\.\d+)? ?(.*)$")
PUBLISH_HINT = "publish it first (ca-publish), or fix the pin in requirements.txt"
INDEX_HINT = "the index failed, the package is not missing: check that the index is up, then rerun"
AUTH_HINT = "the CodeArtifact token may have expired mid-build or lack codeartifact:ReadFromRepository; rerun"
WHEEL_HINT = (
    "build it from its sdist (drop --only-binary, or --only-binary :all: --no-binary NAME) with a compiler "
    "in the image, or publish a wheel of it to the index"
)


@dataclass(frozen=True)
class Page:
    """What the index answered for one project: HTTP status (0: no answer) and its file names."""

    status: int
    files: tuple[str, ...] = ()


Lookup = Callable[[str], Page]  # project name -> the index's page for it


@dataclass(frozen=True)
class _Found:
    what: str
    hint: str


def step_output(tail: Iterable[str]) -> list[str]:
    """The failing build's step output, without BuildKit's own lines (which quote the RUN script)."""
    lines = []
    for line in tail:
        match = _STEP_LINE.match(line)
        if match and not match.group(1).startswith(("ERROR: executor failed running", "ERROR: process ")):
            lines.append(match.group(1))
    return lines


def build_error(image: str, tail: Iterable[str], lookup: Lookup | None = None) -> OperationError:
    """The one error for a failed build of ``image`` whose output ended with ``tail``."""
    tail = list(tail)
    everything = "\n".join(tail)
    if "Cannot connect to the Docker daemon" in everything:
        return OperationError(f"build of {image} failed: the Docker engine is not reachable", hint=ENGINE_HINT)
    lines = step_output(tail)
    found = _uv(lines) or _pip(lines, lookup) or _compile(lines)
    if found is not None:
        return OperationError(f"build of {image} failed: {found.what}", hint=found.hint)
    missing = [line for line in tail if "secret pipconf" in line or "secret not found" in line.lower()]
    if missing:
        return OperationError(
            f"build of {image} failed: {missing[-1].strip()}",
            hint="the Dockerfile must mount the secret with id=pipconf (--mount=type=secret,id=pipconf,...)",
        )
    last = next((line for line in reversed(lines) if line.strip()), None)
    last = last or next((line for line in reversed(tail) if line.strip()), "no output")
    return OperationError(f"build of {image} failed: {last.strip()}", hint="see the build output above")


_UV_NOT_FOUND = re.compile(r"Because (\S+) was not found in the package registry and you require (\S+?),")
_UV_NO_VERSION = re.compile(r"Because there is no version of (\S+?) and you require")
_UV_NO_WHEEL = re.compile(r"Because (\S+?) has no usable wheels")
_UV_AUTH = re.compile(
    r"lack of valid authentication credentials \((\d{3}[^)]*)\)|status client error \((40[13][^)]*)\)"
)
_UV_FAILED_FETCH = re.compile(r"^\s*cause: Failed to fetch: (\S+)")
_UV_TROUBLE = re.compile(  # uv's "cause:" chain under "error: Request failed after N retries"
    r"^\s*cause: .*?(?:status server error \((5\d\d[^)]*)\)|(Connection refused|operation timed out|dns error))",
    re.MULTILINE,
)
_UV_BUILD = re.compile(r"Failed to build `([^`]+)`")


def _uv(lines: list[str]) -> _Found | None:
    text = "\n".join(lines)
    auth = _UV_AUTH.search(text)
    if auth:
        return _Found(f"uv: the index refused the credentials ({auth.group(1) or auth.group(2)})", AUTH_HINT)
    if found := _UV_NOT_FOUND.search(text):
        return _Found(f"uv: {found.group(2)}: {found.group(1)} is not on the index", PUBLISH_HINT)
    if found := _UV_NO_VERSION.search(text):
        return _Found(f"uv: {found.group(1)}: no such version on the index", PUBLISH_HINT)
    if found := _UV_NO_WHEEL.search(text):
        return _Found(f"uv: {found.group(1)} has no wheel and source builds are off (--only-binary)", WHEEL_HINT)
    if trouble := _UV_TROUBLE.search(text):
        url = next((m.group(1) for m in map(_UV_FAILED_FETCH.match, lines) if m), "the index")
        return _Found(f"uv: the index did not answer ({trouble.group(1) or trouble.group(2)}: {url})", INDEX_HINT)
    if "No solution found when resolving dependencies" in text:
        cause = next((line.strip() for line in lines if line.strip().startswith("cause: Because")), "")
        return _Found(f"uv: the requirements conflict: {cause.removeprefix('cause: ')}", CONFLICT_HINT)
    return None


CONFLICT_HINT = "change the pins in requirements.txt so that they agree (the installer names the conflict above)"
_PIP_NO_MATCH = re.compile(r"Could not find a version that satisfies the requirement (\S+) \(from versions: ([^)]*)\)")
_PIP_AUTH = re.compile(r"(40[13]) (?:Error, Credentials not correct|Client Error)")
_PIP_TROUBLE = re.compile(
    r"(Read timed out|Connection refused|Connection reset|RemoteDisconnected|Name or service not known|"
    r"too many 5\d\d error responses|5\d\d Server Error)"
)
_PIP_CONFLICT = re.compile(r"Cannot install (.+) because these package versions have conflicting dependencies")
_PIP_CAUSE = re.compile(r"^\s+(\S+ \S+ depends on .+|The user requested .+)$")
_PIP_CRASH = re.compile(r"^((?:[\w.]+\.)?\w+(?:Error|Exception): .+)$")


def _pip(lines: list[str], lookup: Lookup | None) -> _Found | None:
    text = "\n".join(lines)
    if auth := _PIP_AUTH.search(text):
        return _Found(f"pip: the index refused the credentials (HTTP {auth.group(1)})", AUTH_HINT)
    if conflict := _PIP_CONFLICT.search(text):
        causes = [m.group(1) for m in map(_PIP_CAUSE.match, lines) if m]
        detail = "; ".join(causes) or conflict.group(1)
        return _Found(f"pip: the requirements conflict: {detail}", CONFLICT_HINT)
    trouble = _PIP_TROUBLE.search(text)
    match = _PIP_NO_MATCH.search(text)
    if trouble:
        what = f", so it found no distribution for {match.group(1)}" if match else ""
        return _Found(f"pip: the index did not answer ({trouble.group(1)}){what}", INDEX_HINT)
    if match:
        return _pip_no_match(match.group(1), match.group(2), lookup)
    if "Traceback (most recent call last)" in text:
        crashes = [m.group(1) for m in map(_PIP_CRASH.match, lines) if m]
        if crashes:
            return _Found(
                f"pip stopped with {crashes[-1]}",
                "an answer from the index that was cut off (a connection reset mid-page) makes pip fail this way; "
                "check the index and any proxy in between, then rerun",
            )
    return None


def _pip_no_match(requirement: str, versions: str, lookup: Lookup | None) -> _Found:
    """pip's "no matching distribution", told apart by the index's page for the project."""
    name = re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0]
    if versions.strip() != "none":
        known = [v.strip() for v in versions.split(",")]
        shown = ", ".join(known[-3:])
        return _Found(f"pip: {requirement}: no such version on the index (latest: {shown})", PUBLISH_HINT)
    page = lookup(name) if lookup else None
    if page is None:
        return _Found(f"pip: {requirement}: not on the index, or no distribution of it fits", PUBLISH_HINT)
    if page.status in (401, 403):
        return _Found(f"pip: the index refused the credentials (HTTP {page.status})", AUTH_HINT)
    if page.status == 0 or page.status >= 500:
        answer = "no answer" if page.status == 0 else f"HTTP {page.status}"
        return _Found(f"pip: the index failed ({answer} for {name}), so pip found no {requirement}", INDEX_HINT)
    if page.status == 404 or not page.files:
        return _Found(f"pip: {requirement}: {name} is not on the index", PUBLISH_HINT)
    if not any(f.endswith(".whl") for f in page.files):
        return _Found(f"pip: {requirement} has no wheel and source builds are off (--only-binary)", WHEEL_HINT)
    return _Found(
        f"pip: {requirement}: no distribution fits this image's Python and platform",
        "pick a version with a wheel for the image's Python (or a matching BASE_IMAGE)",
    )


_COMPILE = (  # the package a failed source build was for, most specific first
    re.compile(r"Failed building wheel for (\S+)"),
    re.compile(r"Running setup\.py install for (\S+) did not run successfully"),
    re.compile(r"Failed to build (\S+)$", re.MULTILINE),
    re.compile(r"subprocess-exited-with-error()"),
)
_COMPILER = re.compile(
    r"(error: command '[^']+' failed[^\n]*|error: \[Errno 2\] No such file or directory: '[^']+'|"
    r"fatal error: [^\n]+|gcc: not found)"
)


def _compile(lines: list[str]) -> _Found | None:
    text = "\n".join(lines)
    uv_build = _UV_BUILD.search(text)
    found = next((m for m in (p.search(text) for p in _COMPILE) if m), None)
    if not (uv_build or found):
        return None
    name = uv_build.group(1) if uv_build else found.group(1) if found else ""
    installer = "uv" if uv_build else "pip"
    compiler = _COMPILER.search(text)
    why = f": {compiler.group(1).strip()}" if compiler else ""
    return _Found(
        f"{installer}: building {name or 'a source distribution'} from source failed{why}",
        "install a compiler and the headers it needs in the image before that step, or pin a version with a "
        "wheel for the image's Python",
    )
