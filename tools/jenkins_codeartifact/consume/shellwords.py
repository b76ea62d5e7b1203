"""Which simple commands of a RUN line install Python packages, read from its shell words.

Only as deep as a reader of the Dockerfile would go: commands split at ``&&``, ``||``, ``;``, ``|``
and parentheses, leading ``VAR=value``, ``env``, ``exec``, ``sudo`` stripped, ``sh -c '...'`` read
inside. A script the line calls (``./install.sh``, ``make``) is opaque: :func:`opaque_script` names it.
"""

from __future__ import annotations

import os
import re
import shlex
from collections.abc import Iterator
from dataclasses import dataclass

# Options naming an index; a requirements file may hold them too.
INDEX_OPTION = re.compile(r"-i|--index-url|--extra-index-url|--index|--default-index|--extra-index")
_REQUIREMENT_OPTION = ("-r", "--requirement", "-c", "--constraint", "--requirements")
_OFFLINE = frozenset({"--no-index", "--offline", "--no-sync"})
_WRAPPERS = frozenset({"env", "exec", "sudo", "time", "nice", "command", "nohup"})
_SHELLS = frozenset({"sh", "bash", "dash", "ash", "zsh"})
_PYTHON = re.compile(r"python(\d+(\.\d+)?)?")
_PIP = re.compile(r"pip(\d+(\.\d+)?)?")
# (tool, subcommand words) that fetch from an index
_SUBCOMMANDS: dict[str, tuple[tuple[str, ...], ...]] = {
    "pip": (("install",), ("download",), ("wheel",)),
    "uv": (("pip", "install"), ("pip", "sync"), ("pip", "compile"), ("sync",), ("add",), ("lock",), ("run",)),
    "uv-tool": (("tool", "install"),),
    "poetry": (("install",), ("add",), ("lock",), ("update",), ("sync",)),
    "pipenv": (("install",), ("sync",), ("lock",), ("update",)),
    "pipx": (("install",),),
}


@dataclass(frozen=True)
class Install:
    """One installing command: which tool, how it reads, whether it stays offline, what it names."""

    tool: str  # pip, uv, poetry, pipenv (pipx counts as pip: it reads pip's config)
    words: str  # the command as written, shortened for a message
    offline: bool
    index_options: tuple[str, ...]  # literal index options ("--index-url https://...")
    requirement_files: tuple[str, ...]


def commands(line: str) -> Iterator[list[str]]:
    """The simple commands of ``line``, each as its words, wrappers and ``sh -c`` unwrapped."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";&|()")
    lexer.whitespace_split = True
    lexer.commenters = ""
    try:
        tokens = list(lexer)
    except ValueError:  # an unbalanced quote: read it as plain words
        tokens = line.split()
    current: list[str] = []
    for token in [*tokens, ";"]:
        if token and set(token) <= set(";&|()"):
            yield from _unwrap(current)
            current = []
        else:
            current.append(token)


def _assignment(word: str) -> bool:
    return "=" in word and not word.startswith("-")


def _unwrap(words: list[str]) -> Iterator[list[str]]:
    while words and (_assignment(words[0]) or words[0] in _WRAPPERS or words[0] == "$"):
        words = words[1:]
    if not words:
        return
    if os.path.basename(words[0]) in _SHELLS and len(words) > 2 and words[1].startswith("-") and "c" in words[1]:
        yield from commands(words[2])
        return
    yield words


def installs(line: str) -> Iterator[Install]:
    """Every command of ``line`` that installs or resolves Python packages from an index."""
    for words in commands(line):
        tool, args = _tool(words)
        if tool is None:
            continue
        rest = _subcommand(tool, args)
        if rest is None:
            continue
        shown = " ".join(words)
        yield Install(
            tool="pip" if tool in ("pip", "pipx") else ("uv" if tool.startswith("uv") else tool),
            words=shown if len(shown) <= 100 else shown[:97] + "...",
            offline=any(word.split("=", 1)[0] in _OFFLINE for word in rest),
            index_options=tuple(_index_options(rest)),
            requirement_files=tuple(_requirement_files(tool, args, rest)),
        )


def _tool(words: list[str]) -> tuple[str | None, list[str]]:
    name = os.path.basename(words[0])
    if _PIP.fullmatch(name):
        return "pip", words[1:]
    if name in ("uv", "poetry", "pipenv", "pipx"):
        return ("uv-tool" if words[1:2] == ["tool"] else name), words[1:]
    if _PYTHON.fullmatch(name) and "-m" in words:
        at = words.index("-m")
        module = words[at + 1] if at + 1 < len(words) else ""
        if module in ("pip", "uv", "poetry", "pipenv", "pipx"):
            return _tool([module, *words[at + 2 :]])
    return None, []


def _subcommand(tool: str, args: list[str]) -> list[str] | None:
    """The arguments after the fetching subcommand, or None if ``args`` is another subcommand."""
    plain = [a for a in args if not a.startswith("-")]
    for sub in _SUBCOMMANDS[tool]:
        if tuple(plain[: len(sub)]) == sub:
            return args[args.index(sub[-1]) + 1 :]
    return None


def _index_options(args: list[str]) -> Iterator[str]:
    for at, word in enumerate(args):
        name, eq, value = word.partition("=")
        if not INDEX_OPTION.fullmatch(name):
            if word.startswith("-i") and not word.startswith("--") and len(word) > 2:
                name, eq, value = "-i", "=", word[2:]
            else:
                continue
        if not eq:
            value = args[at + 1] if at + 1 < len(args) else ""
        if not value.startswith("$"):  # a value from a variable is read at run time (from the secret, presumably)
            yield f"{name} {value}"


def _requirement_files(tool: str, args: list[str], rest: list[str]) -> Iterator[str]:
    for at, word in enumerate(rest):
        name, eq, value = word.partition("=")
        if name in _REQUIREMENT_OPTION:
            found = value if eq else (rest[at + 1] if at + 1 < len(rest) else "")
            if found:
                yield found
        elif word.startswith("-r") and not word.startswith("--") and len(word) > 2:
            yield word[2:]
    if tool == "uv" and [a for a in args if not a.startswith("-")][:2] == ["pip", "sync"]:
        yield from (a for a in rest if not a.startswith("-") and a.endswith((".txt", ".in")))


def index_settings(line: str) -> Iterator[str]:
    """``pip config set global.index-url ...`` and the like: an index written into the image's pip.conf."""
    for words in commands(line):
        tool, args = _tool(words)
        plain = [a for a in args if not a.startswith("-")]
        key = plain[2].rsplit(".", 1)[-1] if len(plain) > 2 else ""
        if tool == "pip" and plain[:2] == ["config", "set"] and key in ("index-url", "extra-index-url", "index"):
            yield " ".join(words)


def opaque_script(line: str) -> str | None:
    """The first command of ``line`` that runs a script or make (what it installs is not visible here)."""
    for words in commands(line):
        name = os.path.basename(words[0])
        if name in _SHELLS and len(words) > 1 and not words[1].startswith("-"):
            return " ".join(words[:2])
        if name.endswith((".sh", ".bash")) or words[0].startswith("./") or name == "make":
            return " ".join(words[:3])
    return None
