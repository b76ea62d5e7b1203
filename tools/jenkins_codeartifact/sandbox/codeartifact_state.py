"""What the CodeArtifact stand-in remembers besides the packages: tokens, request rates, version statuses.

Each piece follows a documented behaviour of the service (sources in the README's stand-in section):

* :class:`Tokens`: GetAuthorizationToken returns a new ~1.2k-character token on every call, valid for
  ``durationSeconds`` (900..43200; 0 = the role session's remaining time, else 12 hours), which the
  repository endpoint refuses with 401 once expired. Tokens are HMAC-signed, so the endpoint checks
  them without keeping a list, and a restarted stand-in still accepts what it issued.
* :class:`Throttle`: per-operation request quotas (GetAuthorizationToken: 40 per second) answered with
  429 ``ThrottlingException`` and ``Retry-After``; tests can also force the next N answers to be 429.
* :class:`Versions`: a package version's status (Published, Unlisted, Archived, Disposed, Deleted) and
  the versions public PyPI offers through the repository's upstream (package origin controls).

Time comes from ``clock`` (epoch seconds), so tests move it forward instead of sleeping.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

Clock = Callable[[], float]
DEFAULT_DURATION = 43200  # 12 hours: the default and the cap
STATUSES = ("Published", "Unfinished", "Unlisted", "Archived", "Disposed", "Deleted")
# User guide, "Package version status": package managers list none of these; only Unlisted files download.
HIDDEN = ("Unlisted", "Archived", "Disposed", "Deleted")
# A token's header, as the real ones start: base64url of '{"ver":1,"isu":...'; used to find leaked tokens.
TOKEN_PREFIX = "eyJ2ZXIiOjEsImlzdSI6"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class Tokens:
    """Mint and check tokens shaped like CodeArtifact's (a JWE compact serialisation, five dot-separated parts)."""

    def __init__(self, secret: str, clock: Clock) -> None:
        self._key = hashlib.sha256(b"codeartifact-standin-tokens\0" + secret.encode()).digest()
        self.clock = clock

    def mint(self, seconds: float) -> tuple[str, float]:
        """A new token valid for ``seconds`` from now, and its expiry (epoch seconds)."""
        now = self.clock()
        expires = now + seconds
        header = {
            "ver": 1,
            "isu": int(now),
            "enc": "A128GCM",
            "tag": _b64(os.urandom(16)),
            "exp": int(expires),
            "alg": "A128GCMKW",
            "iv": _b64(os.urandom(12)),
        }
        encoded = _b64(json.dumps(header, separators=(",", ":")).encode())
        # the encrypted key, IV and ciphertext of a real token, in random bytes of their sizes
        body = ".".join((encoded, _b64(os.urandom(16)), _b64(os.urandom(12)), _b64(os.urandom(760))))
        return f"{body}.{self._sign(body)}", float(int(expires))

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest()[:16])

    def check(self, token: str) -> str:
        """``ok``, ``expired`` or ``invalid``."""
        body, _, signature = token.rpartition(".")
        if body.count(".") != 3 or not hmac.compare_digest(self._sign(body).encode(), signature.encode()):
            return "invalid"
        try:
            expires = int(json.loads(_unb64(body.split(".", 1)[0]))["exp"])
        except (ValueError, KeyError, TypeError):
            return "invalid"
        return "ok" if self.clock() < expires else "expired"


@dataclass
class Throttle:
    """Request quotas per operation (requests per second) and forced 429s for tests."""

    clock: Clock
    limits: dict[str, int] = field(default_factory=lambda: {"GetAuthorizationToken": 40})
    retry_after: int = 1
    enabled: bool = True
    _seen: dict[str, deque[float]] = field(default_factory=dict)
    _forced: list[tuple[str | None, int, int]] = field(default_factory=list)  # operation, times left, Retry-After
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def force(self, times: int, retry_after: int = 1, operation: str | None = None) -> None:
        """Answer the next ``times`` calls (of ``operation``, or any) with 429 and ``Retry-After``."""
        with self._lock:
            self._forced.append((operation, times, retry_after))

    def check(self, operation: str) -> int | None:
        """None to proceed, else the Retry-After seconds of a 429."""
        with self._lock:
            for i, (op, left, after) in enumerate(self._forced):
                if op in (None, operation) and left > 0:
                    self._forced[i] = (op, left - 1, after)
                    return after
            limit = self.limits.get(operation)
            if not self.enabled or limit is None:
                return None
            now = self.clock()
            seen = self._seen.setdefault(operation, deque())
            while seen and seen[0] <= now - 1.0:
                seen.popleft()
            if len(seen) >= limit:
                return self.retry_after
            seen.append(now)
            return None


@dataclass
class Versions:
    """Statuses the API set on package versions (the rest are Published) and what the upstream offers."""

    statuses: dict[tuple[str, str, str], str] = field(default_factory=dict)  # (repository, package, version)
    upstream: dict[str, set[str]] = field(default_factory=dict)  # normalised package -> versions on public PyPI
    entries: dict[tuple[str, str, str], str] = field(default_factory=dict)  # copied: where it entered the domain
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def status(self, repository: str, package: str, version: str) -> str:
        with self._lock:
            return self.statuses.get((repository, package, version), "Published")

    def set_status(self, repository: str, package: str, version: str, status: str) -> None:
        assert status in STATUSES, status
        with self._lock:
            self.statuses[(repository, package, version)] = status

    def entry_point(self, repository: str, package: str, version: str) -> str:
        """The repository a version was published to (a copy keeps its source's: "PackageVersionOrigin")."""
        with self._lock:
            return self.entries.get((repository, package, version), repository)

    def copied(self, source: str, target: str, package: str, version: str) -> None:
        entry = self.entry_point(source, package, version)
        with self._lock:
            self.entries[(target, package, version)] = entry

    def not_listed(self, repository: str, package: str) -> dict[str, str]:
        """Versions of ``package`` package managers do not see (Unlisted, Archived, Disposed, Deleted): status."""
        with self._lock:
            return {
                v: st for (r, p, v), st in self.statuses.items() if (r, p) == (repository, package) and st in HIDDEN
            }

    def on_upstream(self, package: str, version: str) -> bool:
        return version in self.upstream.get(package, set())


@dataclass
class Faults:
    """Server errors forced by tests: before an operation runs, or after it ran (the answer is lost,
    the change landed: what a client retrying a POST must cope with)."""

    _forced: list[tuple[str, int, bool]] = field(default_factory=list)  # operation, times left, after
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def force(self, operation: str, times: int = 1, after: bool = False) -> None:
        with self._lock:
            self._forced.append((operation, times, after))

    def take(self, operation: str, after: bool) -> bool:
        """True if this call of ``operation`` must answer 500 (at this point: before or after it ran)."""
        with self._lock:
            for i, (op, left, when) in enumerate(self._forced):
                if op == operation and when == after and left > 0:
                    self._forced[i] = (op, left - 1, when)
                    return True
            return False
