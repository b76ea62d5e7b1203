"""Upload outcomes as a user sees them: exit code, one line, what went up, and no blind re-send.

A small index answers the POSTs as scripted and serves a PEP 691 simple page of what it stored, so the
ambiguity check (ask the index, compare sha256) runs for real.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import io
import json
import re
import tarfile
import threading
import time
from pathlib import Path

import pytest

from jenkins_codeartifact import indexhttp
from jenkins_codeartifact.dists import Dist
from jenkins_codeartifact.errors import OperationError, PreconditionError
from jenkins_codeartifact.index import Index
from jenkins_codeartifact.publish import upload

ROOT = Path(__file__).resolve().parents[2]


class Handler(http.server.BaseHTTPRequestHandler):
    def log_message(self, *args):
        pass

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        name = re.search(rb'filename="([^"]+)"', body).group(1).decode()
        digest = re.search(rb'name="sha256_digest"\r\n\r\n([0-9a-f]{64})', body).group(1).decode()
        self.server.posts.append(name)
        status, lands, delay = self.server.answers.pop(0)
        if lands:
            self.server.stored[name] = digest
        if delay:
            time.sleep(delay)
        self._answer(status, b"Conflict: already exists" if status == 409 else b"ok")

    def do_GET(self):
        blob = self.server.blobs.get(self.path.rsplit("/", 1)[-1])
        if blob is not None:
            return self._answer(200, blob, "application/octet-stream")
        files = [{"filename": n, "url": n, "hashes": {"sha256": h}} for n, h in self.server.stored.items()]
        data = json.dumps({"meta": {"api-version": "1.0"}, "files": files}).encode()
        self._answer(200, data, "application/vnd.pypi.simple.v1+json")

    def _answer(self, status, data, ctype="text/plain"):
        try:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
        except OSError:
            pass  # the client gave up waiting (read timeout)


@pytest.fixture
def server():
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    srv.daemon_threads = True
    srv.answers, srv.stored, srv.posts, srv.blobs = [], {}, [], {}
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="module")
def dists(tmp_path_factory):
    from jenkins_codeartifact.cli import publish

    out = tmp_path_factory.mktemp("dists")
    assert publish.main([str(ROOT / "package_src"), "--dry-run", "--dist-dir", str(out)]) == 0
    return [Dist.of(p) for p in sorted(out.iterdir())]


def index(srv):
    url = f"http://127.0.0.1:{srv.server_address[1]}/"
    return Index(upload_url=url, simple_url=url + "simple/", username="aws", password="pw-for-test", description=url)


def send(srv, dists):
    return upload.upload(index(srv), dists, "fantastic-ascii", "1.0.0")


def test_all_uploaded(server, dists):
    server.answers = [(200, True, 0), (200, True, 0)]
    assert send(server, dists) == dists
    assert sorted(server.posts) == sorted(d.path.name for d in dists)


def test_401_is_a_refusal_with_a_hint(server, dists):
    server.answers = [(401, False, 0)]
    with pytest.raises(OperationError, match=r"refused \(HTTP 401\)") as err:
        send(server, dists[:1])
    assert "expired" in (err.value.hint or "")
    assert len(server.posts) == 1


def test_503_that_did_not_land_is_sent_exactly_once_more(server, dists):
    server.answers = [(503, False, 0), (200, True, 0)]
    assert send(server, dists[:1]) == dists[:1]
    assert server.posts == [dists[0].path.name] * 2


def test_503_that_did_land_is_not_sent_again(server, dists):
    server.answers = [(503, True, 0)]
    assert send(server, dists[:1]) == dists[:1]
    assert server.posts == [dists[0].path.name]


def test_5xx_twice_fails_naming_the_real_cause(server, dists):
    server.answers = [(500, False, 0), (502, False, 0)]
    with pytest.raises(OperationError) as err:
        send(server, dists[:1])
    assert err.value.message.startswith("index unreachable / HTTP 502 while uploading fantastic_ascii-1.0.0")
    assert "publish it first" not in err.value.message
    assert len(server.posts) == 2


def test_no_answer_after_the_body_is_settled_by_the_hash(server, dists, monkeypatch):
    """The index stored the file but never answered: a read timeout, then the sha256 says it landed."""
    monkeypatch.setattr(indexhttp, "POLICY", dataclasses.replace(indexhttp.POLICY, read=0.5))
    server.answers = [(200, True, 3)]
    started = time.monotonic()
    assert send(server, dists[:1]) == dists[:1]
    assert time.monotonic() - started < 2.5
    assert len(server.posts) == 1


def test_409_with_the_same_bytes_counts_as_uploaded(server, dists):
    server.stored[dists[0].path.name] = dists[0].sha256
    server.answers = [(409, False, 0)]
    assert send(server, dists[:1]) == dists[:1]


def test_409_with_other_bytes_is_exit_3_naming_the_file(server, dists):
    server.stored[dists[0].path.name] = hashlib.sha256(b"other bytes").hexdigest()
    server.answers = [(409, False, 0)]
    with pytest.raises(PreconditionError, match=rf"{re.escape(dists[0].path.name)} is already there with other bytes"):
        send(server, dists[:1])


def _repacked(sdist: Path, change: bytes | None = None) -> bytes:
    """The sdist packed again an hour later (other tar and gzip times), its PKG-INFO optionally changed."""
    out = io.BytesIO()
    with tarfile.open(sdist, "r:gz") as src, tarfile.open(fileobj=out, mode="w:gz") as dst:
        for member in src.getmembers():
            data = src.extractfile(member).read() if member.isfile() else None
            if change is not None and member.name.endswith("/PKG-INFO"):
                data += change
                member.size = len(data)
            member.mtime += 3600
            dst.addfile(member, io.BytesIO(data) if data is not None else None)
    return out.getvalue()


def test_a_rebuilt_sdist_with_the_same_contents_counts_as_uploaded(server, dists, caplog):
    """An unbumped rebuild (the producer job without a version bump) is the same release, not a conflict."""
    sdist = next(d for d in dists if d.path.name.endswith(".tar.gz"))
    theirs = _repacked(sdist.path)
    assert hashlib.sha256(theirs).hexdigest() != sdist.sha256
    server.stored[sdist.path.name], server.blobs[sdist.path.name] = hashlib.sha256(theirs).hexdigest(), theirs
    server.answers = [(409, False, 0)]
    with caplog.at_level("INFO"):
        assert send(server, [sdist]) == [sdist]
    assert "holds the same contents" in caplog.text
    assert server.posts == [sdist.path.name]


def test_a_file_with_other_contents_under_the_same_name_is_exit_3(server, dists):
    sdist = next(d for d in dists if d.path.name.endswith(".tar.gz"))
    theirs = _repacked(sdist.path, change=b"Keywords: tampered\n")
    server.stored[sdist.path.name], server.blobs[sdist.path.name] = hashlib.sha256(theirs).hexdigest(), theirs
    server.answers = [(409, False, 0)]
    with pytest.raises(PreconditionError, match=rf"{re.escape(sdist.path.name)} is already there with other bytes"):
        send(server, [sdist])


def test_409_without_a_listing_is_already_exists_exit_3(server, dists):
    server.answers = [(409, False, 0)]
    with pytest.raises(PreconditionError, match=r"fantastic_ascii-1.0.0.* already exists") as err:
        send(server, dists[:1])
    assert err.value.exit_code == 3


def test_a_partial_release_says_what_went_up_and_how_to_finish(server, dists):
    server.answers = [(200, True, 0), (400, False, 0)]
    with pytest.raises(OperationError) as err:
        upload.upload(index(server), dists, "fantastic-ascii", "1.0.0")
    message = err.value.message
    (went_up,) = [d.path.name for d in dists if d.path.name in server.stored]
    assert f"already uploaded: {went_up}" in message and "--skip-existing" in message
