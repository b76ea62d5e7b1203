"""What a smoke test saw and what it means: one GET's answer, the poll until a verdict, the TIP per cause.

The poll talks to a container on 127.0.0.1 only, so it never goes through ``HTTP_PROXY`` (a proxy
cannot reach this agent's loopback) and never follows a redirect (the smoke path must answer 200
itself: "/ answered 200" after a 302 to a login page proves nothing). A 5xx or no answer is retried
until the deadline, as an application may still be warming up; any other answer is final at once.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import requests

from .. import redact

PASSED, EXITED, NO_ANSWER, REDIRECT, CLIENT_ERROR, SERVER_ERROR = (
    "passed",
    "exited",
    "no answer",
    "redirect",
    "client error",
    "server error",
)


@dataclass(frozen=True)
class Health:
    """The last answer of a poll: ``status`` None when nothing answered, ``answer`` says what came back."""

    url: str
    status: int | None
    seconds: float
    answer: str = ""
    location: str | None = None

    @property
    def outcome(self) -> str:
        if self.status is None:
            return NO_ANSWER
        if self.status == 200:
            return PASSED
        if 300 <= self.status < 400:
            return REDIRECT
        return SERVER_ERROR if self.status >= 500 else CLIENT_ERROR

    @property
    def final(self) -> bool:
        """Whether another GET could change the verdict (5xx and no answer may be a warm-up)."""
        return self.outcome not in (NO_ANSWER, SERVER_ERROR)


def get_once(
    session: requests.Session, url: str, timeout: float, start: float, now: float, *, follow: bool = False
) -> Health:
    try:
        resp = session.get(url, timeout=timeout, allow_redirects=follow)
    except requests.RequestException as exc:
        return Health(url, None, now - start, _network_reason(exc))
    body = " ".join(resp.text[:200].split()) if resp.status_code != 200 else ""
    answer = f"HTTP {resp.status_code} {resp.reason or ''}".rstrip() + (f": {body}" if body else "")
    return Health(url, resp.status_code, now - start, redact.scrub(answer), resp.headers.get("Location"))


def loopback_session() -> requests.Session:
    """A session that ignores the environment's proxies and .netrc: the URL is always on 127.0.0.1."""
    session = requests.Session()
    session.trust_env = False
    return session


def poll(
    url: str,
    timeout: float,
    *,
    alive: Callable[[], bool] = lambda: True,
    interval: float = 0.5,
    clock: Callable[[], float] = time.monotonic,
    sleep: Callable[[float], None] = time.sleep,
    strict: bool = True,
) -> Health:
    """GET ``url`` until an answer is final (200, 3xx, 4xx), ``alive()`` turns false or ``timeout`` passes.

    ``strict=False`` is the deploy probe's poll of a load balancer, far from this agent: through the
    environment's proxies, redirects followed, anything but 200 retried (a listener being updated may
    answer 404 for a moment).
    """
    start = clock()
    with loopback_session() if strict else requests.Session() as session:
        while True:
            health = get_once(session, url, min(5.0, max(timeout, 0.1)), start, clock(), follow=not strict)
            done = health.final if strict else health.status == 200
            if done or not alive() or clock() - start >= timeout:
                return health
            sleep(interval)


def _network_reason(exc: requests.RequestException) -> str:
    if isinstance(exc, requests.Timeout):
        return "no answer: the GET timed out"
    if isinstance(exc, requests.ConnectionError) and "refused" in str(exc).lower():
        return "no answer: connection refused (nothing listens on the port)"
    return f"no answer: {type(exc).__name__}"


def tip(health: Health, *, exited: bool, exit_code: int | None, path: str, port_note: str) -> str:
    """What to do next, by what happened: the container died, never listened, or answered the wrong thing."""
    if exited:
        code = f" with code {exit_code}" if exit_code is not None else ""
        return f"the container exited{code}: its log above says why (a missing module, a bad command?)"
    outcome = health.outcome
    if outcome == NO_ANSWER:
        return f"nothing answered: the application must listen on {port_note}; see its log above"
    if outcome == REDIRECT:
        where = health.location or "?"
        return f"{path} redirects to {where}: pass --smoke-path with a path that answers 200 itself"
    if health.status == 404:
        return f"the application does not serve {path}: pass --smoke-path with a path it answers 200 on"
    if health.status in (401, 403):
        return f"{path} wants credentials: the smoke path must answer 200 without any (a health endpoint)"
    if outcome == CLIENT_ERROR:
        return f"{path} refused a plain GET: the smoke path must answer 200 to one"
    return f"the application failed on {path} until the deadline: its log above has the error"


def verdict(health: Health, *, exited: bool) -> str:
    """The error's cause in a few words, e.g. ``HTTP 404 at once`` or ``the container exited after 3s``."""
    if exited:
        return f"the container exited after {health.seconds:.0f}s"
    if health.final:
        where = f" to {health.location}" if health.outcome == REDIRECT and health.location else ""
        return f"HTTP {health.status}{where} after {health.seconds:.1f}s (not retried)"
    got = f"HTTP {health.status}" if health.status else "no answer"
    return f"{got} until the deadline ({health.seconds:.0f}s)"


def reachable_beyond_loopback(port: int, timeout: float = 0.5) -> str | None:
    """A non-loopback address of this agent where ``port`` accepts connections, or None.

    With host networking the container is told ``HOST=127.0.0.1``; an application that ignores it listens
    on every interface of the agent, where anyone on its network reaches it.
    """
    for address in _agent_addresses():
        try:
            with socket.create_connection((address, port), timeout=timeout):
                return address
        except OSError:
            continue
    return None


def _agent_addresses() -> list[str]:
    found: list[str] = []
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            s.connect(("192.0.2.1", 9))  # a UDP connect sends nothing: it only picks the outgoing address
            found.append(str(s.getsockname()[0]))
        except OSError:
            pass
    return [a for a in dict.fromkeys(found) if not a.startswith("127.")]
