"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest


def tool_or_skip(path: str | None, what: str) -> str:
    """The tool's path; without it, skip with the reason, or fail when CI asks for every check
    (``CA_REQUIRE_TOOLS=1``, set by .ci/run), so a green CI means the check really ran."""
    if path:
        return path
    if os.environ.get("CA_REQUIRE_TOOLS") == "1":
        pytest.fail(f"CA_REQUIRE_TOOLS=1 but {what} is not installed", pytrace=False)
    pytest.skip(f"{what} is not installed")


def sandbox_client(env: Mapping[str, str], service: str) -> Any:
    """A boto3 client for one sandbox service, from ``env`` alone (boto3's default session caches
    whatever credentials it saw first, which another test may have changed)."""
    import boto3

    return boto3.Session(
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        region_name=env["AWS_REGION"],
    ).client(service, endpoint_url=env[f"AWS_ENDPOINT_URL_{service.upper()}"])


ROOT = Path(__file__).resolve().parents[1]


@dataclass
class Project:
    path: Path
    version: str


def fresh_package(tmp_path: Path, major: int) -> Project:
    """A copy of package_src with a version no other test used (``MAJOR.<random>.0``; each test module
    its own major), so tests share one index without colliding."""
    dest = tmp_path / "package_src"
    shutil.copytree(ROOT / "package_src", dest, ignore=shutil.ignore_patterns("dist", "*.egg-info", "__pycache__"))
    version = f"{major}.{uuid.uuid4().int % 10**8}.0"
    pyproject = dest / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', f'version = "{version}"'))
    return Project(dest, version)
