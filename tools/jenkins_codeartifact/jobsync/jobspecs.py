"""Job specs: ``jenkins/jobs/*.yml`` loaded into the typed, validated models of :mod:`.model`.

A file holds up to four top-level keys::

    defaults:   # merged under every job and template of this file (the job's own keys win)
    folders:    # [{name, description}]
    jobs:       # [{name, type: freestyle|pipeline, ...}]
    templates:  # [{job: {...with {var} placeholders...}, instances: [{var: value, ...}, ...]}]

Every error names ``file:line``, the field path and what was expected, because a typo in a job spec must
be fixed before anything reaches Jenkins. Unknown keys are errors (a misspelt ``pol:`` must not silently
drop polling). Template placeholders are ``{var}``; ``${VAR}`` is shell/Groovy and passes through
untouched, and ``{{``/``}}`` write literal braces.

Specs are input from any branch, so they are read defensively (see :mod:`.yamlread`) and paths stay
inside the repository. A template's defaults are merged and its placeholders found once per template,
not once per instance.
"""

from __future__ import annotations

import functools
import posixpath
import re
import urllib.parse
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar, cast

from .. import files, redact
from ..errors import ConfigError
from . import configxml, specextra, specparts
from .model import (
    CLEAN_VALUES,
    Folder,
    Freestyle,
    Git,
    Item,
    JenkinsfileSpec,
    Job,
    Multibranch,
    Pipeline,
    RawItem,
    Source,
    Specs,
    Timeout,
    check_name,
    fold,
)
from .yamlread import XML_BAD, Doc, Reader, show

T = TypeVar("T")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # always with fullmatch: `$` would accept "FOO\n"
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|_KEY)$", re.IGNORECASE)
_PLACEHOLDER = re.compile(r"\{\{|\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_-]*)\}")

_COMMON_KEYS = ("name", "type", "description", "git", "poll", "disabled", "previous_names", *specparts.COMMON_KEYS)
JOB_KEYS = {
    "freestyle": (
        *_COMMON_KEYS,
        "bindings",
        "shell",
        "timestamps",
        "concurrent",
        "scm_retry",
        "timeout",
        "archive",
        "junit",
        "order",
        *specextra.FREESTYLE_KEYS,
    ),
    "pipeline": (
        *_COMMON_KEYS,
        "script_path",
        "lightweight",
        "jenkinsfile",
        "script",
        "sandbox",
        "concurrent",
        "timeout",
    ),
    "raw": ("name", "type", "xml", "previous_names"),
    "multibranch": specparts.MULTIBRANCH_KEYS,
}
GIT_KEYS = ("url", "branch", "credentials", "clean", *specparts.GIT_EXTRA_KEYS)
JENKINSFILE_KEYS = ("credentials", "timeout_minutes", "environment")
FOLDER_KEYS = ("name", "description")
TOP_KEYS = ("defaults", "folders", "jobs", "templates")
TEMPLATE_KEYS = ("job", "instances")


@functools.lru_cache(maxsize=1024)  # template instances mostly share one repository URL
def _url_password(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url).password
    except ValueError:
        return None


def _check_url(r: Reader) -> None:
    url = r.req("url")
    password = _url_password(url)
    if password:
        redact.register(password)
        raise r.error(
            "url",
            "carries a password (user:password@): it would be stored in config.xml",
            hint="drop it from the URL and name a Jenkins credential in git.credentials",
        )


def _git(r: Reader) -> Git:
    r.check_keys(GIT_KEYS)
    clean = r.string("clean", "none")
    if clean not in CLEAN_VALUES:
        raise r.error("clean", f"expected one of {', '.join(CLEAN_VALUES)}, got {clean!r}")
    _check_url(r)
    return Git(
        url=r.req("url"),
        branch=r.string("branch", "*/main") or "*/main",
        credentials=r.string("credentials"),
        clean=clean,
        **specparts.git_extra(r, _check_url),
    )


def _strings(r: Reader, key: str) -> tuple[str, ...]:
    value = r.data.get(key)
    if isinstance(value, str):
        value = [value]
    if value is None:
        return ()
    if not isinstance(value, list):
        raise r.error(key, f"expected a string or a list of strings, got {show(value)}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            where = (*r.path, key, i)
            raise Reader(r.doc, {}, where, r.note).error(None, r.doc.not_a_string(where, item))
        if XML_BAD.search(item):
            raise r.error(key, "contains a control character that Jenkins cannot store")
        out.append(item)
    return tuple(out)


def _job(r: Reader, source: Source) -> Job | RawItem | Multibranch:
    kind = r.string("type")
    if kind not in JOB_KEYS:
        raise r.error("type" if kind else None, f"expected type freestyle, pipeline, multibranch or raw, got {kind!r}")
    r.check_keys(JOB_KEYS[kind])
    name = check_name(r.req("name"), lambda m: r.error("name", m))
    previous = tuple(check_name(old, lambda m: r.error("previous_names", m)) for old in _strings(r, "previous_names"))
    if previous and fold(name) in {fold(old) for old in previous}:
        raise r.error("previous_names", f"{name!r} is the job's own name")
    if kind == "raw":
        return specparts.raw_item(r, name, previous, source)
    if kind == "multibranch":
        return specparts.multibranch(r, name, previous, source, _check_url, repo_path)
    return _typed_job(r, kind, name, previous, source)


def _once(r: Reader, build: Callable[[Reader], T]) -> T:
    """``build(r)``, read once for a mapping the instances of a template share (it has no placeholder):
    10,000 instances of one template then check their common git checkout once. The first instance
    raises any error, as without the cache."""
    found = r.doc.shared.get(id(r.data))
    if found is not None and found[0] is r.data:
        return cast(T, found[1])
    value = build(r)
    r.doc.shared[id(r.data)] = (r.data, value)
    return value


def _typed_job(r: Reader, kind: str, name: str, previous: tuple[str, ...], source: Source) -> Job:
    git_r = r.sub("git")
    git = _once(git_r, _git) if git_r else None
    common: dict[str, Any] = {
        "common": specparts.common(r),
        "name": name,
        "previous_names": previous,
        "description": r.string("description", "") or "",
        "poll": r.string("poll"),
        "disabled": r.boolean("disabled", False),
        "source": source,
    }
    if kind == "freestyle":
        bindings = []
        for br, raw, where in r.items("bindings"):
            if br is None:
                raise r.doc.error(where, f"expected a mapping, got {show(raw)}")
            bindings.append(_once(br, specparts.binding))
        t_r, a_r, j_r = r.sub("timeout"), r.sub("archive"), r.sub("junit")
        return _checked(
            r,
            Freestyle(
                git=git,
                bindings=tuple(bindings),
                shell=_strings(r, "shell"),
                timestamps=r.boolean("timestamps", False),
                concurrent=r.boolean("concurrent", False),
                scm_retry=specparts.number(r, "scm_retry", 0),
                timeout=specparts.timeout(t_r) if t_r else None,
                archive=specparts.archive(a_r) if a_r else None,
                junit=specparts.junit(j_r) if j_r else None,
                **specextra.freestyle(r),
                **common,
            ),
        )
    script = r.string("script")
    if git is None and script is None:
        raise r.error(None, "missing required key 'git' or 'script' (a pipeline needs its script from SCM or inline)")
    if git is not None and script is not None:
        raise r.error("script", "a pipeline has its script from git or inline, not both")
    if script is not None and ("script_path" in r.data or "lightweight" in r.data):
        raise r.error("script_path" if "script_path" in r.data else "lightweight", "only for a script from git")
    jf_r = r.sub("jenkinsfile")
    jenkinsfile = _jenkinsfile(jf_r) if jf_r else None
    t_r = r.sub("timeout")
    timeout = _pipeline_timeout(r, t_r, jf_r) if t_r else None
    return _checked(
        r,
        Pipeline(
            git=git,
            script_path=repo_path(r, "script_path", "Jenkinsfile"),
            lightweight=r.boolean("lightweight", True),
            jenkinsfile=jenkinsfile,
            script=script,
            sandbox=r.boolean("sandbox", True),
            concurrent=r.boolean("concurrent", True),
            timeout=timeout,
            **common,
        ),
    )


def _pipeline_timeout(r: Reader, t_r: Reader, jf_r: Reader | None) -> Timeout:
    """A pipeline's ``timeout:``: the ``options { timeout(...) }`` of the Jenkinsfile jobsync renders.

    A script jobsync does not write (inline, or hand-written in git) holds its own timeout option:
    jobsync does not edit Groovy, so the key is refused there rather than silently ignored.
    """
    timeout = specparts.timeout(t_r)
    if jf_r is None:
        raise r.error(
            "timeout",
            "a pipeline's build timeout is an option of its script, which jobsync does not write here",
            hint="write options { timeout(time: N, unit: 'MINUTES') } in the script, or render it from a "
            "jenkinsfile: block",
        )
    if "timeout_minutes" in jf_r.data:
        raise r.error("timeout", "set the timeout once: timeout or jenkinsfile.timeout_minutes, not both")
    if timeout.fail or timeout.env_var:
        key = "fail" if timeout.fail else "env_var"
        raise t_r.error(key, "the pipeline timeout step aborts the build and sets no variable: freestyle only")
    return timeout


def _checked(r: Reader, job: Job) -> Job:
    if job.common.raw.between or (job.git is not None and job.git.extensions_between):
        specextra.check_between(r, job)
    if isinstance(job, Freestyle):
        specextra.check_order(r, job)
    return job


def _jenkinsfile(jf_r: Reader) -> JenkinsfileSpec:
    """A pipeline's ``jenkinsfile:`` block: what its rendered Jenkinsfile binds, times out and sets."""
    jf_r.check_keys(JENKINSFILE_KEYS)
    env_r = jf_r.sub("environment")
    env: list[tuple[str, str]] = []
    if env_r:
        for key in env_r.data:
            if not _ENV_NAME.fullmatch(key):
                raise env_r.error(key, f"{key!r} is not a valid environment variable name")
            if _SECRET_NAME.search(key):
                raise env_r.error(
                    key,
                    "looks like a secret: the environment block is committed in the Jenkinsfile",
                    hint="bind it from a Jenkins credential (jenkinsfile.credentials) instead",
                )
            env.append((key, env_r.req(key)))
    return JenkinsfileSpec(
        credentials=jf_r.string("credentials", "aws") or "aws",
        timeout_minutes=jf_r.integer("timeout_minutes", 60),
        environment=tuple(env),
    )


def repo_path(r: Reader, key: str, default: str) -> str:
    """A path relative to the repository root that cannot leave it (no absolute path, no ``..``)."""
    value = r.string(key, default) or default
    hint = "write a path relative to the repository root, such as ci/Jenkinsfile"
    if value.startswith(("/", "~", "\\")) or re.match(r"[A-Za-z]:", value):
        raise r.error(key, f"{value!r} is an absolute path; it must stay inside the repository", hint=hint)
    if ".." in re.split(r"[/\\]", value):
        raise r.error(key, f"{value!r} leaves the repository root ('..'); it must stay inside it", hint=hint)
    if posixpath.normpath(value) in (".", "") or value.endswith("/"):
        raise r.error(key, f"{value!r} is not a file path", hint=hint)
    return value


def _merge(defaults: Mapping[str, Any], job: Mapping[str, Any]) -> dict[str, Any]:
    """Defaults under the job: nested mappings merge key by key, everything else the job's value wins."""
    out = dict(defaults)
    for key, value in job.items():
        if isinstance(value, Mapping) and isinstance(out.get(key), Mapping):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def expand(value: Any, variables: Mapping[str, Any], fail: Callable[[str], ConfigError]) -> Any:
    """Substitute ``{var}`` in every string of ``value``; ``${VAR}`` and ``{{``/``}}`` are left for the shell."""
    if isinstance(value, str):
        if "{" not in value and "}" not in value:  # most strings: nothing to substitute
            return value

        def sub(m: re.Match[str]) -> str:
            token = m.group(0)
            if token in ("{{", "}}"):
                return token[0]
            name = m.group(1)
            if name not in variables:
                raise fail(f"unknown template variable {{{name}}} (instance has: {', '.join(variables) or 'none'})")
            return str(variables[name])

        return _PLACEHOLDER.sub(sub, value)
    if isinstance(value, list):
        return [expand(v, variables, fail) for v in value]
    if isinstance(value, dict | Mapping):  # dict first: the ABC check is slow and specs hold dicts
        return {k: expand(v, variables, fail) for k, v in value.items()}
    return value


Expander = Callable[[Mapping[str, Any], Callable[[str], ConfigError]], Any]


def expander(value: Any) -> Expander | None:
    """:func:`expand` for ``value`` prepared once for many instances; ``None`` when nothing has a placeholder.

    What has no placeholder is shared between the expansions, not copied (specs are read, never changed).
    """
    if isinstance(value, str):
        return functools.partial(expand, value) if "{" in value or "}" in value else None
    if isinstance(value, list):
        items = [(v, expander(v)) for v in value]
        if all(e is None for _, e in items):
            return None
        return lambda variables, fail: [v if e is None else e(variables, fail) for v, e in items]
    if isinstance(value, dict | Mapping):
        pairs = [(k, v, expander(v)) for k, v in value.items()]
        if all(e is None for _, _, e in pairs):
            return None
        return lambda variables, fail: {k: v if e is None else e(variables, fail) for k, v, e in pairs}
    return None


def load_file(path: Path, display: str | None = None) -> list[Item]:
    """Models from one spec file, in file order; raises :class:`ConfigError` naming ``file:line``."""
    name = display or str(path)
    return load_text(files.read_text(path, name), name)


def load_text(text: str, name: str) -> list[Item]:
    """Models from the text of one spec file (``name`` for messages)."""
    doc = Doc(name, text)
    if not isinstance(doc.data, Mapping):
        raise doc.error((), f"expected a mapping with keys {', '.join(TOP_KEYS)}, got {show(doc.data)}")
    top = Reader(doc, doc.data, ())
    top.check_keys(TOP_KEYS)
    defaults_r = top.sub("defaults")
    defaults: Mapping[str, Any] = {}
    if defaults_r:
        defaults_r.check_keys(sorted({k for keys in JOB_KEYS.values() for k in keys} - {"name"}))
        defaults = defaults_r.data
    items: list[Item] = []
    for r, raw, where in top.items("folders"):
        if r is None:
            raise doc.error(where, f"expected a mapping, got {show(raw)}")
        r.check_keys(FOLDER_KEYS)
        fname = check_name(r.req("name"), functools.partial(r.error, "name"))
        items.append(Folder(fname, r.string("description", "") or "", Source(name, doc.line(where))))
    for r, raw, where in top.items("jobs"):
        if r is None:
            raise doc.error(where, f"expected a mapping, got {show(raw)}")
        merged = Reader(doc, _merge(defaults, r.data), r.path)
        items.append(_job(merged, Source(name, doc.line(where))))
    for r, raw, where in top.items("templates"):
        if r is None:
            raise doc.error(where, f"expected a mapping, got {show(raw)}")
        r.check_keys(TEMPLATE_KEYS)
        job_r = r.sub("job")
        if job_r is None:
            raise r.error(None, "missing required key 'job'")
        instances = r.items("instances")
        if not instances:
            raise r.error("instances", "expected a non-empty list of variable mappings")
        job = _merge(defaults, job_r.data)  # once per template, as is the search for placeholders
        fill = expander(job)
        for i_r, raw_i, i_where in instances:
            if i_r is None:
                raise doc.error(i_where, f"expected a mapping of variables, got {show(raw_i)}")
            variables = {k: i_r.string(k) for k in i_r.data}
            note = "instance " + ", ".join(f"{k}={v}" for k, v in variables.items())
            data = job if fill is None else fill(variables, functools.partial(doc.error, i_where))
            expanded = Reader(doc, data, job_r.path, note)
            items.append(_job(expanded, Source(name, doc.line(i_where))))
    return items


def _check_previous_names(seen: Mapping[str, Item]) -> None:
    """A previous name must be free in the specs and claimed by one job, or the rename could not happen."""
    claimed: dict[str, Item] = {}
    for item in seen.values():
        for old in getattr(item, "previous_names", ()):
            if (other := seen.get(fold(old))) is not None:
                raise ConfigError(
                    f"{item.source}: previous_names: {old!r} is the name of {other.name!r} in the specs",
                    hint="a previous name must be free in the specs",
                )
            if (first := claimed.get(fold(old))) is not None:
                raise ConfigError(f"{item.source}: previous_names: {old!r} is also a previous name of {first.name!r}")
            claimed[fold(old)] = item


def load(directory: str | Path, allow_empty: bool = False) -> Specs:
    """Every ``*.yml``/``*.yaml`` under ``directory`` (sorted), cross-checked: unique names, parents declared.

    ``allow_empty``: a directory without specs gives empty Specs (diff/apply; a prune then refuses).
    """
    root = Path(directory)
    hint = "pass --jobs-dir or set CA_JOBS_DIR"
    if root.exists() and not root.is_dir():
        raise ConfigError(f"{root}: the jobs directory is not a directory", hint=hint)
    if not root.is_dir():
        raise ConfigError(f"{root}: jobs directory not found", hint=hint)
    try:
        # a dangling link is kept, to fail as unreadable rather than silently drop its jobs
        files = sorted(p for p in root.rglob("*") if p.suffix in (".yml", ".yaml") and (p.is_file() or not p.exists()))
    except OSError as exc:
        raise ConfigError(f"{exc.filename or root}: cannot list the job specs: {exc.strerror or exc}") from None
    if not files and not allow_empty:
        raise ConfigError(f"{root}: no *.yml job specs found")
    seen: dict[str, Item] = {}  # by fold(name): Jenkins' item names are case-insensitive
    for path in files:
        for item in load_file(path):
            other = seen.get(fold(item.name))
            if other is not None:
                same = "is already defined" if other.name == item.name else f"collides with {other.name!r}"
                raise ConfigError(
                    f"{item.source}: name: {item.name!r} {same} at {other.source}",
                    hint="job and folder names must be unique across all spec files; Jenkins ignores case",
                )
            seen[fold(item.name)] = item
    _check_previous_names(seen)
    for item in seen.values():
        parent = item.name.rpartition("/")[0]
        folder = seen.get(fold(parent))
        if parent and (folder is None or not configxml.is_folder(folder)):
            raise ConfigError(
                f"{item.source}: name: parent folder {parent!r} of {item.name!r} is not declared",
                hint=f"add it under 'folders:' (- name: {parent})",
            )
        if folder is not None and folder.name != parent:
            raise ConfigError(
                f"{item.source}: name: {item.name!r} spells its folder {parent!r}, declared as {folder.name!r}"
                f" at {folder.source}",
                hint="spell the folder the same way everywhere",
            )
    ordered = sorted(seen.values(), key=lambda i: (not configxml.is_folder(i), i.name.count("/"), i.name))
    return Specs(tuple(ordered))
