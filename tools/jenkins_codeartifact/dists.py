"""Distribution files, shared by the publish flow and the index: what a file name says, and its bytes' hash."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import InvalidSdistFilename, InvalidWheelFilename, parse_sdist_filename, parse_wheel_filename
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
