"""Distribution files, shared by the publish flow and the index: what a file name says, and its bytes' hash."""

from __future__ import annotations

import hashlib
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import (
    InvalidSdistFilename,
    InvalidWheelFilename,
    canonicalize_name,
    parse_sdist_filename,
    parse_wheel_filename,
)
from packaging.version import InvalidVersion, Version


@dataclass(frozen=True)
class Dist:
    """One built distribution file."""

    path: Path
    sha256: str
    size: int

    @classmethod
    def of(cls, path: Path) -> Dist:
        return cls(path=path, sha256=hashlib.sha256(path.read_bytes()).hexdigest(), size=path.stat().st_size)


def normalize(name: str) -> str:
    """PEP 503 normalised project name, as CodeArtifact stores Python packages."""
    return str(canonicalize_name(name))


def parse_dist(filename: str) -> tuple[str, Version] | None:
    """(PEP 503 name, version) of a wheel or sdist file name; None for any other file."""
    try:
        if filename.endswith(".whl"):
            name, version, *_ = parse_wheel_filename(filename)
        else:
            name, version = parse_sdist_filename(filename)
    except (InvalidWheelFilename, InvalidSdistFilename, InvalidVersion):
        return None
    return str(name), version


def contents(path: Path) -> dict[str, bytes] | None:
    """What an sdist or wheel holds, member name -> bytes, without the archive's own metadata.

    A rebuild of an unchanged source gives an sdist with other bytes (tar and gzip carry times), so
    "same release" is decided by contents, not by the archive's sha256. None if ``path`` is neither.
    """
    try:
        if path.name.endswith(".whl"):
            with zipfile.ZipFile(path) as zf:
                return {i.filename: zf.read(i) for i in zf.infolist() if not i.is_dir()}
        if path.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(path, "r:gz") as tf:
                out = {}
                for member in tf.getmembers():
                    if member.isfile():
                        data = tf.extractfile(member)
                        out[member.name] = data.read() if data else b""
                    elif not member.isdir():
                        out[member.name] = f"{member.type!r}->{member.linkname}".encode()
                return out
    except (OSError, zipfile.BadZipFile, tarfile.TarError, EOFError):
        return None
    return None


def same_contents(a: Path, b: Path) -> bool:
    """Do two distribution files hold the same members with the same bytes (times and owners aside)?"""
    left = contents(a)
    return left is not None and left == contents(b)


COMPILED = (".so", ".pyd", ".dylib")


def members(path: Path) -> dict[str, tuple[int, bytes]]:
    """member name -> (mode, bytes) of a wheel or sdist, as "the same build" compares them.

    Archive times and owners are left out, and so are the bytes of compiled files and their RECORD
    lines: those carry build paths and ids, so no two builds of a C extension agree on them.
    """
    out: dict[str, tuple[int, bytes]] = {}
    if path.name.endswith(".whl"):
        with zipfile.ZipFile(path) as zf:
            out = {i.filename: (i.external_attr >> 16, zf.read(i)) for i in zf.infolist()}
    else:
        with tarfile.open(path) as tf:
            for m in tf.getmembers():
                member = tf.extractfile(m) if m.isfile() else None
                out[m.name] = (m.mode, member.read() if member else f"{m.type!r}->{m.linkname}".encode())
    for name, (mode, data) in list(out.items()):
        if name.endswith(COMPILED):
            out[name] = (mode, b"<compiled>")
        elif name.endswith(".dist-info/RECORD"):
            kept = [line for line in data.decode().splitlines(True) if not line.split(",")[0].endswith(COMPILED)]
            out[name] = (mode, "".join(kept).encode())
    return out


def first_difference(a: Path, b: Path) -> str | None:
    """None when ``a`` and ``b`` hold the same build (see :func:`members`), else the first difference."""
    left, right = members(a), members(b)
    for name in sorted(set(left) | set(right)):
        if name not in right or name not in left:
            return f"{name} only in {(a if name in left else b).name}"
        if left[name][0] != right[name][0]:
            return f"{name}: mode {left[name][0]:o} vs {right[name][0]:o}"
        if left[name][1] != right[name][1]:
            return f"{name}: other bytes"
    return None
