"""The one way this toolkit writes a file someone else reads (atomic, private when asked) and reads a file a user named.

Atomic: the text goes to a temp file in the same directory, then ``os.replace`` puts it in place, so a
reader (a later pipeline stage, a second ``ca-sandbox up``) sees the old file or the new one, never
half. Private: the temp file is created 0600 and stays so, so a secret is never readable by others,
not even for the moment between create and chmod.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from .errors import ConfigError

PRIVATE = 0o600
PUBLIC = 0o644


def write(path: str | os.PathLike[str], text: str | bytes, *, private: bool = False) -> Path:
    """Replace ``path`` with ``text`` atomically; mode 0600 if ``private``, else 0644. Returns the path."""
    target = Path(path)
    data = text.encode("utf-8") if isinstance(text, str) else text
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)  # created 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            if not private:
                os.fchmod(fh.fileno(), PUBLIC)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return target


@contextlib.contextmanager
def private_temp(name: str, text: str, prefix: str = "ca-secret-") -> Iterator[Path]:
    """A new 0700 directory holding the 0600 file ``name`` with ``text``; both removed on exit, whatever happens."""
    directory = Path(tempfile.mkdtemp(prefix=prefix))  # mkdtemp creates it 0700
    path = directory / name
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE)
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        yield path
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        with contextlib.suppress(OSError):
            directory.rmdir()


def read_text(path: str | os.PathLike[str], label: str | None = None) -> str:
    """The UTF-8 text of a file the user named; any failure is one ConfigError line ``LABEL: why``."""
    name = label or str(path)
    try:
        return Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read: {exc.strerror or exc}") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{name}: not UTF-8 text (byte {exc.start})") from None


def check_writable(path: str | os.PathLike[str]) -> str | None:
    """Why ``path`` cannot be written as a file (creating its directory if needed), or None if it can.

    Run before the work whose result goes there, so a bad ``--report`` is found before an upload.
    """
    target = Path(path)
    if target.is_dir():
        return "is a directory"
    parent = target.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        return f"{_first_file(parent)} is not a directory"
    except OSError as exc:
        return f"cannot create {parent}: {exc.strerror}"
    if not parent.is_dir():
        return f"{_first_file(parent)} is not a directory"
    if not os.access(parent, os.W_OK | os.X_OK):
        return f"directory {parent} is not writable"
    if target.exists() and not os.access(target, os.W_OK) and not os.access(parent, os.W_OK):
        return "not writable"
    return None


def _first_file(directory: Path) -> Path:
    for candidate in (*reversed(directory.parents), directory):
        if candidate.exists() and not candidate.is_dir():
            return candidate
    return directory
