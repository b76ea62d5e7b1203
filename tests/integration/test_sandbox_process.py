"""Pidfiles, waiting, env.sh and the ca-sandbox CLI with real (small) processes, without the real services."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest

from jenkins_codeartifact import sandbox
from jenkins_codeartifact.cli import sandbox as cli
from jenkins_codeartifact.errors import ConfigError, OperationError
from jenkins_codeartifact.sandbox import process
from jenkins_codeartifact.sandbox.process import Service

SLEEPER = [sys.executable, "-c", "import time; time.sleep(60)"]


def test_start_records_pid_and_stop_ends_exactly_that_process(tmp_path: Path) -> None:
    service = Service("sleeper", tmp_path)
    pid = service.start(SLEEPER)
    assert service.pid() == pid and process.alive(pid)
    assert json.loads(service.pidfile.read_text())["pid"] == pid
    assert service.stop(timeout=5) is True
    assert not process.alive(pid)
    assert not service.pidfile.exists()
    assert service.stop() is False  # nothing recorded any more: a no-op


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    other = subprocess.Popen(SLEEPER)
    try:
        service = Service("stale", tmp_path)
        record = {"pid": other.pid, "start": "1", "argv": SLEEPER}  # same PID, different start time: not ours
        service.pidfile.write_text(json.dumps(record))
        assert service.pid() is None
        service.stop(timeout=1)
        assert other.poll() is None
        assert not service.pidfile.exists()
    finally:
        other.kill()
        other.wait()


def test_sigterm_ignored_means_sigkill(tmp_path: Path) -> None:
    stubborn = [
        sys.executable,
        "-c",
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(60)",
    ]
    service = Service("stubborn", tmp_path)
    pid = service.start(stubborn)
    time.sleep(0.3)  # let it install the handler
    started = time.monotonic()
    service.stop(timeout=0.5)
    assert not process.alive(pid)
    assert time.monotonic() - started < 5


def test_wait_ready_names_the_log_when_the_process_dies(tmp_path: Path) -> None:
    service = Service("crasher", tmp_path)
    service.start([sys.executable, "-c", "print('boom: cannot bind'); raise SystemExit(3)"])
    with pytest.raises(OperationError) as exc:
        service.wait_ready(lambda: False, "http://127.0.0.1:1/", timeout=10)
    assert "crasher exited before answering" in exc.value.message
    assert "boom: cannot bind" in exc.value.message
    assert exc.value.hint == f"see {service.logfile}"


def test_wait_ready_times_out_with_the_service_name(tmp_path: Path) -> None:
    service = Service("slow", tmp_path)
    service.start(SLEEPER)
    try:
        with pytest.raises(OperationError, match="slow did not answer on X within 0s"):
            service.wait_ready(lambda: False, "X", timeout=0.2)
    finally:
        service.stop(timeout=5)


def test_free_ports_are_distinct_and_free() -> None:
    ports = sandbox.free_ports()
    numbers = [ports.devpi, ports.codeartifact, ports.moto, ports.registry]
    assert len(set(numbers)) == 4
    assert all(process.port_free(p) for p in numbers)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert not process.port_free(sock.getsockname()[1])


def test_env_sh_round_trips_and_quotes(tmp_path: Path) -> None:
    env = {"A": "plain", "B": "with space and 'quote'", "C": "$(not run)"}
    path = sandbox.write_env(tmp_path, env)
    assert sandbox.read_env(tmp_path) == env
    out = subprocess.run(["sh", "-c", f'. "{path}"; printf %s "$C"'], capture_output=True, text=True, check=True)
    assert out.stdout == "$(not run)"


def test_exported_endpoint_names_are_the_ones_boto3_reads(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    creds = {"aws_access_key_id": "AKIAX", "aws_secret_access_key": "s"}
    env = sandbox._environment(sandbox.Ports(1, 2, 3, 4), tmp_path, creds)
    for var in [v for v in os.environ if v.startswith("AWS_")]:
        monkeypatch.delenv(var)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    moto = "http://127.0.0.1:3"
    for service in ("ecr", "ecs", "cloudformation", "iam", "ec2", "elbv2", "sts", "logs", "ssm"):
        assert boto3.client(service).meta.endpoint_url == moto, service
    assert boto3.client("codeartifact").meta.endpoint_url == "http://127.0.0.1:2"
    assert env["CA_REGISTRY"] == "127.0.0.1:4"


def test_up_refuses_busy_ports_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        busy = sock.getsockname()[1]
        ports = sandbox.Ports(*process.free_port_numbers(3), busy)
        with pytest.raises(OperationError, match=f"registry \\({busy}\\)"):
            sandbox.up(tmp_path, ports=ports)
    assert sandbox.running(tmp_path) == {}
    assert not list(tmp_path.glob("*.pid"))


def test_secrets_are_private_and_stable(tmp_path: Path) -> None:
    first = sandbox._secrets_for(tmp_path)
    assert (tmp_path / "secrets.json").stat().st_mode & 0o777 == 0o600
    assert sandbox._secrets_for(tmp_path) == first
    assert first["aws_access_key_id"].startswith("AKIA") and len(first["aws_password"]) >= 32


def test_cli_env_without_a_sandbox_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["env", "--dir", str(tmp_path / "none")]) == 2
    assert "run ca-sandbox up first" in capsys.readouterr().err


def test_cli_down_without_a_sandbox_is_fine(tmp_path: Path) -> None:
    assert cli.main(["down", "--dir", str(tmp_path)]) == 0


def test_cli_env_prints_env_sh(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    sandbox.write_env(tmp_path, {"CA_DOMAIN": "my-domain"})
    assert cli.main(["env", "--dir", str(tmp_path)]) == 0
    assert "export CA_DOMAIN=my-domain" in capsys.readouterr().out


def _start_time(pid: int) -> str:
    return Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()[19]


@pytest.mark.parametrize(
    "pidfile",
    [
        "{pid}\n",  # a bare PID (older format, or written by hand): proves nothing
        "{pid} {start}\n",  # PID and start time but no command line
        '{{"pid": {pid}, "start": null, "argv": {argv}}}\n',  # no start time
        '{{"pid": {pid}, "start": "{start}", "argv": ["/usr/sbin/devpi-server", "--port", "1"]}}\n',  # other command
        '{{"pid": {pid}, "start": "1", "argv": {argv}}}\n',  # PID reused by a later process
        "not a pidfile\n",
    ],
)
def test_a_pidfile_that_cannot_prove_it_names_our_process_is_stale_and_never_signalled(
    tmp_path: Path, pidfile: str
) -> None:
    other = subprocess.Popen(SLEEPER)  # someone else's process, alive, same user
    try:
        time.sleep(0.2)  # exec'd: its command line is the sleeper's
        service = Service("devpi", tmp_path)
        argv = json.dumps(SLEEPER)
        service.pidfile.write_text(pidfile.format(pid=other.pid, start=_start_time(other.pid), argv=argv))
        assert service.pid() is None
        assert sandbox.running(tmp_path) == {}
        sandbox.down(tmp_path)
        assert service.stop(timeout=1) is False
        time.sleep(0.1)
        assert other.poll() is None, "an unrelated process was signalled"
        assert not service.pidfile.exists()
    finally:
        other.kill()
        other.wait()


def test_a_pidfile_with_start_time_and_command_is_trusted_across_processes(tmp_path: Path) -> None:
    """What another ``ca-sandbox`` process recorded (not a child of this one) is recognised and stopped."""
    other = subprocess.Popen(SLEEPER, start_new_session=True)
    try:
        time.sleep(0.2)
        service = Service("sleeper", tmp_path)
        record = {"pid": other.pid, "start": _start_time(other.pid), "argv": SLEEPER}
        service.pidfile.write_text(json.dumps(record))
        assert service.pid() == other.pid
        assert service.stop(timeout=5) is True
        assert other.wait(timeout=5) is not None
    finally:
        if other.poll() is None:
            other.kill()
            other.wait()


def test_a_service_checked_right_after_start_counts_as_running(tmp_path: Path) -> None:
    """Between fork and exec the child's command line is still ours: its own start is not mistaken for death."""
    service = Service("sleeper", tmp_path)
    for _ in range(5):
        pid = service.start(SLEEPER)
        try:
            assert service.pid() == pid
        finally:
            service.stop(timeout=5)


def test_pidfiles_are_written_whole(tmp_path: Path) -> None:
    service = Service("sleeper", tmp_path)
    pid = service.start(SLEEPER)
    try:
        record = json.loads(service.pidfile.read_text())
        assert record == {"pid": pid, "start": _start_time(pid), "argv": SLEEPER}
        assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temp file left behind
    finally:
        service.stop(timeout=5)


def test_env_text_is_env_sh_or_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no sandbox environment at") as info:
        sandbox.env_text(tmp_path)
    assert info.value.hint == "run ca-sandbox up first"
    path = sandbox.write_env(tmp_path, {"CA_DOMAIN": "my-domain"})
    assert sandbox.env_text(tmp_path) == path.read_text(encoding="utf-8")
