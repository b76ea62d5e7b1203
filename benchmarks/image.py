"""Image build: the walkthrough's Dockerfile pattern against application_src/Dockerfile, in one run.

Usage: ``python benchmarks/image.py`` brings up a private sandbox (index, Docker engine, base image) for
the run and publishes package_src to it. With an environment already configured (``. .sandbox/env.sh``,
or any CodeArtifact/generic index plus CA_BASE_IMAGE) it uses that instead:

    python benchmarks/image.py [--base-image IMAGE] [--docker-cli /usr/bin/docker] [--repeat N] [--keep]
                               [--no-empty-engine]

Both builds use the same base image, the same index, the same BuildKit builder and the same files. The
reference reproduces the walkthrough: ``COPY . /`` first, then ``pip config set global.index-url`` with the
token from a build arg, then ``pip install -r requirements.txt`` (its only change: pip may install into the
Debian base's system Python). Each is built cold (``--no-cache``), then one line of application.py
changes and each is rebuilt. Then, ``--repeat`` rounds on an empty engine (every image but the base
removed and BuildKit's cache pruned: what an ephemeral agent starts with), each round timing the
reference's cold build, ours (uv served to the build, as on an agent whose engine shares its network),
ours with uv's image loaded instead (an engine the build cannot serve uv to; for comparison, no target),
and the "ephemeral agent" rebuild: ours pushed to the registry with its inline cache (as ``push`` does),
the engine emptied again, one line changed, rebuilt with ``--cache-from``. Targets, against the
reference's cold build measured in the same rounds: cold <= 0.5x, ephemeral agent <= 0.3x; one-line
rebuild on a warm engine <= 0.1x of the reference's rebuild; image size <= the reference's. The
empty-engine rounds prune the whole build cache of the engine used: ``--no-empty-engine`` skips them on
an engine you share.
"""

from __future__ import annotations

import argparse
import contextlib
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

from jenkins_codeartifact import redact, settings, signals
from jenkins_codeartifact.consume import cache, containers, image, uvimage
from jenkins_codeartifact.consume import registry as registries
from jenkins_codeartifact.index import Index, resolve_index

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


def build_ours(
    cli: str,
    context: Path,
    tag: str,
    base: str,
    index: Index,
    no_cache: bool,
    cache_ref: str | None = None,
    serve: bool = True,
) -> float:
    """What ``ca-consume-deploy build`` does: uv served where the engine shares this host's network, else
    uv's image (the registry's copy, else loaded, while the cache is looked up), then the build.
    ``serve=False`` is an engine the build cannot serve uv to (remote, rootless)."""
    start = time.monotonic()
    client = containers.engine()
    serve = serve and uvimage.can_serve(client, "host")
    with uvimage.served() if serve else contextlib.nullcontext() as uv_url:
        uv = None if serve else signals.background(uvimage.for_build, client)
        cache_from = cache.cache_from(client, cache_ref) if cache_ref else None
        image.build(
            index,
            context=context,
            image=tag,
            cli=cli,
            base_image=base,
            network="host",
            no_cache=no_cache,
            uv_url=uv_url,
            late_args=(lambda: {"UV_IMAGE": uv()}) if uv else None,
            inline_cache=True,
            cache_from=cache_from,
        )
    return time.monotonic() - start


def empty_engine(client: docker.DockerClient, cli: str, keep: str) -> None:
    """Every image but ``keep`` (the base) removed and BuildKit's cache pruned: a fresh agent's engine."""
    for img in client.images.list():
        if keep not in img.tags:
            client.images.remove(img.id, force=True)
    subprocess.run([cli, "builder", "prune", "--all", "--force"], capture_output=True, check=True)
    time.sleep(SETTLE)


def empty_engine_rounds(
    args: argparse.Namespace, client: docker.DockerClient, cli: str, index: Index, tmp: Path
) -> dict[str, list[float]]:
    """Cold builds of both, and ours as an ephemeral agent with the previous image in the registry."""
    registry = registries.registry_from_url(os.environ.get("CA_REGISTRY") or sys.exit("no CA_REGISTRY to push to"))
    ref_ctx, our_ctx = tmp / "reference-empty", tmp / "ours-empty"
    copy_app(ref_ctx, ours=False)
    copy_app(our_ctx, ours=True)
    times: dict[str, list[float]] = {
        "reference-cold": [],
        "ours-cold": [],
        "ours-ephemeral": [],
        "ours-cold-uv-image": [],
    }
    for round_ in range(args.repeat):
        nonce = uuid.uuid4().hex[:8]
        change_one_line(ref_ctx, nonce)  # a fresh app each round: nothing in the registry matches its code
        change_one_line(our_ctx, nonce)
        order = ["reference-cold", "ours-cold", "ours-cold-uv-image"]
        order = order[round_ % 3 :] + order[: round_ % 3]  # none always runs right after another's disk work
        for which in order:
            empty_engine(client, cli, args.base_image)
            if which == "reference-cold":
                url = index.pip_index_url()
                t = build_reference(cli, ref_ctx, "ca-bench-ref:cold", args.base_image, url, no_cache=False)
            elif which == "ours-cold-uv-image":
                t = build_ours(cli, our_ctx, "ca-bench-ours:uv-image", args.base_image, index, False, serve=False)
            else:
                t = build_ours(cli, our_ctx, "ca-bench-ours:cold", args.base_image, index, no_cache=False)
                # what the previous pipeline run left in the registry; this round's tag, so no round reuses another's
                registries.push(client, "ca-bench-ours:cold", registry, "ca-bench-ours", f"cache-{nonce}")
            times[which].append(t)
        change_one_line(our_ctx, nonce + "b", undo=nonce)
        empty_engine(client, cli, args.base_image)
        cache_ref = registry.reference("ca-bench-ours", f"cache-{nonce}")
        t = build_ours(cli, our_ctx, "ca-bench-ours:ephemeral", args.base_image, index, False, cache_ref)
        times["ours-ephemeral"].append(t)
        change_one_line(ref_ctx, "", undo=nonce)
        change_one_line(our_ctx, "", undo=nonce + "b")
    return times


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
    p.add_argument("--repeat", type=int, default=5, help="rounds of each, the median is reported (default 5)")
    p.add_argument("--keep", action="store_true", help="keep the four images")
    p.add_argument(
        "--no-empty-engine",
        action="store_true",
        help="skip the cold and ephemeral-agent rounds (they prune the engine)",
    )
    return p


def run(argv: list[str] | None = None) -> int:
    p = build_parser()
    args = p.parse_args(argv)
    if not args.base_image:
        p.error("no base image: pass --base-image or set CA_BASE_IMAGE (ca-sandbox up --docker exports it)")
    s = settings.load()
    index = resolve_index(s)
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
        if not args.keep:
            for tag in tags.values():
                client.images.remove(tag, force=True)
        empty = {} if args.no_empty_engine else empty_engine_rounds(args, client, cli, index, Path(tmp))
    return show(args, index, cli, results, rebuilds, empty, sizes)


def show(
    args: argparse.Namespace,
    index: Index,
    cli: str,
    results: dict[str, float],
    rebuilds: dict[str, list[float]],
    empty: dict[str, list[float]],
    sizes: dict[str, int],
) -> int:
    """The table, each ratio against its target; exit 1 if one is missed."""
    mb = 1024 * 1024
    med = {k: statistics.median(v) for k, v in empty.items()}
    print(f"base image: {args.base_image}; index: {index.description}; builder: {cli} (BuildKit)")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"{'':34}{'walkthrough':>12}{'ours':>8}{'ratio':>8}  target")
    rows = [("cold build, after warm-up (s)", results["reference-cold"], results["ours-cold"], None)]
    if med:
        ref_cold = med["reference-cold"]
        rows += [
            ("cold build, empty engine (s) *", ref_cold, med["ours-cold"], 0.5),
            ("ephemeral agent, 1 line (s) *", ref_cold, med["ours-ephemeral"], 0.3),
            ("  cold, uv's image loaded (s) *", ref_cold, med["ours-cold-uv-image"], None),
        ]
    rows.append(("rebuild, 1 line, warm (s) *", results["reference-rebuild"], results["ours-rebuild"], 0.1))
    missed = False
    for name, ref, ours, target in rows:
        verdict = ""
        if target is not None:
            met = ours / ref <= target
            missed |= not met
            verdict = f"<= {target:.2f}x {'met' if met else 'MISSED'}"
        print(f"{name:34}{ref:12.1f}{ours:8.1f}{ours / ref:7.2f}x  {verdict}")
    size_ratio = sizes["ours-rebuild"] / sizes["reference-rebuild"]
    missed |= size_ratio > 1.0
    print(
        f"{'image size (MB)':34}{sizes['reference-rebuild'] / mb:12.1f}{sizes['ours-rebuild'] / mb:8.1f}"
        f"{size_ratio:7.2f}x  <= 1.00x {'met' if size_ratio <= 1.0 else 'MISSED'}"
    )
    print(f"* median of {args.repeat} rounds; each round's seconds:")
    for key, values in {**{k: v for k, v in empty.items()}, **rebuilds}.items():
        print(f"  {key:18} " + " ".join(f"{t:.1f}" for t in values))
    print("the ephemeral-agent row is compared with the walkthrough's cold build: on an empty engine it has no cache")
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
