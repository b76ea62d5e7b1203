"""devpi-server as the package store behind the CodeArtifact stand-in.

One user ``aws`` and one index ``aws/my-repository`` whose base is ``root/pypi`` (devpi's PyPI mirror):
the shape of a CodeArtifact repository with a pypi-store upstream. The index is non-volatile, so a
file that exists cannot be replaced (devpi: 409 for different bytes, 200 for identical bytes, which is
what CodeArtifact answers too). Set-up uses devpi's JSON API with basic
auth, so devpi-client is not needed.
"""

from __future__ import annotations

import logging
import os
import shutil
import subprocess
import sys
from pathlib import Path

import requests

from ..errors import OperationError
from .process import PROBE_TIMEOUT, Service

log = logging.getLogger(__name__)

USER = "aws"
INDEX = "my-repository"
PROMOTION = ("dev", "release")  # two more repositories, for ca-repo promote (same shape as INDEX)
CA_BUNDLE = Path("/etc/ssl/certs/ca-certificates.crt")
API_TIMEOUT = 30.0  # one call of devpi's admin API (users, indexes, mirror options)


def _tool(name: str) -> str:
    """A devpi console script from this interpreter's environment, else from PATH."""
    candidate = Path(sys.executable).with_name(name)
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if not found:
        raise OperationError(f"{name} not found", hint="pip install 'jenkins-codeartifact[sandbox]'")
    return found


def child_env() -> dict[str, str]:
    """devpi fetches from PyPI over TLS; point it at the system CA bundle unless told otherwise."""
    env = dict(os.environ)
    if "SSL_CERT_FILE" not in env and CA_BUNDLE.exists():
        env["SSL_CERT_FILE"] = str(CA_BUNDLE)
    return env


def init(serverdir: Path, root_password: str) -> None:
    """Create the server directory (with root/pypi) unless it already holds a devpi instance."""
    if (serverdir / ".serverversion").exists():
        return
    serverdir.parent.mkdir(parents=True, exist_ok=True)
    result = subprocess.run(
        [_tool("devpi-init"), "--serverdir", str(serverdir), "--root-passwd", root_password],
        capture_output=True,
        text=True,
        env=child_env(),
        check=False,
    )
    if result.returncode != 0:
        raise OperationError(f"devpi-init failed: {result.stderr.strip()[-500:]}", hint=f"remove {serverdir}")


# devpi derives its auth secret with argon2 at every start; the defaults (512 MiB, 16 rounds) cost
# seconds, which a throwaway sandbox does not need. The options are hidden but real (devpi's own tests
# lower them the same way); benchmarks/sandbox.py measures what they save.
CHEAP_SECRET_ARGS = ("--argon2-memory-cost", "8192", "--argon2-time-cost", "1", "--argon2-parallelism", "1")
# root/pypi must not fetch PyPI's whole project list (tens of MB) on its first request: that took
# longer than pip's timeout. Projects are then looked up one by one. benchmarks/sandbox.py measures it.
MIRROR_OPTIONS = ("mirror_no_project_list=True",)


def start(service: Service, serverdir: Path, port: int, *, cheap_secret: bool = True) -> int:
    argv = [
        _tool("devpi-server"),
        "--serverdir",
        str(serverdir),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--request-timeout",
        "30",
        *(CHEAP_SECRET_ARGS if cheap_secret else ()),
    ]
    return service.start(argv, env=child_env())


def ready(url: str) -> bool:
    return requests.get(f"{url}/+api", headers={"Accept": "application/json"}, timeout=PROBE_TIMEOUT).status_code == 200


def configure(url: str, root_password: str, password: str) -> None:
    """Make sure user ``aws`` has ``password`` and owns a non-volatile index based on root/pypi."""
    session = requests.Session()
    session.headers["Accept"] = "application/json"
    configure_mirror(session, url, root_password)
    user_url = f"{url}/{USER}"
    resp = session.get(user_url, timeout=API_TIMEOUT)
    if resp.status_code == 404:
        resp = session.put(user_url, json={"password": password, "email": "aws@sandbox.invalid"}, timeout=API_TIMEOUT)
    else:  # keep the password in step with the secrets file even if someone changed it
        resp = session.patch(user_url, json={"password": password}, auth=("root", root_password), timeout=API_TIMEOUT)
    _check(resp, f"devpi user {USER}")
    for name in (INDEX, *PROMOTION):
        index_url = f"{user_url}/{name}"
        if session.get(index_url, timeout=API_TIMEOUT).status_code == 404:
            spec = {"type": "stage", "bases": ["root/pypi"], "volatile": False}
            _check(
                session.put(index_url, json=spec, auth=(USER, password), timeout=API_TIMEOUT),
                f"devpi index {USER}/{name}",
            )


def configure_mirror(session: requests.Session, url: str, root_password: str) -> None:
    """Set :data:`MIRROR_OPTIONS` on root/pypi (idempotent: PATCH sets keys, keeps the rest)."""
    resp = session.patch(
        f"{url}/root/pypi", json=list(MIRROR_OPTIONS), auth=("root", root_password), timeout=API_TIMEOUT
    )
    _check(resp, "devpi index root/pypi")


def _check(resp: requests.Response, what: str) -> None:
    if not resp.ok:
        raise OperationError(f"{what}: devpi answered HTTP {resp.status_code}: {resp.text[:300]}")
