"""``jobsync run``: a build as Jenkins would run it, on a throwaway git repository and a fake tool on PATH.

What a user sees is asserted: the console (stdout), the console log in the state dir, the exit code and
the report. The tools the jobs call (``ca-consume-deploy``) are small shell scripts on PATH, as an
agent's tools would be; git and /bin/sh are real.
"""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import time
from pathlib import Path

import pytest

from jenkins_codeartifact.cli import jobsync
from jenkins_codeartifact.jobsync import jenkinsfile, jobspecs, model, run

USER, PASSWORD = "svc-user-7", "svc-user-7-s3cret"  # the username is a prefix of the password
SPECS = """\
folders: [{name: team}]
jobs:
  - name: team/pub
    type: freestyle
    git: {url: "file://REPO", branch: "*/main", clean: before-checkout}
    bindings: [{credentials: aws, username: U, password: P}]
    timestamps: true
    shell:
      - 'echo "env: $BUILD_NUMBER|$BUILD_ID|$BUILD_TAG|$JOB_NAME|$JOB_BASE_NAME|$WORKSPACE|$GIT_BRANCH|$GIT_URL"'
      - 'echo "more: $GIT_COMMIT|$FROM_AGENT|$PARAM1|$NODE_NAME"'
      - 'echo "creds: $U / $P / ${P}${U}"; [ ! -e left-over ] || echo left-over present'
      - 'touch left-over; cat tracked.txt'
  - name: keep
    type: freestyle
    git: {url: "file://REPO"}
    shell: ['[ ! -e left-over ] || echo left-over present; touch left-over']
  - name: app
    type: pipeline
    git: {url: "file://REPO", clean: before-checkout}
    script_path: ci/Jenkinsfile
    jenkinsfile:
      credentials: aws
      timeout_minutes: 5
      environment: {CA_STACK: "the-stack"}
  - {name: nogit, type: freestyle, shell: [pwd]}
  - {name: shebang, type: freestyle, shell: ["#!/no/such/interpreter\necho never", "echo not reached"]}
  - {name: gone, type: freestyle, git: {url: "file:///nonexistent/repo.git"}, shell: ["echo never"]}
  - {name: handmade, type: pipeline, git: {url: "file://REPO"}}
  - {name: stopped, type: freestyle, disabled: true}
  - {name: wild, type: freestyle, git: {url: "file://REPO", branch: "*/rel-*"}}
  - {name: keyed, type: freestyle, git: {url: "file://REPO", credentials: deploy-key}}
"""
TOOL = """\
#!/bin/sh
echo "$1: tag=$BUILD_NUMBER stage=$STAGE_NAME stack=$CA_STACK key=$AWS_ACCESS_KEY_ID secret=$AWS_SECRET_ACCESS_KEY"
[ "$1" != "$FAIL_AT" ] || exit 3
if [ "$1" = "$HANG_AT" ]; then sleep 30 & echo $! > "$PID_FILE"; wait; fi
"""


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie waiting for a reaper has ended)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


@dataclasses.dataclass
class World:
    tmp: Path
    repo: Path
    jobs: Path
    state: Path
    creds: Path

    def main(self, *argv: str) -> int:
        return jobsync.main(["run", *argv, "--jobs-dir", str(self.jobs), "--state-dir", str(self.state)])

    def job(self, name: str) -> model.Job:
        job = jobspecs.load(self.jobs).get(name)
        assert isinstance(job, model.Freestyle | model.Pipeline)
        return job


@pytest.fixture
def world(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> World:
    repo, jobs, bin_dir = tmp_path / "repo", tmp_path / "jobs", tmp_path / "bin"
    for d in (repo, jobs, bin_dir):
        d.mkdir()
    (jobs / "jobs.yml").write_text(SPECS.replace("REPO", str(repo)), encoding="utf-8")
    app = jobspecs.load(jobs).get("app")
    assert isinstance(app, model.Pipeline)
    (repo / "ci").mkdir()
    (repo / "ci" / "Jenkinsfile").write_text(jenkinsfile.render(app), encoding="utf-8")
    (repo / "tracked.txt").write_text("committed content\n", encoding="utf-8")
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", "first commit")
    tool = bin_dir / "ca-consume-deploy"
    tool.write_text(TOOL, encoding="utf-8")
    tool.chmod(0o755)
    creds = tmp_path / "creds.yml"
    creds.write_text(f"aws: {{username: {USER}, password: {PASSWORD}}}\n", encoding="utf-8")
    creds.chmod(0o600)
    monkeypatch.setenv("PATH", f"{bin_dir}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.setenv("FROM_AGENT", "agent-value")
    for var in ("FAIL_AT", "HANG_AT", "CA_CREDENTIALS_FILE", "CA_STATE_DIR", "CA_REPORT"):
        monkeypatch.delenv(var, raising=False)
    return World(tmp_path, repo, jobs, tmp_path / "state", creds)


def test_freestyle_build_sees_jenkins_workspace_env_and_masked_credentials(world, capsys):
    report = world.tmp / "report.json"
    code = world.main(
        "team/pub", "--credentials", str(world.creds), "--param", "PARAM1=p-value", "--report", str(report)
    )
    out = capsys.readouterr().out
    assert code == 0, out
    ws = world.state / "workspace" / "team" / "pub"
    commit = git(world.repo, "rev-parse", "HEAD")
    assert f"env: 1|1|jenkins-team-pub-1|team/pub|pub|{ws.absolute()}|origin/main|file://{world.repo}" in out
    assert f"more: {commit}|agent-value|p-value|built-in" in out
    assert "creds: **** / **** / ********" in out  # the longer value first: no "****-s3cret"
    assert "committed content" in out and "left-over present" not in out
    assert out.rstrip().endswith("Finished: SUCCESS")
    log = (world.state / "jobs" / "team" / "pub" / "builds" / "1" / "log").read_text(encoding="utf-8")
    for text in (out, log, report.read_text(encoding="utf-8")):
        assert USER not in text and PASSWORD not in text
    assert "] + echo" in log  # sh -xe traces each command; timestamps prefix every line
    data = json.loads(report.read_text(encoding="utf-8"))
    assert (data["status"], data["number"], data["git_commit"]) == ("ok", 1, commit)
    assert [s["result"] for s in data["steps"]] == ["SUCCESS"] * 4

    assert world.main("team/pub", "--credentials", str(world.creds)) == 0  # the number is kept, the clean honoured
    out = capsys.readouterr().out
    assert "env: 2|2|jenkins-team-pub-2|" in out and "left-over present" not in out


def test_clean_none_keeps_the_workspace_and_checkout_dir_uses_committed_head(world, capsys):
    (world.repo / "tracked.txt").write_text("uncommitted edit\n", encoding="utf-8")
    assert world.main("keep", "--checkout", str(world.repo)) == 0
    assert world.main("keep", "--checkout", str(world.repo)) == 0
    out = capsys.readouterr().out
    assert out.count("\nleft-over present\n") == 1  # the second build found what the first left
    ws = world.state / "workspace" / "keep"
    assert (ws / "tracked.txt").read_text(encoding="utf-8") == "committed content\n"
    assert git(ws, "rev-parse", "HEAD") == git(world.repo, "rev-parse", "HEAD")


def test_pipeline_stages_run_in_order_and_a_failure_skips_the_rest(world, capsys, monkeypatch):
    monkeypatch.setenv("FAIL_AT", "smoke-test")
    report = world.tmp / "report.json"
    assert world.main("app", "--credentials", str(world.creds), "--report", str(report)) == 1
    out = capsys.readouterr().out
    assert "build: tag=1 stage=Build stack=the-stack key=**** secret=****" in out
    assert "smoke-test: tag=1 stage=Smoke test" in out
    assert "push:" not in out and "deploy:" not in out
    assert 'Stage "Push" skipped due to earlier failure(s)' in out
    assert 'Stage "Deploy" skipped due to earlier failure(s)' in out
    assert out.rstrip().endswith("Finished: FAILURE")
    data = json.loads(report.read_text(encoding="utf-8"))
    assert data["status"] == "failed"
    assert [(s["name"], s["result"], s["exit_code"]) for s in data["steps"]] == [
        ("Build", "SUCCESS", 0),
        ("Smoke test", "FAILURE", 3),
        ("Push", "SKIPPED", None),
        ("Deploy", "SKIPPED", None),
    ]
    monkeypatch.delenv("FAIL_AT")
    assert world.main("app", "--credentials", str(world.creds)) == 0
    out = capsys.readouterr().out
    assert "deploy: tag=2 stage=Deploy" in out and out.rstrip().endswith("Finished: SUCCESS")


def test_timeout_aborts_the_stage_and_kills_its_process_group(world, monkeypatch, capsys):
    pid_file = world.tmp / "sleep.pid"
    monkeypatch.setenv("HANG_AT", "push")
    monkeypatch.setenv("PID_FILE", str(pid_file))
    credentials = run.load_credentials(world.creds)
    plan = dataclasses.replace(run.plan(world.job("app"), credentials, None), timeout=2.0)  # 5 minutes in the spec
    start = time.monotonic()
    build = run.run(plan, world.state)
    elapsed = time.monotonic() - start
    out = capsys.readouterr().out
    assert build.result == "ABORTED" and elapsed < 2.0 + run.GRACE + 2
    assert [s.result for s in build.steps] == ["SUCCESS", "SUCCESS", "ABORTED", "SKIPPED"]
    assert "Timeout has been exceeded" in out and out.rstrip().endswith("Finished: ABORTED")
    assert not alive(int(pid_file.read_text()))


def test_masking_longest_value_first(tmp_path):
    with open(tmp_path / "log", "w", encoding="utf-8") as log_file, open(os.devnull, "w") as sink:
        console = run.Console(sink, log_file, ["ab", "abcd", "b"])
        assert console.mask("abcd ab b xbx abcdab") == "**** **** **** x****x ********"


def test_jenkinsfile_that_is_not_the_rendering_is_refused(world, capsys):
    (world.repo / "ci" / "Jenkinsfile").write_text("pipeline { agent any }\n", encoding="utf-8")
    git(world.repo, "commit", "-q", "-am", "hand edit")
    assert world.main("app", "--credentials", str(world.creds)) == 2
    captured = capsys.readouterr()
    assert captured.out.rstrip().endswith("Finished: NOT_BUILT")
    assert "ci/Jenkinsfile in the checkout is not the rendering of 'app'" in captured.err.splitlines()[0]
    assert not (world.state / "workspace" / "app" / "ci").exists()  # read from the commit, nothing checked out


def test_a_failed_fetch_fails_the_build_with_git_s_words(world, capsys):
    assert world.main("gone") == 1
    captured = capsys.readouterr()
    assert "fatal:" in captured.out and "never" not in captured.out
    assert captured.out.rstrip().endswith("Finished: FAILURE")
    assert captured.err.startswith("ERROR: gone #1: FAILURE (console log: ")


def test_a_missing_interpreter_fails_the_step(world, capsys):
    assert world.main("shebang") == 1
    out = capsys.readouterr().out
    assert "$ /no/such/interpreter " in out and "ERROR: cannot run /no/such/interpreter" in out
    assert "not reached" not in out and out.rstrip().endswith("Finished: FAILURE")


def test_a_second_build_of_a_running_job_is_refused(world, capsys):
    import fcntl

    lock = world.state / "jobs" / "keep" / ".lock"
    lock.parent.mkdir(parents=True)
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        assert world.main("keep") == 3
    assert "a build of 'keep' is already running" in capsys.readouterr().err
    assert not (world.state / "jobs" / "keep" / "builds").exists()


REFUSALS = [
    ("unknown-job", ["nope"], "unknown job 'nope'"),
    ("folder", ["team"], "jobs.yml:1) is a folder, not a job"),
    ("no-credentials-file", ["team/pub"], "bindings[0] needs credentials 'aws': no --credentials FILE given"),
    ("missing-credential-id", ["team/pub", "--credentials", "{other}"], "needs credentials 'aws': not in the"),
    ("world-readable", ["team/pub", "--credentials", "{open}"], "mode 0644 lets others read it"),
    ("bad-entry", ["team/pub", "--credentials", "{token}"], "aws: expected {username, password}, {secret}"),
    (
        "number-password",
        ["team/pub", "--credentials", "{number}"],
        "aws.password: expected a string, but YAML reads 123 as a number",
    ),
    ("not-a-repository", ["keep", "--checkout", "{tmp}"], "not a git repository"),
    ("checkout-without-git", ["nogit", "--checkout", "{repo}"], "has no git checkout: --checkout does not apply"),
    ("handmade-groovy", ["handmade"], "its Jenkinsfile is hand-written Groovy"),
    ("disabled", ["stopped"], "is disabled"),
    ("branch-pattern", ["wild"], "git.branch '*/rel-*'"),
    ("git-credentials", ["keyed"], "git.credentials 'deploy-key'"),
    ("bad-param", ["keep", "--param", "1X=y"], "--param '1X=y'"),
    ("state-dir-is-a-file", ["keep", "--state-dir", "{creds}"], "is a file, not a directory"),
]


@pytest.mark.parametrize(("argv", "needle"), [r[1:] for r in REFUSALS], ids=[r[0] for r in REFUSALS])
def test_refusals_are_one_line_exit_2_and_touch_nothing(world, capsys, argv, needle):
    files = {
        "other": "other: {secret: x1234}\n",
        "open": f"aws: {{username: {USER}, password: {PASSWORD}}}\n",
        "token": "aws: {token: abcdef}\n",
        "number": "aws: {username: u, password: 123}\n",
    }
    paths = {}
    for name, text in files.items():
        paths[name] = world.tmp / f"{name}.yml"
        paths[name].write_text(text, encoding="utf-8")
        paths[name].chmod(0o644 if name == "open" else 0o600)
    argv = [a.format(tmp=world.tmp, repo=world.repo, creds=world.creds, **paths) for a in argv]
    # the last --state-dir wins, so a test's own one replaces the fixture's
    code = jobsync.main(["run", "--jobs-dir", str(world.jobs), "--state-dir", str(world.state), *argv])
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert code == 2, captured.err
    assert captured.out == "" and lines[0].startswith("ERROR: ") and len(lines) <= 2, captured.err
    assert needle in lines[0], lines[0]
    assert "Traceback" not in captured.err and PASSWORD not in captured.err
    assert not world.state.exists()
