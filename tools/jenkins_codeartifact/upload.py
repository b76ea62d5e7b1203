"""Check and upload distributions with twine, in-process: credentials never reach argv or disk."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from pathlib import Path

import requests
import twine.commands.check
import twine.commands.upload
import twine.exceptions
import twine.settings

from . import redact
from .codeartifact import Index
from .console import Progress
from .errors import OperationError, PreconditionError

log = logging.getLogger(__name__)


@contextlib.contextmanager
def _captured() -> Iterator[io.StringIO]:
    """twine reports through its own logger and rich; keep that text so we can log it scrubbed."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    twine_log = logging.getLogger("twine")
    twine_log.addHandler(handler)
    try:
        with contextlib.redirect_stdout(buffer):
            yield buffer
    finally:
        twine_log.removeHandler(handler)


def check(paths: list[Path]) -> None:
    """``twine check``: the metadata and README render, so the upload will not be refused for them."""
    with _captured() as out:
        failed = twine.commands.check.check([str(p) for p in paths], strict=False)
    for line in out.getvalue().splitlines():
        if line.strip():
            (log.error if failed else log.debug)("  %s", line.rstrip())
    if failed:
        raise OperationError("twine check failed for the built distributions", hint="see the lines above")


def upload(index: Index, paths: list[Path], verbose: bool = False) -> list[Path]:
    """Upload ``paths`` one by one; return what was uploaded. On failure, say what already went up."""
    settings = twine.settings.Settings(
        username=index.username or None,
        password=index.password or None,
        repository_url=index.upload_url,
        non_interactive=True,
        disable_progress_bar=True,
        verbose=verbose,
    )
    done: list[Path] = []
    progress = Progress("upload")
    for path in paths:
        progress.line(f"uploading {path.name} ({path.stat().st_size} bytes)")
        try:
            with _captured() as out:
                twine.commands.upload.upload(settings, [str(path)])
        except Exception as exc:
            raise _upload_error(exc, index, path, done) from None
        finally:
            for line in out.getvalue().splitlines():
                log.debug("  %s", redact.scrub(line.rstrip()))
        done.append(path)
    return done


def _upload_error(exc: Exception, index: Index, path: Path, done: list[Path]) -> Exception:
    partial = (
        f"; already uploaded: {', '.join(p.name for p in done)} - rerun with --skip-existing to finish the release"
        if done
        else ""
    )
    status = exc.response.status_code if isinstance(exc, requests.HTTPError) and exc.response is not None else None
    if status in (401, 403):
        return OperationError(
            f"{index.description}: upload of {path.name} refused (HTTP {status}){partial}",
            hint="the token may have expired or lack codeartifact:PublishPackageVersion; check the credentials",
        )
    if status in (400, 409) and "exist" in str(exc).lower():
        return PreconditionError(f"{index.description}: {path.name} already exists{partial}")
    if isinstance(exc, requests.ConnectionError):
        return OperationError(f"{index.description}: index unreachable while uploading {path.name}{partial}")
    if isinstance(exc, twine.exceptions.TwineException | requests.RequestException):
        return OperationError(f"{index.description}: upload of {path.name} failed: {exc}{partial}")
    return OperationError(f"{index.description}: upload of {path.name} failed: {type(exc).__name__}: {exc}{partial}")
