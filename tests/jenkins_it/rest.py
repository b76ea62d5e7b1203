"""Jenkins' REST API for builds, as the compose harness drives them: trigger, queue item, console, result.

The shapes are Jenkins' documented ones (``/job/X/build`` -> 201 and the queue item in ``Location``;
``/queue/item/N/api/json`` -> ``executable`` once the build starts, ``cancelled`` if it never will;
``/job/X/N/logText/progressiveText?start=B`` -> the console from byte B, ``X-Text-Size`` the next B,
``X-More-Data: true`` while it runs; ``/job/X/N/api/json`` -> ``building``, ``result``). Every wait has a
deadline (``time.monotonic()`` based), every request a timeout no longer than what is left of it.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import requests

POLL = 0.5  # seconds between two reads of something that is not there yet
REQUEST_TIMEOUT = 10.0


class JenkinsError(Exception):
    """Jenkins answered something the harness cannot go on with (one line: what, where, what it said)."""

    def __init__(self, message: str, cause: str = "") -> None:
        super().__init__(message)
        self.cause = cause  # the network error's type, when there was no answer


class DeadlineExceeded(JenkinsError):
    """A wait ran out of time."""


@dataclass(frozen=True)
class Build:
    job: str
    number: int
    url: str
    result: str
    console: str

    @property
    def passed(self) -> bool:
        """Only SUCCESS passes: UNSTABLE, FAILURE, ABORTED and NOT_BUILT do not."""
        return self.result == "SUCCESS"


def job_path(job: str) -> str:
    """``folder/name`` -> ``job/folder/job/name/`` (each segment quoted)."""
    return "".join(f"job/{urllib.parse.quote(part, safe='')}/" for part in job.split("/") if part)


class Deadline:
    """Seconds left until a fixed point; ``check(what)`` raises once it has passed."""

    def __init__(self, seconds: float, what: str) -> None:
        self.seconds, self.what = seconds, what
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return max(0.0, self.end - time.monotonic())

    def check(self, doing: str) -> None:
        if time.monotonic() >= self.end:
            raise DeadlineExceeded(f"{self.what}: {doing} after {self.seconds:g} s")

    def sleep(self, seconds: float, doing: str) -> None:
        self.check(doing)
        time.sleep(min(seconds, self.left()))
        self.check(doing)


class Jenkins:
    """A Jenkins at ``url`` for ``user`` with an API token or password (a crumb is fetched for POSTs)."""

    def __init__(self, url: str, user: str, secret: str, timeout: float = REQUEST_TIMEOUT, poll: float = POLL) -> None:
        self.url = url.rstrip("/") + "/"
        self.timeout, self.poll = timeout, poll
        self.http = requests.Session()
        self.http.auth = (user, secret)
        self._crumb: dict[str, str] | None = None
        self.last_answer = "no answer"  # what the last readiness check got, for the deadline's message

    def _request(self, method: str, url: str, deadline: Deadline, **kwargs: Any) -> requests.Response:
        deadline.check(f"{method} {url}")
        timeout = max(0.1, min(self.timeout, deadline.left()))
        try:
            return self.http.request(method, url, timeout=timeout, allow_redirects=False, **kwargs)
        except requests.RequestException as exc:
            raise JenkinsError(f"{method} {url}: {type(exc).__name__}: {exc}", type(exc).__name__) from exc

    def _get_json(self, url: str, deadline: Deadline) -> dict[str, Any]:
        resp = self._request("GET", url, deadline)
        if resp.status_code != 200:
            raise JenkinsError(f"GET {url}: HTTP {resp.status_code} {resp.reason}")
        data: dict[str, Any] = resp.json()
        return data

    def _crumb_header(self, deadline: Deadline) -> dict[str, str]:
        """The CSRF crumb (none when the issuer is off: 404); the session cookie it belongs to stays in ``http``."""
        if self._crumb is None:
            resp = self._request("GET", self.url + "crumbIssuer/api/json", deadline)
            if resp.status_code == 404:
                self._crumb = {}
            elif resp.status_code == 200:
                data = resp.json()
                self._crumb = {data["crumbRequestField"]: data["crumb"]}
            else:
                raise JenkinsError(f"GET {self.url}crumbIssuer/api/json: HTTP {resp.status_code} {resp.reason}")
        return self._crumb

    def ready(self, deadline: Deadline) -> str | None:
        """Jenkins' version once it answers api/json with our credentials (None while it starts: 503, 401)."""
        try:
            resp = self._request("GET", self.url + "api/json?tree=mode", deadline)
        except JenkinsError as exc:
            self.last_answer = exc.cause or "no answer"
            return None  # not listening yet
        if resp.status_code == 200 and "X-Jenkins" in resp.headers:
            return resp.headers["X-Jenkins"]
        self.last_answer = f"HTTP {resp.status_code} {resp.reason}"  # 503 while starting, 401: wrong credentials
        return None

    def wait_ready(self, deadline: Deadline) -> str:
        while True:
            version = self.ready(deadline)
            if version is not None:
                return version
            deadline.sleep(self.poll * 4, f"Jenkins at {self.url} not ready (last answer: {self.last_answer})")

    def trigger(self, job: str, deadline: Deadline) -> str:
        """Queue a build of ``job``; the URL of its queue item."""
        url = self.url + job_path(job) + "build"
        resp = self._request("POST", url, deadline, headers=self._crumb_header(deadline))
        location = resp.headers.get("Location", "")
        if resp.status_code != 201 or "/queue/item/" not in location:
            raise JenkinsError(f"POST {url}: HTTP {resp.status_code} {resp.reason} (expected 201 with a queue item)")
        return location.rstrip("/") + "/"

    def executable(self, queue_url: str, deadline: Deadline) -> tuple[int, str]:
        """Wait until the queue item became a build: its number and URL."""
        while True:
            item = self._get_json(queue_url + "api/json", deadline)
            if item.get("cancelled"):
                raise JenkinsError(f"{queue_url}: the queue item was cancelled")
            executable = item.get("executable")
            if executable:
                return int(executable["number"]), str(executable["url"]).rstrip("/") + "/"
            why = item.get("why") or "waiting"
            deadline.sleep(self.poll, f"{queue_url} still queued ({why})")

    def console(self, build_url: str, deadline: Deadline, write: Callable[[str], object], prefix: str) -> str:
        """Stream the build's console, each complete line as ``prefix + line``, until the build ends."""
        start, text, partial = 0, [], ""
        while True:
            url = f"{build_url}logText/progressiveText?start={start}"
            resp = self._request("GET", url, deadline)
            if resp.status_code != 200:
                raise JenkinsError(f"GET {url}: HTTP {resp.status_code} {resp.reason}")
            chunk = resp.content.decode("utf-8", errors="replace")
            text.append(chunk)
            *lines, partial = (partial + chunk).split("\n")
            for line in lines:
                write(f"{prefix}{line}\n")
            size = resp.headers.get("X-Text-Size", str(start + len(resp.content)))
            if not size.isdigit() or int(size) < start:
                raise JenkinsError(f"GET {url}: X-Text-Size {size!r} is not an offset at or after {start}")
            start = int(size)
            if resp.headers.get("X-More-Data", "").lower() != "true":
                break
            deadline.sleep(self.poll, f"{build_url} still running")
        if partial:
            write(f"{prefix}{partial}\n")
        return "".join(text)

    def result(self, build_url: str, deadline: Deadline) -> str:
        """The build's result once it has one (the console can end a moment before the result is set)."""
        while True:
            data = self._get_json(build_url + "api/json?tree=building,result,number", deadline)
            if not data.get("building") and data.get("result"):
                return str(data["result"])
            deadline.sleep(self.poll, f"{build_url} has no result yet")

    def build(self, job: str, deadline: Deadline, write: Callable[[str], object]) -> Build:
        """Trigger ``job``, follow it to its result with its console streamed as ``[job #N] ...``."""
        queue_url = self.trigger(job, deadline)
        number, url = self.executable(queue_url, deadline)
        console = self.console(url, deadline, write, f"[{job} #{number}] ")
        return Build(job, number, url, self.result(url, deadline), console)

    def wait_idle(self, job: str, deadline: Deadline) -> None:
        """Wait until ``job`` has nothing queued or running (an SCM poll may have started one)."""
        while True:
            data = self._get_json(self.url + job_path(job) + "api/json?tree=inQueue,lastBuild[building]", deadline)
            if not data.get("inQueue") and not (data.get("lastBuild") or {}).get("building"):
                return
            deadline.sleep(self.poll, f"{job} still has a build queued or running")

    def job_names(self, deadline: Deadline) -> set[str]:
        """The names of the top-level items."""
        data = self._get_json(self.url + "api/json?tree=jobs[name]", deadline)
        return {str(job["name"]) for job in data.get("jobs", [])}
