"""The docker-compose Jenkins runs the jobs end to end (issue 26): ``make jenkins-it`` / ``pytest -m jenkins``.

It needs Docker Hub (the pinned Jenkins image), a compose CLI and a Docker engine with bridge networks;
without them it skips with the reason found by trying (``CA_REQUIRE_JENKINS=1``: a failure instead). It
builds two images and starts six services, minutes of work: a run that does not ask for it by the
marker (``-m jenkins``) or by ``CA_REQUIRE_JENKINS=1`` skips at once, so ``make test`` stays fast.
``CA_JENKINS_IT_DIND=1`` runs it with the private engine (docker-compose.dind.yml) instead of the host's.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest
from tests.jenkins_it.scenario import Options, Unavailable, run

from jenkins_codeartifact import signals

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.jenkins


def _asked_for(config: pytest.Config) -> bool:
    return "jenkins" in (config.getoption("markexpr") or "") or os.environ.get("CA_REQUIRE_JENKINS") == "1"


@pytest.mark.timeout(5400)
def test_compose_jenkins_runs_the_jobs_end_to_end(request):
    if not _asked_for(request.config):
        pytest.skip("the compose Jenkins runs with `make jenkins-it` (pytest -m jenkins): minutes of image builds")
    files = ("docker-compose.yml", "docker-compose.dind.yml") if os.environ.get("CA_JENKINS_IT_DIND") == "1" else None
    opts = Options(ROOT, files=files) if files else Options(ROOT)
    out = sys.__stdout__ or sys.stdout  # each console line as it comes, past pytest's capture

    def write(text: str) -> None:
        out.write(text)
        out.flush()

    with signals.handlers():
        try:
            run(opts, write)
        except Unavailable as exc:
            if os.environ.get("CA_REQUIRE_JENKINS") == "1":
                pytest.fail(f"CA_REQUIRE_JENKINS=1 but the compose Jenkins cannot run here: {exc}", pytrace=False)
            pytest.skip(str(exc))
