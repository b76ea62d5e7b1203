"""Diagnoses of failed image builds, fed with the output of real failing builds (real pip, real uv).

The fixtures are whole BuildKit outputs recorded by tests/data/installer_output/record.py (its README
says how). Each case asserts the one ERROR line a user sees: installer, package and version, and the
TIP that fits. pip prints the same "from versions: none" for a project the index lacks, a source-only
one under --only-binary and an index answering 503; there the index's page (one GET, faked here with
what the sandbox's index answered) tells them apart.
"""

# ruff: noqa: E501  (each case is one line: the fixture, the whole message a user sees, the TIP)
from __future__ import annotations

import http.server
import json
import threading
from pathlib import Path

import pytest

from jenkins_codeartifact.consume import diagnose, image
from jenkins_codeartifact.index import Index

OUTPUT = Path(__file__).resolve().parents[1] / "data" / "installer_output"
DOCOPT = ("docopt-0.6.1.tar.gz", "docopt-0.6.2.tar.gz")  # what the mirror lists for docopt: sdists only


def recorded(name: str) -> list[str]:
    return (OUTPUT / f"{name}.txt").read_text(encoding="utf-8").splitlines()


def error(name: str, page: diagnose.Page | None = None, project: str = "") -> tuple[str, str]:
    asked: list[str] = []

    def lookup(name: str) -> diagnose.Page:
        asked.append(name)
        assert page is not None, "the index was asked although the output said enough"
        return page

    exc = diagnose.build_error("application:1", recorded(name), lookup=lookup)
    assert asked == ([project] if page else [])
    assert exc.message.startswith("build of application:1 failed: ")
    return exc.message.removeprefix("build of application:1 failed: "), exc.hint or ""


@pytest.mark.parametrize(
    ("name", "message", "tip"),
    [
        ("uv/missing_package", "uv: fantastic-ascii-unpublished==1.0.0: fantastic-ascii-unpublished is not on the index", "publish it first"),
        ("uv/missing_version", "uv: flask==99.0.0: no such version on the index", "publish it first"),
        ("uv/no_wheel", "uv: docopt==0.6.2 has no wheel and source builds are off (--only-binary)", "from its sdist"),
        ("uv/auth_refused", "uv: the index refused the credentials (401 Unauthorized)", "token may have expired"),
        ("uv/unreachable", "uv: the index did not answer (Connection refused: http://127.0.0.1:PORT/simple/gunicorn/)", "the package is not missing"),
        ("uv/server_error", "uv: the index did not answer (503 Service Unavailable: http://127.0.0.1:PORT/simple/flask/)", "the package is not missing"),
        ("uv/timeout", "uv: the index did not answer (operation timed out: http://127.0.0.1:PORT/simple/gunicorn/)", "the package is not missing"),
        ("uv/conflict", "uv: the requirements conflict: Because flask>=3.1.3 depends on werkzeug>=3.1.0 and you require flask==3.1.3, we can conclude that you require werkzeug>=3.1.0.", "change the pins"),
        ("uv/compile_error", "uv: building ujson==1.35 from source failed: error: [Errno 2] No such file or directory: 'x86_64-linux-gnu-gcc'", "install a compiler"),
        ("pip/missing_version", "pip: flask==99.0.0: no such version on the index (latest: 3.1.1, 3.1.2, 3.1.3)", "publish it first"),
        ("pip/auth_refused", "pip: the index refused the credentials (HTTP 401)", "token may have expired"),
        ("pip/unreachable", "pip: the index did not answer (Connection refused), so it found no distribution for flask==3.1.3", "the package is not missing"),
        ("pip/timeout", "pip: the index did not answer (Read timed out), so it found no distribution for flask==3.1.3", "the package is not missing"),
        ("pip/conflict", "pip: the requirements conflict: The user requested werkzeug==2.0.0; flask 3.1.3 depends on werkzeug>=3.1.0", "change the pins"),
        ("pip/compile_error", "pip: building ujson from source failed: error: command 'x86_64-linux-gnu-gcc' failed: No such file or directory", "install a compiler"),
    ],
)  # fmt: skip
def test_the_installers_own_words_name_the_cause(name, message, tip):
    got, hint = error(name)
    assert got == message
    assert tip in hint


@pytest.mark.parametrize(
    ("name", "page", "project", "message", "tip"),
    [
        ("pip/missing_package", diagnose.Page(404), "fantastic-ascii-unpublished", "pip: fantastic-ascii-unpublished==1.0.0: fantastic-ascii-unpublished is not on the index", "publish it first"),
        ("pip/no_wheel", diagnose.Page(200, DOCOPT), "docopt", "pip: docopt==0.6.2 has no wheel and source builds are off (--only-binary)", "from its sdist"),
        ("pip/server_error", diagnose.Page(503), "flask", "pip: the index failed (HTTP 503 for flask), so pip found no flask==3.1.3", "the package is not missing"),
        ("pip/server_error", diagnose.Page(0), "flask", "pip: the index failed (no answer for flask), so pip found no flask==3.1.3", "the package is not missing"),
    ],
)  # fmt: skip
def test_pips_no_versions_is_told_apart_by_the_index_page(name, page, project, message, tip):
    got, hint = error(name, page, project)
    assert got == message
    assert tip in hint


@pytest.mark.parametrize("name", ["legacy/missing_version", "legacy/no_wheel"])
def test_an_echo_in_the_run_script_quoted_by_buildkit_is_not_the_cause(name):
    """The old Dockerfile's script said "uv is not reachable"; BuildKit repeats the script on failure."""
    text = "\n".join(recorded(name))
    assert "executor failed running [" in text and "uv is not reachable from this build" in text
    got, _ = error(name)
    assert "reachable" not in got
    assert got.startswith(("uv: flask==99.0.0: no such version", "uv: docopt==0.6.2 has no wheel"))


def test_a_failure_no_pattern_knows_names_the_steps_last_line_not_buildkits_summary():
    tail = [
        "#7 [stage-1 2/3] RUN ./install.sh",
        "#7 0.210 install.sh: line 3: frobnicate: command not found",
        '#7 ERROR: executor failed running [/bin/sh -c echo "the index is down"; ./install.sh]: exit code: 127',
        "executor failed running [/bin/sh -c ./install.sh]: exit code: 127",
    ]
    exc = diagnose.build_error("a:1", tail)
    assert exc.message == "build of a:1 failed: install.sh: line 3: frobnicate: command not found"
    assert exc.hint == "see the build output above"


class _Page(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path != "/simple/docopt/":
            self.send_error(404)
            return
        if "json" in self.headers.get("Accept", "") and self.server.json:  # type: ignore[attr-defined]
            body = json.dumps({"files": [{"filename": f} for f in DOCOPT]}).encode()
            kind = "application/vnd.pypi.simple.v1+json"
        else:
            body = "".join(f'<a href="/f/{f}#sha256=0">{f}</a><br/>' for f in DOCOPT).encode()
            kind = "text/html"
        self.send_response(200)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.mark.parametrize("as_json", [True, False])
def test_the_project_page_lists_the_files_in_json_and_html(as_json):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Page)
    server.json = as_json  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        index = Index(url, url + "/simple/", "aws", "t")
        assert image.project_page(index, "DocOpt") == diagnose.Page(200, DOCOPT)
        assert image.project_page(index, "nothing-here") == diagnose.Page(404)
    finally:
        server.shutdown()
        server.server_close()
    assert image.project_page(index, "docopt", timeout=(1.0, 1.0)) == diagnose.Page(0)
