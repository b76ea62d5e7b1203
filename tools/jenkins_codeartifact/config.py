"""Settings from flags, the environment and the config file: :func:`load`.

Precedence, highest first: command-line flag > environment variable > ``jenkins-codeartifact.toml``
(found in the working directory or a parent, or named by ``--config``/``CA_CONFIG``; an
``[environments.NAME]`` table for ``--env NAME``) > default. Unknown keys in the file are errors: a typo must
not silently fall back to a default. The fields themselves are declared in :mod:`.settings`.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from . import files, redact
from .errors import ConfigError
from .settings import CONFIG_NAME, FIELDS, Settings

# What an [environments.NAME] table of the config file may set; flags and env vars still win over it.
ENVIRONMENT_KEYS = ("stack", "region", "profile", "role_arn", "registry", "image_name", "template", "params")
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def value_type(f: dataclasses.Field[Any]) -> type:
    """The Python type a field takes, read from its default (what coercion and argparse go by)."""
    default = f.default
    if isinstance(default, bool):
        return bool
    if isinstance(default, tuple):
        return tuple
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    return str


def _coerce(name: str, value: Any, where: str) -> Any:
    """Turn a file or env value into the field's type and check it against the field's choices (the one
    place they are checked: argparse checks flags against the same tuple); bad values name their source."""
    converted = _convert(name, value, where)
    choices = FIELDS[name].metadata["choices"]
    if choices and converted not in choices:
        raise ConfigError(f"{where}: {value!r}: must be one of {', '.join(choices)}")
    return converted


def _convert(name: str, value: Any, where: str) -> Any:
    kind = value_type(FIELDS[name])
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError
        if kind is tuple:
            if isinstance(value, str):
                return tuple(p.strip() for p in value.split(";") if p.strip())
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(str(value).strip())
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(str(value).strip())
        if not isinstance(value, str):
            raise ValueError
        return value
    except ValueError:
        expected = {bool: "true or false", tuple: "a list of strings", int: "an integer", float: "a number"}
        raise ConfigError(
            f"{where}: expected {expected.get(kind, 'a string')}, got {value!r}",
            hint="fix the value or remove it to use the default",
        ) from None


def find_config(start: Path) -> Path | None:
    """The nearest ``jenkins-codeartifact.toml`` in ``start`` or a parent directory."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def read_config(path: Path) -> dict[str, Any]:
    """Parse the config file; unknown keys and env-only secrets are errors naming the file and key."""
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file")
    try:
        data = tomllib.loads(files.read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    if "environments" in data:
        values["environments"] = _environments(path, data.pop("environments"))
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise ConfigError(
                f"{path}: unknown key {key!r}",
                hint="known keys: " + ", ".join(n for n, f in FIELDS.items() if not f.metadata["env_only"]),
            )
        if FIELDS[name].metadata["env_only"]:
            raise ConfigError(
                f"{path}: {key!r} may only come from the environment ({FIELDS[name].metadata['env'][0]})",
                hint="secrets and identities do not belong in files checked into a repository",
            )
        values[name] = _coerce(name, value, f"{path}: {key}")
    return values


def _environments(path: Path, tables: Any) -> dict[str, dict[str, Any]]:
    """``[environments.NAME]`` tables, each key one of :data:`ENVIRONMENT_KEYS`, coerced like the top level."""
    if not isinstance(tables, dict) or not all(isinstance(t, dict) for t in tables.values()):
        raise ConfigError(f"{path}: environments: expected tables [environments.NAME]")
    out: dict[str, dict[str, Any]] = {}
    for env, table in tables.items():
        out[env] = {}
        for key, value in table.items():
            name = key.replace("-", "_")
            if name not in ENVIRONMENT_KEYS:
                raise ConfigError(
                    f"{path}: environments.{env}: unknown key {key!r}",
                    hint="known keys: " + ", ".join(ENVIRONMENT_KEYS),
                )
            out[env][name] = _coerce(name, value, f"{path}: environments.{env}.{key}")
    return out


def _environment(from_file: dict[str, Any], name: str | None, path: Path | None) -> dict[str, Any]:
    """The file's values with environment ``name``'s table over them (none: the file as it is)."""
    tables: dict[str, dict[str, Any]] = from_file.pop("environments", {})
    if not name:
        return from_file
    if name not in tables:
        known = ", ".join(sorted(tables)) or "none"
        raise ConfigError(
            f"--env {name!r}: no [environments.{name}] in {path or 'a config file (none found)'}",
            hint=f"environments there: {known}",
        )
    return {**from_file, **tables[name]}


def load(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config: str | os.PathLike[str] | None = None,
) -> Settings:
    """Resolve settings; ``flags`` holds CLI values where ``None`` means "not given"."""
    env = os.environ if env is None else env
    flags = flags or {}
    unknown = set(flags) - set(FIELDS)
    if unknown:  # a programming error in a CLI, not user input
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    config_path: Path | None
    if config is not None or env.get("CA_CONFIG"):
        config_path = Path(config if config is not None else env["CA_CONFIG"])
    else:
        config_path = find_config(cwd or Path.cwd())
    from_file = read_config(config_path) if config_path else {}
    env_name = flags.get("env") or env.get("CA_ENV") or from_file.get("env")
    from_file = _environment(from_file, env_name, config_path)
    values: dict[str, Any] = {}
    for name, f in FIELDS.items():
        if flags.get(name) is not None:
            values[name] = flags[name]
            continue
        for var in f.metadata["env"]:
            if var in env and (env[var] != "" or value_type(f) is bool):
                values[name] = _coerce(name, env[var], f"environment variable {var}")
                break
        else:
            if name in from_file:
                values[name] = from_file[name]
        if f.metadata["secret"] and isinstance(values.get(name), str):
            redact.register(values[name])
    return Settings(**values)
