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
