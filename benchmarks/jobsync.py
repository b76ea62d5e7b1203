"""jobsync against Jenkins Job Builder, in one run, against the same fake Jenkins on loopback.

Usage:

    .venv/bin/python benchmarks/jobsync.py [--jobs 1000] [--workers 8] [--edited 10]

Needs ``jenkins-job-builder`` (the ``bench`` extra). 1000 freestyle jobs come from one template (same
shape for both tools: git checkout, clean before checkout, SCM polling, username/password binding, a
shell step). Each tool gets its own fresh fake Jenkins (same code, same machine) and runs as a
subprocess through its console script, with the same number of workers:

  (a) render:  ``jobsync render -o DIR``        vs ``jenkins-jobs test -o DIR`` (median of 3)
  (b) create:  ``jobsync apply`` on an empty server  vs ``jenkins-jobs update`` (fresh cache)
  (c) no-op:   the same again
  (d) drift:   10 jobs edited on the server (their shell step changed through the REST API, description
               kept, as a hand edit in the UI does), then ``jobsync apply --verify`` vs ``jenkins-jobs update``;
               also the cheap path: 10 descriptions edited, then plain ``jobsync apply``.

Printed: wall time and HTTP requests for each, the ratios, and whether each target is met.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT

sys.path.insert(0, str(ROOT))  # tests.fakes

from tests.fakes.fake_jenkins import FakeJenkins

BIN = Path(sys.executable).parent
JOBSYNC_SPEC = """\
defaults:
  type: freestyle
  git: {{url: "https://git.example.com/packages.git", branch: "*/main", clean: before-checkout}}
  poll: "* * * * *"
  bindings: [{{credentials: aws, username: AWS_ACCESS_KEY_ID, password: AWS_SECRET_ACCESS_KEY}}]
templates:
  - job:
      name: "pkg-{{n}}"
      description: "Publish package {{n}}"
      shell: ["ca-publish packages/{{n}} --skip-existing  # ${{WORKSPACE}}"]
    instances:
{instances}
"""
JJB_SPEC = """\
- job-template:
    name: "pkg-{{n}}"
    description: "Publish package {{n}}"
    project-type: freestyle
    scm:
      - git:
          url: "https://git.example.com/packages.git"
          branches: ["*/main"]
          wipe-workspace: false
          clean:
            before: true
    triggers:
      - pollscm:
          cron: "* * * * *"
    wrappers:
      - credentials-binding:
          - username-password-separated:
              credential-id: aws
              username: AWS_ACCESS_KEY_ID
              password: AWS_SECRET_ACCESS_KEY
    builders:
      - shell: "ca-publish packages/{{n}} --skip-existing  # ${{{{WORKSPACE}}}}"
- project:
    name: packages
    n:
{instances}
    jobs: ["pkg-{{n}}"]
"""


def run(cmd: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if proc.returncode != 0:
        sys.exit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return elapsed


def edit_shell(fake: FakeJenkins, names: list[str]) -> None:
    """A hand edit that keeps the description: the shell command changes."""
    for name in names:
        fake.put(name, fake.config(name).replace("--skip-existing", "--skip-existing --dry-run"))


def edit_description(fake: FakeJenkins, names: list[str]) -> None:
    for name in names:
        xml = re.sub(r"<description>([^<]*)", r"<description>edited by hand. \1", fake.config(name), count=1)
        fake.put(name, xml)


def repaired(fake: FakeJenkins, names: list[str]) -> int:
    return sum(1 for n in names if "--dry-run" not in fake.config(n) and "edited by hand" not in fake.config(n))


def row(label: str, ours: float, ref: float | None, target: float | None = None) -> str:
    if ref is None:
        return f"{label:44} {ours:10.3f}"
    ratio = ours / ref if ref else float("inf")
    met = "met" if target is not None and ratio <= target else "MISSED"
    verdict = "" if target is None else f"  target <= {target:.2f}x: {met}"
    return f"{label:44} {ours:10.3f} {ref:10.3f} {ratio:8.3f}x{verdict}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=1000)
    ap.add_argument("--workers", type=int, default=8)
    ap.add_argument("--edited", type=int, default=10)
    args = ap.parse_args()
    n, workers = args.jobs, args.workers
    with tempfile.TemporaryDirectory(prefix="jobsync-bench-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "specs").mkdir()
        (tmp / "jjb").mkdir()
        (tmp / "specs" / "packages.yml").write_text(
            JOBSYNC_SPEC.format(instances="\n".join(f"      - {{n: p{i:04d}}}" for i in range(n)))
        )
        (tmp / "jjb" / "packages.yaml").write_text(
            JJB_SPEC.format(instances="\n".join(f"      - p{i:04d}" for i in range(n)))
        )
        names = [f"pkg-p{i:04d}" for i in range(n)]
        edited = names[:: max(1, n // args.edited)][: args.edited]
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("JENKINS_", "CA_"))}
        base_env.update(HOME=str(tmp), XDG_CACHE_HOME=str(tmp / "cache"), CA_JOBS_DIR=str(tmp / "specs"))
        base_env["CA_JOBSYNC_OWNER"] = "bench/jobsync"  # the specs live in a temporary directory, not a clone

        results: dict[str, tuple[float, int]] = {}

        # (a) render, offline: median of 3 runs each, each into a fresh directory
        def render_median(cmd: list[str], tag: str) -> float:
            return statistics.median(run([*cmd, str(tmp / f"{tag}{i}")], base_env) for i in range(3))

        results["render/jobsync"] = (render_median([str(BIN / "jobsync"), "render", "-o"], "out-ours"), 0)
        jjb_test = [str(BIN / "jenkins-jobs"), "test", str(tmp / "jjb"), "-o"]
        results["render/jjb"] = (render_median(jjb_test, "out-jjb"), 0)

        with FakeJenkins() as ours, FakeJenkins() as theirs:
            env_ours = dict(base_env, JENKINS_URL=ours.url, JENKINS_USER=ours.user, JENKINS_API_TOKEN=ours.token)
            ini = tmp / "jjb.ini"
            ini.write_text(
                f"[job_builder]\nignore_cache=False\n[jenkins]\nurl={theirs.url}\nuser={theirs.user}\n"
                f"password={theirs.token}\nquery_plugins_info=False\n"
            )
            jjb = [str(BIN / "jenkins-jobs"), "--conf", str(ini), "update", "--workers", str(workers), str(tmp / "jjb")]
            sync = [str(BIN / "jobsync"), "apply", "--workers", str(workers)]

            def both(label: str, ours_cmd: list[str], jjb_cmd: list[str] | None = None) -> None:
                ours.reset_counts()
                results[f"{label}/jobsync"] = (run(ours_cmd, env_ours), ours.requests)
                if jjb_cmd is not None:
                    theirs.reset_counts()
                    results[f"{label}/jjb"] = (run(jjb_cmd, base_env), theirs.requests)

            both("create", sync, jjb)
            assert len(ours.items) == n and len(theirs.items) == n, (len(ours.items), len(theirs.items))
            both("noop", sync, jjb)
            edit_shell(ours, edited)
            edit_shell(theirs, edited)
            both("drift-verify", [*sync, "--verify"], jjb)
            fixed_ours, fixed_jjb = repaired(ours, edited), repaired(theirs, edited)
            edit_description(ours, edited)
            both("drift-description", sync)
            fixed_desc = repaired(ours, edited)
            writes_drift = ours.writes()

    print(f"\njobsync vs Jenkins Job Builder: {n} jobs from one template, {workers} workers, fake Jenkins on loopback")
    print(f"{'':44} {'jobsync':>10} {'JJB':>10} {'ratio':>9}")
    rt = results
    print(row("(a) render, seconds", rt["render/jobsync"][0], rt["render/jjb"][0], 0.2))
    print(row("(b) create, seconds", rt["create/jobsync"][0], rt["create/jjb"][0], 0.33))
    print(row("(b) create, HTTP requests", rt["create/jobsync"][1], rt["create/jjb"][1]))
    per_job = rt["create/jobsync"][1] / n
    print(
        f"{'(b) create, requests per job':44} {per_job:10.3f} {rt['create/jjb'][1] / n:10.3f}"
        f"   target <= 1.2: {'met' if per_job <= 1.2 else 'MISSED'}"
    )
    print(row("(c) no-op resync, seconds", rt["noop/jobsync"][0], rt["noop/jjb"][0]))
    noop = rt["noop/jobsync"][1]
    print(
        f"{'(c) no-op resync, HTTP requests':44} {noop:10d} {rt['noop/jjb'][1]:10d}"
        f"   target <= 2: {'met' if noop <= 2 else 'MISSED'}"
    )
    print(row("(d) 10 shell edits: apply --verify, seconds", rt["drift-verify/jobsync"][0], rt["drift-verify/jjb"][0]))
    print(
        f"{'(d) 10 shell edits: HTTP requests':44} {rt['drift-verify/jobsync'][1]:10d} {rt['drift-verify/jjb'][1]:10d}"
    )
    print(
        f"{'(d) 10 shell edits: jobs repaired':44} {fixed_ours:10d} {fixed_jjb:10d}"
        f"   target: exactly {len(edited)} (JJB none): {'met' if fixed_ours == len(edited) else 'MISSED'}"
    )
    print(f"{'(d) 10 description edits: plain apply, s':44} {rt['drift-description/jobsync'][0]:10.3f}")
    print(f"{'(d) 10 description edits: HTTP requests':44} {rt['drift-description/jobsync'][1]:10d}")
    print(f"{'(d) 10 description edits: jobs repaired':44} {fixed_desc:10d}   (writes: {len(writes_drift)})")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
