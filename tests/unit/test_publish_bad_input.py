"""ca-publish bad input, table-driven: each case is one ERROR line naming the file, field or value, the
documented exit code (2 usage/config), no traceback, and nothing written or uploaded.

The index is a local server that records every request: a bad input must be refused before any of them.
"""

from __future__ import annotations

import http.server
import json
import os
import shutil
import threading
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

from jenkins_codeartifact.cli import publish

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "hunter2-in-the-url"


class Recorder(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def _record(self):
        self.server.requests.append((self.command, self.path))
        self.send_response(404)
        self.send_header("Content-Length", "0")
        self.end_headers()

    do_GET = do_HEAD = do_POST = _record


@pytest.fixture
def index():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    srv.daemon_threads = True
    srv.requests = []
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@dataclass
class Where:
    tmp: Path
    project: Path
    url: str  # the recording index


@dataclass
class Case:
    id: str
    args: Callable[[Where], list[str]]
    message: Callable[[Where], str]  # the ERROR line, without "ERROR: " (a prefix where a parser's words follow)
    setup: Callable[[Where, pytest.MonkeyPatch], None] = lambda w, mp: None
    env: dict[str, str] | None = None  # "{index}": the recording index's host:port/
    code: int = 2


def _write(rel: str, text: str) -> Callable[[Where, pytest.MonkeyPatch], None]:
    def setup(w: Where, mp: pytest.MonkeyPatch) -> None:
        path = w.tmp / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)

    return setup


def _unreadable(rel: str) -> Callable[[Where, pytest.MonkeyPatch], None]:
    """The file exists but reading it fails with EACCES (tests run as root, where chmod 000 would not)."""

    def setup(w: Where, mp: pytest.MonkeyPatch) -> None:
        target = w.tmp / rel
        real = Path.read_text

        def read_text(self: Path, *a: object, **kw: object) -> str:
            if self == target:
                raise PermissionError(13, "Permission denied", str(self))
            return real(self, *a, **kw)

        mp.setattr(Path, "read_text", read_text)

    return setup


def _mkdir(rel: str) -> Callable[[Where, pytest.MonkeyPatch], None]:
    return lambda w, mp: (w.tmp / rel).mkdir(parents=True)


def _link(rel: str, to: str) -> Callable[[Where, pytest.MonkeyPatch], None]:
    return lambda w, mp: (w.tmp / rel).symlink_to(w.tmp / to)


def _generic(w: Where) -> list[str]:
    return [str(w.project), "--repository-url", w.url]


CASES = [
    Case(
        "project dir missing",
        lambda w: [str(w.tmp / "nope")],
        lambda w: f"{w.tmp / 'nope'}: project directory not found",
    ),
    Case(
        "no pyproject.toml",
        lambda w: [str(w.tmp / "empty")],
        lambda w: f"{w.tmp / 'empty' / 'pyproject.toml'}: not found",
        setup=_mkdir("empty"),
    ),
    Case(
        "pyproject.toml is a directory",
        lambda w: [str(w.tmp / "odd")],
        lambda w: f"{w.tmp / 'odd' / 'pyproject.toml'}: is a directory, not a file",
        setup=_mkdir("odd/pyproject.toml"),
    ),
    Case(
        "pyproject.toml unreadable",
        _generic,
        lambda w: f"{w.project / 'pyproject.toml'}: cannot read: Permission denied",
        setup=_unreadable("pkg/pyproject.toml"),
    ),
    Case(
        "pyproject.toml not TOML",
        _generic,
        lambda w: f"{w.project / 'pyproject.toml'}: not valid TOML: Expected ']' at the end of a table declaration",
        setup=_write("pkg/pyproject.toml", "[project\n"),
    ),
    Case(
        "build-system.requires not a list",
        _generic,
        lambda w: f"{w.project / 'pyproject.toml'}: build-system.requires must be a list of strings",
        setup=_write("pkg/pyproject.toml", '[build-system]\nrequires = "setuptools"\n'),
    ),
    Case(
        "build-system.requires bad requirement",
        _generic,
        lambda w: f"{w.project / 'pyproject.toml'}: build-system.requires: 'setuptools>>1': Expected ",
        setup=_write("pkg/pyproject.toml", '[build-system]\nrequires = ["setuptools>>1"]\n'),
    ),
    Case(
        "build-backend not a string",
        _generic,
        lambda w: f"{w.project / 'pyproject.toml'}: build-system.build-backend must be a string",
        setup=_write("pkg/pyproject.toml", "[build-system]\nrequires = []\nbuild-backend = 3\n"),
    ),
    Case(
        "version not PEP 440",
        _generic,
        lambda w: f"{w.project / 'pyproject.toml'}: version '1.0-final-really' is not a valid PEP 440 version",
        setup=_write(
            "pkg/pyproject.toml", '[build-system]\nrequires = []\n[project]\nname = "x"\nversion = "1.0-final-really"\n'
        ),
    ),
    Case(
        "dist dir is a file",
        lambda w: [*_generic(w), "--dist-dir", str(w.tmp / "afile")],
        lambda w: f"dist directory {w.tmp / 'afile'}: exists and is not a directory",
        setup=_write("afile", "x"),
    ),
    Case(
        "dist dir under a file",
        lambda w: [*_generic(w), "--dist-dir", str(w.tmp / "afile" / "dist")],
        lambda w: f"dist directory {w.tmp / 'afile' / 'dist'}: {w.tmp / 'afile'} is a file, not a directory",
        setup=_write("afile", "x"),
    ),
    Case(
        "dist dir a dangling link",
        lambda w: [*_generic(w), "--dist-dir", str(w.tmp / "gone")],
        lambda w: f"dist directory {w.tmp / 'gone'}: a link to {w.tmp / 'nowhere'}, which does not exist",
        setup=_link("gone", "nowhere"),
    ),
    Case(
        "CA_DIST_DIR is a file",
        _generic,
        lambda w: "dist directory afile: exists and is not a directory",
        setup=_write("afile", "x"),
        env={"CA_DIST_DIR": "afile"},
    ),
    Case(
        "--config is a directory",
        lambda w: [*_generic(w), "--config", str(w.tmp)],
        lambda w: f"{w.tmp}: is a directory, not a config file",
    ),
    Case(
        "--config missing",
        lambda w: [*_generic(w), "--config", str(w.tmp / "none.toml")],
        lambda w: f"{w.tmp / 'none.toml'}: config file not found",
    ),
    Case(
        "--config unreadable",
        lambda w: [*_generic(w), "--config", str(w.tmp / "c.toml")],
        lambda w: f"{w.tmp / 'c.toml'}: cannot read: Permission denied",
        setup=lambda w, mp: (_write("c.toml", 'domain = "d"\n')(w, mp), _unreadable("c.toml")(w, mp)),
    ),
    Case(
        "config file unknown key",
        lambda w: [*_generic(w), "--config", str(w.tmp / "c.toml")],
        lambda w: f"{w.tmp / 'c.toml'}: unknown key 'domian'",
        setup=_write("c.toml", 'domian = "d"\n'),
    ),
    Case(
        "config file holds a secret",
        lambda w: [*_generic(w), "--config", str(w.tmp / "c.toml")],
        lambda w: f"{w.tmp / 'c.toml'}: 'index_password' may only come from the environment (CA_INDEX_PASSWORD)",
        setup=_write("c.toml", 'index_password = "pw"\n'),
    ),
    Case(
        "password in --repository-url",
        lambda w: [str(w.project), "--repository-url", w.url.replace("//", f"//ci:{PASSWORD}@")],
        lambda w: f"--repository-url {w.url.replace('//', '//ci:***@')}: credentials in the URL are refused",
    ),
    Case(
        "password in CA_SIMPLE_URL",
        _generic,
        lambda w: f"--simple-url {w.url.replace('//', '//ci:***@')}simple/: credentials in the URL are refused",
        env={"CA_SIMPLE_URL": f"http://ci:{PASSWORD}@{{index}}simple/"},
    ),
    Case(
        "--repository-url not http",
        lambda w: [str(w.project), "--repository-url", "ftp://example.com/"],
        lambda w: "--repository-url 'ftp://example.com/': must be an http(s) URL",
    ),
    Case(
        "--repository-url without a scheme",
        lambda w: [str(w.project), "--repository-url", "127.0.0.1:1"],
        lambda w: "--repository-url '127.0.0.1:1': must be an http(s) URL",
    ),
    Case(
        "--report is a directory",
        lambda w: [*_generic(w), "--report", str(w.tmp)],
        lambda w: f"--report {w.tmp}: is a directory",
    ),
    Case(
        "--report under a file",
        lambda w: [*_generic(w), "--report", str(w.tmp / "afile" / "r.json")],
        lambda w: f"--report {w.tmp / 'afile' / 'r.json'}: {w.tmp / 'afile'} is not a directory",
        setup=_write("afile", "x"),
    ),
    Case(
        "domain name invalid",
        lambda w: [str(w.project), "--domain", "My_Domain", "--repository", "r1"],
        lambda w: "domain 'My_Domain': not a valid CodeArtifact domain name",
    ),
    Case("repository missing", lambda w: [str(w.project), "--domain", "my-domain"], lambda w: "missing --repository"),
    Case(
        "token duration out of range",
        lambda w: [str(w.project), "--domain", "d1", "--repository", "r1", "--token-duration", "60"],
        lambda w: "token duration 60: must be 0 (the session's lifetime) or 900..43200 seconds",
    ),
    Case(
        "CA_SKIP_EXISTING not a boolean",
        _generic,
        lambda w: "environment variable CA_SKIP_EXISTING: expected true or false, got 'maybe'",
        env={"CA_SKIP_EXISTING": "maybe"},
    ),
    Case(
        "unknown flag",
        lambda w: [*_generic(w), "--skip-exisitng"],
        lambda w: "ca-publish: unrecognized arguments: --skip-exisitng",
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case, tmp_path, index, capsys, monkeypatch):
    for var in [v for v in os.environ if v.startswith(("CA_", "AWS_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("CA_INDEX_USERNAME", "ci")
    monkeypatch.setenv("CA_INDEX_PASSWORD", "index-password-for-test")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    project = tmp_path / "pkg"
    shutil.copytree(ROOT / "package_src", project, ignore=shutil.ignore_patterns("dist", "*.egg-info", "__pycache__"))
    where = Where(tmp_path, project, f"http://127.0.0.1:{index.server_address[1]}/")
    for key, value in (case.env or {}).items():
        monkeypatch.setenv(key, value.replace("{index}", where.url.removeprefix("http://")))
    case.setup(where, monkeypatch)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))

    code = publish.main(case.args(where))

    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("ERROR")]
    assert code == case.code and len(errors) == 1, err
    assert errors[0].startswith(f"ERROR: {case.message(where)}"), err
    assert "Traceback" not in err and PASSWORD not in err
    assert index.requests == [], "a bad input must be refused before any request to the index"
    after = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*") if not p.is_relative_to(tmp_path / "cache"))
    assert after == [p for p in before if not (tmp_path / p).is_relative_to(tmp_path / "cache")], (
        "something was written"
    )


@pytest.mark.parametrize("how", ["flag", "env"])
def test_a_password_in_the_url_is_never_printed_or_reported(how, tmp_path, index, capsys, monkeypatch):
    """-v output, the ERROR line and the report: the password appears in none of them, quoted or not."""
    for var in [v for v in os.environ if v.startswith(("CA_", "AWS_"))]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    secret = "p@ss:w/rd-9f3c"
    url = f"http://ci:{urllib.parse.quote(secret, safe='')}@127.0.0.1:{index.server_address[1]}/"
    report = tmp_path / "report.json"
    args = [str(ROOT / "package_src"), "-v", "--report", str(report)]
    if how == "flag":
        args += ["--repository-url", url]
    else:
        monkeypatch.setenv("CA_REPOSITORY_URL", url)
    assert publish.main(args) == 2
    out = capsys.readouterr()
    text = out.out + out.err + report.read_text()
    for form in (secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote(secret)):
        assert form not in text
    assert "ci:***@127.0.0.1" in out.err and "CA_INDEX_USERNAME and CA_INDEX_PASSWORD" in out.err
    assert json.loads(report.read_text())["status"] == "failed"
    assert index.requests == []
