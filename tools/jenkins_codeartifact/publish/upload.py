"""Check and upload distributions with twine, in-process: credentials never reach argv or disk."""

from __future__ import annotations

import contextlib
import io
import logging
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

import requests
import twine.commands.check
import twine.commands.upload
import twine.exceptions
import twine.settings

from .. import redact
from ..console import Progress
from ..errors import OperationError, PreconditionError
from ..index import Index

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
    """Upload ``paths`` side by side (one connection each); return them. On failure, say what went up.

    Files of one release are independent uploads, so they go in parallel: an index spends most of an
    upload's time storing the file, not receiving it.
    """
    progress = Progress("upload")

    def one(path: Path) -> Path:
        settings = twine.settings.Settings(
            username=index.username or None,
            password=index.password or None,
            repository_url=index.upload_url,
            non_interactive=True,
            disable_progress_bar=True,
            verbose=verbose,
        )
        progress.line(f"uploading {path.name} ({path.stat().st_size} bytes)")
        twine.commands.upload.upload(settings, [str(path)])
        progress.line(f"uploaded {path.name}")
        return path

    done: list[Path] = []
    failures: list[tuple[Path, Exception]] = []
    with _captured() as out, ThreadPoolExecutor(max(1, len(paths)), thread_name_prefix="upload") as pool:
        futures = {pool.submit(one, path): path for path in paths}
        for future in as_completed(futures):
            try:
                done.append(future.result())
            except Exception as exc:
                failures.append((futures[future], exc))
    for line in out.getvalue().splitlines():
        log.debug("  %s", redact.scrub(line.rstrip()))
    if failures:
        failed_path, error = failures[0]
        raise _upload_error(error, index, failed_path, done) from None
    return [p for p in paths if p in done]


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
    body = exc.response.text if isinstance(exc, requests.HTTPError) and exc.response is not None else ""
    if status == 409 or (status == 400 and "exist" in f"{exc} {body}".lower()):
        return PreconditionError(f"{index.description}: {path.name} already exists{partial}")
    if isinstance(exc, requests.ConnectionError):
        return OperationError(f"{index.description}: index unreachable while uploading {path.name}{partial}")
    if isinstance(exc, twine.exceptions.TwineException | requests.RequestException):
        return OperationError(f"{index.description}: upload of {path.name} failed: {exc}{partial}")
    return OperationError(f"{index.description}: upload of {path.name} failed: {type(exc).__name__}: {exc}{partial}")
