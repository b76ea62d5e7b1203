"""The one place secrets are registered and scrubbed.

Every token, password or key this toolkit touches is registered here the moment it is obtained. The
logging record factory and the CLI formatter replace each registered value with ``***``, and
:class:`~jenkins_codeartifact.errors.CAError` scrubs its text, so a secret cannot reach the Jenkins
console through a log line, a traceback or an error message.
"""

from __future__ import annotations

import logging
import os
import re
import threading
import urllib.parse
from collections.abc import Mapping

MASK = "***"
_MIN_LEN = 4  # shorter values would mask ordinary words
_lock = threading.Lock()
_secrets: set[str] = set()


def register(secret: str | None) -> str | None:
    """Remember ``secret`` (and its URL-quoted form) so it is masked everywhere from now on."""
    if secret and len(secret) >= _MIN_LEN:
        with _lock:
            _secrets.add(secret)
            quoted = urllib.parse.quote(secret, safe="")
            if quoted != secret:
                _secrets.add(quoted)
    return secret


def scrub(text: str) -> str:
    """Return ``text`` with every registered secret replaced by ``***`` (longest first)."""
    if not _secrets or not text:
        return text
    with _lock:
        secrets = sorted(_secrets, key=len, reverse=True)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    return text


_SECRET_NAME = re.compile(r"TOKEN|SECRET|PASSW|CREDENTIAL|_KEY$", re.IGNORECASE)


def child_environ(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment for a child (build backend, uv, docker CLI), minus secrets, plus ``extra``.

    Dropped: every variable holding a registered secret, and every variable whose name says it is one
    (``CODEARTIFACT_AUTH_TOKEN``, ``TWINE_PASSWORD``, ``AWS_SECRET_ACCESS_KEY``...): none of those
    children has a use for them, and a build backend is code fetched from an index.
    """
    env = {k: v for k, v in os.environ.items() if not _SECRET_NAME.search(k) and scrub(v) == v}
    env.update(extra or {})
    return env


def clear() -> None:
    """Forget every secret (tests only: a real process keeps them until it exits)."""
    with _lock:
        _secrets.clear()


class RedactingFormatter(logging.Formatter):
    """Formatter that scrubs the final text, tracebacks included."""

    def format(self, record: logging.LogRecord) -> str:
        return scrub(super().format(record))


_installed = False


def install() -> None:
    """Scrub the message of every log record created from now on, whatever handler prints it."""
    global _installed
    if _installed:
        return
    previous = logging.getLogRecordFactory()

    def factory(*args: object, **kwargs: object) -> logging.LogRecord:
        record = previous(*args, **kwargs)
        if _secrets:
            try:
                message = record.getMessage()
            except Exception:  # a malformed record is logging's problem to report, not ours
                return record
            record.msg, record.args = scrub(message), None
        return record

    logging.setLogRecordFactory(factory)
    _installed = True
