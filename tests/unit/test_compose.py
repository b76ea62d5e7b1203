"""docker-compose.yml is valid for Debian's docker-compose (no engine needed for `config`)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from tests.helpers import tool_or_skip

ROOT = Path(__file__).resolve().parents[2]


def test_docker_compose_config_is_valid():
    compose = tool_or_skip(shutil.which("docker-compose"), "docker-compose")
    proc = subprocess.run([compose, "config", "-q"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr


def test_compose_services_are_the_stand_ins_and_jenkins():
    compose = tool_or_skip(shutil.which("docker-compose"), "docker-compose")
    proc = subprocess.run([compose, "config", "--services"], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert {"jenkins", "devpi", "codeartifact", "moto", "registry"} <= set(proc.stdout.split())
