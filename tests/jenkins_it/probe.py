"""Can the compose Jenkins start here? Found out by trying, briefly, never assumed.

The first thing ``docker compose up --build`` needs from outside is the pinned Jenkins image: the
harness asks Docker Hub for its manifest (the same token + manifest requests a pull starts with, 5 s
each), then for the compose CLI and a Docker engine. Each "no" is one precise reason for the skip.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import requests

TIMEOUT = 5.0
AUTH = "https://auth.docker.io/token"
REGISTRY = "https://registry-1.docker.io"
MANIFESTS = ", ".join(
    (
        "application/vnd.oci.image.index.v1+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.docker.distribution.manifest.v2+json",
    )
)


def pinned_image(root: Path) -> str:
    """The Jenkins image of jenkins/Dockerfile (its FROM line)."""
    text = (root / "jenkins" / "Dockerfile").read_text(encoding="utf-8")
    m = re.search(r"^FROM\s+(\S+)", text, re.M)
    if m is None:
        raise ValueError(f"{root / 'jenkins' / 'Dockerfile'}: no FROM line")
    return m.group(1)


def _split(image: str) -> tuple[str, str]:
    name, _, tag = image.partition(":")
    return (name if "/" in name else f"library/{name}"), tag or "latest"


def registry_reason(
    image: str, session: requests.Session | None = None, auth: str = AUTH, registry: str = REGISTRY
) -> str | None:
    """Why ``image`` cannot be pulled from Docker Hub, or None when its manifest answers."""
    http = session or requests.Session()
    repo, tag = _split(image)
    try:
        token = http.get(
            auth, params={"service": "registry.docker.io", "scope": f"repository:{repo}:pull"}, timeout=TIMEOUT
        )
        token.raise_for_status()
        headers = {"Authorization": f"Bearer {token.json()['token']}", "Accept": MANIFESTS}
        resp = http.head(f"{registry}/v2/{repo}/manifests/{tag}", headers=headers, timeout=TIMEOUT)
    except (requests.RequestException, ValueError, KeyError) as exc:
        return f"no container registry reachable: {image} cannot be pulled ({type(exc).__name__})"
    if resp.status_code == 404:
        return f"{image} is not on Docker Hub (HTTP 404): is the pin in jenkins/Dockerfile right?"
    if resp.status_code != 200:
        return f"no container registry reachable: {image} cannot be pulled (HTTP {resp.status_code})"
    return None


def engine_reason(compose: list[str] | None, docker: str | None) -> str | None:
    """Why no compose project can start here (no compose CLI, no engine answering), or None."""
    if compose is None:
        return "neither `docker compose` nor `docker-compose` is installed"
    if docker is None:
        return "no docker CLI to reach a Docker engine"
    try:
        proc = subprocess.run(
            [docker, "version", "--format", "{{.Server.Version}}"], capture_output=True, text=True, timeout=15
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"no Docker engine answered ({type(exc).__name__})"
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return f"no Docker engine answered: {last}"
    return None
