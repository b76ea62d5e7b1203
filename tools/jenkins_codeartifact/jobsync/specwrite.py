"""Job models written back as spec YAML (what ``jobsync import`` writes): only what differs from the
defaults, in the keys :mod:`.jobspecs` reads, multi-line text as literal blocks.

The writer is checked by reading its output back (:func:`.importing` proves every item), so a key
written here that the reader would misread shows up as an item kept raw, never as a changed job.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import yaml

from .model import Binding, Common, Folder, Freestyle, Git, Item, Multibranch, Param, Pipeline, RawItem

_KIND_KEYS = {"kind": "type"}  # model field -> spec key, where they differ
_BINDING_VARS = ("username", "password", "variable", "passphrase", "access_key", "secret_key")


def _differs(obj: Any, skip: tuple[str, ...] = ()) -> dict[str, Any]:
    """The fields of a dataclass that differ from their defaults (spec keys, values as written)."""
    out: dict[str, Any] = {}
    for f in dataclasses.fields(obj):
        if f.name in skip or not f.compare:
            continue
        value = getattr(obj, f.name)
        default = f.default if f.default is not dataclasses.MISSING else None
        if f.default_factory is not dataclasses.MISSING:
            default = f.default_factory()
        if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
            default = object()  # required: always written
        if value == default:
            continue
        out[_KIND_KEYS.get(f.name, f.name)] = _plain(value)
    return out


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return _differs(value)
    return value


def _param(p: Param) -> dict[str, Any]:
    out = _differs(p)
    if p.kind == "boolean":
        out["default"] = p.default == "true"
        if not out["default"]:
            del out["default"]
    return out


def _binding(b: Binding) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if b.kind != "username-password":
        out["type"] = b.kind
    out["credentials"] = b.credentials
    out.update({k: getattr(b, k) for k in _BINDING_VARS if getattr(b, k)})
    return out


def _common(c: Common) -> dict[str, Any]:
    out = _differs(c, skip=("parameters", "raw", "order"))
    if c.order:
        out["order"] = {place: list(keys) for place, keys in c.order}
    if c.parameters:
        out["parameters"] = [_param(p) for p in c.parameters]
    if c.raw:
        out["raw"] = _differs(c.raw)
    return out


def _git(g: Git) -> dict[str, Any]:
    out: dict[str, Any] = {"url": g.url}
    out.update(_differs(g, skip=("url", "extensions_between", "submodule_options")))
    if g.submodule_options is not None:
        out["submodules"] = _differs(g.submodule_options)
    if g.extensions_between:  # one place: the entries need no place key
        out["extensions_between"] = [{"after": r.after, "xml": r.xml} for r in g.extensions_between]
    return out


def _job(job: Freestyle | Pipeline) -> dict[str, Any]:
    out: dict[str, Any] = {"name": job.name, "type": "freestyle" if isinstance(job, Freestyle) else "pipeline"}
    if job.description:
        out["description"] = job.description
    out.update(_common(job.common))
    if job.git is not None:
        out["git"] = _git(job.git)
    rest = _differs(job, skip=("name", "description", "common", "git", "bindings", "jenkinsfile"))
    if isinstance(job, Pipeline) and not job.concurrent:
        rest["concurrent"] = False
    out.update(rest)
    if isinstance(job, Freestyle) and job.bindings:
        out["bindings"] = [_binding(b) for b in job.bindings]
    return out


def item_dict(item: Item) -> dict[str, Any]:
    """The spec mapping of one item (a ``folders:`` entry for a folder, a ``jobs:`` entry otherwise)."""
    if isinstance(item, Folder):
        return {"name": item.name, **({"description": item.description} if item.description else {})}
    if isinstance(item, RawItem):
        return {"name": item.name, "type": "raw", "xml": item.xml}
    if isinstance(item, Multibranch):
        return _multibranch(item)
    return _job(item)


def _multibranch(mb: Multibranch) -> dict[str, Any]:
    out: dict[str, Any] = {"name": mb.name, "type": "multibranch"}
    if mb.description:
        out["description"] = mb.description
    git: dict[str, Any] = {"url": mb.url}
    if mb.credentials:
        git["credentials"] = mb.credentials
    if mb.source_id and mb.source_id != mb.name:
        git["source_id"] = mb.source_id
    out["git"] = git
    rest = _differs(
        mb, skip=("name", "url", "description", "credentials", "source_id", "orphaned_days", "orphaned_builds")
    )
    out.update(rest)
    orphaned = {k: v for k, v in (("days", mb.orphaned_days), ("builds", mb.orphaned_builds)) if v is not None}
    if orphaned:
        out["orphaned"] = orphaned
    return out


# libyaml's emitter when PyYAML was built with it: the pure-Python one spends seconds on long scripts.
_Base: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


class _Dumper(_Base):  # type: ignore[misc]
    pass


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = "|" if "\n" in value and not value.startswith((" ", "\t")) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def dump(items: list[Item], header: str = "") -> str:
    """The text of one spec file holding ``items`` (folders first, then jobs)."""
    folders = [item_dict(i) for i in items if isinstance(i, Folder)]
    jobs = [item_dict(i) for i in items if not isinstance(i, Folder)]
    doc: dict[str, Any] = {}
    if folders:
        doc["folders"] = folders
    if jobs:
        doc["jobs"] = jobs
    body: str = yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 20)
    return header + body
