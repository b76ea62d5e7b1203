"""What ``gc.freeze()`` before exit saves a CLI process, against a plain exit, in one run.

Usage:

    .venv/bin/python benchmarks/exit_gc.py [--rounds 15]

Each round starts two fresh interpreters that load what ``ca-publish`` loads (the publish flow: boto3,
botocore's service models for CodeArtifact and STS, twine, build) and then exit: one plainly (reference),
one after ``cli._common.skip_final_collection()`` (ours), which is what every command does as it exits.
The child measures from the end of its work to the exit of the process, so start-up does not blur it.
Printed: median exit time of each and the ratio.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, report

CHILD = """
import sys, time
import boto3
from jenkins_codeartifact.publish import flow, upload  # noqa: F401  (what ca-publish loads)
from jenkins_codeartifact.cli import _common
session = boto3.Session(region_name="us-east-1", aws_access_key_id="AKIAX", aws_secret_access_key="x")
clients = [session.client("codeartifact"), session.client("sts")]
if sys.argv[1] == "ours":
    _common.skip_final_collection()
sys.stdout.write(repr(time.perf_counter_ns()))
sys.stdout.flush()
"""


def one(mode: str) -> float:
    """Seconds from the child's last line of work until the parent sees it gone."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "tools")}
    proc = subprocess.Popen([sys.executable, "-c", CHILD, mode], stdout=subprocess.PIPE, env=env)
    assert proc.stdout is not None
    done = int(proc.stdout.read() or 0)
    proc.wait()
    gone = time.perf_counter_ns()  # perf_counter is CLOCK_MONOTONIC on Linux: comparable across processes
    return (gone - done) / 1e9


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    ours, reference = [], []
    for _ in range(args.rounds):
        ours.append(one("ours"))
        reference.append(one("reference"))
    report(
        f"process exit after loading ca-publish's libraries (median of {args.rounds})",
        [("exit: gc.freeze vs plain", statistics.median(ours), statistics.median(reference))],
    )


if __name__ == "__main__":
    main()
