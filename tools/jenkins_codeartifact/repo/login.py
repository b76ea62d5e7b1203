"""The credentials ``ca-repo env`` and ``exec`` hand out, and ``exec``'s child with the token masked.

The token comes from the same settings and facade as ca-publish's (cached to its expiry); when it
expires is logged (stderr), never printed on stdout, so ``eval "$(ca-repo env)"`` only sees export lines.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import re
import selectors
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import IO, Any

from .. import redact
from ..errors import ConfigError, OperationError
from ..index import Index, resolve_index
from ..settings import Settings
from .env import Credentials

log = logging.getLogger(__name__)
_EOL = re.compile(rb"(\r\n|\r|\n)")
STOP_GRACE = 3.0  # seconds a child gets after SIGTERM before SIGKILL (the command must end within 5 s)


def credentials(settings: Settings, clock: Callable[[], float] = time.time, index: Index | None = None) -> Credentials:
    """The repository's URLs and a current token; an expired or missing one is an error, never printed."""
    index = index or resolve_index(settings, clock=clock)
    pair = index.credentials()
    if pair is None:
        raise ConfigError(
            f"no password for {index.description}",
            hint="set CA_INDEX_PASSWORD (and CA_INDEX_USERNAME) for a generic index, or CA_DOMAIN/CA_REPOSITORY",
        )
    expires = index.codeartifact.token_expiry() if index.codeartifact is not None else None
    now = clock()
    if expires is not None and expires <= now:
        when = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
        raise OperationError(
            f"CodeArtifact returned a token that expired at {when}, before it could be used",
            hint="check this machine's clock (the token's expiry is the service's time) and CA_TOKEN_DURATION",
        )
    if expires is not None:
        when = dt.datetime.fromtimestamp(expires, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")
        log.info("token for %s expires %s (in %d min)", index.description, when, (expires - now) // 60)
    return Credentials(index.simple_url, index.upload_url, pair[0], pair[1], expires)


def _pump(streams: dict[int, tuple[IO[bytes], IO[bytes]]]) -> None:
    """Copy the child's output to ours line by line, every registered secret replaced by ``***``."""
    selector = selectors.DefaultSelector()
    pending: dict[int, bytes] = {}
    for fd, (source, _) in streams.items():
        selector.register(source, selectors.EVENT_READ, fd)
        pending[fd] = b""
    while selector.get_map():
        for key, _ in selector.select():  # a signal interrupts it: the main thread is the only one
            fd = key.data
            chunk = os.read(key.fd, 65536)
            target = streams[fd][1]
            if not chunk:
                selector.unregister(key.fileobj)
                if pending[fd]:
                    target.write(redact.scrub(pending[fd].decode(errors="replace")).encode())
                target.flush()
                continue
            # a line ends at \n or \r (progress bars redraw with \r): masked whole, never cut inside a token
            parts = _EOL.split(pending[fd] + chunk)
            pending[fd] = parts.pop()
            for line, end in zip(parts[::2], parts[1::2], strict=True):
                target.write(redact.scrub(line.decode(errors="replace")).encode() + end)
            target.flush()
    selector.close()


def run_masked(argv: Sequence[str], env: dict[str, str], out: Any = None, err: Any = None) -> int:
    """Run ``argv`` with ``env`` added, its output masked; SIGTERM/SIGINT stop it before we go."""
    if not argv:
        raise ConfigError("ca-repo exec: no command given", hint="ca-repo exec -- pip install NAME")
    out = out or sys.stdout.buffer
    err = err or sys.stderr.buffer
    try:
        proc = subprocess.Popen(
            list(argv), env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, stdin=None
        )
    except OSError as exc:
        raise ConfigError(f"ca-repo exec: cannot run {argv[0]!r}: {exc.strerror or exc}") from None
    assert proc.stdout is not None and proc.stderr is not None
    try:
        _pump({1: (proc.stdout, out), 2: (proc.stderr, err)})
        return proc.wait()
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(STOP_GRACE)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        proc.stdout.close()
        proc.stderr.close()
