"""Upload failures as a user sees them: exit code, one line, and what already went up."""

from __future__ import annotations

import http.server
import threading

import pytest

from jenkins_codeartifact.errors import OperationError, PreconditionError
from jenkins_codeartifact.index import Index
from jenkins_codeartifact.publish import upload


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        status = self.server.answers.pop(0)
        body = b"Conflict: already exists" if status == 409 else b"ok"
        self.send_response(status)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def dists(tmp_path):
    from jenkins_codeartifact.cli import publish

    root = __import__("pathlib").Path(__file__).resolve().parents[2]
    assert publish.main([str(root / "package_src"), "--dry-run", "--dist-dir", str(tmp_path)]) == 0
    return sorted(tmp_path.iterdir())


def index(srv):
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    return Index(upload_url=url, simple_url=url + "simple/", username="aws", password="pw-for-test", description=url)


def test_409_is_already_published_exit_3(server, dists):
    server.answers = [409]
    with pytest.raises(PreconditionError, match=r"fantastic_ascii-1.0.0.* already exists") as err:
        upload.upload(index(server), dists[:1])
    assert err.value.exit_code == 3


def test_401_is_a_refusal_with_a_hint(server, dists):
    server.answers = [401]
    with pytest.raises(OperationError, match=r"refused \(HTTP 401\)") as err:
        upload.upload(index(server), dists[:1])
    assert "expired" in (err.value.hint or "")


def test_a_partial_release_says_what_went_up_and_how_to_finish(server, dists, monkeypatch):
    server.answers = [200, 500]
    monkeypatch.setattr(
        upload, "ThreadPoolExecutor", lambda *a, **k: __import__("concurrent.futures").futures.ThreadPoolExecutor(1)
    )
    with pytest.raises(OperationError) as err:
        upload.upload(index(server), dists)
    assert f"already uploaded: {dists[0].name}" in err.value.message
    assert "--skip-existing" in err.value.message


def test_all_uploaded(server, dists):
    server.answers = [200, 200]
    assert upload.upload(index(server), dists) == dists
