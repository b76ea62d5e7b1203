"""HTTP to Jenkins for jobsync: every request bounded in time, every failure one line naming its cause.

One ``requests`` session (basic auth, connection pool sized to ``workers``, the session cookie Jenkins
ties a CSRF crumb to). Every request has a connect and a read timeout, and its whole answer a deadline
(a trickle of bytes would otherwise never time out). GETs are retried on connection errors, timeouts,
a body cut off mid-way, 429 (honouring ``Retry-After``) and 500/502/503/504, with the numbers, backoff
and one-line retry message of the one I/O policy (:data:`..netpolicy.JENKINS`). A POST is never re-sent
blindly: after an answer that leaves open whether it landed (timeout, reset, 502/503/504, 429), the
caller's ``landed`` check reads the item back first (``_write``); only a POST that provably did not land
is sent again.

Jenkins words errors in an ``X-Error`` header over an HTML page (AbstractModelObject/error.jelly) or,
for a refused crumb or bad credentials, in a servlet error page: messages are built from the header,
else from the page's message part, never from its first line of markup. A 403 "No valid crumb" (the
crumb expired, or Jenkins restarted and its session is gone) is answered by fetching a new crumb once
and repeating that request; a second refusal is reported as what it is.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import jenkins as python_jenkins
import requests
import urllib3
from lxml import etree, html

from .. import netpolicy, redact
from ..errors import ConfigError, OperationError

log = logging.getLogger(__name__)

AUTH_HINT = "check JENKINS_USER and JENKINS_API_TOKEN (a user API token, not the password) and the user's permissions"
URL_HINT = "check --url/JENKINS_URL and that Jenkins is running"
# Timeouts, retries and backoff: netpolicy.JENKINS, the one I/O policy (docs/failures.md's table). A
# module attribute so that a test can shorten it.
POLICY = netpolicy.JENKINS
ANSWER_DEADLINE = 120.0  # seconds for a whole answer, however slowly its bytes trickle in
RETRY_STATUS = netpolicy.RETRYABLE_STATUSES
AMBIGUOUS_STATUS = frozenset({429, 502, 503, 504})  # a proxy's or an overloaded Jenkins' answer to a POST
CRUMB_REFUSED = "No valid crumb"


def check_url(url: str) -> str:
    """``url`` normalised to end in ``/``; a URL jobsync cannot use is one usage error, never a request.

    A password in the URL is refused rather than stripped: it would sit in the job's environment and in
    every tool that prints ``JENKINS_URL``, so the fix is to move it, not to hide it here.
    """
    try:
        parts = urllib.parse.urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a port that is not a number
    except ValueError:
        raise ConfigError(f"Jenkins URL {url!r} is not a valid URL", hint="for example http://localhost:8080") from None
    if parts.password is not None:
        redact.register(parts.password)
        redact.register(urllib.parse.unquote(parts.password))
    if parts.username is not None or parts.password is not None:
        safe = urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))
        raise ConfigError(
            f"Jenkins URL {safe} must not carry credentials (user:password@)",
            hint=f"set JENKINS_URL={safe} and put the user in JENKINS_USER, the API token in JENKINS_API_TOKEN",
        )
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"Jenkins URL {url!r} is not an http:// or https:// URL with a host",
            hint="pass --url or set JENKINS_URL, for example http://localhost:8080",
        )
    return url.rstrip("/") + "/"


def error_text(response: Answer) -> str:
    """What Jenkins says went wrong, in one line: ``X-Error``, else the text of the page's message part.

    Jenkins pages carry a header and navigation before the message, so the part is picked: the "Oops!"
    page's ``error-description``, the main panel, or the container error page's heading.
    """
    header = response.headers.get("X-Error")
    if header:
        with contextlib.suppress(UnicodeError):  # http.client reads headers as Latin-1; Jenkins writes UTF-8
            header = header.encode("latin-1").decode("utf-8")
        return _one_line(header)
    text = response.text or ""
    if "html" in response.headers.get("Content-Type", "") or text.lstrip().startswith("<"):
        try:
            doc = html.fromstring(text)
        except (etree.ParserError, ValueError):
            return _one_line(re.sub(r"<[^>]*>", " ", text))
        for bad in doc.xpath("//script|//style|//head"):
            bad.drop_tree()
        for xpath in ("//*[@id='error-description']", "//*[@id='main-panel']", "//h2", "//body"):
            found = doc.xpath(xpath)
            if found and _one_line(" ".join(found[0].itertext())):
                return _one_line(" ".join(found[0].itertext()))
        return _one_line(" ".join(doc.itertext()))
    return _one_line(text)


def _one_line(text: str) -> str:
    return " ".join(text.split())[:300]


@dataclass(frozen=True)
class Answer:
    """A whole answer, read within its deadline: status, headers, body."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    @property
    def text(self) -> str:
        """The body in its declared charset; UTF-8 when none (Jenkins writes config.xml in UTF-8)."""
        m = re.search(r"charset=\"?([\w.:-]+)", self.headers.get("Content-Type", ""), re.I)
        try:
            return self.body.decode(m.group(1) if m else "utf-8", "replace")
        except LookupError:
            return self.body.decode("utf-8", "replace")

    def json(self) -> Any:
        return json.loads(self.body)


class _Unanswered(Exception):
    """A request whose outcome is unknown: no answer, a cut-off answer, or a retryable status."""

    def __init__(self, why: str, retry_after: float | None = None) -> None:
        super().__init__(why)
        self.why, self.retry_after = why, retry_after


class Transport:
    """Requests to one Jenkins: auth, crumb, timeouts, retries, read-backs; ``workers`` sizes the pool."""

    def __init__(self, url: str, user: str | None, token: str | None, workers: int = 8) -> None:
        if workers < 1:  # checked before any request, so a bad value is a usage error and nothing else
            raise ConfigError(
                f"workers must be at least 1, got {workers}", hint="pass --workers N or set CA_WORKERS (default 8)"
            )
        self.url = check_url(url)
        redact.register(token)
        self.workers = workers
        # python-jenkins's client: its session (basic auth, cookies), sent through its public request API
        self.server = python_jenkins.Jenkins(self.url, user or None, token or None, timeout=POLICY.timeout)
        # no netrc or proxy variables deciding where the token goes, and no proxy lookup per request (about
        # a tenth of a create's time): python-jenkins has no option for it, so its session is set directly
        self.server._session.trust_env = False
        self._crumb_lock = threading.Lock()
        self._crumb: dict[str, str] | None = None

    def _send(
        self, method: str, path: str, what: str, data: bytes | None = None, headers: dict[str, str] | None = None
    ) -> Answer:
        """One request; an answer Jenkins gave on purpose is returned, an unknown outcome raised."""
        sent = {"Content-Type": "application/xml; charset=utf-8"} if data is not None else {}
        sent.update(headers or {})
        # doDelete's and doRename's 302 to another page is the answer itself: not followed (one request)
        hooks = {"response": [_keep_redirect]} if method != "GET" else {}
        request = requests.Request(method, self.url + path, data=data, headers=sent, hooks=hooks)
        self.server.timeout = POLICY.timeout  # the one policy's, read at each request
        try:
            response = _answer(self.server, request)
        except requests.ConnectTimeout:
            raise OperationError(
                f"{what}: cannot reach Jenkins at {self.url} (connect timeout)", hint=URL_HINT
            ) from None
        except requests.ConnectionError as exc:
            if _not_connected(exc):
                raise OperationError(
                    f"{what}: cannot reach Jenkins at {self.url} (connection refused)", hint=URL_HINT
                ) from None
            if _timed_out(exc):
                raise _Unanswered(f"no answer within {POLICY.read:g} s") from None
            raise _Unanswered(f"connection lost ({type(exc).__name__})") from None
        except requests.Timeout:
            raise _Unanswered(f"no answer within {POLICY.read:g} s") from None
        except requests.RequestException as exc:  # a body cut off mid-way (ChunkedEncodingError and friends)
            raise _Unanswered(f"answer cut off ({type(exc).__name__})") from None
        retryable = RETRY_STATUS if method == "GET" else AMBIGUOUS_STATUS
        if response.status in retryable:
            raise _Unanswered(f"HTTP {response.status}: {error_text(response)}", _retry_after(response))
        return response

    def _fail(self, response: Answer, what: str) -> OperationError:
        status, detail = response.status, error_text(response)
        said = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
        if status == 401:
            return OperationError(f"{what}: Jenkins refused the credentials ({said})", hint=AUTH_HINT)
        if status == 403 and CRUMB_REFUSED in detail:
            return OperationError(
                f"{what}: Jenkins refused a freshly fetched CSRF crumb too ({said})",
                hint="a crumb is tied to the session cookie: check that no proxy drops cookies or spreads "
                "requests over several Jenkins controllers",
            )
        if status == 403:
            return OperationError(f"{what}: permission denied by Jenkins ({said})", hint=AUTH_HINT)
        if status == 404:
            return OperationError(f"{what}: not found (HTTP 404)")
        return OperationError(f"{what}: Jenkins answered {said}")

    def _retrying(self, method: str, what: str, fn: Callable[[], Any]) -> Any:
        """``fn`` again after each unknown outcome, with backoff; the last one is an error."""
        attempts = POLICY.attempts
        for attempt in range(1, attempts + 1):
            try:
                return fn()
            except _Unanswered as exc:
                if attempt == attempts:
                    raise OperationError(
                        f"{what}: no usable answer from Jenkins at {self.url} after {attempts} attempts ({exc.why})",
                        hint=URL_HINT,
                    ) from None
                delay = POLICY.delay(attempt, exc.retry_after)
                netpolicy.log_retry(
                    log, what, exc.why, attempt, POLICY.retries, delay, retry_after=exc.retry_after is not None
                )
                time.sleep(delay)
        raise AssertionError("unreachable")

    def _get(self, path: str, what: str, missing_ok: bool = False) -> Answer | None:
        """GET with retries; ``None`` for a 404 when ``missing_ok``."""

        def once() -> Answer | None:
            response = self._send("GET", path, what)
            if response.status == 404 and missing_ok:
                return None
            if response.status >= 400:
                raise self._fail(response, what)
            return response

        result: Answer | None = self._retrying("GET", what, once)
        return result

    def _crumb_header(self) -> dict[str, str]:
        """The CSRF crumb header, fetched once per run (a 404: CSRF protection is off)."""
        with self._crumb_lock:
            if self._crumb is None:
                response = self._get("crumbIssuer/api/json", "fetching a CSRF crumb", missing_ok=True)
                try:
                    data = response.json() if response is not None else None
                    self._crumb = {str(data["crumbRequestField"]): str(data["crumb"])} if data is not None else {}
                except (ValueError, KeyError, TypeError):
                    raise OperationError(f"fetching a CSRF crumb: {self.url} returned no crumb") from None
            return dict(self._crumb)

    def _post(self, path: str, what: str, data: bytes | None) -> None:
        """One POST with the crumb; a refused crumb is fetched anew and the POST repeated once."""
        crumb = self._crumb_header()
        response = self._send("POST", path, what, data, crumb)
        if response.status == 403 and CRUMB_REFUSED in error_text(response):
            log.warning("%s: Jenkins refused the CSRF crumb (expired, or a new session); fetching a new one", what)
            with self._crumb_lock:
                if self._crumb == crumb:  # another worker may have fetched a fresh one already
                    self._crumb = None
            response = self._send("POST", path, what, data, self._crumb_header())
        if response.status >= 400:
            raise self._fail(response, what)

    def _write(self, path: str, what: str, data: bytes | None, landed: Callable[[], bool]) -> None:
        """POST; after an unknown outcome, ``landed()`` reads the item back before anything is re-sent."""
        attempts = POLICY.attempts
        for attempt in range(1, attempts + 1):
            try:
                self._post(path, what, data)
                return
            except _Unanswered as exc:
                why = exc.why
                retry_after = exc.retry_after
            try:
                if landed():
                    log.warning("%s: %s, but reading it back shows it was applied", what, why)
                    return
            except OperationError as check:
                raise OperationError(
                    f"{what}: {why}; whether it was applied is unknown ({check.message})",
                    hint="run `jobsync diff` to see the server's state, then `jobsync apply` again",
                ) from None
            if attempt == attempts:
                break
            delay = POLICY.delay(attempt, retry_after)
            cause = f"{why} and not applied (read back)"
            netpolicy.log_retry(log, what, cause, attempt, POLICY.retries, delay, retry_after=retry_after is not None)
            time.sleep(delay)
        raise OperationError(f"{what}: not applied: {why} ({attempts} attempts, each read back)", hint=URL_HINT)


def _answer(server: python_jenkins.Jenkins, request: requests.Request) -> Answer:
    """``request`` sent by python-jenkins (``jenkins_request``, streamed), its whole answer read.

    python-jenkins raises for an answer of 400 or more; the answer itself is what jobsync words its
    errors from (``X-Error``, the page): it is taken from the HTTPError, which python-jenkins wraps for a
    401/403/404/500 (having read the body) and re-raises for the other statuses (body unread).
    """
    try:
        streamed = server.jenkins_request(request, add_crumb=False, stream=True)
    except requests.HTTPError as exc:
        streamed = exc.response
    except python_jenkins.JenkinsException as exc:
        cause = exc.__context__
        if isinstance(cause, requests.HTTPError) and cause.response is not None:
            with cause.response as answered:
                return Answer(answered.status_code, answered.headers, answered.content)
        if isinstance(cause, requests.RequestException):  # a timeout, wrapped as TimeoutException
            raise cause from None
        raise
    with streamed:
        return Answer(streamed.status_code, streamed.headers, _read(streamed))


def _keep_redirect(response: requests.Response, *args: object, **kwargs: object) -> requests.Response:
    """A response hook: a write's redirect stays its answer (requests would follow it with a GET)."""
    if response.is_redirect:
        response.headers["X-Redirect-Location"] = response.headers.pop("Location")
    return response


def _timed_out(exc: requests.ConnectionError) -> bool:
    """True for a read timeout that urllib3 reports as retries exhausted (python-jenkins mounts
    ``Retry(total=0)``, which turns a GET's read timeout into a MaxRetryError)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.ReadTimeoutError)


def _read(streamed: requests.Response) -> bytes:
    """The body, taken as it arrives: the read timeout bounds each wait, the deadline the whole."""
    deadline = time.monotonic() + ANSWER_DEADLINE
    chunks: list[bytes] = []
    while True:
        try:
            chunk = streamed.raw.read1(65536, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError:
            raise _Unanswered(f"no answer within {POLICY.read:g} s") from None
        except urllib3.exceptions.HTTPError as exc:  # reset, incomplete body, bad chunk, bad gzip
            raise _Unanswered(f"answer cut off ({type(exc).__name__})") from None
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)
        if time.monotonic() > deadline:
            raise _Unanswered(f"answer not complete within {ANSWER_DEADLINE:g} s")


def _not_connected(exc: requests.ConnectionError) -> bool:
    """True when the request provably never reached the server (refused, no route, DNS)."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _retry_after(response: Answer) -> float | None:
    return netpolicy.parse_retry_after(response.headers.get("Retry-After"))
