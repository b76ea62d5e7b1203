"""``--report FILE``: JSON for later pipeline stages, written atomically so a reader never sees half."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

from . import redact
from .errors import ConfigError


def write(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` via a temp file in the same directory and ``os.replace``."""
    target = Path(path)
    text = redact.scrub(json.dumps(data, indent=2, sort_keys=True, default=str)) + "\n"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    except OSError as exc:
        raise ConfigError(f"--report {target}: cannot write: {exc.strerror}") from exc
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
