"""``--report FILE``: JSON for later pipeline stages, written atomically so a reader never sees half."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from . import files, redact
from .errors import ConfigError


def write(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    """Write ``data`` as JSON to ``path`` (scrubbed of secrets, atomically, 0600: reports name hosts and users)."""
    text = redact.scrub(json.dumps(data, indent=2, sort_keys=True, default=str)) + "\n"
    try:
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        files.write(path, text, private=True)
    except OSError as exc:
        raise ConfigError(f"--report {path}: cannot write: {exc.strerror or exc}") from exc
