"""The sandbox's two devpi speed settings, each against devpi's defaults, in one run.

Usage:

    .venv/bin/python benchmarks/sandbox.py [--project flask]

Two fresh devpi-servers on free loopback ports, each with its own server directory:

  reference: devpi's defaults (argon2 secret derivation at 512 MiB x 16 rounds; root/pypi fetches PyPI's
             whole project list on its first request)
  ours:      ``devpi.CHEAP_SECRET_ARGS`` and ``devpi.MIRROR_OPTIONS``, as ``ca-sandbox up`` starts it

Printed: (a) start until ``/+api`` answers, (b) the first ``GET /root/pypi/+simple/PROJECT/`` (needs
PyPI), with the ratios. Both servers are stopped by PID whatever happens.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import report
from jenkins_codeartifact.sandbox import devpi
from jenkins_codeartifact.sandbox.process import Service, free_port_numbers


def measure(tmp: Path, name: str, *, ours: bool, project: str) -> tuple[float, float]:
    """Start one devpi (ours or defaults); return (seconds until it answers, seconds of the first mirror GET)."""
    serverdir = tmp / name / "server"
    devpi.init(serverdir, "root-password-for-bench")
    (port,) = free_port_numbers(1)
    url = f"http://127.0.0.1:{port}"
    service = Service(name, tmp / name)
    try:
        started = time.perf_counter()
        devpi.start(service, serverdir, port, cheap_secret=ours)
        service.wait_ready(lambda: devpi.ready(url), url, timeout=180)
        ready = time.perf_counter() - started
        session = requests.Session()
        if ours:
            devpi.configure_mirror(session, url, "root-password-for-bench")
        started = time.perf_counter()
        resp = session.get(f"{url}/root/pypi/+simple/{project}/", timeout=300)
        first = time.perf_counter() - started
        if resp.status_code != 200:
            raise SystemExit(f"{name}: GET /root/pypi/+simple/{project}/ answered {resp.status_code}")
        return ready, first
    finally:
        service.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--project", default="flask", help="project asked of the mirror (default: flask)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="ca-bench-devpi-") as tmp:
        ours = measure(Path(tmp), "ours", ours=True, project=args.project)
        reference = measure(Path(tmp), "defaults", ours=False, project=args.project)
    report(
        "devpi in the sandbox: ours vs devpi's defaults",
        [
            ("start until /+api answers", ours[0], reference[0]),
            (f"first GET +simple/{args.project}/", ours[1], reference[1]),
        ],
    )


if __name__ == "__main__":
    main()
