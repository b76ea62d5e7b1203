"""An in-process Jenkins that answers what python-jenkins (and JJB) send, for tests and the benchmark.

Faithful where it matters to a sync tool (each behaviour after the Jenkins source named here):

- Auth: basic auth with the user's API token or password (401 on bad ones, 403 anonymous). A request
  authenticated with an API token needs no CSRF crumb (``jenkins.security.ApiCrumbExclusion``); any
  other POST needs the crumb issued to its session (``DefaultCrumbIssuer`` hashes user name and session
  id), else 403 "No valid crumb was included in the request" (``CrumbFilter``). ``rotate_crumbs()``
  invalidates every crumb and session, as a restart does.
- Errors: a ``Failure`` (bad name, duplicate, ...) is 400 with an ``X-Error`` header over an HTML page
  (``AbstractModelObject/error.jelly``); servlet errors (401, 403, 404) are container error pages; an
  exception (XML that does not parse) is 500 with the "Oops!" page (``jenkins/model/Jenkins/oops.jelly``).
- Items: names compare case-insensitively (``Jenkins.items`` and folders use a case-insensitive map);
  ``api/json`` with ``tree=`` over nested folders; ``createItem`` (400 on a duplicate, 404 when the
  folder is missing) reads the body as bytes (the XML prologue's encoding counts), a config.xml POST
  reads it with the request's charset (UTF-8 when none, ``CharacterEncodingFilter``); ``doDelete``
  (302 to the parent); ``build`` (201 with a queue Location); ``X-Jenkins`` on every answer.
- Since SECURITY-3744 (2.568 / 2.555.3, ``AbstractItem.updateByXml``/``writeConfigDotXml``) Jenkins
  unmarshals a POSTed config.xml and GET serialises the item afresh: whatever no installed plugin can
  bind is dropped and listed as unreadable data (``old_data``). Here: XML 1.1 prologue, XStream's
  escapes, ``plugin="x@ver"`` attributes, compatibility aliases written under their new class name,
  and elements of classes that are not installed (``installed``) dropped.

- Builds and item actions: jobs have builds (``add_build``; ``builds``, ``lastBuild``,
  ``nextBuildNumber`` and ``color`` in api/json, ``..._anime`` while one runs, ``disabled`` when
  disabled); every folder-like item (folders, multibranch projects: ``AbstractFolder``) exports ``jobs``.
  ``confirmRename?newName=`` (``AbstractItem.doConfirmRename``: a Failure for a bad or taken name, or
  while a build runs, ``Job.checkRename``; else 302 to the new URL, the item keeps its builds and
  numbers since its directory is renamed), ``move/move?destination=/FOLDER`` (cloudbees-folder's
  ``RelocationAction``), ``disable``/``enable`` (``ParameterizedJobMixIn``: saves ``<disabled>``), and
  ``createItem?mode=copy&from=`` (``ItemGroupMixIn.copy``: the config copied as is, description and
  marker included; no builds). A config.xml POST or a UI save keeps the builds.

- Triggered builds (``scripts``: a ``Script`` per job): ``build`` queues an item; ``queue/item/N/api/json``
  is a ``Queue$WaitingItem`` (``why``) until it leaves the queue, then a ``Queue$LeftItem`` with
  ``executable`` {number, url} or ``cancelled: true`` (``Queue.LeftItem``); ``job/X/N/api/json`` has
  ``building`` and ``result`` (``Run``); ``job/X/N/logText/progressiveText?start=B`` answers the console
  from byte B with ``X-Text-Size`` (the next start) and ``X-More-Data: true`` while the build runs
  (``LargeText.doProgressText``).

Every request is counted. Faults can be injected per item to simulate a Jenkins 500 on one job of many.

Each response is written in one buffer with TCP_NODELAY: otherwise Nagle + delayed ACK costs ~40 ms per
request and the benchmark would measure the kernel, not the tools.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import socket
import threading
import time
import urllib.parse
from collections import Counter
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from lxml import etree

VERSION = "2.555.3"
FOLDER = "com.cloudbees.hudson.plugins.folder.Folder"
MULTIBRANCH = "org.jenkinsci.plugins.workflow.multibranch.WorkflowMultiBranchProject"
ROOT_CLASSES = {
    "project": "hudson.model.FreeStyleProject",
    "flow-definition": "org.jenkinsci.plugins.workflow.job.WorkflowJob",
    FOLDER: FOLDER,
    MULTIBRANCH: MULTIBRANCH,
}
# Root elements of item types whose XML root is not their class (with ``every_plugin``; others are classes).
OTHER_ROOTS = {"matrix-project": "hudson.matrix.MatrixProject", "maven2-moduleset": "hudson.maven.MavenModuleSet"}
CONTAINERS = {
    FOLDER,
    MULTIBRANCH,
    "jenkins.branch.OrganizationFolder",
}  # AbstractFolder subclasses: they export ``jobs``
# The plugin (at the version of jenkins/plugins.txt) that owns each class Jenkins writes ``plugin=`` for.
PLUGINS = {
    "flow-definition": "workflow-job@1505.vea_4b_20a_4a_495",
    FOLDER: "cloudbees-folder@6.974.v0ee0b_e0b_0d1a_",
    "hudson.plugins.git.GitSCM": "git@5.7.0",
    "org.jenkinsci.plugins.workflow.cps.CpsScmFlowDefinition": "workflow-cps@4009.v0089238351a_9",
    "org.jenkinsci.plugins.workflow.job.properties.PipelineTriggersJobProperty": "workflow-job@1505.vea_4b_20a_4a_495",
    "org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper": "credentials-binding@687.v619cb_57e983f",
    "org.jenkinsci.plugins.credentialsbinding.impl.UsernamePasswordMultiBinding": (
        "credentials-binding@687.v619cb_57e983f"
    ),
    "hudson.plugins.timestamper.TimestamperBuildWrapper": "timestamper@1.29",
    "org.jenkinsci.plugins.docker.workflow.declarative.FolderConfig": "docker-workflow@621.va_73f881d9232",
    "org.jenkinsci.plugins.docker.commons.credentials.DockerRegistryEndpoint": "docker-commons@451.vd12c371eeeb_3",
}
# Classes core knows, and the plugins' helper classes that carry no plugin= attribute of their own.
CORE = {
    "hudson.model.FreeStyleProject",
    "hudson.model.AllView",
    "hudson.model.View$PropertyList",
    "hudson.scm.NullSCM",
    "hudson.tasks.Shell",
    "hudson.triggers.SCMTrigger",
    "hudson.views.DefaultViewsTabBar",
    "empty-list",
}
HELPERS = {
    "git": (
        "hudson.plugins.git.UserRemoteConfig",
        "hudson.plugins.git.BranchSpec",
        "hudson.plugins.git.extensions.impl.CleanBeforeCheckout",
        "hudson.plugins.git.extensions.impl.WipeWorkspace",
    ),
    "cloudbees-folder": (
        "com.cloudbees.hudson.plugins.folder.views.DefaultFolderViewHolder",
        "com.cloudbees.hudson.plugins.folder.icons.StockFolderIcon",
    ),
}
# XStream compatibility aliases: read under the old name, written under the new one (docker-workflow's
# FolderConfig.DescriptorImpl registers the pipeline-model-definition name it moved from).
ALIASES = {
    "org.jenkinsci.plugins.pipeline.modeldefinition.config.FolderConfig": (
        "org.jenkinsci.plugins.docker.workflow.declarative.FolderConfig"
    ),
}
ALL_PLUGINS = frozenset(v.partition("@")[0] for v in PLUGINS.values())
NAME_BAD = set("?*/\\%!@#$^&|<>[]:;")


def _bad_name(short: str) -> str | None:
    """Jenkins.checkGoodName's verdict on one name segment (its messages), or None when it is fine."""
    if not short.strip():
        return "No name is specified"
    if short in (".", "..") or set(short) & NAME_BAD:
        bad = next((c for c in short if c in NAME_BAD), short)
        return f"‘{bad}’ is an unsafe character"
    if short.endswith("."):
        return "A name cannot end with ‘.’"
    return None


@dataclass
class Build:
    number: int
    building: bool = False
    result: str | None = "SUCCESS"


@dataclass
class Script:
    """How the next triggered builds of a job run: ``queue_polls`` reads of the queue item before it
    leaves the queue (``cancel``: it is cancelled instead), then one console chunk per progressive read
    (the build runs as it is read) and ``result``; ``endless`` keeps it building after the last chunk."""

    chunks: tuple[str, ...] = ("Started by user admin\n", "Finished: SUCCESS\n")
    result: str = "SUCCESS"
    queue_polls: int = 1
    cancel: bool = False
    endless: bool = False


@dataclass
class Queued:
    id: int
    job: str
    script: Script = field(default_factory=Script)
    polls: int = 0
    number: int | None = None  # the build it became
    cancelled: bool = False


@dataclass
class Console:
    script: Script
    shown: int = 0  # chunks revealed so far

    def text(self) -> bytes:
        return "".join(self.script.chunks[: self.shown]).encode("utf-8")


@dataclass
class Item:
    cls: str
    xml: str
    description: str
    builds: list[Build] = field(default_factory=list)
    next_build: int = 1

    @property
    def disabled(self) -> bool:
        return re.search(r"<disabled>\s*true\s*</disabled>", self.xml) is not None

    @property
    def container(self) -> bool:
        return self.cls in CONTAINERS

    def color(self) -> str:
        if self.disabled:
            return "disabled"
        done = [b for b in self.builds if not b.building]
        base = "notbuilt" if not done else ("blue" if done[-1].result == "SUCCESS" else "red")
        return base + "_anime" if any(b.building for b in self.builds) else base


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


def _escape(text: str, attribute: bool = False) -> str:
    """XStream's PrettyPrintWriter escapes: quotes as entities, a carriage return as ``&#xd;``."""
    out = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    out = out.replace('"', "&quot;").replace("'", "&apos;").replace("\r", "&#xd;")
    return out


def _xstream(el: etree._Element, indent: int = 0) -> str:
    """``el`` written the way XStream writes it: two-space indentation, ``<x/>`` for an empty element."""
    pad = "  " * indent
    attrs = "".join(f' {k}="{_escape(v, True)}"' for k, v in el.attrib.items())
    children = [c for c in el if isinstance(c.tag, str)]
    if children:
        inner = "".join(_xstream(c, indent + 1) for c in children)
        return f"{pad}<{el.tag}{attrs}>\n{inner}{pad}</{el.tag}>\n"
    if el.text:
        return f"{pad}<{el.tag}{attrs}>{_escape(el.text)}</{el.tag}>\n"
    return f"{pad}<{el.tag}{attrs}/>\n"


def _page(title: str, main: str, header: bool = True) -> str:
    """An HTML page shaped like Jenkins' layout: a header and navigation before the main panel."""
    nav = '<header id="page-header"><a href="/">Jenkins</a><a href="/login">log in</a></header>' if header else ""
    return (
        f"<!DOCTYPE html><html><head><title>{html.escape(title)}</title><script>var x = 1;</script></head>"
        f'<body>{nav}<div id="side-panel"><a href="/view/all/newJob">New Item</a></div>'
        f'<div id="main-panel">{main}</div></body></html>'
    )


class FakeJenkins:
    """Start with ``with FakeJenkins() as j:``; ``j.url``, ``j.user``, ``j.token``, ``j.requests``.

    ``token`` is the user's API token, ``password`` their password (both authenticate; only the token
    is exempt from CSRF crumbs). ``installed`` names the installed plugins (default: all of ``PLUGINS``).
    """

    def __init__(
        self,
        user: str = "admin",
        token: str = "11d5e2f7a9c4b3e8d1f0a6b7c2e9d4f5",
        anonymous_read: bool = False,
        csrf: bool = True,
        delay: float = 0.0,
        password: str = "correct-horse-battery",
        installed: frozenset[str] = ALL_PLUGINS,
        every_plugin: bool = False,
    ) -> None:
        self.every_plugin = every_plugin  # a Jenkins with every plugin: any class and item type binds
        self.user, self.token, self.password = user, token, password
        self.anonymous_read, self.csrf = anonymous_read, csrf
        self.installed = set(installed)
        self.salt = secrets.token_hex(16)
        self.sessions: set[str] = set()
        self.items: dict[str, Item] = {}
        self.old_data: list[tuple[str, str]] = []  # (item, class) Jenkins could not read: "unreadable data"
        self.faults: dict[str, int] = {}  # item name -> HTTP status for every write on it (400: a Failure)
        self.rotate_every: int | None = None  # rotate_crumbs() after every N-th accepted POST
        self.posts = 0
        self.csrf_broken = False  # refuse every crumb (a proxy that drops the session cookie)
        self.lock = threading.RLock()
        self.counts: Counter[str] = Counter()
        self.log: list[tuple[str, str, int]] = []
        self.queue = 0
        self.queued: dict[int, Queued] = {}  # queue item id -> what became of it (``script`` decides)
        self.scripts: dict[str, list[Script]] = {}  # job name -> how its next triggered builds run, in turn
        self.consoles: dict[tuple[str, int], Console] = {}
        self.delay = delay  # seconds per request, to make parallelism observable
        self.inflight = self.max_inflight = 0
        fake = self

        class Handler(_Handler):
            jenkins = fake

        class Server(ThreadingHTTPServer):
            # Jetty's backlog, not socketserver's 5 (over it, a client waits 1 s for the SYN to be resent)
            request_queue_size = 128

        self.httpd = Server(("127.0.0.1", 0), Handler)
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
            new = self._item(name, xml, verbatim)
            if name in self.items:  # a saved config keeps the job's builds
                new.builds, new.next_build = self.items[name].builds, self.items[name].next_build
            self.items[name] = new

    def config(self, name: str) -> str:
        return self.items[name].xml

    def add_build(self, name: str, building: bool = False, result: str = "SUCCESS") -> int:
        """Record a build of job ``name`` (running when ``building``); its number."""
        with self.lock:
            item = self.items[name]
            item.builds.append(Build(item.next_build, building, None if building else result))
            item.next_build += 1
            return item.next_build - 1

    def finish_builds(self, name: str) -> None:
        with self.lock:
            for b in self.items[name].builds:
                b.building, b.result = False, b.result or "SUCCESS"

    def script_for(self, name: str) -> Script:
        """The script of the next build of ``name``: the first of its list (the last one stays)."""
        scripts = self.scripts.get(name) or [Script()]
        return scripts.pop(0) if len(scripts) > 1 else scripts[0]

    def build_numbers(self, name: str) -> list[int]:
        return [b.number for b in self.items[name].builds]

    def writes(self) -> list[tuple[str, str, int]]:
        return [entry for entry in self.log if entry[0] == "POST"]

    def rotate_crumbs(self) -> None:
        """Invalidate every crumb and session, as a Jenkins restart does."""
        with self.lock:
            self.salt = secrets.token_hex(16)
            self.sessions.clear()

    def crumb_for(self, user: str, session: str) -> str:
        return hashlib.sha256(f"{user};{session};{self.salt}".encode()).hexdigest()

    def resolve(self, name: str) -> str | None:
        """The stored name of ``name`` compared case-insensitively, segment by segment (None: absent)."""
        found = ""
        for part in name.split("/"):
            prefix = found + "/" if found else ""
            match = next((n for n in self.items if n.lower() == (prefix + part).lower()), None)
            if match is None:
                return None
            found = match
        return found

    # ---------------------------------------------------------------- model
    def _item(self, name: str, xml: str | bytes, verbatim: bool = False) -> Item:
        """Unmarshal ``xml`` as XStream would, then serialise it afresh (what GET config.xml returns)."""
        parser = etree.XMLParser(resolve_entities=False, no_network=True)
        if isinstance(xml, bytes):
            root = etree.fromstring(xml, parser)
        else:
            root = etree.fromstring(re.sub(r"^\s*<\?xml[^>]*\?>\s*", "", xml).encode("utf-8"), parser)
        if root.tag not in ROOT_CLASSES and not self.every_plugin:
            raise ValueError(f"unknown item type {root.tag}")
        root_class = ROOT_CLASSES.get(root.tag) or OTHER_ROOTS.get(root.tag, root.tag)
        description = root.findtext("description") or ""
        if verbatim:
            assert isinstance(xml, str)
            return Item(root_class, xml, description)
        for el in list(root.iter()):
            if not isinstance(el.tag, str) or el is root:
                continue
            if el.tag in ALIASES:
                el.tag = ALIASES[el.tag]
            cls = el.get("class") or (el.tag if "." in el.tag else None)
            if cls is not None and not self._known(cls):
                self.old_data.append((name, cls))
                parent = el.getparent()
                if parent is not None:
                    parent.remove(el)
        for el in root.iter():
            if not isinstance(el.tag, str):
                continue
            owner = PLUGINS.get(el.get("class", "")) or PLUGINS.get(el.tag)
            if owner:
                el.set("plugin", owner)
        stored = "<?xml version='1.1' encoding='UTF-8'?>\n" + _xstream(root)
        return Item(root_class, stored, description)

    def _known(self, cls: str) -> bool:
        if cls in CORE or self.every_plugin:
            return True
        owner = PLUGINS.get(cls)
        if owner is not None:
            return owner.partition("@")[0] in self.installed
        return any(cls in classes and plugin in self.installed for plugin, classes in HELPERS.items())

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
        if item.container:
            out["jobs"] = [self._json(child, depth + 1) for child in self._children(name)]
        else:
            out["color"] = item.color()
            out["buildable"] = not item.disabled
            out["builds"] = [
                {"_class": "hudson.model.Run", "number": b.number, "building": b.building, "result": b.result}
                for b in reversed(item.builds)
            ]
            out["lastBuild"] = out["builds"][0] if item.builds else None
            out["nextBuildNumber"] = item.next_build
        return out

    def _children(self, folder: str) -> list[str]:
        prefix = folder + "/" if folder else ""
        return sorted(n for n in self.items if n.startswith(prefix) and "/" not in n[len(prefix) :])


def _run_class(job_class: str) -> str:
    """The build class of a job class (what a queue item's ``executable`` and a build's api/json name)."""
    if job_class == ROOT_CLASSES["flow-definition"]:
        return "org.jenkinsci.plugins.workflow.job.WorkflowRun"
    return "hudson.model.FreeStyleBuild"


class _Handler(BaseHTTPRequestHandler):
    jenkins: FakeJenkins
    protocol_version = "HTTP/1.1"
    via_token = False  # authenticated with an API token (exempt from crumbs)
    who = "anonymous"

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

    def _failure(self, message: str) -> None:
        """A ``hudson.model.Failure``: 400, the message in ``X-Error`` and in an HTML page."""
        main = f"<h1>Error</h1><p>{html.escape(message)}</p>"
        page = _page("Jenkins", main)
        self._send(400, page, "text/html;charset=utf-8", {"X-Error": message.encode("utf-8").decode("latin-1")})

    def _servlet_error(self, status: int, message: str) -> None:
        """``HttpServletResponse.sendError``: the container's error page, no ``X-Error``."""
        uri = html.escape(urllib.parse.urlsplit(self.path).path)
        page = (
            f"<html><head><title>Error {status} {html.escape(message)}</title></head><body>"
            f"<h2>HTTP ERROR {status} {html.escape(message)}</h2><table><tr><th>URI:</th><td>{uri}</td></tr>"
            f"<tr><th>STATUS:</th><td>{status}</td></tr><tr><th>MESSAGE:</th><td>{html.escape(message)}</td></tr>"
            "<tr><th>SERVLET:</th><td>Stapler</td></tr></table></body></html>"
        )
        self._send(status, page, "text/html;charset=iso-8859-1")

    def _oops(self, status: int = 500) -> None:
        """An uncaught exception: the "Oops!" page with a logging id (no stack trace by default)."""
        main = (
            '<h1><span>Oops!</span></h1><div id="error-description">'
            "<h2>A problem occurred while processing the request</h2>"
            f"<p>Logging ID={secrets.token_hex(8)}</p></div>"
        )
        self._send(status, _page("Jenkins", main), "text/html;charset=utf-8")

    def _fault(self, name: str) -> None:
        status = self.jenkins.faults[name]
        if status == 400:
            return self._failure(f"Injected failure for {name}")
        return self._oops(status)

    def _session(self) -> str | None:
        cookies = self.headers.get("Cookie") or ""
        for part in cookies.split(";"):
            key, _, value = part.strip().partition("=")
            if key == "JSESSIONID.fake" and value in self.jenkins.sessions:
                return value
        return None

    def _auth(self) -> bool:
        j = self.jenkins
        header = self.headers.get("Authorization")
        if header is None:
            if j.anonymous_read and self.command == "GET":
                return True
            self._servlet_error(403, "Authentication required")
            return False
        try:
            kind, value = header.split(" ", 1)
            user, _, secret = base64.b64decode(value).decode("utf-8").partition(":")
        except ValueError:
            user, secret, kind = "", "", ""
        if kind != "Basic" or user != j.user or secret not in (j.token, j.password):
            self._servlet_error(401, f"Invalid password/token for user: {user}")
            return False
        self.who, self.via_token = user, secret == j.token
        return True

    def _crumb_ok(self) -> bool:
        """``CrumbFilter``: API-token requests pass; others need the crumb issued to their session."""
        j = self.jenkins
        if not j.csrf or self.via_token:
            return True
        if j.csrf_broken:
            return False
        session = self._session()
        sent = self.headers.get("Jenkins-Crumb")
        return session is not None and sent == j.crumb_for(self.who, session)

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

    def _charset(self) -> str:
        """The request's charset; UTF-8 when none (Jenkins' CharacterEncodingFilter)."""
        m = re.search(r"charset=\"?([\w.:-]+)", self.headers.get("Content-Type") or "", re.I)
        return m.group(1) if m else "utf-8"

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
        asked, rest, query = self._route()
        with j.lock:
            name = j.resolve(asked) if asked else ""
            if name is None:
                return self._servlet_error(404, "Not Found")
            if rest == "crumbIssuer/api/json" and not name:
                if not j.csrf:
                    return self._servlet_error(404, "Not Found")
                session = self._session()
                headers = {}
                if session is None:
                    session = secrets.token_hex(12)
                    j.sessions.add(session)
                    headers["Set-Cookie"] = f"JSESSIONID.fake={session}; Path=/; HttpOnly"
                data = {
                    "_class": "hudson.security.csrf.DefaultCrumbIssuer",
                    "crumb": j.crumb_for(self.who, session),
                    "crumbRequestField": "Jenkins-Crumb",
                }
                return self._send(200, json.dumps(data), "application/json;charset=utf-8", headers)
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
            if not name and rest.startswith("queue/item/"):
                return self._queue_item(rest)
            if name and re.fullmatch(r"\d+/(api/json|logText/progressiveText)", rest):
                return self._run(name, rest, query)
            if rest == "" or rest == "me/api/json":
                return self._send(200, "<html><body>Jenkins</body></html>", "text/html;charset=utf-8")
        self._servlet_error(404, "Not Found")

    def _post(self) -> None:
        j = self.jenkins
        body = self._body()
        if not self._auth():
            return
        if not self._crumb_ok():
            return self._servlet_error(403, "No valid crumb was included in the request")
        with j.lock:
            j.posts += 1
            if j.rotate_every is not None and j.posts % j.rotate_every == 0:
                j.rotate_crumbs()  # this POST passed; the next one's crumb is stale
        asked, rest, query = self._route()
        with j.lock:
            name = j.resolve(asked) if asked else ""
            if name is None:
                return self._servlet_error(404, "Not Found")
            if rest == "createItem":
                return self._create(name, query, body)
            if name in j.faults:
                return self._fault(name)
            if rest == "config.xml":
                try:
                    new = j._item(name, body.decode(self._charset()))
                except (ValueError, LookupError, etree.XMLSyntaxError):  # IOException: Failed to process config.xml
                    return self._oops()
                if new.cls != j.items[name].cls:  # IOException: Expecting class X but got class Y instead
                    return self._oops()
                new.builds, new.next_build = j.items[name].builds, j.items[name].next_build  # config only
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
                j.queued[j.queue] = Queued(j.queue, name, j.script_for(name))
                return self._send(201, headers={"Location": f"{j.url}queue/item/{j.queue}/"})
            if rest == "confirmRename" and name:
                return self._rename(name, query.get("newName", [""])[0].strip())
            if rest == "move/move" and name:
                return self._move(name, query.get("destination", [""])[0])
            if rest in ("disable", "enable") and name and not j.items[name].container:
                item, flag = j.items[name], "true" if rest == "disable" else "false"
                setting, where = r"<disabled>[^<]*</disabled>", r"(</description>|<description/>)"
                if re.search(setting, item.xml):
                    item.xml = re.sub(setting, f"<disabled>{flag}</disabled>", item.xml, count=1)
                else:
                    item.xml = re.sub(where, rf"\1<disabled>{flag}</disabled>", item.xml, count=1)
                return self._send(302, headers={"Location": self._url(name)})
        self._servlet_error(404, "Not Found")

    def _queue_item(self, rest: str) -> None:
        """``Queue.Item`` api/json: a ``WaitingItem`` (``why``) until it leaves the queue, then a ``LeftItem``
        with ``executable`` (the build) or ``cancelled``. The fake decides when, per the job's ``Script``."""
        j = self.jenkins
        m = re.fullmatch(r"queue/item/(\d+)/api/json", rest)
        queued = j.queued.get(int(m.group(1))) if m else None
        if queued is None or j.resolve(queued.job) is None:
            return self._servlet_error(404, "Not Found")
        script = queued.script
        queued.polls += 1
        if queued.number is None and not queued.cancelled and queued.polls > script.queue_polls:
            queued.cancelled = script.cancel
            if not script.cancel:
                queued.number = j.add_build(queued.job, building=True)
                j.consoles[(queued.job, queued.number)] = Console(script)
        item = j.items[queued.job]
        short = queued.job.rpartition("/")[2]
        data: dict[str, Any] = {
            "id": queued.id,
            "task": {"_class": item.cls, "name": short, "url": self._url(queued.job), "color": item.color()},
            "url": f"queue/item/{queued.id}/",
            "blocked": False,
            "stuck": False,
        }
        if queued.number is None and not queued.cancelled:
            data.update({"_class": "hudson.model.Queue$WaitingItem", "buildable": False, "why": "In the quiet period"})
        else:
            executable = None
            if queued.number is not None:
                executable = {"_class": _run_class(item.cls), "number": queued.number, "url": self._run_url(queued)}
            data.update({"_class": "hudson.model.Queue$LeftItem", "cancelled": queued.cancelled})
            data["executable"] = executable
        self._json(data)

    def _run_url(self, queued: Queued) -> str:
        return f"{self._url(queued.job)}{queued.number}/"

    def _run(self, name: str, rest: str, query: dict[str, list[str]]) -> None:
        """A build's ``api/json`` (``building``, ``result``) and ``logText/progressiveText?start=N`` (the
        bytes from N, ``X-Text-Size`` the next offset, ``X-More-Data: true`` while the build runs)."""
        j = self.jenkins
        number, _, what = rest.partition("/")
        build = next((b for b in j.items[name].builds if b.number == int(number)), None)
        if build is None:
            return self._servlet_error(404, "Not Found")
        console = j.consoles.get((name, build.number))
        if what == "api/json":
            data = {
                "_class": _run_class(j.items[name].cls),
                "number": build.number,
                "id": str(build.number),
                "fullDisplayName": f"{name} #{build.number}",
                "url": f"{self._url(name)}{build.number}/",
                "building": build.building,
                "result": build.result,
            }
            spec = _tree_spec(query["tree"][0]) if "tree" in query else None
            return self._json(_filter(data, spec))
        if console is not None and console.shown < len(console.script.chunks):
            console.shown += 1
            if console.shown == len(console.script.chunks) and not console.script.endless:
                build.building, build.result = False, console.script.result
        text = console.text() if console is not None else b""
        start = int((query.get("start") or ["0"])[0])
        headers = {"X-Text-Size": str(len(text))}
        if build.building:
            headers["X-More-Data"] = "true"
        self._send(200, text[start:], "text/plain;charset=UTF-8", headers)

    def _url(self, name: str) -> str:
        return self.jenkins.url + "".join(f"job/{urllib.parse.quote(p)}/" for p in name.split("/") if p)

    def _relocate(self, old: str, new: str) -> None:
        """Move ``old`` and everything under it to ``new``; builds and numbers go along (the directory moves)."""
        j = self.jenkins
        for n in [n for n in j.items if n == old or n.startswith(old + "/")]:
            j.items[new + n[len(old) :]] = j.items.pop(n)

    def _rename(self, name: str, new_short: str) -> None:
        j = self.jenkins
        parent = name.rpartition("/")[0]
        new = f"{parent}/{new_short}" if parent else new_short
        problem = _bad_name(new_short)
        existing = j.resolve(new) if problem is None else None
        if existing is not None and existing != name:  # a case-only rename of the item itself is allowed
            problem = f"A job already exists with the name ‘{new_short}’"
        if problem is None and any(b.building for b in j.items[name].builds):
            problem = "Unable to rename a job while it is building."
        if problem is not None:
            return self._failure(problem)
        self._relocate(name, new)
        self._send(302, headers={"Location": self._url(new)})

    def _move(self, name: str, destination: str) -> None:
        j = self.jenkins
        folder = j.resolve(destination.strip("/")) if destination.strip("/") else ""
        if folder is None or (folder and j.items[folder].cls != FOLDER):
            return self._failure(f"No such destination: {destination}")
        short = name.rpartition("/")[2]
        new = f"{folder}/{short}" if folder else short
        if j.resolve(new) is not None:
            return self._failure(f"{short} already exists in {destination}")
        self._relocate(name, new)
        self._send(302, headers={"Location": self._url(new)})

    def _create(self, folder: str, query: dict[str, list[str]], body: bytes) -> None:
        j = self.jenkins
        short = query.get("name", [""])[0]
        if folder and j.items[folder].cls != FOLDER:
            return self._servlet_error(404, "Not Found")
        full = f"{folder}/{short}" if folder else short
        if full in j.faults:
            return self._fault(full)
        problem = _bad_name(short)
        if problem is not None:
            return self._failure(problem)
        if j.resolve(full) is not None:  # Messages.Hudson_JobAlreadyExists, compared case-insensitively
            return self._failure(f"A job already exists with the name ‘{short}’")
        form = {}
        if "form-urlencoded" in (self.headers.get("Content-Type") or ""):  # the "New Item" page, create_folder
            form = urllib.parse.parse_qs(body.decode("utf-8"))
        mode = (form.get("mode") or query.get("mode") or [""])[0]
        if mode == "copy":  # ItemGroupMixIn.copy: ``from`` is relative to this folder, or absolute with '/'
            source = (form.get("from") or query.get("from") or [""])[0]
            path = source.lstrip("/") if source.startswith("/") else (f"{folder}/{source}" if folder else source)
            found = j.resolve(path) if path else None
            if found is None:
                return self._failure(f"No such job: {source}")
            j.items[full] = Item(j.items[found].cls, j.items[found].xml, j.items[found].description)
            return self._send(302, headers={"Location": self._url(full)})
        if mode == FOLDER:
            j.items[full] = j._item(full, f"<{FOLDER}><description/></{FOLDER}>")
            return self._send(302, headers={"Location": j.url})
        try:  # createProjectFromXML reads the raw stream: the XML prologue's encoding decides
            j.items[full] = j._item(full, body)
        except (ValueError, etree.XMLSyntaxError):  # IOException: Failed to persist config.xml
            return self._oops()
        self._send(200)
