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

Then the large case (``--large 10000`` jobs in ``--folders 100`` folders, 0 to skip), one template
whose instances name ``fNNN/pkg-NN``, against a fresh fake each:

  (e) render:  ``jobsync render -o DIR``        vs ``jenkins-jobs test -o DIR``
  (f) create:  ``jobsync apply`` (folders, then jobs) vs ``jenkins-jobs update`` (folders are jobs of
               ``project-type: folder`` there)
  (g) no-op:   ``jobsync apply`` again (the plan's one tree query) vs ``jenkins-jobs update`` again

with each command's peak memory (the child's maximum resident set, from ``wait4``). ``--jjb CMD``
names the reference's ``jenkins-jobs`` (default: next to this Python, then ``PATH``).

Printed: wall time and HTTP requests for each, the ratios, and whether each target is met.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
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
{broad}    instances:
{instances}
"""
BROAD_JJB_TIMEOUT = """\
      - timeout: {timeout: 30, type: absolute, abort: true}
"""
# --broad: the features most real jobs use, in both tools (issue 22): discarder, parameters, label,
# build timeout and a publisher kept as raw XML.
BROAD_JOBSYNC = """\
      discard: {builds: 50, days: 30}
      parameters: [{name: VERSION, default: "1.0"}, {name: DRY_RUN, type: boolean}]
      label: linux
      timeout: {minutes: 30}
      raw: {publishers: "<hudson.tasks.Mailer><recipients>team@example.com</recipients></hudson.tasks.Mailer>"}
"""
BROAD_JJB = """\
    properties:
      - build-discarder: {days-to-keep: 30, num-to-keep: 50}
    parameters:
      - string: {name: VERSION, default: "1.0"}
      - bool: {name: DRY_RUN, default: false}
    node: linux
    publishers:
      - raw:
          xml: "<hudson.tasks.Mailer><recipients>team@example.com</recipients></hudson.tasks.Mailer>"
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
{timeout}    builders:
      - shell: "ca-publish packages/{{n}} --skip-existing  # ${{{{WORKSPACE}}}}"
{broad}- project:
    name: packages
    n:
{instances}
    jobs: ["pkg-{{n}}"]
"""


PEAK: dict[str, float] = {}  # command label -> peak resident memory of its last run, MiB


def run(cmd: list[str], env: dict[str, str], label: str = "") -> float:
    """Wall time of ``cmd``; its peak memory (``wait4``'s maxrss) goes to ``PEAK[label]``."""
    with tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=out)
        _, status, usage = os.wait4(proc.pid, 0)
        elapsed = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            out.seek(0)
            text = out.read().decode("utf-8", "replace")
            sys.exit(f"{' '.join(cmd[:3])} failed ({proc.returncode}):\n{text[-3000:]}")
    if label:
        PEAK[label] = usage.ru_maxrss / 1024  # KiB on Linux
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
    ap.add_argument("--large", type=int, default=10000, help="jobs of the large case (0: skip it)")
    ap.add_argument("--folders", type=int, default=100, help="folders of the large case")
    ap.add_argument("--only-large", action="store_true", help="skip the 1000-job comparison")
    ap.add_argument(
        "--broad", action="store_true", help="the 1000 jobs gain discarder, parameters, label, timeout, raw publisher"
    )
    default_jjb = BIN / "jenkins-jobs"
    ap.add_argument("--jjb", default=str(default_jjb) if default_jjb.exists() else shutil.which("jenkins-jobs"))
    args = ap.parse_args()
    if args.jjb is None:
        sys.exit("jenkins-jobs not found: install the bench extra (jenkins-job-builder) or pass --jjb CMD")
    if not args.only_large:
        small(args)
    if args.large:
        large(args)
    return 0


def small(args: argparse.Namespace) -> None:
    n, workers = args.jobs, args.workers
    with tempfile.TemporaryDirectory(prefix="jobsync-bench-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "specs").mkdir()
        (tmp / "jjb").mkdir()
        broad = {"broad": BROAD_JOBSYNC if args.broad else ""}
        (tmp / "specs" / "packages.yml").write_text(
            JOBSYNC_SPEC.format(instances="\n".join(f"      - {{n: p{i:04d}}}" for i in range(n)), **broad)
        )
        jjb = {"broad": BROAD_JJB if args.broad else "", "timeout": BROAD_JJB_TIMEOUT if args.broad else ""}
        (tmp / "jjb" / "packages.yaml").write_text(
            JJB_SPEC.format(instances="\n".join(f"      - p{i:04d}" for i in range(n)), **jjb)
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
        jjb_test = [args.jjb, "test", str(tmp / "jjb"), "-o"]
        results["render/jjb"] = (render_median(jjb_test, "out-jjb"), 0)

        with FakeJenkins(every_plugin=args.broad) as ours, FakeJenkins(every_plugin=args.broad) as theirs:
            env_ours = dict(base_env, JENKINS_URL=ours.url, JENKINS_USER=ours.user, JENKINS_API_TOKEN=ours.token)
            ini = tmp / "jjb.ini"
            ini.write_text(
                f"[job_builder]\nignore_cache=False\n[jenkins]\nurl={theirs.url}\nuser={theirs.user}\n"
                f"password={theirs.token}\nquery_plugins_info=False\n"
            )
            jjb = [args.jjb, "--conf", str(ini), "update", "--workers", str(workers), str(tmp / "jjb")]
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


LARGE_JJB_SPEC = """\
- job-template:
    name: "f{{f}}/pkg-{{n}}"
    description: "Publish package {{n}} of {{f}}"
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
      - shell: "ca-publish packages/{{f}}/{{n}} --skip-existing  # ${{{{WORKSPACE}}}}"
- project:
    name: packages
    f:
{folders}
    n:
{jobs}
    jobs: ["f{{f}}/pkg-{{n}}"]
"""
# JJB's parallel update creates jobs in any order and a job needs its folder: the folders come first,
# from their own directory (render and no-op read both).
LARGE_JJB_FOLDERS = """\
- job-template:
    name: "f{{f}}"
    project-type: folder
- project:
    name: folders
    f:
{folders}
    jobs: ["f{{f}}"]
"""


def large(args: argparse.Namespace) -> None:
    """10,000 jobs in 100 folders: render, create and no-op resync, each tool against its own fresh fake."""
    n_folders = args.folders
    per = max(1, args.large // n_folders)
    n = per * n_folders
    folders = [f"{i:03d}" for i in range(n_folders)]
    jobs = [f"{i:02d}" for i in range(per)]
    workers = args.workers
    with tempfile.TemporaryDirectory(prefix="jobsync-bench-large-") as tmp_s:
        tmp = Path(tmp_s)
        (tmp / "specs").mkdir()
        (tmp / "jjb").mkdir()
        (tmp / "jjb-folders").mkdir()
        instances = "\n".join(f"      - {{f: '{f}', n: '{j}'}}" for f in folders for j in jobs)
        spec = JOBSYNC_SPEC.format(instances=instances, broad="")
        spec = spec.replace('name: "pkg-{n}"', 'name: "f{f}/pkg-{n}"').replace("packages/{n}", "packages/{f}/{n}")
        spec = spec.replace('"Publish package {n}"', '"Publish package {n} of {f}"')
        spec = "folders:\n" + "".join(f"  - name: f{f}\n" for f in folders) + spec
        (tmp / "specs" / "packages.yml").write_text(spec)
        folder_list = "\n".join(f"      - '{f}'" for f in folders)
        (tmp / "jjb-folders" / "folders.yaml").write_text(LARGE_JJB_FOLDERS.format(folders=folder_list))
        (tmp / "jjb" / "packages.yaml").write_text(
            LARGE_JJB_SPEC.format(
                folders="\n".join(f"      - '{f}'" for f in folders), jobs="\n".join(f"      - '{j}'" for j in jobs)
            )
        )
        base_env = {k: v for k, v in os.environ.items() if not k.startswith(("JENKINS_", "CA_"))}
        base_env.update(HOME=str(tmp), XDG_CACHE_HOME=str(tmp / "cache"), CA_JOBS_DIR=str(tmp / "specs"))
        base_env["CA_JOBSYNC_OWNER"] = "bench/jobsync"
        both_dirs = f"{tmp / 'jjb-folders'}{os.pathsep}{tmp / 'jjb'}"
        rt: dict[str, tuple[float, int]] = {}
        rt["render/jobsync"] = (run([str(BIN / "jobsync"), "render", "-o", str(tmp / "o1")], base_env, "render"), 0)
        rt["render/jjb"] = (
            run([args.jjb, "test", "--config-xml", both_dirs, "-o", str(tmp / "o2")], base_env, "render-jjb"),
            0,
        )
        with FakeJenkins() as ours, FakeJenkins() as theirs:
            env_ours = dict(base_env, JENKINS_URL=ours.url, JENKINS_USER=ours.user, JENKINS_API_TOKEN=ours.token)
            ini = tmp / "jjb.ini"
            ini.write_text(
                f"[job_builder]\nignore_cache=False\n[jenkins]\nurl={theirs.url}\nuser={theirs.user}\n"
                f"password={theirs.token}\nquery_plugins_info=False\n"
            )
            jjb = [args.jjb, "--conf", str(ini), "update", "--workers", str(workers)]
            sync = [str(BIN / "jobsync"), "apply", "--workers", str(workers)]
            for label in ("create", "noop"):
                ours.reset_counts()
                rt[f"{label}/jobsync"] = (run(sync, env_ours, label), ours.requests)
                theirs.reset_counts()
                if label == "create":  # two runs: the folders, then the jobs
                    took = run([*jjb, str(tmp / "jjb-folders")], base_env, "create-jjb")
                    took += run([*jjb, str(tmp / "jjb")], base_env, "create-jjb-jobs")
                    PEAK["create-jjb"] = max(PEAK["create-jjb"], PEAK.pop("create-jjb-jobs"))
                else:
                    took = run([*jjb, both_dirs], base_env, "noop-jjb")
                rt[f"{label}/jjb"] = (took, theirs.requests)
                assert len(ours.items) == len(theirs.items) == n + n_folders, (len(ours.items), len(theirs.items))
    items = n + n_folders
    print(f"\nlarge: {n} jobs in {n_folders} folders ({items} items), {workers} workers, fake Jenkins on loopback")
    print(f"{'':44} {'jobsync':>10} {'JJB':>10} {'ratio':>9}")
    print(row("(e) render, seconds", rt["render/jobsync"][0], rt["render/jjb"][0], 0.15))
    print(row("(f) create, seconds", rt["create/jobsync"][0], rt["create/jjb"][0], 0.2))
    per_item = rt["create/jobsync"][1] / items
    print(
        f"{'(f) create, requests per item':44} {per_item:10.3f} {rt['create/jjb'][1] / items:10.3f}"
        f"   target <= 1.05: {'met' if per_item <= 1.05 else 'MISSED'}"
    )
    noop_s, noop_n = rt["noop/jobsync"]
    print(
        row("(g) no-op resync, seconds", noop_s, rt["noop/jjb"][0])
        + f"   target <= 2 s: {'met' if noop_s <= 2 else 'MISSED'}"
    )
    print(
        f"{'(g) no-op resync, HTTP requests':44} {noop_n:10d} {rt['noop/jjb'][1]:10d}"
        f"   target <= 2: {'met' if noop_n <= 2 else 'MISSED'}"
    )
    for label in ("render", "create", "noop"):
        print(f"{'peak memory, MiB: ' + label:44} {PEAK[label]:10.0f} {PEAK[label + '-jjb']:10.0f}")


if __name__ == "__main__":
    raise SystemExit(main())
