"""What ``jobsync run`` needs from the typed core: build parameters, bindings of every type, refusals.

Parameters behave as Jenkins' ParametersAction does: every declared parameter is set (its default when
not given), a choice must be one of its choices, a boolean true or false, and a value for a parameter
the job does not declare is refused (Jenkins drops it since SECURITY-170; a silent drop would hide a
typo). What the runner cannot reproduce (a plugin's build step or wrapper kept as raw XML, an item kept
whole raw) is refused before anything runs, naming the element.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from .. import files, redact
from ..errors import ConfigError
from . import parts, yamlread
from .model import Binding, Freestyle, Item, Multibranch, Pipeline, RawItem

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Credential:
    """One entry of the credentials file: username + password, or a secret text."""

    id: str
    username: str | None = None
    password: str | None = None
    secret: str | None = None
    access_key: str | None = None
    secret_key: str | None = None
    private_key: str | None = None
    passphrase: str | None = None


# The shapes an entry may have: a binding of each type takes one (see runparts.bind).
_SHAPES = (
    {"username", "password"},
    {"secret"},
    {"access_key", "secret_key"},
    {"private_key"},
    {"username", "private_key"},
    {"username", "private_key", "passphrase"},
    {"private_key", "passphrase"},
)


def load_credentials(path: Path) -> dict[str, Credential]:
    """``ID: {username, password}``, ``{secret}``, ``{access_key, secret_key}`` or ``{[username,] private_key
    [, passphrase]}`` from a file only its owner can read (mode 0600)."""
    text = files.read_text(path, f"--credentials {path}")
    info = path.stat()
    if info.st_mode & 0o077:
        raise ConfigError(
            f"--credentials {path}: mode {info.st_mode & 0o777:04o} lets others read it",
            hint=f"chmod 600 {path}",
        )
    doc = yamlread.read_yaml(str(path), text)
    if not isinstance(doc.data, Mapping):
        raise doc.error((), "expected a mapping of credential ids")
    out = {}
    for cid, entry in doc.data.items():
        if not isinstance(entry, Mapping) or set(entry) not in _SHAPES:
            raise doc.error(
                (cid,), "expected {username, password}, {secret}, {access_key, secret_key} or {private_key}"
            )
        for key, value in entry.items():
            if not isinstance(value, str) or not value:
                raise doc.error((cid, key), doc.not_a_string((cid, key), value) if value else "must not be empty")
            redact.register(value)
        out[cid] = Credential(cid, **{k: entry[k] for k in entry})
    return out


@dataclass(frozen=True)
class Bound:
    """Variables a binding sets: plain values, and secret files to write (variable -> content)."""

    env: tuple[tuple[str, str], ...] = ()
    files: tuple[tuple[str, str], ...] = ()


def refuse_unrunnable(item: Item) -> None:
    """ConfigError (exit 2) naming what of ``item`` cannot run here; notes what is ignored."""
    where = f"{item.name!r} ({item.source})"
    if isinstance(item, RawItem):
        raise ConfigError(
            f"job {where} is kept as raw XML (<{item.root}>): jobsync run cannot run it here",
            hint="run it on Jenkins; only typed freestyle and rendered pipeline jobs run locally",
        )
    if isinstance(item, Multibranch):
        raise ConfigError(
            f"{where} is a multibranch pipeline: its branch jobs are Jenkins'; jobsync run cannot run it here",
            hint="run a pipeline job with a rendered Jenkinsfile, or the branch on Jenkins",
        )
    if not isinstance(item, Freestyle | Pipeline):
        return
    raw = item.common.raw
    for place in ("builders", "buildWrappers"):
        texts = [r.xml for r in raw.at(place)] + [getattr(raw, place)]
        elements = [e for text in texts for e in parts.raw_elements(text)]
        if elements:
            raise ConfigError(
                f"job {where}: raw {place} <{elements[0].tag}> is a plugin's step; jobsync run cannot run it here",
                hint="run the job on Jenkins, or express the step as a shell step",
            )


def notes(item: Freestyle | Pipeline) -> None:
    """Say what of the spec the local build ignores (after every refusal, so an error stays one line)."""
    if item.common.label is not None:
        log.info("note: label %r is ignored: the build runs on this machine", item.common.label)
    raw = item.common.raw
    if raw.publishers or raw.properties or raw.triggers or raw.at("publishers") or raw.at("properties"):
        log.info("note: raw properties, triggers and publishers are ignored by jobsync run")


def parameters(item: Freestyle | Pipeline, given: Mapping[str, str]) -> dict[str, str]:
    """The build's parameter values: ``given`` checked against the job's declarations, defaults filled in."""
    declared = {p.name: p for p in item.common.parameters}
    where = f"job {item.name!r} ({item.source})"
    if not declared:  # a job without parameters: --param values reach the build as they are (as before)
        return dict(given)
    for name in given:
        if name not in declared:
            known = ", ".join(declared) or "none"
            raise ConfigError(
                f"{where}: --param {name}: not a parameter of the job (it has: {known}); Jenkins would drop it"
            )
    out = {}
    for name, p in declared.items():
        value = given.get(name)
        if p.kind == "choice":
            if value is not None and value not in p.choices:
                raise ConfigError(f"{where}: --param {name}={value}: expected one of {', '.join(p.choices)}")
            out[name] = p.choices[0] if value is None else value
        elif p.kind == "boolean":
            if value is not None and value not in ("true", "false"):
                raise ConfigError(f"{where}: --param {name}={value}: expected true or false")
            out[name] = p.default if value is None else value
        elif p.kind == "credentials":
            out[name] = p.default if value is None else value
        else:
            default = p.default.strip() if p.trim else p.default
            out[name] = default if value is None else (value.strip() if p.trim else value)
    return out


def bind(b: Binding, entry: object, where: str) -> Bound:
    """The variables of binding ``b`` from a credentials-file entry; ConfigError when its shape differs."""

    def need(*keys: str, shape: str) -> list[str]:
        values = [getattr(entry, key, None) for key in keys]
        if any(v is None for v in values):
            raise ConfigError(f"{where}: credentials {b.credentials!r} must be {shape} for a {b.kind} binding")
        return [str(v) for v in values]

    if b.kind == "username-password":
        user, password = need("username", "password", shape="a username and password")
        return Bound(((b.username, user), (b.password, password)))
    if b.kind == "secret-text":
        return Bound(((b.variable, need("secret", shape="a secret ({secret: ...})")[0]),))
    if b.kind == "secret-file":
        return Bound(files=((b.variable, need("secret", shape="a secret ({secret: ...})")[0]),))
    if b.kind == "ssh-key":
        (key,) = need("private_key", shape="an SSH key ({private_key: ...})")
        env = [(b.username, str(getattr(entry, "username", None) or ""))] if b.username else []
        if b.passphrase:
            env.append((b.passphrase, str(getattr(entry, "passphrase", None) or "")))
        return Bound(tuple(env), files=((b.variable, key),))
    access, secret = need("access_key", "secret_key", shape="AWS keys ({access_key, secret_key})")
    return Bound(((b.access_key, access), (b.secret_key, secret)))


def write_secret_files(files: tuple[tuple[str, str], ...], workspace: Path) -> dict[str, str]:
    """Write the bound secret files (mode 0600) under WORKSPACE@tmp, as the binding plugin does; their paths."""
    out = {}
    if files:
        folder = Path(f"{workspace}@tmp") / "secretFiles"
        folder.mkdir(parents=True, exist_ok=True, mode=0o700)
        for i, (variable, content) in enumerate(files):
            path = folder / f"{i}-{variable}"
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                f.write(content)
            out[variable] = str(path)
    return out


def remove_secret_files(workspace: Path) -> None:
    folder = Path(f"{workspace}@tmp") / "secretFiles"
    if folder.is_dir():
        for path in folder.iterdir():
            path.unlink(missing_ok=True)
        folder.rmdir()
