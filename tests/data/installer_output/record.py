"""Record what real failing image builds print, with real pip and uv, into the fixtures beside this file.

Each case is a real ``docker build`` of application_src's Dockerfile (uv) and Dockerfile.pip (pip),
with a requirements.txt or a pip.conf that makes the installer fail one way; the whole plain-progress
output of the failed build is kept as ``{uv,pip}/CASE.txt`` (the token is a placeholder, never a real
one). Run it inside a sandbox with Docker (it needs the sandbox's devpi mirror of PyPI):

    ca-sandbox up --docker --dir .sandbox && . .sandbox/env.sh
    .venv/bin/python tests/data/installer_output/record.py [CASE...]
"""

from __future__ import annotations

import contextlib
import http.server
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path

HERE = Path(__file__).resolve().parent
APP = HERE.parents[2] / "application_src"
DOCKERFILES = {"uv": "Dockerfile", "pip": "Dockerfile.pip"}
GOOD = "flask==3.1.3\ngunicorn==26.2.0\n"
# case: (requirements.txt, index) where index is "mirror", "auth", "refused", "503" or "hang"
CASES = {
    "missing_package": ("fantastic-ascii-unpublished==1.0.0\n", "mirror"),
    "missing_version": ("flask==99.0.0\n", "mirror"),
    "no_wheel": ("--only-binary :all:\ndocopt==0.6.2\n", "mirror"),
    "unreachable": (GOOD, "refused"),
    "server_error": (GOOD, "503"),
    "timeout": (GOOD, "hang"),
    "auth_refused": (GOOD, "auth"),
    "conflict": ("flask==3.1.3\nwerkzeug==2.0.0\n", "mirror"),
    "compile_error": ("ujson==1.35\n", "mirror"),
}
PLACEHOLDER = "recorded-placeholder-token"
# The Dockerfile before issue 21, whose RUN script echoed "uv is not reachable" (quoted back by BuildKit's
# "executor failed running [...]" line, which the old diagnosis took for the cause): recorded as "legacy".
LEGACY = HERE / "legacy.Dockerfile"
LEGACY_CASES = ("missing_version", "no_wheel")


class _Quiet(http.server.BaseHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


class _Unavailable(_Quiet):
    def do_GET(self) -> None:
        self.send_error(503, "Service Unavailable")


@contextlib.contextmanager
def serving(handler: type[http.server.BaseHTTPRequestHandler]) -> Iterator[int]:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def hanging() -> Iterator[int]:
    """A port that accepts connections and never answers."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)
        yield sock.getsockname()[1]


@contextlib.contextmanager
def index_url(kind: str) -> Iterator[str]:
    mirror = os.environ["CA_SANDBOX_SIMPLE_URL"]
    if kind == "mirror":
        yield mirror
    elif kind == "auth":  # the CodeArtifact stand-in refuses a token it did not issue
        port = os.environ["AWS_ENDPOINT_URL_CODEARTIFACT"].rsplit(":", 1)[1]
        yield f"http://aws:{PLACEHOLDER}@127.0.0.1:{port}/pypi/{os.environ['CA_REPOSITORY']}/simple/"
    elif kind == "refused":
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        yield f"http://127.0.0.1:{port}/simple/"
    elif kind == "503":
        with serving(_Unavailable) as port:
            yield f"http://127.0.0.1:{port}/simple/"
    else:
        with hanging() as port:
            yield f"http://127.0.0.1:{port}/simple/"


def record(case: str, installer: str, work: Path) -> str:
    requirements, kind = CASES[case]
    context = work / f"{case}-{installer}"
    shutil.copytree(APP, context, ignore=shutil.ignore_patterns("tests", "__pycache__"))
    (context / "requirements.txt").write_text(requirements)
    dockerfile = context / DOCKERFILES.get(installer, "Dockerfile")
    extra: list[str] = []
    if installer == "legacy":
        shutil.copy(LEGACY, dockerfile)
        extra = ["--build-arg", f"UV_IMAGE={uv_image(work)}"]
    if kind == "hang":  # the samples wait 60 s per request, as a cold mirror needs; a recording need not
        text = dockerfile.read_text().replace("UV_HTTP_TIMEOUT=60", "UV_HTTP_TIMEOUT=3")
        dockerfile.write_text(text)
    with index_url(kind) as url:
        conf = work / f"{case}-{installer}.conf"
        timeout = "3\nretries = 1" if kind == "hang" else "60\nretries = 2"
        conf.write_text(f"[global]\nindex-url = {url}\ntimeout = {timeout}\n")
        argv = [os.environ.get("CA_DOCKER_CLI", "docker"), "build", "--progress=plain", "--network", "host"]
        argv += ["--secret", f"id=pipconf,src={conf}", "--build-arg", f"BASE_IMAGE={os.environ['CA_BASE_IMAGE']}"]
        argv += [*extra, "--file", str(dockerfile), str(context)]
        run = subprocess.run(
            argv, capture_output=True, text=True, timeout=600, env={**os.environ, "DOCKER_BUILDKIT": "1"}
        )
    if run.returncode == 0:
        raise SystemExit(f"{case}/{installer}: the build passed; nothing to record")
    out = run.stdout + run.stderr
    out = out.replace(str(work), "/tmp/record")
    if kind != "mirror":  # a random port each time: keep the fixtures stable
        out = re.sub(r"127\.0\.0\.1:\d+", "127.0.0.1:PORT", out)
        out = re.sub(r"port=\d+", "port=PORT", out)
    return re.sub(r"object at 0x[0-9a-f]+", "object at 0x0", out)


def uv_image(work: Path) -> str:
    """An image holding /uv (what the old pipeline loaded), made from this environment's uv."""
    import uv

    tag = "ca-record/uv:1"
    context = work / "uv-image"
    context.mkdir(exist_ok=True)
    shutil.copy(uv.find_uv_bin(), context / "uv")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY uv /uv\n")
    subprocess.run([os.environ.get("CA_DOCKER_CLI", "docker"), "build", "-q", "-t", tag, str(context)], check=True)
    return tag


def main(argv: list[str]) -> int:
    cases = argv or list(CASES)
    with tempfile.TemporaryDirectory(prefix="ca-record-") as tmp:
        for case in cases:
            for installer in [*DOCKERFILES, *(["legacy"] if case in LEGACY_CASES else [])]:
                text = record(case, installer, Path(tmp))
                target = HERE / installer / f"{case}.txt"
                target.parent.mkdir(exist_ok=True)
                target.write_text(text)
                print(f"{target.relative_to(HERE)}: {len(text.splitlines())} lines")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
