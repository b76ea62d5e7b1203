"""Check and upload distributions, in-process: credentials never reach argv or disk.

twine builds the upload form (metadata from the file itself); the POST goes through the index's own
session, with connect and read timeouts, and is never blindly re-sent. twine's ``upload`` command would
re-send it up to five times on a 5xx within a fraction of a second, with no timeout, from threads that
keep the process alive. Here an upload whose outcome is unknown (timeout, reset, 5xx, 429) is settled
by asking the index which files the version now has and comparing sha256: the same bytes count as
uploaded, other bytes are an error naming the file, and only an absent file is sent once more.
"""

from __future__ import annotations

import contextlib
import io
import json
import logging
import queue
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import requests
import requests_toolbelt
import twine.commands.check
import twine.exceptions
import twine.package
import twine.repository

from .. import redact, signals
from ..console import Progress
from ..dists import Dist, same_contents
from ..errors import CAError, OperationError, PreconditionError
from ..index import Index
from ..netpolicy import describe_failure, parse_retry_after

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


class _Unknown(Exception):
    """The POST may or may not have landed: ``why`` says what was seen instead of an answer."""

    def __init__(self, why: str, wait: float = 0.0) -> None:
        super().__init__(why)
        self.why, self.wait = why, wait


class _Exists(Exception):
    """The index refused the file as a conflict (409): ``reason`` is the server's own words.

    409 is not only "already in your repository": CodeArtifact also answers it for a version that public
    PyPI offers through the upstream (package origin controls), so the reason is shown as given.
    """

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


def _server_reason(body: str) -> str:
    """The one-line reason in an index's error body (JSON ``message``/``error``, or text), secrets scrubbed."""
    text = body.strip()
    with contextlib.suppress(ValueError, AttributeError):
        data = json.loads(text)
        text = str(data.get("message") or data.get("error") or text)
    line = " ".join(text.split())
    return redact.scrub(line[:300] + ("..." if len(line) > 300 else ""))


def _post(index: Index, dist: Dist) -> requests.Response:
    """One upload POST, as twine forms it (legacy upload API, multipart, metadata read from the file)."""
    package = twine.package.PackageFile.from_filename(str(dist.path), comment=None)
    fields = twine.repository.Repository._convert_metadata_to_list_of_tuples(package.metadata_dictionary())
    fields += [(":action", "file_upload"), ("protocol_version", "1")]
    with dist.path.open("rb") as fh:
        encoder = requests_toolbelt.MultipartEncoder(
            [*fields, ("content", (dist.path.name, fh, "application/octet-stream"))]
        )
        return index.session.post(
            index.upload_url, data=encoder, allow_redirects=False, headers={"Content-Type": encoder.content_type}
        )


def _send(index: Index, dist: Dist) -> str:
    """POST ``dist``; ``"uploaded"``, :class:`_Exists` (409 and the like), an error, or :class:`_Unknown`."""
    try:
        resp = _post(index, dist)
    except requests.exceptions.ConnectionError as exc:
        if isinstance(exc, requests.exceptions.ConnectTimeout) or "NewConnectionError" in repr(exc):
            raise OperationError(
                f"index unreachable: {index.description}: {describe_failure(exc)} while uploading {dist.path.name}"
            ) from None
        raise _Unknown(describe_failure(exc)) from None
    except (requests.RequestException, OSError) as exc:
        raise _Unknown(describe_failure(exc)) from None
    status, body = resp.status_code, resp.text[:500]
    resp.close()
    if 200 <= status < 300:
        return "uploaded"
    if status in (401, 403):
        raise OperationError(
            f"{index.description}: upload of {dist.path.name} refused (HTTP {status})",
            hint="the token may have expired or lack codeartifact:PublishPackageVersion; check the credentials",
        )
    if status == 409 or (status == 400 and "exist" in body.lower()):
        raise _Exists(status, _server_reason(body) or "already exists")
    if status == 429:
        wait = parse_retry_after(resp.headers.get("Retry-After"))
        wait = 5.0 if wait is None else wait
        raise _Unknown("HTTP 429 (too many requests)", wait)
    if status >= 500:
        raise _Unknown(f"HTTP {status}")
    if 300 <= status < 400:
        raise OperationError(
            f"{index.description}: upload of {dist.path.name} redirected (HTTP {status}) to "
            f"{resp.headers.get('Location', '?')}",
            hint="use the URL it redirects to as --repository-url",
        )
    reason = " ".join(body.split())[:200] or resp.reason
    raise OperationError(f"{index.description}: upload of {dist.path.name} failed: HTTP {status}: {reason}")


SETTLE_GRACE = 1.0  # an index may still be storing a file it received: look once more after this long


def compare(index: Index, dist: Dist, name: str, version: str, grace: float = 0.0) -> bool | None:
    """Is ``dist`` on the index? True: with the same bytes (or contents). False: other bytes. None: absent.

    ``grace``: when absent, ask once more after that many seconds (the upload may still be in progress).
    """
    files = index.simple_files(name, version) or {}
    if dist.path.name not in files and grace:
        time.sleep(grace)
        files = index.simple_files(name, version) or {}
    if dist.path.name not in files:
        return None
    digest = files[dist.path.name]
    if digest is None:
        log.warning("%s is on the index, which does not give its sha256: assuming it is this file", dist.path.name)
        return True
    if digest != dist.sha256 and _same_contents_on_index(index, dist):
        log.info(
            "%s: the index's file holds the same contents (only the archive's times differ): counted as published",
            dist.path.name,
        )
        return True
    return digest == dist.sha256


def settle(index: Index, dist: Dist, name: str, version: str, grace: float = 0.0) -> bool | None:
    """Is ``dist`` on the index? True: with the same sha256. None: absent. Other bytes: exit 3 naming it."""
    same = compare(index, dist, name, version, grace)
    if same is False:
        digest = (index.simple_files(name, version) or {}).get(dist.path.name) or "?"
        raise PreconditionError(
            f"{index.description}: {dist.path.name} is already there with other bytes "
            f"(sha256 {digest[:12]}..., this build {dist.sha256[:12]}...)",
            hint=f"a published file cannot be replaced: raise the version of {name} and publish again",
        )
    return same


def _same_contents_on_index(index: Index, dist: Dist) -> bool:
    """Does the index's file of that name hold what ``dist`` holds? (an unchanged source rebuilt)"""
    with tempfile.TemporaryDirectory(prefix="ca-publish-compare-") as tmp:
        theirs = Path(tmp) / dist.path.name
        return index.download(dist.path.name, theirs) and same_contents(dist.path, theirs)


def _upload_one(index: Index, dist: Dist, name: str, version: str, progress: Progress) -> None:
    """Upload one file: at most two POSTs, the second only after the index said the first did not land."""
    for attempt in (1, 2):
        progress.line(f"uploading {dist.path.name} ({dist.size} bytes)")
        try:
            _send(index, dist)
        except _Exists as exists:
            if settle(index, dist, name, version):
                progress.line(f"{dist.path.name} was already there with the same sha256")
                return
            raise PreconditionError(
                f"{index.description}: {dist.path.name} refused (HTTP {exists.status}): {exists.reason}",
                hint="the file exists with other bytes, or the version is blocked (e.g. it is on public PyPI "
                "through the upstream): raise the version",
            ) from None
        except _Unknown as unknown:
            if unknown.wait:
                progress.line(f"{dist.path.name}: {unknown.why}; asking the index again in {unknown.wait:.0f}s")
                time.sleep(unknown.wait)
            progress.line(f"{dist.path.name}: {unknown.why}; asking the index whether it arrived")
            try:
                landed = settle(index, dist, name, version, grace=SETTLE_GRACE)
            except CAError as exc:
                raise OperationError(
                    f"upload of {dist.path.name}: {unknown.why}, and the index could not say whether it arrived: "
                    f"{exc.message}",
                    hint="rerun with --skip-existing when the index answers: it compares sha256 and uploads only "
                    "what is missing",
                ) from None
            if landed:
                progress.line(f"uploaded {dist.path.name} (the index has it, same sha256)")
                return
            if attempt == 2:
                raise OperationError(
                    f"index unreachable / {unknown.why} while uploading {dist.path.name} "
                    "(sent twice; the index does not have it)"
                ) from None
            progress.line(f"{dist.path.name} is not on the index: sending it once more")
            continue
        progress.line(f"uploaded {dist.path.name}")
        return


def upload(
    index: Index,
    dists: list[Dist],
    name: str,
    version: str,
    uploaded: list[str] | None = None,
    pending: set[str] | None = None,
) -> list[Dist]:
    """Upload ``dists`` side by side; return them. ``uploaded`` gets each file's name as it lands;
    ``pending`` holds the names whose outcome is not known yet (for a report written on abort).

    Files of one release are independent uploads, so they go in parallel: an index spends most of an
    upload's time storing the file, not receiving it. The threads are daemons that block SIGTERM/SIGINT,
    so an abort reaches the main thread's wait on the queue at once instead of waiting for a socket.
    """
    progress = Progress("upload")
    done = [] if uploaded is None else uploaded
    in_flight = set() if pending is None else pending
    in_flight.update(d.path.name for d in dists)
    results: queue.Queue[tuple[Dist, BaseException | None]] = queue.Queue()

    def one(dist: Dist) -> None:
        try:
            _upload_one(index, dist, name, version, progress)
            done.append(dist.path.name)
            results.put((dist, None))
        except BaseException as exc:
            results.put((dist, exc))
        finally:
            in_flight.discard(dist.path.name)

    with _captured() as out:
        for dist in dists:
            signals.start_thread(one, dist, name=f"upload-{dist.path.name}")
        answers = [results.get() for _ in dists]  # a plain wait: the threads never take SIGTERM/SIGINT
        failures = [(dist, exc) for dist, exc in answers if exc is not None]
    for line in out.getvalue().splitlines():
        log.debug("  %s", redact.scrub(line.rstrip()))
    if failures:
        error = failures[0][1]
        raise _with_partial(error, [d for d in dists if d.path.name in done]) from None
    return dists


def _with_partial(exc: BaseException, done: list[Dist]) -> BaseException:
    """The first failure, saying which files did go up and how to finish the release."""
    if not isinstance(exc, CAError):
        if isinstance(exc, twine.exceptions.TwineException | requests.RequestException):
            exc = OperationError(f"upload failed: {exc}")
        else:
            return exc
    if done:
        partial = f"; already uploaded: {', '.join(d.path.name for d in done)} - rerun with --skip-existing to finish"
        return type(exc)(exc.message + partial, hint=exc.hint)
    return exc
