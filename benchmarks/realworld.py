"""Real projects built by ``python -m build`` and by ca-publish: same artifacts? how long?

Each sdist of ``realworld_projects.txt`` (versions pinned) is downloaded from the index's simple API
(the sdist file itself: ``pip download`` would prepare metadata first), unpacked twice, and built from
the project's parent directory with PyPA build and with ``ca-publish --dry-run`` (twice: a cold build
env cache, then the warm one). Projects marked ``git`` are built from a tagged repository made from
the sdist (no git host is reachable). Prints: project, backend, identical (or the first difference),
the three times.

    .venv/bin/python benchmarks/realworld.py [--only NAME ...] [--installer pip|uv]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import requests

from jenkins_codeartifact.dists import first_difference, normalize

HERE = Path(__file__).resolve().parent
LIST = HERE / "realworld_projects.txt"
SIMPLE = os.environ.get("CA_BENCH_SIMPLE_URL", "https://pypi.org/simple/")
GIT_ENV = {
    "GIT_AUTHOR_NAME": "b",
    "GIT_AUTHOR_EMAIL": "b@example.invalid",
    "GIT_COMMITTER_NAME": "b",
    "GIT_COMMITTER_EMAIL": "b@example.invalid",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00+00:00",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00+00:00",
}


BACKENDS: dict[str, str] = {}  # project -> its build-backend, read from the sdist


@dataclass(frozen=True)
class Project:
    name: str
    version: str
    backend: str
    git: bool


def projects() -> list[Project]:
    out = []
    for line in LIST.read_text().splitlines():
        fields = line.split("#")[0].split()
        if fields:
            out.append(Project(fields[0], fields[1], fields[2], "git" in fields[3:]))
    return out


def download(project: Project, cache: Path) -> Path:
    """The sdist file of ``project`` from the simple API (JSON form), cached."""
    resp = requests.get(
        SIMPLE + normalize(project.name) + "/",
        headers={"Accept": "application/vnd.pypi.simple.v1+json"},
        timeout=60,
    )
    resp.raise_for_status()
    stem = normalize(project.name).replace("-", "_")
    for file in resp.json()["files"]:
        filename = file["filename"]
        head = filename.lower().replace("-", "_").replace(".", "_")
        if filename.endswith(".tar.gz") and head == f"{stem}_{project.version}_tar_gz".replace(".", "_"):
            target = cache / filename
            if not target.exists():
                data = requests.get(file["url"], timeout=120)
                data.raise_for_status()
                target.write_bytes(data.content)
            return target
    raise SystemExit(f"{project.name} {project.version}: no sdist on {SIMPLE}")


def unpack(sdist: Path, where: Path, git: bool, tag: str) -> Path:
    where.mkdir(parents=True)
    with tarfile.open(sdist) as tar:
        tar.extractall(where, filter="data")
    (root,) = where.iterdir()
    if git:
        env = {**os.environ, **GIT_ENV}
        for cmd in (["init", "-q"], ["add", "-A", "-f"], ["commit", "-qm", tag], ["tag", tag]):
            subprocess.run(["git", *cmd], cwd=root, env=env, check=True, capture_output=True)
    return root


def timed_run(cmd: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, subprocess.CompletedProcess[str]]:
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=1200)
    return time.perf_counter() - start, proc


def last_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]
    errors = [line for line in lines if "ERROR" in line or "Error" in line]
    return (errors or lines or ["no output"])[-1].strip()[:100]


def compare(left: Path, right: Path) -> str:
    names = sorted(p.name for p in left.iterdir())
    if sorted(p.name for p in right.iterdir()) != names:
        return f"files: {names} vs {sorted(p.name for p in right.iterdir())}"
    for name in names:
        diff = first_difference(left / name, right / name)
        if diff:
            return f"{name}: {diff}"
    return "yes"


def build_backend(root: Path) -> str:
    """The ``build-backend`` the project declares (PEP 517's default when it declares none)."""
    pyproject = root / "pyproject.toml"
    table = tomllib.loads(pyproject.read_text()).get("build-system", {}) if pyproject.is_file() else {}
    return str(table.get("build-backend", "setuptools.build_meta:__legacy__"))


def build_one(project: Project, sdist: Path, tmp: Path, cache: Path, installer: str) -> tuple[str, float, float, float]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("CA_")}
    theirs = unpack(sdist, tmp / "pypa", project.git, project.version)
    BACKENDS[project.name] = build_backend(theirs)
    ref_s, ref = timed_run(
        [sys.executable, "-m", "build", "--installer", installer, "--outdir", str(tmp / "pypa-dist"), str(theirs)],
        theirs.parent,
        clean,
    )
    if ref.returncode:
        return f"PyPA build failed: {last_line(ref)}", ref_s, 0.0, 0.0
    times = []
    for run in ("cold", "warm"):
        ours = unpack(sdist, tmp / run, project.git, project.version)
        cmd = [sys.executable, "-m", "jenkins_codeartifact.cli.publish", str(ours), "--dry-run"]
        seconds, proc = timed_run(
            [*cmd, "--dist-dir", str(tmp / f"{run}-dist")], ours.parent, {**clean, "XDG_CACHE_HOME": str(cache)}
        )
        times.append(seconds)
        if proc.returncode:
            return f"no: ca-publish ({run}) failed: {last_line(proc)}", ref_s, *times, 0.0
        verdict = compare(tmp / "pypa-dist", tmp / f"{run}-dist")
        if verdict != "yes":
            return f"no ({run}): {verdict}", ref_s, *times, 0.0
    return "yes", ref_s, times[0], times[1]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", nargs="*", help="project names to run (default: all)")
    parser.add_argument("--installer", choices=("pip", "uv"), default="pip", help="PyPA build's installer")
    args = parser.parse_args()
    chosen = [p for p in projects() if not args.only or p.name in args.only]
    downloads = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "ca-bench-realworld"
    downloads.mkdir(parents=True, exist_ok=True)
    print(f"| project | backend | identical | python -m build ({args.installer}) | ca-publish cold | ca-publish warm |")
    print("| --- | --- | --- | ---: | ---: | ---: |")
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench-realworld-") as tmp:
        cache = Path(tmp) / "cache"  # ca-publish's build-env cache: empty at the start of the run
        for project in chosen:
            work = Path(tmp) / normalize(project.name)
            verdict, ref_s, cold, warm = build_one(project, download(project, downloads), work, cache, args.installer)
            shutil.rmtree(work, ignore_errors=True)
            rows.append((project, verdict, ref_s, cold, warm))
            label = f"{project.name} {project.version}" + (" (git)" if project.git else "")
            backend = f"{project.backend} (`{BACKENDS.get(project.name, '?')}`)"
            print(f"| {label} | {backend} | {verdict} | {ref_s:.1f}s | {cold:.1f}s | {warm:.1f}s |", flush=True)
    same = sum(v == "yes" for _, v, *_ in rows)
    built = sum(not v.startswith("PyPA build failed") for _, v, *_ in rows)
    kinds = len({p.backend for p, *_ in rows})
    modules = sorted({BACKENDS.get(p.name, "?") for p, *_ in rows})
    print(f"\nidentical: {same} of {built} that PyPA build builds ({len(rows)} projects, {kinds} kinds)")
    print(f"build-backend values ({len(modules)}): {', '.join(modules)}")
    ok = [r for r in rows if r[1] == "yes"]
    if ok:
        ref_total, warm_total = sum(r[2] for r in ok), sum(r[4] for r in ok)
        print(
            f"total over the identical ones: python -m build {ref_total:.1f}s, ca-publish warm {warm_total:.1f}s "
            f"({warm_total / ref_total:.2f}x)"
        )
    return 0 if same == built else 1


if __name__ == "__main__":
    sys.exit(main())
