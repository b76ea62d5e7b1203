"""Image build: the walkthrough's Dockerfile against application_src's (uv) and Dockerfile.pip, one run.

Usage: ``python benchmarks/image.py`` brings up a private sandbox (index, Docker engine, base image,
registry) for the run and publishes package_src to it. With an environment already configured
(``. .sandbox/env.sh``) it uses that instead:

    python benchmarks/image.py [--repeat N] [--app application|catalog ...] [--docker-cli /usr/bin/docker]

Two apps: application_src (10 pinned distributions) and benchmarks/apps/catalog (55). Three
Dockerfiles on each, the same base image, index, BuildKit builder and files: the walkthrough's
(``COPY . /`` then ``pip install -r requirements.txt``, the token in a build arg), ours with uv
(application_src/Dockerfile) and ours with pip (Dockerfile.pip). Ours are built by the library, as
``ca-consume-deploy build`` builds them (the Dockerfile check, the index check, the registry cache).
Each round, per app and Dockerfile:

- cold: an empty engine (every image but the base removed, BuildKit's cache pruned), no registry cache;
- warm: one line of application.py changed, rebuilt on that engine;
- ephemeral: ours pushed with its inline cache (as ``push`` does), the engine emptied, one line
  changed, rebuilt with ``--cache-from`` (the walkthrough has no cache to use: its cold build again).

Targets against the walkthrough in the same round (medians): warm <= 0.1x, ephemeral <= 0.3x,
cold <= 0.6x. The rounds prune the whole build cache of the engine: run it on an engine of your own.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker

from jenkins_codeartifact import redact, settings
from jenkins_codeartifact.consume import containers, image
from jenkins_codeartifact.consume import pipeline as consume
from jenkins_codeartifact.consume import registry as registries
from jenkins_codeartifact.index import resolve_index

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, sandbox

SETTLE = 2.0  # untimed pause before each build: the vfs storage driver keeps working after a build
APPS = {"application": ROOT / "application_src", "catalog": ROOT / "benchmarks" / "apps" / "catalog"}
SHARED = ROOT / "application_src"  # gunicorn.conf.py and our Dockerfiles
VARIANTS = ("walkthrough", "uv", "pip")
TARGETS = {"cold": 0.6, "warm": 0.1, "ephemeral": 0.3}
REFERENCE_DOCKERFILE = """\
ARG BASE_IMAGE
FROM ${BASE_IMAGE}
# The walkthrough's pattern (python:3.7 then); only change: allow pip into a Debian system Python.
ENV PIP_BREAK_SYSTEM_PACKAGES=1
ARG INDEX_URL
COPY . /
RUN pip config set global.index-url "$INDEX_URL"
RUN pip install -r requirements.txt
CMD ["python3", "application.py"]
"""
MARK = "<!doctype html>"  # both apps' pages start with it: where the one-line change goes


def make_context(dest: Path, app: str, variant: str) -> Path:
    dest.mkdir(parents=True)
    for name in ("application.py", "requirements.txt"):
        shutil.copy2(APPS[app] / name, dest / name)
    shutil.copy2(SHARED / "gunicorn.conf.py", dest / "gunicorn.conf.py")
    if variant == "walkthrough":
        (dest / "Dockerfile").write_text(REFERENCE_DOCKERFILE)
    else:
        shutil.copy2(SHARED / ("Dockerfile" if variant == "uv" else "Dockerfile.pip"), dest / "Dockerfile")
    return dest


def change_one_line(context: Path) -> None:
    """A change no earlier build has seen, so no cached layer can hold it."""
    path = context / "application.py"
    text, changed = re.subn(f"{MARK}( [0-9a-f]{{8}})?", f"{MARK} {uuid.uuid4().hex[:8]}", path.read_text(), count=1)
    assert changed == 1, path
    path.write_text(text)


def build_reference(cli: str, context: Path, tag: str, base: str, index_url: str) -> float:
    argv = [cli, "build", "--progress=plain", "--network", "host", "-t", tag]
    argv += ["--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"INDEX_URL={index_url}", str(context)]
    start = time.monotonic()
    proc = subprocess.run(argv, env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True, check=False)
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"reference build failed:\n{redact.scrub(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed


def build_ours(args: argparse.Namespace, context: Path, name: str, tag: str, cache_tag: str) -> float:
    """``ca-consume-deploy build``: the library's stage, with the registry cache under ``cache_tag`` (which
    a first build does not find: it builds cold, recording its inline cache for the push)."""
    flags = {
        "context": str(context),
        "image_name": name,
        "tag": tag,
        "base_image": args.base_image,
        "docker_cli": args.docker_cli,
        "cache_tag": cache_tag,
    }
    stages = consume.Stages(settings.load(flags))
    start = time.monotonic()
    stages.check("build")
    stages.build()
    return time.monotonic() - start


def empty_engine(client: docker.DockerClient, cli: str, keep: str) -> None:
    """Every image but ``keep`` (the base) removed and BuildKit's cache pruned: a fresh agent's engine."""
    for img in client.images.list():
        if keep not in img.tags:
            client.images.remove(img.id, force=True)
    subprocess.run([cli, "builder", "prune", "--all", "--force"], capture_output=True, check=True)
    time.sleep(SETTLE)


def one_round(args: argparse.Namespace, client: docker.DockerClient, app: str, tmp: Path) -> dict[str, float]:
    """cold, warm and ephemeral of each Dockerfile on ``app``; seconds by "variant/row"."""
    registry = registries.registry_from_url(os.environ.get("CA_REGISTRY") or sys.exit("no CA_REGISTRY to push to"))
    index_url = resolve_index(settings.load()).pip_index_url()
    out: dict[str, float] = {}
    for variant in VARIANTS:
        ctx = make_context(tmp / f"{app}-{variant}-{uuid.uuid4().hex[:6]}", app, variant)
        name = f"ca-bench-{app}-{variant}"
        change_one_line(ctx)  # a fresh app each round: nothing in the registry matches its code
        empty_engine(client, args.docker_cli, args.base_image)
        if variant == "walkthrough":
            out[f"{variant}/cold"] = build_reference(args.docker_cli, ctx, f"{name}:1", args.base_image, index_url)
            change_one_line(ctx)
            time.sleep(SETTLE)
            out[f"{variant}/warm"] = build_reference(args.docker_cli, ctx, f"{name}:2", args.base_image, index_url)
            continue
        cache_tag = f"cache-{uuid.uuid4().hex[:8]}"  # this round's: no round reuses another's
        out[f"{variant}/cold"] = build_ours(args, ctx, name, "1", cache_tag)
        change_one_line(ctx)
        time.sleep(SETTLE)
        out[f"{variant}/warm"] = build_ours(args, ctx, name, "2", cache_tag)
        registries.push(client, f"{name}:2", registry, name, cache_tag)
        empty_engine(client, args.docker_cli, args.base_image)
        change_one_line(ctx)
        out[f"{variant}/ephemeral"] = build_ours(args, ctx, name, "3", cache_tag)
    out["walkthrough/ephemeral"] = out["walkthrough/cold"]  # no cache on an empty engine: a cold build
    return out


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(level=logging.ERROR, format="%(message)s")  # the first builds' "no cache yet" lines
    client = containers.engine()
    args.docker_cli = image.find_buildkit(args.docker_cli).argv[0]
    rounds: dict[str, list[dict[str, float]]] = {app: [] for app in args.app}
    with tempfile.TemporaryDirectory(prefix="ca-bench-") as tmp:
        for app in args.app:  # untimed warm-up: the mirror fetches each wheel from upstream the first time
            one_round(args, client, app, Path(tmp))
        for n in range(args.repeat):
            for app in args.app[n % len(args.app) :] + args.app[: n % len(args.app)]:
                rounds[app].append(one_round(args, client, app, Path(tmp)))
        empty_engine(client, args.docker_cli, args.base_image)
    return show(args, rounds)


def show(args: argparse.Namespace, rounds: dict[str, list[dict[str, float]]]) -> int:
    """The table: per app and row, the walkthrough's seconds, ours (uv, pip) and their ratios."""
    print(f"base image: {args.base_image}; builder: {args.docker_cli} (BuildKit); median of {args.repeat} rounds")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'app':12}{'row':11}{'walkthrough':>12}{'uv':>7}{'ratio':>7}{'pip':>7}{'ratio':>7}  target")
    missed = False
    for app, results in rounds.items():
        for row, target in TARGETS.items():
            med = {v: statistics.median(r[f"{v}/{row}"] for r in results) for v in VARIANTS}
            ref = med["walkthrough"]
            met = med["uv"] / ref <= target
            missed |= not met
            print(
                f"{app:12}{row:11}{ref:12.1f}{med['uv']:7.1f}{med['uv'] / ref:6.2f}x{med['pip']:7.1f}"
                f"{med['pip'] / ref:6.2f}x  <= {target:.1f}x {'met' if met else 'MISSED'} (uv)"
            )
    print("each round's seconds (walkthrough, uv, pip):")
    for app, results in rounds.items():
        for row in TARGETS:
            cells = "  ".join("/".join(f"{r[f'{v}/{row}']:.1f}" for v in VARIANTS) for r in results)
            print(f"  {app:12}{row:10} {cells}")
    return 1 if missed else 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-image", default=os.environ.get("CA_BASE_IMAGE"))
    p.add_argument("--docker-cli", default=os.environ.get("CA_DOCKER_CLI", "docker"))
    p.add_argument("--repeat", type=int, default=3, help="rounds, the median is reported (default 3)")
    p.add_argument("--app", action="append", choices=sorted(APPS), help="default: both")
    return p


def main(argv: list[str] | None = None) -> int:
    """Use the configured index and engine; with none configured, a private sandbox for this run."""
    args = build_parser().parse_args(argv)
    args.app = args.app or list(APPS)
    if args.base_image:
        return run(args)
    from jenkins_codeartifact.cli import publish

    with sandbox(docker=True) as env, tempfile.TemporaryDirectory(prefix="ca-bench-dist-") as dist:
        os.environ.update(env)
        args.base_image = env["CA_BASE_IMAGE"]
        if publish.main([str(ROOT / "package_src"), "--skip-existing", "--dist-dir", dist]) != 0:
            return 1  # application_src pins fantastic-ascii: the index must have it
        return run(args)


if __name__ == "__main__":
    sys.exit(main())
