"""YAML read defensively, every node's line kept, and typed access that reports ``file:line: field``.

Specs (and ``jobsync run``'s credentials file) are input from any branch: YAML aliases and merge keys are
refused (an alias bomb or a self-referencing alias would otherwise take minutes or recurse for ever),
nesting is bounded, and a value that must be a string must be written as one (YAML 1.1 reads ``010`` as 8
and ``1.10`` as 1.1): the error shows what was written.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

import yaml

from ..errors import ConfigError

KeyPath = tuple[str | int, ...]
# XML 1.0 cannot carry these, so Jenkins could never store them: reject them at load time.
XML_BAD = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff\ud800-\udfff]")
MAX_DEPTH = 32
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_.-]+")
_YAML_TYPES = {"int": "a number", "float": "a number", "bool": "true/false", "date": "a date", "datetime": "a date"}


def _fmt(path: KeyPath) -> str:
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


class Doc:
    """One YAML file: plain Python values plus the line of every node, keyed by its path.

    ``raw`` keeps the source text of every scalar YAML did not read as a string, so "quote it" errors can
    show what was written (``010``), not what YAML made of it (8).
    """

    def __init__(self, file: str, text: str) -> None:
        self.file = file
        self.text = text
        self.lines: dict[KeyPath, int] = {}
        self.raw: dict[KeyPath, str] = {}
        self._seen: set[int] = set()
        # models of mappings a template's instances share (the same object: no placeholder in it), by
        # id; the mapping is kept with its model, so that its id stays its own while the doc lives
        self.shared: dict[int, tuple[object, object]] = {}
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

    def _build(self, loader: Any, node: yaml.Node, path: KeyPath) -> Any:
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
                key = key_node.value if key_node.tag == _STR_TAG else loader.construct_object(key_node)
                if not isinstance(key, str):
                    self.lines[(*path, str(key))] = key_node.start_mark.line + 1
                    message = f"keys must be strings, got {show(key)} (written {key_node.value}): quote it"
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

    def not_a_string(self, path: KeyPath, value: Any) -> str:
        """The message for a scalar that YAML did not read as a string."""
        raw = self.raw.get(path)
        if raw is None or isinstance(value, list | Mapping):
            return f"expected a string, got {show(value)}"
        kind = _YAML_TYPES.get(type(value).__name__, type(value).__name__)
        return f"expected a string, but YAML reads {raw} as {kind}: quote it: '{raw}'"

    def line(self, path: KeyPath) -> int:
        while path and path not in self.lines:
            path = path[:-1]
        return self.lines.get(path, 1)

    def error(self, path: KeyPath, message: str, hint: str | None = None) -> ConfigError:
        return ConfigError(f"{self.file}:{self.line(path)}: {_fmt(path)}: {message}", hint=hint)


class Reader:
    """Typed access to a mapping inside a document, reporting errors at the line of ``path``.

    ``path`` is where ``data`` sits in the document. An expanded template job keeps the path of the
    template's ``job`` mapping, so its errors point at the template's lines and ``note`` names the instance.
    """

    def __init__(self, doc: Doc, data: Mapping[str, Any], path: KeyPath, note: str = "") -> None:
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

    def sub(self, key: str) -> Reader | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, dict | Mapping):
            raise self.error(key, f"expected a mapping, got {show(value)}")
        return Reader(self.doc, value, (*self.path, key), self.note)

    def string(self, key: str, default: str | None = None, required: bool = False) -> str | None:
        value = self.data.get(key)
        if value is None:
            if required:
                raise self.error(None, f"missing required key {key!r}")
            return default
        if not isinstance(value, str):
            raise self.error(key, self.doc.not_a_string((*self.path, key), value))
        if XML_BAD.search(value):
            raise self.error(key, "contains a control character that Jenkins cannot store")
        return value

    def req(self, key: str) -> str:
        value = self.string(key, required=True)
        assert value is not None
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.error(key, f"expected true or false, got {show(value)}")
        return value

    def integer(self, key: str, default: int) -> int:
        value = self.data.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
            raise self.error(key, f"expected a positive integer, got {show(value)}")
        return value

    def items(self, key: str) -> list[tuple[Reader | None, Any, KeyPath]]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(key, f"expected a list, got {show(value)}")
        out: list[tuple[Reader | None, Any, KeyPath]] = []
        for i, item in enumerate(value):
            path = (*self.path, key, i)
            reader = Reader(self.doc, item, path, self.note) if isinstance(item, dict | Mapping) else None
            out.append((reader, item, path))
        return out


def show(value: Any) -> str:
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return repr(value)


def read_yaml(file: str, text: str) -> Doc:
    """A YAML document read the way specs are (no aliases, lines kept), for other inputs such as credentials."""
    return Doc(file, text)
