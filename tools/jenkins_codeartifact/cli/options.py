"""The settings fields as argparse flags, and as the README's settings table.

The declarations (type, default, env var, help) stay in :mod:`..settings`; this turns them into what
a command line and a reader see, so no flag's help can forget its variable or default.
Run ``python -m jenkins_codeartifact.cli.options`` to print the README table.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

from .. import config, settings


def select(*names: str) -> list[str]:
    """Field names for a command's declaration: each name is a field or a group of fields (``settings.GROUPS``)."""
    selected: list[str] = []
    for name in names:
        if name in settings.GROUPS:
            selected += [n for n, f in settings.FIELDS.items() if f.metadata["group"] == name]
        elif name in settings.FIELDS:
            selected.append(name)
        else:  # a programming error in a CLI, not user input
            raise TypeError(f"unknown setting or group: {name!r}")
    return list(dict.fromkeys(selected))


def flag(name: str) -> str | None:
    """The field's command-line flag, or None for environment-only settings (secrets, identities)."""
    f = settings.FIELDS[name]
    if f.metadata["env_only"]:
        return None
    return str(f.metadata["flag"] or "--" + name.replace("_", "-"))


def _default_text(f: dataclasses.Field[Any]) -> str:
    return "" if f.default in (None, ()) else str(f.default)


def help_text(name: str) -> str:
    """``doc [env: VAR; default: D]``: what ``--help`` shows, so no flag's help can forget its variable."""
    f = settings.FIELDS[name]
    where = "env: " + ", ".join(f.metadata["env"])
    if _default_text(f) and config.value_type(f) is not bool:
        where += f"; default: {_default_text(f)}"
    return f"{f.metadata['doc']} [{where}]".replace("%", "%%")


def add_arguments(parser: argparse.ArgumentParser, *names: str) -> None:
    """Register the flags of the named fields/groups, one argparse group per settings group.

    Every flag defaults to None ("not given"), so :func:`config.load` can tell a flag from the lower layers.
    """
    groups: dict[str, Any] = {}
    for name in select(*names):
        option = flag(name)
        if option is None:
            continue
        f = settings.FIELDS[name]
        group_name = f.metadata["group"]
        if group_name not in groups:
            groups[group_name] = parser.add_argument_group(settings.GROUPS[group_name])
        kwargs: dict[str, Any] = {"dest": name, "default": None, "help": help_text(name)}
        kind = config.value_type(f)
        if kind is bool:
            kwargs["action"] = "store_true"
        elif kind is tuple:
            kwargs["action"] = "append"
        else:
            kwargs["type"] = {int: int, float: float}.get(kind, str)
        if f.metadata["choices"]:
            kwargs["choices"] = f.metadata["choices"]
        if f.metadata["metavar"]:
            kwargs["metavar"] = f.metadata["metavar"]
        groups[group_name].add_argument(option, **kwargs)


def markdown_table() -> str:
    """The README's settings table, generated so documentation and code cannot drift."""
    rows = ["| setting | flag | environment | default | meaning |", "|---|---|---|---|---|"]
    for name, f in settings.FIELDS.items():
        option = flag(name)
        env = ", ".join(f"`{v}`" for v in f.metadata["env"])
        default = f"`{_default_text(f)}`" if _default_text(f) else ""
        rows.append(
            f"| `{name}` | {f'`{option}`' if option else '(env only)'} | {env} | {default} | {f.metadata['doc']} |"
        )
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
