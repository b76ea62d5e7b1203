"""Image build: the walkthrough's Dockerfile pattern against application_src/Dockerfile, in one run.

Usage: ``python benchmarks/image.py`` brings up a private sandbox (index, Docker engine, base image) for
the run and publishes package_src to it. With an environment already configured (``. .sandbox/env.sh``,
or any CodeArtifact/generic index plus CA_BASE_IMAGE) it uses that instead:

    python benchmarks/image.py [--base-image IMAGE] [--docker-cli /usr/bin/docker] [--repeat N] [--keep]

Both builds use the same base image, the same index, the same BuildKit builder and the same files. The
reference reproduces the walkthrough: ``COPY . /`` first, then ``pip config set global.index-url`` with the
token from a build arg, then ``pip install -r requirements.txt`` (its only change: pip may install into the
Debian base's system Python). Each is built cold (``--no-cache``), then one line of application.py
changes and each is rebuilt. Printed: cold build times, rebuild times, the rebuild ratio (ours/reference,
target <= 0.2) and image sizes (target: ours <= reference).
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import docker

from jenkins_codeartifact import index as codeartifact
from jenkins_codeartifact import redact, settings
from jenkins_codeartifact.consume import containers, image

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, sandbox

# Untimed pause before each timed rebuild: the engine keeps committing/cleaning vfs layers for a moment
# after a build, and whichever build came next would pay for it.
SETTLE = 2.0
APP_FILES = ("application.py", "gunicorn.conf.py", "requirements.txt")
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


def copy_app(dest: Path, ours: bool) -> None:
    dest.mkdir(parents=True)
    for name in APP_FILES:
        shutil.copy2(ROOT / "application_src" / name, dest / name)
    if ours:
        shutil.copy2(ROOT / "application_src" / "Dockerfile", dest / "Dockerfile")
        shutil.copy2(ROOT / "application_src" / ".dockerignore", dest / ".dockerignore")
    else:
        (dest / "Dockerfile").write_text(REFERENCE_DOCKERFILE)


def change_one_line(context: Path, nonce: str, undo: str | None = None) -> None:
    """A change no earlier run has made, so neither build can reuse a cached layer for it."""
    path = context / "application.py"
    old = f"<title>fantastic time {undo}</title>" if undo else "<title>fantastic time</title>"
    new = f"<title>fantastic time {nonce}</title>" if nonce else "<title>fantastic time</title>"
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def build_reference(cli: str, context: Path, tag: str, base: str, index_url: str, no_cache: bool) -> float:
    argv = [cli, "build", "--progress=plain", "--network", "host", "-t", tag]
    argv += ["--build-arg", f"BASE_IMAGE={base}", "--build-arg", f"INDEX_URL={index_url}"]
    if no_cache:
        argv.append("--no-cache")
    start = time.monotonic()
    proc = subprocess.run(
        [*argv, str(context)], env={**os.environ, "DOCKER_BUILDKIT": "1"}, capture_output=True, text=True, check=False
    )
    elapsed = time.monotonic() - start
    if proc.returncode != 0:
        sys.exit(f"reference build failed:\n{redact.scrub(proc.stdout + proc.stderr)[-3000:]}")
    return elapsed


def build_ours(cli: str, context: Path, tag: str, base: str, index: codeartifact.Index, no_cache: bool) -> float:
    start = time.monotonic()
    image.build(index, context=context, image=tag, cli=cli, base_image=base, network="host", no_cache=no_cache)
    return time.monotonic() - start


def size(client: docker.DockerClient, tag: str) -> int:
    return int(client.images.get(tag).attrs["Size"])


def main(argv: list[str] | None = None) -> int:
    """Use the configured index and engine; with none configured, a private sandbox for this run."""
    build_parser().parse_args(argv)  # --help and bad flags before anything starts
    if os.environ.get("CA_BASE_IMAGE") or "--base-image" in (argv or sys.argv[1:]):
        return run(argv)
    from jenkins_codeartifact.cli import publish

    with sandbox(docker=True) as env, tempfile.TemporaryDirectory(prefix="ca-bench-dist-") as dist:
        os.environ.update(env)
        if publish.main([str(ROOT / "package_src"), "--skip-existing", "--dist-dir", dist]) != 0:
            return 1  # the app pins fantastic-ascii: the index must have it
        return run(argv)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--base-image", default=os.environ.get("CA_BASE_IMAGE"))
    p.add_argument("--docker-cli", default=os.environ.get("CA_DOCKER_CLI", "docker"))
    p.add_argument("--repeat", type=int, default=4, help="rebuilds of each, the median is reported (default 4)")
    p.add_argument("--keep", action="store_true", help="keep the four images")
    return p


def run(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if not args.base_image:
        p.error("no base image: pass --base-image or set CA_BASE_IMAGE (ca-sandbox up --docker exports it)")
    s = settings.load()
    index = codeartifact.resolve_index(s)
    client = containers.engine()
    cli = image.find_buildkit(args.docker_cli).argv[0]
    results: dict[str, float] = {}
    tags = {k: f"ca-bench-{k}:1" for k in ("reference-cold", "ours-cold", "reference-rebuild", "ours-rebuild")}
    with tempfile.TemporaryDirectory(prefix="ca-bench-") as tmp:
        ref_ctx, our_ctx = Path(tmp) / "reference", Path(tmp) / "ours"
        copy_app(ref_ctx, ours=False)
        copy_app(our_ctx, ours=True)
        # untimed warm-up: the index mirror fetches the app's dependencies from upstream the first time,
        # and BuildKit snapshots the base image; whichever cold build came first would pay for both
        build_reference(cli, ref_ctx, "ca-bench-warmup:1", args.base_image, index.pip_index_url(), no_cache=True)
        client.images.remove("ca-bench-warmup:1")
        results["ours-cold"] = build_ours(cli, our_ctx, tags["ours-cold"], args.base_image, index, no_cache=True)
        results["reference-cold"] = build_reference(
            cli, ref_ctx, tags["reference-cold"], args.base_image, index.pip_index_url(), no_cache=True
        )
        rebuilds: dict[str, list[float]] = {"reference-rebuild": [], "ours-rebuild": []}
        for round_ in range(args.repeat):  # median of a few: the vfs storage driver makes single timings noisy
            nonce = uuid.uuid4().hex[:8]
            change_one_line(ref_ctx, nonce)
            change_one_line(our_ctx, nonce)
            order = ["reference-rebuild", "ours-rebuild"]
            if round_ % 2:  # alternate, so neither side always runs right after the other's disk work
                order.reverse()
            for which in order:
                previous = client.images.get(tags[which]).id if round_ else None
                time.sleep(SETTLE)
                if which == "reference-rebuild":
                    url = index.pip_index_url()
                    t = build_reference(cli, ref_ctx, tags[which], args.base_image, url, no_cache=False)
                else:
                    t = build_ours(cli, our_ctx, tags[which], args.base_image, index, no_cache=False)
                rebuilds[which].append(t)
                if previous and previous != client.images.get(tags[which]).id:
                    client.images.remove(previous)  # superseded: on vfs every dangling image is a full copy
            for ctx in (ref_ctx, our_ctx):  # back to the original line for the next round
                change_one_line(ctx, "", undo=nonce)
        results.update({k: statistics.median(v) for k, v in rebuilds.items()})
    sizes = {k: size(client, t) for k, t in tags.items()}
    ratio = results["ours-rebuild"] / results["reference-rebuild"]
    mb = 1024 * 1024
    print(f"base image: {args.base_image}; index: {index.description}; builder: {cli} (BuildKit)")
    print(f"{'':22}{'walkthrough':>14}{'ours':>10}")
    print(f"{'cold build (s)':22}{results['reference-cold']:14.1f}{results['ours-cold']:10.1f}")
    print(f"{'rebuild, 1 line (s) *':22}{results['reference-rebuild']:14.1f}{results['ours-rebuild']:10.1f}")
    print(f"{'image size (MB)':22}{sizes['reference-rebuild'] / mb:14.1f}{sizes['ours-rebuild'] / mb:10.1f}")
    print(
        f"* median of {args.repeat}: walkthrough "
        + " ".join(f"{t:.1f}" for t in rebuilds["reference-rebuild"])
        + "; ours "
        + " ".join(f"{t:.1f}" for t in rebuilds["ours-rebuild"])
    )
    print(f"rebuild ratio ours/walkthrough: {ratio:.2f}x (target <= 0.20x)")
    print(f"size ratio ours/walkthrough: {sizes['ours-rebuild'] / sizes['reference-rebuild']:.2f}x (target <= 1.00x)")
    if not args.keep:
        for tag in tags.values():
            client.images.remove(tag, force=True)
    return 0 if ratio <= 0.2 and sizes["ours-rebuild"] <= sizes["reference-rebuild"] else 1


if __name__ == "__main__":
    sys.exit(main())
