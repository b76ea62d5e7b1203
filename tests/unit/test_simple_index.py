"""Generic-index existence check through the simple API: PEP 691 JSON, PEP 503 HTML, auth, outages."""

from __future__ import annotations

import http.server
import json
import threading

import pytest

from jenkins_codeartifact.errors import OperationError
from jenkins_codeartifact.index import Index

FILES = [
    "fantastic_ascii-1.0.0.tar.gz",
    "fantastic_ascii-1.0.0-py3-none-any.whl",
    "fantastic_ascii-1.1.0.tar.gz",
    "other_pkg-1.0.0.tar.gz",
]


class Handler(http.server.BaseHTTPRequestHandler):
    mode = "json"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if self.headers.get("Authorization") is None and self.server.require_auth:
            self.send_response(401)
            self.end_headers()
            return
        if self.path != "/simple/fantastic-ascii/":
            self.send_response(404)
            self.end_headers()
            return
        if self.server.mode == "json":
            body = json.dumps(
                {
                    "meta": {"api-version": "1.0"},
                    "name": "fantastic-ascii",
                    "files": [{"filename": f, "url": f"../../f/{f}", "hashes": {}} for f in FILES],
                }
            )
            ctype = "application/vnd.pypi.simple.v1+json"
        else:
            body = (
                "<html><body>" + "".join(f'<a href="../../f/{f}#sha256=00">{f}</a>' for f in FILES) + "</body></html>"
            )
            ctype = "text/html"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


@pytest.fixture(params=["json", "html"])
def server(request):
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.mode, srv.require_auth = request.param, False
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def index_for(srv, password=None):
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    return Index(
        upload_url=url,
        simple_url=url + "simple/",
        username="u" if password else None,
        password=password,
        description=url,
    )


def test_existing_version_lists_only_its_files(server):
    assert index_for(server).version_files("Fantastic.ASCII", "1.0.0") == set(FILES[:2])
    assert index_for(server).version_files("fantastic-ascii", "1.1") == {"fantastic_ascii-1.1.0.tar.gz"}


def test_absent_version_and_absent_project(server):
    assert index_for(server).version_files("fantastic-ascii", "2.0.0") is None
    assert index_for(server).version_files("nothing-here", "1.0.0") is None


def test_refused_credentials_are_a_clear_error(server):
    server.require_auth = True
    with pytest.raises(OperationError, match=r"refused the credentials \(HTTP 401\)"):
        index_for(server).version_files("fantastic-ascii", "1.0.0")


def test_index_down():
    index = Index(upload_url="http://127.0.0.1:9/", simple_url="http://127.0.0.1:9/simple/", description="x")
    with pytest.raises(OperationError, match="unreachable"):
        index.version_files("fantastic-ascii", "1.0.0")
