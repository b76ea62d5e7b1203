"""Local target update: seconds of failed answers while a slow-starting app is replaced, against stop-then-start.

Usage: ``python benchmarks/local_update.py [--start-delay 5] [--repeat 3]``

Brings up a private sandbox with a Docker engine and a registry, builds two small images from the
sandbox's base image whose application sleeps ``--start-delay`` seconds before it listens on
``$HOST:$PORT`` (imports, migrations, a cache warmed), and pushes them. Then, ``--repeat`` rounds, each
while a client GETs the page every 50 ms with a new connection:

* reference: the update one writes by hand (and this target did before its proxy): remove the running
  container, run the new one on the same port;
* ours: ``deploy --target local`` of the other image (candidate on a spare port, proxy switched).

Prints the seconds of failed answers of each (median of the rounds) and the ratio; target <= 1 s.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path

import docker
import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import sandbox
from jenkins_codeartifact.consume import containers, local_target
from jenkins_codeartifact.consume import registry as registries

APP = textwrap.dedent(
    """
    import http.server, os, time
    time.sleep(float(os.environ["START_DELAY"]))
    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            body = os.environ["VERSION"].encode()
            self.send_response(200); self.send_header("Content-Length", str(len(body))); self.end_headers()
            self.wfile.write(body)
        def log_message(self, *a): pass
    http.server.ThreadingHTTPServer((os.environ.get("HOST", "0.0.0.0"), int(os.environ["PORT"])), H).serve_forever()
    """
)


def build_images(client: docker.DockerClient, base: str, delay: float, registry: registries.Registry) -> list[str]:
    """Two images of the slow app (versions 1 and 2), pushed; their registry references."""
    refs = []
    with tempfile.TemporaryDirectory(prefix="ca-bench-app-") as tmp:
        (Path(tmp) / "app.py").write_text(APP)
        for version in ("1", "2"):
            (Path(tmp) / "Dockerfile").write_text(
                f"FROM {base}\nCOPY app.py /app.py\nENV VERSION={version} START_DELAY={delay:g}\n"
                'CMD ["python3", "/app.py"]\n'
            )
            client.images.build(path=tmp, tag=f"slowapp:{version}", rm=True)
            registries.push(client, f"slowapp:{version}", registry, "slowapp", version, attempts=2)
            refs.append(registry.reference("slowapp", version))
    return refs


def failed_seconds(port: int, update: Callable[[], object]) -> tuple[float, float]:
    """Run ``update`` while GETting 127.0.0.1:``port`` every 50 ms: (seconds of failed answers, its duration)."""
    answers: list[tuple[float, bool]] = []
    stop = threading.Event()

    def poll() -> None:
        with requests.Session() as session:
            session.trust_env = False
            while not stop.is_set():
                try:
                    ok = session.get(f"http://127.0.0.1:{port}/", timeout=1, headers={"Connection": "close"}).ok
                except requests.RequestException:
                    ok = False
                answers.append((time.monotonic(), ok))
                time.sleep(0.05)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    started = time.monotonic()
    update()
    took = time.monotonic() - started
    time.sleep(0.5)
    stop.set()
    poller.join(5)
    failed, since = 0.0, None
    for at, ok in answers:
        if not ok and since is None:
            since = at
        elif ok and since is not None:
            failed, since = failed + at - since, None
    if since is not None:
        failed += answers[-1][0] - since
    return failed, took


def reference_round(client: docker.DockerClient, refs: list[str], port: int, name: str, i: int) -> float:
    """Stop-then-start on the real port (the previous container of the same name goes first)."""

    def replace() -> None:
        containers.remove_named(client, name)
        live = containers.start(client, refs[i % 2], name=name, network="host", container_port=8080, host_port=port)
        containers.wait_healthy(live.base_url + "/", 60)

    return failed_seconds(port, replace)[0]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--start-delay", type=float, default=5.0, help="seconds the app sleeps before it listens")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    with sandbox(docker=True) as env, tempfile.TemporaryDirectory(prefix="ca-bench-state-") as state_dir:
        client = docker.DockerClient(base_url=env["DOCKER_HOST"])
        registry = registries.registry_from_url(env["CA_REGISTRY"])
        refs = build_images(client, env["CA_BASE_IMAGE"], args.start_delay, registry)
        ref_port, our_port = containers.free_port(), containers.free_port()
        name = "ca-bench-local"
        target = local_target.LocalTarget(name, our_port, Path(state_dir) / f"{name}.json", path="/", timeout=60)
        try:
            for ref in refs:  # the first version of each runs before the timed updates, images pulled
                client.images.pull(ref.rsplit(":", 1)[0], tag=ref.rsplit(":", 1)[1])
            reference_round(client, refs, ref_port, "ca-bench-reference", 0)
            local_target.deploy_local(client, refs[0], target)
            ours, theirs = [], []
            for i in range(1, args.repeat + 1):
                theirs.append(reference_round(client, refs, ref_port, "ca-bench-reference", i))
                failed, took = failed_seconds(
                    our_port, lambda i=i: local_target.deploy_local(client, refs[i % 2], target)
                )
                ours.append(failed)
                print(f"round {i}: ours {failed:.2f}s failed during a {took:.1f}s update; reference {theirs[-1]:.2f}s")
        finally:
            local_target.teardown_local(client, name, target.state)
            containers.remove_named(client, "ca-bench-reference")
    o, r = statistics.median(ours), statistics.median(theirs)
    print(f"\nlocal target update of an app that starts in {args.start_delay:g}s (median of {args.repeat})")
    print(f"{'failed answers':28} {'ours':>10} {'reference':>10} {'ratio':>7}")
    verdict = "met" if o <= 1 else "MISSED"
    print(f"{'':28} {o:>9.2f}s {r:>9.2f}s {o / r if r else 0:>6.2f}x  (target: ours <= 1 s: {verdict})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
