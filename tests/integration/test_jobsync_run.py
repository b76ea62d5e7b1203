"""``jobsync run`` for real: the checked-in producer spec publishes to the sandbox, and an abort is an abort.

The producer job is the one in jenkins/jobs (no copy): its shell step runs the real ``ca-publish`` in a
workspace checked out from a git repository holding the sample package, with the ``aws`` credentials
bound from a credentials file, as Jenkins would. The abort test runs ``jobsync`` as a process and sends
it SIGTERM, as Jenkins does when a build is aborted.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
        cwd=cwd, check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def process_start(pid: int) -> str | None:
    """The start time of a running ``pid`` (None once it ended), to tell it from a later process given its PID."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except FileNotFoundError:
        return None
    return None if fields[0] == "Z" else fields[19]


def jobsync(*argv: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "jenkins_codeartifact.cli.jobsync", *argv]
    return subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def test_producer_job_publishes_then_an_unbumped_build_passes(sandbox_env, token, tmp_path):
    repo = tmp_path / "repo"
    shutil.copytree(ROOT / "package_src", repo / "package_src", ignore=shutil.ignore_patterns("dist", "*.egg-info"))
    version = f"1.{uuid.uuid4().int % 10**8}.0"  # a version no other test used: the tests share one index
    pyproject = repo / "package_src" / "pyproject.toml"
    pyproject.write_text(pyproject.read_text().replace('version = "1.0.0"', f'version = "{version}"'))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", f"fantastic-ascii {version}")
    secret = sandbox_env["AWS_SECRET_ACCESS_KEY"]
    creds = tmp_path / "credentials.yml"
    creds.write_text(
        f"aws: {{username: '{sandbox_env['AWS_ACCESS_KEY_ID']}', password: '{secret}'}}\n", encoding="utf-8"
    )
    creds.chmod(0o600)
    # the agent's environment: the sandbox's endpoints and the tools on PATH, but no AWS keys (the binding has them)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CA_", "AWS_"))}
    env.update({k: v for k, v in sandbox_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    env["PATH"] = f"{BIN}{os.pathsep}{env['PATH']}"
    env["CA_CREDENTIALS_FILE"] = str(creds)
    # clean: before-checkout wipes dist/: the unbumped build rebuilds (other tar times, same contents)
    argv = ("run", "producer", "--jobs-dir", str(ROOT / "jenkins" / "jobs"), "--checkout", str(repo))

    first = jobsync(*argv, "--report", "first.json", env=env, cwd=tmp_path)
    assert first.returncode == 0, first.stdout + first.stderr
    assert f"published fantastic-ascii {version}" in first.stdout
    assert first.stdout.rstrip().endswith("Finished: SUCCESS")
    second = jobsync(*argv, env=env, cwd=tmp_path)
    assert second.returncode == 0, second.stdout + second.stderr
    assert f"fantastic-ascii {version} is already in" in second.stdout and "nothing uploaded" in second.stdout

    report = json.loads((tmp_path / "first.json").read_text(encoding="utf-8"))
    assert (report["status"], report["result"], report["number"]) == ("ok", "SUCCESS", 1)
    assert report["git_commit"] == git(repo, "rev-parse", "HEAD")
    logs = tmp_path / ".jobsync" / "jobs" / "producer" / "builds"
    assert sorted(p.name for p in logs.iterdir()) == ["1", "2"]
    for text in (first.stdout, first.stderr, second.stdout, *(p.read_text() for p in logs.glob("*/log"))):
        assert secret not in text and token not in text


def test_sigterm_aborts_the_build_within_5_seconds_and_kills_the_step(tmp_path):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    pid_file = tmp_path / "sleep.pid"
    # the step ignores SIGTERM (and so does its child): only the SIGKILL after the grace period ends them
    step = f"trap '' TERM\n        sleep 60 & echo $! > {pid_file}\n        echo started\n        wait\n"
    (jobs / "jobs.yml").write_text(f"jobs:\n  - name: slow\n    type: freestyle\n    shell:\n      - |\n        {step}")
    cmd = [sys.executable, "-m", "jenkins_codeartifact.cli.jobsync", "run", "slow", "--jobs-dir", str(jobs)]
    proc = subprocess.Popen([*cmd, "--report", "r.json"], cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    lines = []
    for line in proc.stdout:
        lines.append(line)
        if line.strip() == "started":
            break
    pid = int(pid_file.read_text())
    started = process_start(pid)
    assert started is not None
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    rest = proc.stdout.read()
    code = proc.wait(timeout=10)
    elapsed = time.monotonic() - start
    assert code == 143 and elapsed < 5.0, (code, elapsed)
    assert rest.rstrip().endswith("Finished: ABORTED")
    assert process_start(pid) != started, f"the step's child survived: {rest}"
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["status"] == "aborted" and report["result"] == "ABORTED"
    assert [s["result"] for s in report["steps"]] == ["ABORTED"]


@pytest.mark.parametrize("signum", [signal.SIGINT])
def test_sigint_is_an_abort_too(tmp_path, signum):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "jobs.yml").write_text("jobs:\n  - {name: slow, type: freestyle, shell: ['echo started; sleep 60']}\n")
    cmd = [sys.executable, "-m", "jenkins_codeartifact.cli.jobsync", "run", "slow", "--jobs-dir", str(jobs)]
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    for line in proc.stdout:
        if line.strip() == "started":
            break
    proc.send_signal(signum)
    assert proc.stdout.read().rstrip().endswith("Finished: ABORTED")
    assert proc.wait(timeout=5) == 130


@pytest.mark.docker
def test_the_demo_journey_through_the_jobs(docker_env, token, tmp_path):
    """producer -> consumer (Build, Smoke test, Push, Deploy to CloudFormation) -> producer again -> local target.

    The specs are the checked-in ones; the repository is a copy holding a version no other test used
    (the app pins it), because the tests share one index.
    """
    import boto3
    import requests

    from jenkins_codeartifact.consume import containers

    repo = tmp_path / "repo"
    for part in ("package_src", "application_src"):
        shutil.copytree(ROOT / part, repo / part, ignore=shutil.ignore_patterns("dist", "*.egg-info", "__pycache__"))
    version = f"1.{uuid.uuid4().int % 10**8}.0"
    for rel, old in (
        ("package_src/pyproject.toml", 'version = "1.0.0"'),
        ("application_src/requirements.txt", "==1.0.0"),
    ):
        path = repo / rel
        path.write_text(path.read_text().replace(old, old.replace("1.0.0", version), 1))
    git(repo, "init", "-q", "-b", "main")
    git(repo, "add", ".")
    git(repo, "commit", "-q", "-m", f"fantastic-ascii {version}")
    keys = (docker_env["AWS_ACCESS_KEY_ID"], docker_env["AWS_SECRET_ACCESS_KEY"])
    creds = tmp_path / "credentials.yml"
    creds.write_text(f"aws: {{username: '{keys[0]}', password: '{keys[1]}'}}\n", encoding="utf-8")
    creds.chmod(0o600)
    session = boto3.Session(
        aws_access_key_id=keys[0], aws_secret_access_key=keys[1], region_name=docker_env["AWS_REGION"]
    )
    ec2 = session.client("ec2", endpoint_url=docker_env["AWS_ENDPOINT_URL"])
    vpc = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc]}])["Subnets"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CA_", "AWS_", "DOCKER_"))}
    env.update({k: v for k, v in docker_env.items() if k not in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")})
    env.update(
        PATH=f"{BIN}{os.pathsep}{env['PATH']}",
        CA_CREDENTIALS_FILE=str(creds),
        CA_PARAMS=f"VPC={vpc};SubnetA={subnets[0]['SubnetId']};SubnetB={subnets[1]['SubnetId']}",
        CA_NO_PROBE="1",  # moto's load balancer has no address to GET
    )
    jobs = ("--jobs-dir", str(ROOT / "jenkins" / "jobs"), "--checkout", str(repo))

    producer = jobsync("run", "producer", *jobs, env=env, cwd=tmp_path)
    assert producer.returncode == 0, producer.stdout + producer.stderr
    assert f"published fantastic-ascii {version}" in producer.stdout
    consumer = jobsync("run", "consumer", *jobs, "--report", "consumer.json", env=env, cwd=tmp_path)
    assert consumer.returncode == 0, consumer.stdout[-3000:] + consumer.stderr
    report = json.loads((tmp_path / "consumer.json").read_text())
    assert [(s["name"], s["result"]) for s in report["steps"]] == [
        ("Build", "SUCCESS"), ("Smoke test", "SUCCESS"), ("Push", "SUCCESS"), ("Deploy", "SUCCESS")
    ]  # fmt: skip
    tag = str(report["number"])
    cfn = session.client(
        "cloudformation", endpoint_url=docker_env.get("AWS_ENDPOINT_URL_CLOUDFORMATION", docker_env["AWS_ENDPOINT_URL"])
    )
    params = cfn.describe_stacks(StackName="consumer")["Stacks"][0]["Parameters"]
    assert {p["ParameterKey"]: p["ParameterValue"] for p in params}["ImageTag"] == tag  # the BUILD_NUMBER
    again = jobsync("run", "producer", *jobs, env=env, cwd=tmp_path)
    assert again.returncode == 0 and "nothing uploaded" in again.stdout, again.stdout + again.stderr

    port = containers.free_port()
    local = ["--target", "local", "--image-name", "application", "--tag", tag, "--local-port", str(port)]
    deploy_env = {**env, "AWS_ACCESS_KEY_ID": keys[0], "AWS_SECRET_ACCESS_KEY": keys[1]}
    cmd = [sys.executable, "-m", "jenkins_codeartifact.cli.consume_deploy"]
    try:
        done = subprocess.run([*cmd, "deploy", *local], env=deploy_env, capture_output=True, text=True, timeout=300)
        assert done.returncode == 0, done.stderr
        page = requests.get(f"http://127.0.0.1:{port}/", timeout=10).text
        assert "Current time is" in page, page
    finally:
        subprocess.run([*cmd, "teardown", *local], env=deploy_env, capture_output=True, timeout=120)

    logs = list((tmp_path / ".jobsync" / "jobs").glob("*/builds/*/log"))
    assert len(logs) == 3
    for text in (producer.stdout, consumer.stdout, again.stdout, *(p.read_text() for p in logs)):
        assert keys[1] not in text and token not in text
