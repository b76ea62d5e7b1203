"""ca-publish vs ``python -m build && twine upload`` (pip-based and ``--installer uv``) to the same local index.

Both publish a fresh version of package_src in every round (so neither is refused), against the
sandbox's devpi index, with build requirements from that repository too (ca-publish's default there);
ca-publish goes through the CodeArtifact API stand-in as it would in Jenkins.
The first round of each is reported apart (cold caches); the ratio compares medians of the rest.

    .venv/bin/python benchmarks/publish.py [--rounds N]
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
from pathlib import Path

import boto3

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, report, sandbox, timed

BIN = Path(sys.executable).parent


BACKENDS = {  # package_src's own (setuptools, as in the walkthrough), or flit-core; both sides alike
    "setuptools": None,
    "flit-core": '[build-system]\nrequires = ["flit_core>=3.11,<4"]\nbuild-backend = "flit_core.buildapi"\n\n',
}


def copy_with_version(dest: Path, version: str, backend: str) -> Path:
    shutil.copytree(ROOT / "package_src", dest, ignore=shutil.ignore_patterns("dist", "*.egg-info", "__pycache__"))
    pyproject = dest / "pyproject.toml"
    text = pyproject.read_text().replace('version = "1.0.0"', f'version = "{version}"')
    if BACKENDS[backend]:
        text = BACKENDS[backend] + text[text.index("[project]") :]
    pyproject.write_text(text)
    return dest


def publish_ours(project: Path, env: dict[str, str]) -> None:
    subprocess.run([str(BIN / "ca-publish"), str(project)], env=env, check=True, capture_output=True)


def publish_reference(project: Path, env: dict[str, str], twine_env: dict[str, str], installer: str) -> None:
    build = [sys.executable, "-m", "build", "--installer", installer, str(project)]
    subprocess.run(build, env=env, check=True, capture_output=True)
    dists = [str(p) for p in (project / "dist").iterdir()]
    twine = [sys.executable, "-m", "twine", "upload", "--non-interactive", "--disable-progress-bar", *dists]
    subprocess.run(twine, env=twine_env, check=True, capture_output=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--backend", choices=sorted(BACKENDS), default="setuptools", help="build backend of both")
    args = parser.parse_args()
    stamp = int(time.time()) % 10**6
    with sandbox() as env, tempfile.TemporaryDirectory(prefix="bench-publish-") as tmp:
        child_env = {**os.environ, **env}
        # ca-publish starts with an empty cache: round 1 pays for creating its build environment
        ours_env = {**child_env, "XDG_CACHE_HOME": str(Path(tmp) / "cache")}
        ca = boto3.client(
            "codeartifact",
            region_name=env["AWS_REGION"],
            endpoint_url=env["AWS_ENDPOINT_URL_CODEARTIFACT"],
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        )
        where = {"domain": env["CA_DOMAIN"], "domainOwner": env["CA_DOMAIN_OWNER"]}
        token = ca.get_authorization_token(**where)["authorizationToken"]
        endpoint = ca.get_repository_endpoint(**where, repository=env["CA_REPOSITORY"], format="pypi")[
            "repositoryEndpoint"
        ]
        # the reference as the walkthrough runs it (token through twine's env, as `aws codeartifact login` would)
        ref_env = {**child_env, "TWINE_USERNAME": "aws", "TWINE_PASSWORD": token, "TWINE_REPOSITORY_URL": endpoint}
        # the same index for every build's requirements: the repository (ca-publish's default there); pip
        # reads PIP_INDEX_URL, uv (python -m build --installer uv) reads UV_INDEX_URL
        simple = endpoint.replace("://", f"://aws:{token}@").rstrip("/") + "/simple/"
        build_env = {**child_env, "PIP_INDEX_URL": simple, "UV_INDEX_URL": simple}
        ours_times: list[float] = []
        ref_times: dict[str, list[float]] = {"pip": [], "uv": []}
        for i in range(args.rounds):
            ours = copy_with_version(Path(tmp) / f"ours{i}", f"2.{stamp}.{3 * i}", args.backend)
            ours_times.append(timed(lambda p=ours: publish_ours(p, ours_env)))
            for n, installer in enumerate(ref_times, start=1):
                ref = copy_with_version(Path(tmp) / f"ref{installer}{i}", f"2.{stamp}.{3 * i + n}", args.backend)
                ref_times[installer].append(
                    timed(lambda p=ref, inst=installer: publish_reference(p, build_env, ref_env, inst))
                )
            print(
                f"round {i + 1}: ca-publish {ours_times[-1]:.2f}s, build(pip)+twine {ref_times['pip'][-1]:.2f}s, "
                f"build(uv)+twine {ref_times['uv'][-1]:.2f}s",
                flush=True,
            )
    print(f"build backend: {args.backend}")
    report(
        "publish package_src (first round: ca-publish creates its build environment)",
        [(f"first round vs {inst}", ours_times[0], times[0]) for inst, times in ref_times.items()],
    )
    median = statistics.median(ours_times[1:])
    title = f"publish package_src (median of rounds 2..{args.rounds})"
    report(title, [("vs build --installer pip", median, statistics.median(ref_times["pip"][1:]))], target=0.3)
    report(title, [("vs build --installer uv", median, statistics.median(ref_times["uv"][1:]))], target=0.5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
