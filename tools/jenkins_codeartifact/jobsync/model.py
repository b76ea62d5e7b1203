"""Job specs: ``jenkins/jobs/*.yml`` loaded into typed, validated models.

A file holds up to four top-level keys::

    defaults:   # merged under every job and template of this file (the job's own keys win)
    folders:    # [{name, description}]
    jobs:       # [{name, type: freestyle|pipeline, ...}]
    templates:  # [{job: {...with {var} placeholders...}, instances: [{var: value, ...}, ...]}]

Every error names ``file:line``, the field path and what was expected, because a typo in a job spec must
be fixed before anything reaches Jenkins. Unknown keys are errors (a misspelt ``pol:`` must not silently
drop polling). Template placeholders are ``{var}``; ``${VAR}`` is shell/Groovy and passes through
untouched, and ``{{``/``}}`` write literal braces.

Specs are input from any branch, so they are read defensively: YAML aliases are refused (an alias bomb
or a self-referencing alias would otherwise take minutes or recurse for ever), every value that must be
a string must be written as one (YAML 1.1 reads ``010`` as 8 and ``1.10`` as 1.1), and paths stay inside
the repository.
"""

from __future__ import annotations

import functools
import posixpath
import re
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import yaml

from .. import redact
from ..errors import ConfigError

Path_ = tuple[str | int, ...]
Clean = Literal["none", "before-checkout", "wipe"]
CLEAN_VALUES: tuple[Clean, ...] = ("none", "before-checkout", "wipe")
# Characters Jenkins.checkGoodName rejects in an item name (plus ISO control characters).
UNSAFE_NAME_CHARS = "?*/\\%!@#$^&|<>[]:;"
_BAD_NAME_CHAR = re.compile(f"[{re.escape(UNSAFE_NAME_CHARS)}\x00-\x1f\x7f-\x9f]")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # always with fullmatch: `$` would accept "FOO\n"
# XML 1.0 cannot carry these, so Jenkins could never store them: reject them at load time.
_XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
MAX_DEPTH = 32
_SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|_KEY)$", re.IGNORECASE)
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_YAML_TYPES = {"int": "a number", "float": "a number", "bool": "true/false", "date": "a date", "datetime": "a date"}
_PLACEHOLDER = re.compile(r"\{\{|\}\}|(?<!\$)\{([A-Za-z_][A-Za-z0-9_-]*)\}")


@dataclass(frozen=True)
class Source:
    """Where a model came from, for error messages."""

    file: str
    line: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass(frozen=True)
class Git:
    """A git checkout: one remote, one branch spec."""

    url: str
    branch: str = "*/main"
    credentials: str | None = None
    clean: Clean = "none"


@dataclass(frozen=True)
class Binding:
    """Username/password credentials bound into two environment variables for the build."""

    credentials: str
    username: str
    password: str


@dataclass(frozen=True)
class Folder:
    """A cloudbees-folder; jobs inside it are named ``folder/job``."""

    name: str
    description: str = ""
    source: Source = field(default=Source("<memory>", 0), compare=False)


@dataclass(frozen=True)
class Freestyle:
    """A freestyle project: checkout, poll, bind credentials, run shell steps."""

    name: str
    description: str = ""
    git: Git | None = None
    poll: str | None = None
    bindings: tuple[Binding, ...] = ()
    shell: tuple[str, ...] = ()
    timestamps: bool = False
    disabled: bool = False
    previous_names: tuple[str, ...] = field(default=(), compare=False)  # renamed on the server, history kept
    source: Source = field(default=Source("<memory>", 0), compare=False)


@dataclass(frozen=True)
class JenkinsfileSpec:
    """Settings for a rendered consumer Jenkinsfile (see :mod:`.jenkinsfile`)."""

    credentials: str = "aws"
    timeout_minutes: int = 60
    environment: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Pipeline:
    """A pipeline job whose script comes from SCM ("Pipeline script from SCM")."""

    name: str
    git: Git
    description: str = ""
    script_path: str = "Jenkinsfile"
    lightweight: bool = True
    poll: str | None = None
    disabled: bool = False
    jenkinsfile: JenkinsfileSpec | None = None
    previous_names: tuple[str, ...] = field(default=(), compare=False)
    source: Source = field(default=Source("<memory>", 0), compare=False)


Job = Freestyle | Pipeline
Item = Folder | Freestyle | Pipeline


@dataclass(frozen=True)
class Specs:
    """Everything loaded from a jobs directory, folders first (parents before children)."""

    items: tuple[Item, ...]

    @property
    def jobs(self) -> tuple[Job, ...]:
        return tuple(i for i in self.items if not isinstance(i, Folder))

    def get(self, name: str) -> Item | None:
        return next((i for i in self.items if i.name == name), None)


def fold(name: str) -> str:
    """``name`` as Jenkins compares item names: case-insensitively, character by character.

    Jenkins keeps items in maps ordered by ``String.compareToIgnoreCase`` (upper-case, then lower-case,
    one UTF-16 unit at a time), so ``app`` and ``App`` are one job there.
    """
    if name.isascii():  # the common case, and the same result: ASCII letters only change case
        return name.lower()
    out = []
    for ch in name:
        up = ch.upper()
        up = up if len(up) == 1 else ch
        low = up.lower()
        out.append(low if len(low) == 1 else up)
    return "".join(out)


# --------------------------------------------------------------------------------------------- YAML


def _fmt(path: Path_) -> str:
    out = ""
    for part in path:
        if isinstance(part, int) or not _PLAIN_KEY.fullmatch(part):
            out += f"[{part!r}]" if isinstance(part, str) else f"[{part}]"
        else:
            out += f".{part}" if out else part
    return out or "(top level)"


# libyaml's parser when PyYAML was built with it: ten times faster on a 1000-job file, same nodes and marks.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR_TAG = "tag:yaml.org,2002:str"


class _Doc:
    """One YAML file: plain Python values plus the line of every node, keyed by its path.

    ``raw`` keeps the source text of every scalar YAML did not read as a string, so "quote it" errors can
    show what was written (``010``), not what YAML made of it (8).
    """

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.lines: dict[Path_, int] = {}
        self.raw: dict[Path_, str] = {}
        self._seen: set[int] = set()
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            self.data: Any = {} if node is None else self._build(loader, node, ())
        except yaml.MarkedYAMLError as exc:
            mark = exc.problem_mark or exc.context_mark
            line = mark.line + 1 if mark else 0
            raise ConfigError(
                f"{file}:{line}: not valid YAML: {exc.problem or exc.context}",
                hint="fix the YAML syntax (indentation, quoting of ':' and '*')",
            ) from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"{file}: not valid YAML: {exc}") from None
        finally:
            loader.dispose()

    def _visit(self, node: yaml.Node) -> None:
        # The composer turns an alias into a second reference to the anchored node: meeting a node twice
        # is how an alias shows, before a bomb can expand or a self-reference can recurse.
        if id(node) in self._seen:
            raise self._alias_error(node.start_mark.line + 1)
        self._seen.add(id(node))

    def _alias_error(self, line: int) -> ConfigError:
        what = "an alias or merge key"
        try:
            for event in yaml.parse(self.text, Loader=_Loader):
                if isinstance(event, yaml.AliasEvent):
                    line, what = (event.start_mark.line + 1 if event.start_mark else 0), f"alias *{event.anchor}"
                    break
        except yaml.YAMLError:
            pass
        return ConfigError(
            f"{self.file}:{line}: YAML anchors and aliases are not supported ({what})",
            hint="share settings with 'defaults:' or 'templates:' instead",
        )

    def _build(self, loader: Any, node: yaml.Node, path: Path_) -> Any:
        self._visit(node)
        self.lines[path] = node.start_mark.line + 1
        if len(path) > MAX_DEPTH:  # a spec needs a handful of levels; this keeps the recursion bounded
            raise self.error(path[:4], f"nested more than {MAX_DEPTH} levels deep")
        if isinstance(node, yaml.MappingNode):
            out: dict[str, Any] = {}
            for key_node, value_node in node.value:
                self._visit(key_node)
                if key_node.tag == "tag:yaml.org,2002:merge":  # `<<: *base`, YAML 1.1's spelling of an alias
                    raise self._alias_error(key_node.start_mark.line + 1)
                if not isinstance(key_node, yaml.ScalarNode):
                    self.lines[(*path, "?")] = key_node.start_mark.line + 1
                    raise self.error((*path, "?"), "keys must be plain strings, got a list or mapping")
                key = loader.construct_object(key_node)
                if not isinstance(key, str):
                    self.lines[(*path, str(key))] = key_node.start_mark.line + 1
                    message = f"keys must be strings, got {_show(key)} (written {key_node.value}): quote it"
                    raise self.error((*path, str(key)), message)
                if key in out:
                    self.lines[(*path, key)] = key_node.start_mark.line + 1
                    raise self.error((*path, key), "duplicate key")
                out[key] = self._build(loader, value_node, (*path, key))
                self.lines[(*path, key)] = key_node.start_mark.line + 1  # the key's line, not its block's
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self._build(loader, item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag == _STR_TAG:  # what SafeConstructor's construct_yaml_str returns, without its dispatch
            return node.value
        value = loader.construct_object(node)
        if value is not None and not isinstance(value, str):
            self.raw[path] = node.value
        return value

    def not_a_string(self, path: Path_, value: Any) -> str:
        """The message for a scalar that YAML did not read as a string."""
        raw = self.raw.get(path)
        if raw is None or isinstance(value, list | Mapping):
            return f"expected a string, got {_show(value)}"
        kind = _YAML_TYPES.get(type(value).__name__, type(value).__name__)
        return f"expected a string, but YAML reads {raw} as {kind}: quote it: '{raw}'"

    def line(self, path: Path_) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: Path_, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{self.file}:{self.line(path)}: {_fmt(path)}: {message}", hint=hint)


class _Reader:
    """Typed access to a mapping inside a document, reporting errors at the line of ``path``.

    ``path`` is where ``data`` sits in the document. An expanded template job keeps the path of the
    template's ``job`` mapping, so its errors point at the template's lines and ``note`` names the instance.
    """

    def __init__(self, doc: _Doc, data: Mapping[str, Any], path: Path_, note: str = "") -> None:
        self.doc, self.data, self.path, self.note = doc, data, path, note

    def error(self, key: str | None, message: str, hint: str | None = None) -> ConfigError:
        path = self.path if key is None else (*self.path, key)
        line = self.doc.line(path)
        note = f" ({self.note})" if self.note else ""
        return ConfigError(f"{self.doc.file}:{line}: {_fmt(path)}: {message}{note}", hint=hint)

    def check_keys(self, allowed: Iterable[str]) -> None:
        allowed = tuple(allowed)
        for key in self.data:
            if key not in allowed:
                raise self.error(key, "unknown key", hint="known keys here: " + ", ".join(allowed))

    def sub(self, key: str) -> _Reader | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict | Mapping):
            raise self.error(key, f"expected a mapping, got {_show(value)}")
        return _Reader(self.doc, value, (*self.path, key), self.note)

    def string(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(None, f"missing required key {key!r}")
            return default
        if not isinstance(value, str):
            raise self.error(key, self.doc.not_a_string((*self.path, key), value))
        if _XML_BAD.search(value):
            raise self.error(key, "contains a control character that Jenkins cannot store")
        return value

    def req(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {_show(value)}")
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(key, f"expected a positive integer, got {_show(value)}")
        return value

    def items(self, key: str) -> list[tuple[_Reader | None, Any, Path_]]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {_show(value)}")
        out: list[tuple[_Reader | None, Any, Path_]] = []
        for i, item in enumerate(value):
            path = (*self.path, key, i)
            reader = _Reader(self.doc, item, path, self.note) if isinstance(item, dict | Mapping) else None
            out.append((reader, item, path))
        return out


def _show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


# ------------------------------------------------------------------------------------------ parsing

_COMMON_KEYS = ("name", "type", "description", "git", "poll", "disabled", "previous_names")
JOB_KEYS = {
    "freestyle": (*_COMMON_KEYS, "bindings", "shell", "timestamps"),
    "pipeline": (*_COMMON_KEYS, "script_path", "lightweight", "jenkinsfile"),
}
GIT_KEYS = ("url", "branch", "credentials", "clean")
BINDING_KEYS = ("credentials", "username", "password")
JENKINSFILE_KEYS = ("credentials", "timeout_minutes", "environment")
FOLDER_KEYS = ("name", "description")
TOP_KEYS = ("defaults", "folders", "jobs", "templates")
TEMPLATE_KEYS = ("job", "instances")


def check_name(name: str, fail: Callable[[str], ConfigError]) -> str:
    """Validate a full item name the way Jenkins would, segment by segment (``/`` separates folders)."""
    if not name:
        raise fail("name must not be empty")
    for segment in name.split("/"):
        if not segment:
            raise fail(f"{name!r}: empty path segment (leading, trailing or doubled '/')")
        if segment in (".", ".."):
            raise fail(f"{name!r}: {segment!r} is not a valid name")
        if segment != segment.strip():
            raise fail(f"{name!r}: leading or trailing whitespace in {segment!r}")
        if segment.endswith("."):
            raise fail(f"{name!r}: Jenkins rejects a name ending in '.' ({segment!r})")
        if _BAD_NAME_CHAR.search(segment):
            bad = sorted({c for c in segment if _BAD_NAME_CHAR.fullmatch(c)})
            raise fail(f"{name!r}: Jenkins rejects the character(s) {''.join(bad)!r} in a name")
    return name


@functools.lru_cache(maxsize=1024)  # template instances mostly share one repository URL
def _url_password(url: str) -> str | None:
    try:
        return urllib.parse.urlsplit(url).password
    except ValueError:
        return None


def _git(r: _Reader) -> Git:
    r.check_keys(GIT_KEYS)
    clean = r.string("clean", "none")
    if clean not in CLEAN_VALUES:
        raise r.error("clean", f"expected one of {', '.join(CLEAN_VALUES)}, got {clean!r}")
    url = r.req("url")
    password = _url_password(url)
    if password:
        redact.register(password)
        raise r.error(
            "url",
            "carries a password (user:password@): it would be stored in config.xml",
            hint="drop it from the URL and name a Jenkins credential in git.credentials",
        )
    return Git(
        url=url,
        branch=r.string("branch", "*/main") or "*/main",
        credentials=r.string("credentials"),
        clean=clean,
    )


def _env_name(r: _Reader, key: str) -> str:
    value = r.req(key)
    if not _ENV_NAME.fullmatch(value):
        raise r.error(key, f"{value!r} is not a valid environment variable name")
    return value


def _strings(r: _Reader, key: str) -> tuple[str, ...]:
    value = r.data.get(key)
    if isinstance(value, str):
        value = [value]
    if value is None:
        return ()
    if not isinstance(value, list):
        raise r.error(key, f"expected a string or a list of strings, got {_show(value)}")
    out = []
    for i, item in enumerate(value):
        if not isinstance(item, str):
            where = (*r.path, key, i)
            raise _Reader(r.doc, {}, where, r.note).error(None, r.doc.not_a_string(where, item))
        if _XML_BAD.search(item):
            raise r.error(key, "contains a control character that Jenkins cannot store")
        out.append(item)
    return tuple(out)


def _job(r: _Reader, source: Source) -> Job:
    kind = r.string("type")
    if kind not in JOB_KEYS:
        raise r.error("type" if kind else None, f"expected type freestyle or pipeline, got {kind!r}")
    r.check_keys(JOB_KEYS[kind])
    name = check_name(r.req("name"), lambda m: r.error("name", m))
    git_r = r.sub("git")
    git = _git(git_r) if git_r else None
    previous = tuple(check_name(old, lambda m: r.error("previous_names", m)) for old in _strings(r, "previous_names"))
    if previous and fold(name) in {fold(old) for old in previous}:
        raise r.error("previous_names", f"{name!r} is the job's own name")
    common: dict[str, Any] = {
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
                raise r.doc.error(where, f"expected a mapping, got {_show(raw)}")
            br.check_keys(BINDING_KEYS)
            bindings.append(Binding(br.req("credentials"), _env_name(br, "username"), _env_name(br, "password")))
        return Freestyle(
            git=git,
            bindings=tuple(bindings),
            shell=_strings(r, "shell"),
            timestamps=r.boolean("timestamps", False),
            **common,
        )
    if git is None:
        raise r.error(None, "missing required key 'git' (a pipeline from SCM needs a repository)")
    jf_r = r.sub("jenkinsfile")
    jenkinsfile = None
    if jf_r:
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
        jenkinsfile = JenkinsfileSpec(
            credentials=jf_r.string("credentials", "aws") or "aws",
            timeout_minutes=jf_r.integer("timeout_minutes", 60),
            environment=tuple(env),
        )
    return Pipeline(
        git=git,
        script_path=repo_path(r, "script_path", "Jenkinsfile"),
        lightweight=r.boolean("lightweight", True),
        jenkinsfile=jenkinsfile,
        **common,
    )


def repo_path(r: _Reader, key: str, default: str) -> str:
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


def read_yaml(file: str, text: str) -> _Doc:
    """A YAML document read the way specs are (no aliases, lines kept), for other inputs such as credentials."""
    return _Doc(file, text)


def load_file(path: Path, display: str | None = None) -> list[Item]:
    """Models from one spec file, in file order; raises :class:`ConfigError` naming ``file:line``."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: cannot read: not UTF-8 text (byte {exc.start})") from None
    doc = _Doc(name, text)
    if not isinstance(doc.data, Mapping):
        raise doc.error((), f"expected a mapping with keys {', '.join(TOP_KEYS)}, got {_show(doc.data)}")
    top = _Reader(doc, doc.data, ())
    top.check_keys(TOP_KEYS)
    defaults_r = top.sub("defaults")
    defaults: Mapping[str, Any] = {}
    if defaults_r:
        defaults_r.check_keys(sorted({k for keys in JOB_KEYS.values() for k in keys} - {"name"}))
        defaults = defaults_r.data
    items: list[Item] = []
    for r, raw, where in top.items("folders"):
        if r is None:
            raise doc.error(where, f"expected a mapping, got {_show(raw)}")
        r.check_keys(FOLDER_KEYS)
        fname = check_name(r.req("name"), functools.partial(r.error, "name"))
        items.append(Folder(fname, r.string("description", "") or "", Source(name, doc.line(where))))
    for r, raw, where in top.items("jobs"):
        if r is None:
            raise doc.error(where, f"expected a mapping, got {_show(raw)}")
        merged = _Reader(doc, _merge(defaults, r.data), r.path)
        items.append(_job(merged, Source(name, doc.line(where))))
    for r, raw, where in top.items("templates"):
        if r is None:
            raise doc.error(where, f"expected a mapping, got {_show(raw)}")
        r.check_keys(TEMPLATE_KEYS)
        job_r = r.sub("job")
        if job_r is None:
            raise r.error(None, "missing required key 'job'")
        instances = r.items("instances")
        if not instances:
            raise r.error("instances", "expected a non-empty list of variable mappings")
        job = _merge(defaults, job_r.data)  # once per template; expand() copies what it substitutes into
        for i_r, raw_i, i_where in instances:
            if i_r is None:
                raise doc.error(i_where, f"expected a mapping of variables, got {_show(raw_i)}")
            variables = {k: i_r.string(k) for k in i_r.data}
            note = "instance " + ", ".join(f"{k}={v}" for k, v in variables.items())
            data = expand(job, variables, functools.partial(doc.error, i_where))
            expanded = _Reader(doc, data, job_r.path, note)
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
        if parent and not isinstance(folder, Folder):
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
    ordered = sorted(seen.values(), key=lambda i: (not isinstance(i, Folder), i.name.count("/"), i.name))
    return Specs(tuple(ordered))
