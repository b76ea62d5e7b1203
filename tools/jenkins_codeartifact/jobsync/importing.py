"""``jobsync import``: jobs read from the server or from saved config.xml files, written as spec files.

Lossless by proof: each spec file is read back (:func:`.jobspecs.load_text`) and every item rendered
and compared canonically with the config.xml it came from before anything is written; an item that
does not round-trip is written as whole-item raw XML instead and named. Import never writes to the
server, and never overwrites a file in the jobs directory unless asked to (``force``).
"""

from __future__ import annotations

import fnmatch
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError, OperationError, PreconditionError
from . import configxml, importxml, jobspecs, specwrite
from .importxml import Imported
from .model import Folder, check_name, fold

log = logging.getLogger("jenkins_codeartifact")
HEADER = "# Imported by `jobsync import`: every item here renders to the config.xml it was read from.\n"
TOP_FILE = "imported.yml"


@dataclass
class Summary:
    """What an import wrote and how: the numbers and names the summary lines give."""

    files: list[Path] = field(default_factory=list)
    items: list[Imported] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # views and other files that are not items

    def count(self, kind: str) -> int:
        return sum(1 for i in self.items if i.kind == kind)

    @property
    def encrypted(self) -> list[Imported]:
        return [i for i in self.items if i.encrypted]

    def lines(self) -> list[str]:
        raw = [i for i in self.items if i.kind == "raw"]
        out = [
            f"imported {len(self.items)} items into {len(self.files)} spec files: {self.count('typed')} typed fully, "
            f"{self.count('partial')} with raw parts, {len(raw)} whole raw"
        ]
        out += [f"  whole raw: {i.item.name}: {i.note}" for i in raw]
        return out

    def as_report(self) -> dict[str, Any]:
        return {
            "files": [str(f) for f in self.files],
            "typed": self.count("typed"),
            "partial": self.count("partial"),
            "raw": self.count("raw"),
            "items": {i.item.name: i.kind for i in self.items},
            "encrypted": {i.item.name: i.encrypted for i in self.encrypted},
            "skipped": self.skipped,
        }


# ------------------------------------------------------------------------------------------ sources


def _home_name(parts: tuple[str, ...]) -> str | None:
    """``jobs/A/jobs/B`` (a JENKINS_HOME tree, ``jobs/`` optional at the top) as ``A/B``; else None."""
    dirs = parts[1:] if parts and parts[0] == "jobs" else parts
    if not dirs or any(d != "jobs" for d in dirs[1::2]) or len(dirs) % 2 == 0:
        return None
    return "/".join(dirs[0::2])


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: cannot read: {getattr(exc, 'strerror', None) or exc}") from None


def _directory(root: Path) -> list[tuple[str, Path]]:
    files = sorted(p for p in root.rglob("*") if p.is_file())
    home = [(n, p) for p in files if p.name == "config.xml" and (n := _home_name(p.relative_to(root).parts[:-1]))]
    if home:  # a JENKINS_HOME jobs tree: only the items' config.xml (not build.xml, nextBuildNumber...)
        return home
    out = []
    for p in files:
        rel = "/".join(p.relative_to(root).parts)
        if p.suffix == ".xml":
            out.append((rel[: -len(".xml")], p))
        elif _read(p).lstrip().startswith("<"):  # `jenkins-jobs test -o DIR` output: named by the file
            out.append((rel, p))
    return out


def from_files(paths: Iterable[Path]) -> tuple[list[tuple[str, str]], list[str]]:
    """(item name, config.xml) from saved files and directories, and the files skipped (views)."""
    named: list[tuple[str, Path]] = []
    for path in paths:
        if path.is_dir():
            named += _directory(path)
        elif path.is_file():
            name = path.parent.name if path.name == "config.xml" else path.name.removesuffix(".xml")
            named.append((name, path))
        else:
            raise ConfigError(f"--from-xml {path}: no such file or directory")
    out, skipped = [], []
    for name, path in named:
        text = _read(path)
        try:
            root = configxml.xml_parse(text)
        except Exception as exc:  # lxml's XMLSyntaxError: the file and why, nothing half-done
            raise ConfigError(f"{path}: not well-formed XML: {exc}") from None
        if str(root.tag).endswith("View"):
            skipped.append(f"{path}: a view (<{root.tag}>), not an item: skipped")
            continue
        out.append((name, text))
    return out, skipped


def select(remotes: Iterable[Any], folder: str | None, match: str | None) -> list[str]:
    """Names to import from the tree query: under ``folder``, matching ``match`` (full names), with the
    folders above them; children of computed folders (multibranch, organization) are Jenkins' own."""
    by_name = {r.name: r for r in remotes}
    out: set[str] = set()
    for name in by_name:
        parent = name.rpartition("/")[0]
        if parent and by_name.get(parent) is not None and by_name[parent].cls != configxml.FOLDER_CLASS:
            continue
        if folder and not (name == folder or name.startswith(folder.rstrip("/") + "/")):
            continue
        if match and not fnmatch.fnmatchcase(name, match):
            continue
        out.add(name)
        while "/" in parent:
            out.add(parent)
            parent = parent.rpartition("/")[0]
        if parent:
            out.add(parent)
    return sorted(out, key=lambda n: (n.count("/"), n))


# -------------------------------------------------------------------------------------------- write


def _file_of(name: str) -> str:
    top, sep, _ = name.partition("/")
    return f"{top}.yml" if sep else TOP_FILE


def _group(items: list[Imported]) -> dict[str, list[Imported]]:
    folders = {i.item.name for i in items if configxml.is_folder(i.item)}
    groups: dict[str, list[Imported]] = {}
    for i in items:
        key = f"{i.item.name}.yml" if i.item.name in folders and "/" not in i.item.name else _file_of(i.item.name)
        groups.setdefault(key, []).append(i)
    return groups


def _proved(file: str, group: list[Imported], sources: dict[str, str]) -> tuple[str, list[Imported]]:
    """The spec text of ``group``, each item read back from it and proved; failures made whole raw."""
    for _ in range(2):
        text = specwrite.dump([i.item for i in group], HEADER)
        try:
            loaded = {item.name: item for item in jobspecs.load_text(text, file)}
        except ConfigError as exc:
            log.debug("%s does not read back: %s", file, exc.message)
            loaded = {}
        failed = [i for i in group if not importxml.prove(loaded.get(i.item.name, i.item), sources[i.item.name])
                  or i.item.name not in loaded]  # fmt: skip
        if not failed:
            return text, group
        group = [_whole_raw(i, sources[i.item.name]) if i in failed else i for i in group]
    raise OperationError(f"{file}: the imported specs do not read back as they were written")


def _whole_raw(i: Imported, xml: str) -> Imported:
    raw = importxml.whole_raw(i.item.name, configxml.xml_parse(xml))
    return Imported(raw, "raw", i.encrypted, "its spec does not read back to the same config.xml")


def _parents(items: list[Imported]) -> list[Imported]:
    """Folders the items need that the sources lack: declared plainly, and said so."""
    have = {i.item.name for i in items}
    extra = []
    for i in items:
        parent = i.item.name.rpartition("/")[0]
        while parent and parent not in have:
            log.info("import: folder %s is not among the sources: declared as a plain folder", parent)
            extra.append(Imported(Folder(parent), "typed"))
            have.add(parent)
            parent = parent.rpartition("/")[0]
    return extra + items


def run(sources: list[tuple[str, str]], jobs_dir: Path, force: bool = False) -> Summary:
    """Import ``sources`` (item name, config.xml) into spec files under ``jobs_dir``."""
    by_name: dict[str, str] = {}
    folded: set[str] = set()
    for name, xml in sources:
        check_name(name, lambda m: ConfigError(f"import: not a Jenkins item name: {m}"))
        if fold(name) in folded:
            raise ConfigError(f"import: two sources name the item {name!r} (Jenkins item names ignore case)")
        folded.add(fold(name))
        by_name[name] = xml
    items = []
    for name, xml in sources:
        try:
            items.append(importxml.read(name, xml))
        except ValueError as exc:
            raise ConfigError(f"{name}: {exc}") from None
    items = _parents(sorted(items, key=lambda i: (i.item.name.count("/"), i.item.name)))
    for i in items:
        by_name.setdefault(i.item.name, configxml.render_plain(i.item))
    planned = {file: _proved(file, group, by_name) for file, group in _group(items).items()}
    if jobs_dir.exists() and not jobs_dir.is_dir():
        raise ConfigError(f"--jobs-dir {jobs_dir}: is a file, not a directory")
    existing = [jobs_dir / f for f in planned if (jobs_dir / f).exists()]
    if existing and not force:
        raise PreconditionError(
            f"{existing[0]} exists: import never overwrites a spec file ({len(existing)} would be)",
            hint="import into an empty --jobs-dir, or pass --force to replace them",
        )
    summary = Summary()
    jobs_dir.mkdir(parents=True, exist_ok=True)
    for file, (text, group) in planned.items():
        target = jobs_dir / file
        _write(target, text)
        summary.files.append(target)
        summary.items += group
    return summary


def _write(target: Path, text: str) -> None:
    tmp = target.with_name(target.name + ".tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    except OSError as exc:
        raise OperationError(f"{target}: cannot write: {exc.strerror or exc}") from None


def fetch(names: list[str], config: Callable[[str], str], workers: int) -> list[tuple[str, str]]:
    """config.xml of each name, at most ``workers`` at once, with a progress line every tenth."""
    from . import planning, sync

    changes = [planning.Change(planning.Action.UNCHANGED, n, "job") for n in names]
    step = max(1, len(names) // 10)
    count = [0]

    def done(c: planning.Change, error: str | None) -> None:
        count[0] += 1
        if count[0] % step == 0 or count[0] == len(names):
            log.info("import: %d/%d config.xml read", count[0], len(names))

    results = sync._parallel(lambda c: config(c.name), changes, workers, done=done)
    out = []
    for name, (text, error) in zip(names, results, strict=True):
        if error is not None:
            raise OperationError(f"{name}: cannot read config.xml: {error}")
        out.append((name, str(text)))
    return out
