"""An in-process Jenkins that answers what python-jenkins (and JJB) send, for tests and the benchmark.

Faithful where it matters to a sync tool: basic auth (401 bad credentials, 403 anonymous), CSRF crumbs
(a POST without the crumb is 403), ``api/json`` with ``tree=`` over nested folders, config.xml GET/POST
(stored back the way Jenkins writes it: XML 1.1 prologue, ``plugin="x@ver"`` attributes), ``createItem``
(400 on a duplicate, 404 when the folder is missing), ``doDelete`` (302 to the parent, like Jenkins),
``build`` (201 with a queue Location), and the ``X-Jenkins`` header on every answer. Every request is
counted. Faults can be injected per item to simulate a Jenkins 500 on one job of many.

Each response is written in one buffer with TCP_NODELAY: otherwise Nagle + delayed ACK costs ~40 ms per
request and the benchmark would measure the kernel, not the tools.
"""

from __future__ import annotations

import base64
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

VERSION = "2.462.3"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
ROOT_CLASSES = {
    "project": "hudson.model.FreeStyleProject",
    "flow-definition": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
    FOLDER: FOLDER,
}
# What Jenkins adds when it writes config.xml back: the plugin that owns each class.
PLUGINS = {
    "flow-definition": "workflow-job@1436.vfa_244484591f",
    FOLDER: "cloudbees-folder@6.951.v5f91d88d76b_b_",
    "hudson.plugins.git.GitSCM": "git@5.6.0",
    "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition": "workflow-cps@3996.va_f5c1799f978",
    "org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper": "credentials-binding@681.vf91669a_32e45",
    "hudson.plugins.timestamper.TimestamperBuildWrapper": "timestamper@1.27",
}
NAME_BAD = set("?*/\\%!@#$^&|<>[]:;")


@dataclass
class Item:
    cls: str
    xml: str
    description: str


def _tree_spec(text: str) -> dict[str, Any]:
    """``jobs[name,jobs[name]]`` -> {"jobs": {"name": {}, "jobs": {"name": {}}}}."""
    pos = 0

    def parse() -> dict[str, Any]:
        nonlocal pos
        out: dict[str, Any] = {}
        while pos < len(text):
            m = re.match(r"[A-Za-z_]+", text[pos:])
            if not m:
                raise ValueError(f"bad tree at {pos}: {text!r}")
            key = m.group(0)
            pos += len(key)
            sub: dict[str, Any] = {}
            if pos < len(text) and text[pos] == "[":
                pos += 1
                sub = parse()
                pos += 1  # ]
            if pos < len(text) and text[pos] == "{":  # range like {0,10}: ignored
                pos = text.index("}", pos) + 1
            out[key] = sub
            if pos < len(text) and text[pos] == ",":
                pos += 1
                continue
            break
        return out

    return parse()


def _filter(obj: Any, spec: dict[str, Any] | None) -> Any:
    if spec is None:
        return obj
    if isinstance(obj, list):
        return [_filter(o, spec) for o in obj]
    if not isinstance(obj, dict):
        return obj
    out = {"_class": obj["_class"]} if "_class" in obj else {}
    for key, sub in spec.items():
        if key in obj:
            out[key] = _filter(obj[key], sub or None)
    return out


class FakeJenkins:
    """Start with ``with FakeJenkins() as j:``; ``j.url``, ``j.user``, ``j.token``, ``j.requests``."""

    def __init__(
        self,
        user: str = "admin",
        token: str = "11d5e2f7a9c4b3e8d1f0a6b7c2e9d4f5",
        anonymous_read: bool = False,
        csrf: bool = True,
        delay: float = 0.0,
    ) -> None:
        self.user, self.token = user, token
        self.anonymous_read, self.csrf = anonymous_read, csrf
        self.crumb = secrets.token_hex(16)
        self.items: dict[str, Item] = {}
        self.faults: dict[str, int] = {}  # item name -> HTTP status for every write on it
        self.lock = threading.RLock()
        self.counts: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self.queue = 0
        self.delay = delay  # seconds per request, to make parallelism observable
        self.inflight = self.max_inflight = 0
        fake = self

        class Handler(_Handler):
            jenkins = fake

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def __enter__(self) -> FakeJenkins:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self._thread.join()

    # ---------------------------------------------------------------- helpers for tests
    @property
    def requests(self) -> int:
        return sum(self.counts.values())

    def reset_counts(self) -> None:
        with self.lock:
            self.counts.clear()
            self.log.clear()

    def put(self, name: str, xml: str, verbatim: bool = False) -> None:
        """Create or replace an item directly (as if someone did it in the UI).

        ``verbatim`` stores ``xml`` byte for byte, as Jenkins holds a file its own XStream wrote: for
        config.xml texts that already look like a Jenkins save (tests/golden/saved).
        """
        with self.lock:
            self.items[name] = self._item(xml, verbatim)

    def config(self, name: str) -> str:
        return self.items[name].xml

    def writes(self) -> list[tuple[str, str, int]]:
        return [entry for entry in self.log if entry[0] == "POST"]

    # ---------------------------------------------------------------- model
    @staticmethod
    def _item(xml: str, verbatim: bool = False) -> Item:
        text = re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", xml)
        root = etree.fromstring(text.encode("utf-8"), etree.XMLParser(resolve_entities=False))
        if root.tag not in ROOT_CLASSES:
            raise ValueError(f"unknown item type {root.tag}")
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            owner = PLUGINS.get(el.get("class", "")) or PLUGINS.get(el.tag)
            if owner:
                el.set("plugin", owner)
        description = root.findtext("description") or ""
        if verbatim:
            return Item(ROOT_CLASSES[root.tag], xml, description)
        stored = "<?xml version='1.1' encoding='UTF-8'?>\n" + etree.tostring(root, encoding="unicode")
        return Item(ROOT_CLASSES[root.tag], stored, description)

    def _json(self, name: str, depth: int = 0) -> dict[str, Any]:
        item = self.items[name]
        short = name.rpartition("/")[2]
        out: dict[str, Any] = {
            "_class": item.cls,
            "name": short,
            "fullName": name,
            "url": self.url + "".join(f"job/{urllib.parse.quote(p)}/" for p in name.split("/")),
            "description": item.description or None,
            "displayName": short,
        }
        if item.cls == FOLDER:
            out["jobs"] = [self._json(child, depth + 1) for child in self._children(name)]
        else:
            out["color"] = "notbuilt"
            out["buildable"] = True
        return out

    def _children(self, folder: str) -> list[str]:
        prefix = folder + "/" if folder else ""
        return sorted(n for n in self.items if n.startswith(prefix) and "/" not in n[len(prefix) :])


class _Handler(BaseHTTPRequestHandler):
    jenkins: FakeJenkins
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    # ---------------------------------------------------------------- plumbing
    def _send(
        self,
        status: int,
        body: bytes | str = b"",
        ctype: str = "text/plain;charset=utf-8",
        headers: dict[str, str] | None = None,
    ) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        reason = self.responses.get(status, ("",))[0]
        lines = [
            f"HTTP/1.1 {status} {reason}",
            f"X-Jenkins: {VERSION}",
            f"Content-Type: {ctype}",
            f"Content-Length: {len(data)}",
        ]
        lines += [f"{k}: {v}" for k, v in (headers or {}).items()]
        with self.jenkins.lock:  # logged before answering: a test reading the log right after must see it
            self.jenkins.log.append((self.command, self.path, status))
        self.wfile.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + data)

    def _json(self, data: Any) -> None:
        self._send(200, json.dumps(data), "application/json;charset=utf-8")

    def _auth(self) -> bool:
        header = self.headers.get("Authorization")
        if header is None:
            if self.jenkins.anonymous_read and self.command == "GET":
                return True
            self._send(403, "Authentication required")
            return False
        try:
            kind, value = header.split(" ", 1)
            user, _, token = base64.b64decode(value).decode("utf-8").partition(":")
        except ValueError:
            user, token, kind = "", "", ""
        if kind != "Basic" or user != self.jenkins.user or token != self.jenkins.token:
            self._send(401, "Invalid password/token for user")
            return False
        return True

    def _route(self) -> tuple[str, str, dict[str, list[str]]]:
        """Split ``/job/a/job/b/rest?q`` into item name ``a/b``, rest, query."""
        parsed = urllib.parse.urlsplit(self.path)
        parts = [urllib.parse.unquote(p) for p in parsed.path.split("/") if p]
        names = []
        while len(parts) >= 2 and parts[0] == "job":
            names.append(parts[1])
            parts = parts[2:]
        return "/".join(names), "/".join(parts), urllib.parse.parse_qs(parsed.query)

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length else b""

    # ---------------------------------------------------------------- verbs
    def _enter(self) -> None:
        j = self.jenkins
        with j.lock:
            j.counts[self.command] += 1
            j.inflight += 1
            j.max_inflight = max(j.max_inflight, j.inflight)
        if j.delay:
            time.sleep(j.delay)

    def _leave(self) -> None:
        with self.jenkins.lock:
            self.jenkins.inflight -= 1

    def do_GET(self) -> None:
        self._enter()
        try:
            self._get()
        finally:
            self._leave()

    def do_POST(self) -> None:
        self._enter()
        try:
            self._post()
        finally:
            self._leave()

    def _get(self) -> None:
        j = self.jenkins
        if not self._auth():
            return
        name, rest, query = self._route()
        with j.lock:
            if name and name not in j.items:
                return self._send(404, "Not found")
            if rest == "crumbIssuer/api/json" and not name:
                if not j.csrf:
                    return self._send(404, "Not found")
                return self._json(
                    {
                        "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                        "crumb": j.crumb,
                        "crumbRequestField": "Jenkins-Crumb",
                    }
                )
            if rest == "api/json":
                spec = _tree_spec(query["tree"][0]) if "tree" in query else None
                if name:
                    data = j._json(name)
                else:
                    data = {
                        "_class": "hudson.model.Hudson",
                        "mode": "NORMAL",
                        "nodeDescription": "fake",
                        "useCrumbs": j.csrf,
                        "url": j.url,
                        "jobs": [j._json(n) for n in j._children("")],
                    }
                return self._json(_filter(data, spec))
            if rest == "config.xml" and name:
                return self._send(200, j.items[name].xml, "application/xml;charset=utf-8")
            if rest == "" or rest == "me/api/json":
                return self._send(200, "<html><body>Jenkins</body></html>", "text/html;charset=utf-8")
        self._send(404, "Not found")

    def _post(self) -> None:
        j = self.jenkins
        body = self._body()
        if not self._auth():
            return
        if j.csrf and self.headers.get("Jenkins-Crumb") != j.crumb:
            return self._send(403, "No valid crumb was included in the request")
        name, rest, query = self._route()
        with j.lock:
            if name and name not in j.items:
                return self._send(404, "Not found")
            if rest == "createItem":
                return self._create(name, query, body)
            target = name
            if target in j.faults:
                return self._send(j.faults[target], "java.lang.RuntimeException: injected fault")
            if rest == "config.xml":
                try:
                    new = j._item(body.decode("utf-8"))
                except (ValueError, etree.XMLSyntaxError) as exc:
                    return self._send(500, f"java.io.IOException: Failed to persist config.xml: {exc}")
                if new.cls != j.items[name].cls:
                    return self._send(500, f"java.io.IOException: Expecting {j.items[name].cls} but got {new.cls}")
                j.items[name] = new
                return self._send(200)
            if rest == "doDelete":
                for n in [n for n in j.items if n == name or n.startswith(name + "/")]:
                    del j.items[n]
                parent = name.rpartition("/")[0]
                location = j.url + "".join(f"job/{urllib.parse.quote(p)}/" for p in parent.split("/") if p)
                return self._send(302, headers={"Location": location})
            if rest in ("build", "buildWithParameters"):
                j.queue += 1
                return self._send(201, headers={"Location": f"{j.url}queue/item/{j.queue}/"})
        self._send(404, "Not found")

    def _create(self, folder: str, query: dict[str, list[str]], body: bytes) -> None:
        j = self.jenkins
        short = query.get("name", [""])[0]
        if folder and j.items[folder].cls != FOLDER:
            return self._send(404, "Not found")
        full = f"{folder}/{short}" if folder else short
        if full in j.faults:
            return self._send(j.faults[full], "java.lang.RuntimeException: injected fault")
        if not short or short in (".", "..") or set(short) & NAME_BAD:
            return self._send(400, f"'{short}' is an unsafe name")
        if full in j.items:
            return self._send(400, f"A job already exists with the name '{short}'")
        form = {}
        if "form-urlencoded" in (self.headers.get("Content-Type") or ""):  # the "New Item" page, create_folder
            form = urllib.parse.parse_qs(body.decode("utf-8"))
        mode = (form.get("mode") or query.get("mode") or [""])[0]
        if mode == FOLDER:
            j.items[full] = j._item(f"<{FOLDER}><description/></{FOLDER}>")
            return self._send(302, headers={"Location": j.url})
        try:
            j.items[full] = j._item(body.decode("utf-8"))
        except (ValueError, etree.XMLSyntaxError) as exc:
            return self._send(400, f"Failed to parse config.xml: {exc}")
        self._send(200)
