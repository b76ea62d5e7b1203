"""An in-process registry v2: manifests by tag and digest, blobs, the tag list, and injectable 503s.

Enough of the distribution API for what the toolkit reads and writes after a push: a manifest GET/HEAD
(with ``Docker-Content-Digest``), a manifest PUT (tagging), ``tags/list`` and blob GETs.
"""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

MANIFEST = "application/vnd.oci.image.manifest.v1+json"


@dataclass
class Store:
    manifests: dict[str, tuple[bytes, str]] = field(default_factory=dict)  # digest -> (body, media type)
    tags: dict[str, dict[str, str]] = field(default_factory=dict)  # repository -> tag -> digest
    blobs: dict[str, bytes] = field(default_factory=dict)
    fail_puts: int = 0  # the next N manifest PUTs answer 503
    fail_blob_reads_after: int | None = None  # blob GETs after this many answer 503 (a registry failing mid-copy)
    blob_reads: int = 0
    requests: list[str] = field(default_factory=list)

    def push(self, name: str, tag: str, labels: dict[str, str] | None = None, layer: str = "") -> str:
        """What ``docker push`` leaves: a config blob (with ``labels``), a manifest, the tag; its digest."""
        config = json.dumps({"architecture": "amd64", "config": {"Labels": labels or {}}, "layer": layer}).encode()
        config_digest = "sha256:" + hashlib.sha256(config).hexdigest()
        self.blobs[config_digest] = config
        body = json.dumps(
            {"schemaVersion": 2, "mediaType": MANIFEST, "config": {"digest": config_digest}, "layers": []}
        ).encode()
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        self.manifests[digest] = (body, MANIFEST)
        self.tags.setdefault(name, {})[tag] = digest
        return digest

    def expire(self, digest: str) -> None:
        """What a lifecycle rule does: the image and every tag of it are gone."""
        self.manifests.pop(digest, None)
        for tags in self.tags.values():
            for tag in [t for t, d in tags.items() if d == digest]:
                del tags[tag]


class _Handler(http.server.BaseHTTPRequestHandler):
    server: Any

    def log_message(self, *args: Any) -> None:
        pass

    def _route(self) -> tuple[str, str, str] | None:
        m = re.fullmatch(r"/v2/(.+)/(manifests|blobs|tags)/(.+)", self.path)
        return (m.group(1), m.group(2), m.group(3)) if m else None

    def _answer(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        store: Store = self.server.store
        store.requests.append(f"{self.command} {self.path}")
        route = self._route()
        if route is None:
            return self._answer(404)
        name, kind, ref = route
        if kind == "tags":
            return self._answer(200, json.dumps({"name": name, "tags": sorted(store.tags.get(name, {}))}).encode())
        if kind == "blobs":
            if self.command == "GET":
                store.blob_reads += 1
                if store.fail_blob_reads_after is not None and store.blob_reads > store.fail_blob_reads_after:
                    return self._answer(503)
            blob = store.blobs.get(ref)
            return self._answer(200, blob) if blob is not None else self._answer(404)
        digest = ref if ref.startswith("sha256:") else store.tags.get(name, {}).get(ref, "")
        if digest not in store.manifests:
            return self._answer(404)
        body, media = store.manifests[digest]
        return self._answer(200, body, {"Content-Type": media, "Docker-Content-Digest": digest})

    do_HEAD = do_GET

    def do_POST(self) -> None:
        store: Store = self.server.store
        store.requests.append(f"POST {self.path}")
        m = re.fullmatch(r"/v2/(.+)/blobs/uploads/", self.path)
        if m is None:
            return self._answer(404)
        return self._answer(202, b"", {"Location": f"/v2/{m.group(1)}/blobs/uploads/u{len(store.requests)}"})

    def _finish_upload(self, body: bytes) -> None:
        store: Store = self.server.store
        digest = self.path.split("digest=", 1)[-1]
        if "sha256:" + hashlib.sha256(body).hexdigest() != digest:
            return self._answer(400)  # DIGEST_INVALID
        store.blobs[digest] = body
        return self._answer(201, b"", {"Docker-Content-Digest": digest})

    def do_PUT(self) -> None:
        store: Store = self.server.store
        store.requests.append(f"PUT {self.path}")
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if "/blobs/uploads/" in self.path:
            return self._finish_upload(body)
        if store.fail_puts > 0:
            store.fail_puts -= 1
            return self._answer(503)
        route = self._route()
        if route is None or route[1] != "manifests":
            return self._answer(404)
        name, _, tag = route
        digest = "sha256:" + hashlib.sha256(body).hexdigest()
        store.manifests[digest] = (body, self.headers.get("Content-Type", MANIFEST))
        store.tags.setdefault(name, {})[tag] = digest
        return self._answer(201, b"", {"Docker-Content-Digest": digest})


@contextmanager
def serving() -> Iterator[tuple[str, Store]]:
    """A registry on 127.0.0.1 (``host:port``) and its store; stopped on the way out."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    server.store = Store()  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}", server.store  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)
