"""What every command shares: generated flags and help, --version, exit codes, the report, signals."""

from __future__ import annotations

import ctypes
import json
import os
import re
import signal
import sys
import threading
import time

import pytest

from jenkins_codeartifact import __version__, redact, settings, signals
from jenkins_codeartifact.cli import _common, consume_deploy, jobsync, options, publish, sandbox
from jenkins_codeartifact.errors import OperationError

COMMANDS = {
    "ca-publish": (publish.main, [], publish.SETTINGS),
    **{f"ca-consume-deploy {c}": (consume_deploy.main, [c], consume_deploy.SETTINGS) for c in consume_deploy.COMMANDS},
    **{f"jobsync {c}": (jobsync.main, [c], names) for c, names in jobsync.SETTINGS.items()},
    **{f"ca-sandbox {c}": (sandbox.main, [c], ()) for c in ("up", "down", "env")},
}


def help_entries(main, sub, capsys) -> dict[str, str]:
    """``--help`` of a (sub)command as {flag: its help text, whitespace normalised}."""
    with pytest.raises(SystemExit) as done:
        main([*sub, "--help"])
    assert done.value.code == 0
    entries: dict[str, str] = {}
    current = None
    for line in capsys.readouterr().out.splitlines():
        match = re.match(r"  (-\w, )?(--[\w-]+)", line)
        if match:
            current = match.group(2)
            entries[current] = line[match.end() :]
        elif current and line.startswith("    "):
            entries[current] += " " + line.strip()
        else:
            current = None
    return {flag: " ".join(text.split()) for flag, text in entries.items()}


@pytest.mark.parametrize("command", COMMANDS)
def test_every_settings_flag_is_listed_with_its_env_var_and_default(command, capsys):
    main, sub, names = COMMANDS[command]
    entries = help_entries(main, sub, capsys)
    for name in options.select(*names, "output"):
        flag = options.flag(name)
        if flag is None:  # environment-only: secrets and identities have no flag
            assert f"--{name.replace('_', '-')}" not in entries
            continue
        text = entries[flag]
        for var in settings.FIELDS[name].metadata["env"]:
            assert var in text, (flag, text)
        default = settings.FIELDS[name].default
        if default not in (None, (), False, True):
            assert f"default: {default}" in text, (flag, text)


def test_skip_existing_help_names_its_variable(capsys):
    assert "[env: CA_SKIP_EXISTING]" in help_entries(publish.main, [], capsys)["--skip-existing"]


@pytest.mark.parametrize(
    ("main", "prog", "library"),
    [
        (publish.main, "ca-publish", "twine"),
        (consume_deploy.main, "ca-consume-deploy", "boto3"),
        (jobsync.main, "jobsync", "python-jenkins"),
        (sandbox.main, "ca-sandbox", "devpi-server"),
    ],
)
def test_every_command_answers_version(main, prog, library, capsys):
    with pytest.raises(SystemExit) as done:
        main(["--version"])
    assert done.value.code == 0
    out = capsys.readouterr().out
    assert out.count("\n") == 1
    assert re.match(rf"{prog} {re.escape(__version__)} \(jenkins-codeartifact; Python 3\.\d+\.\d+, .*\)$", out)
    assert re.search(rf"{library} \d+\.\d+", out)


def test_cli_precedence_flag_over_env_over_file_over_default(tmp_path, monkeypatch):
    (tmp_path / settings.CONFIG_NAME).write_text('domain = "file"\nrepository = "file"\nregion = "file"\n')
    monkeypatch.chdir(tmp_path)
    for var in ("CA_DOMAIN", "CA_REPOSITORY", "AWS_REGION", "AWS_DEFAULT_REGION", "CA_CONFIG", "CA_TOKEN_DURATION"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("CA_DOMAIN", "env")
    monkeypatch.setenv("CA_REPOSITORY", "env")
    args = publish.parser().parse_args(["--domain", "flag", "--skip-existing"])
    s = _common.load_settings(args)
    assert (s.domain, s.repository, s.region, s.token_duration, s.skip_existing) == ("flag", "env", "file", 3600, True)
    # a flag not given leaves the environment's value in place, booleans included
    monkeypatch.setenv("CA_DRY_RUN", "true")
    assert _common.load_settings(publish.parser().parse_args([])).dry_run is True


def test_repeatable_param_flag_becomes_a_tuple(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CA_PARAMS", raising=False)
    args = consume_deploy.parser().parse_args(["deploy", "--param", "A=1", "--param", "B=2"])
    assert _common.load_settings(args).params == ("A=1", "B=2")


# --- the one failure path: exit codes and the report -------------------------------------------------


def toy(body):
    """A command with the common options around ``body``, run the way the real ones are."""
    parser = _common.new_parser("toy", None)
    _common.add_options(parser)
    return lambda argv: _common.run(parser, lambda args, s, record: body(record), argv)


@pytest.fixture
def report(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CA_REPORT", raising=False)
    return tmp_path / "out" / "report.json"


def read(path):
    return json.loads(path.read_text())


def test_success_reports_ok(report):
    def body(record):
        record["thing"] = 1
        return 0

    assert toy(body)(["--report", str(report)]) == 0
    assert read(report) == {"thing": 1, "tool": "toy", "status": "ok", "exit_code": 0}
    assert report.stat().st_mode & 0o777 == 0o600


def test_failure_reports_failed_with_the_error_line_and_no_secret(report, capsys):
    redact.register("s3cr3t-token-value")

    def body(record):
        record["done"] = ["a"]
        raise OperationError("upload to https://aws:s3cr3t-token-value@host/ failed", hint="try again")

    assert toy(body)(["--report", str(report)]) == 1
    data = read(report)
    assert data["status"] == "failed" and data["exit_code"] == 1 and data["done"] == ["a"]
    assert data["error"] == {"message": "upload to https://aws:***@host/ failed", "hint": "try again", "exit_code": 1}
    err = capsys.readouterr().err
    assert "s3cr3t" not in err + report.read_text()
    assert [line for line in err.splitlines() if line.startswith("ERROR")] == [
        "ERROR: upload to https://aws:***@host/ failed"
    ]


def test_a_bug_is_exit_1_and_reported(report, capsys):
    def body(record):
        raise KeyError("oops")

    assert toy(body)(["--report", str(report)]) == 1
    assert read(report)["error"] == {"message": "unexpected KeyError: 'oops'", "exit_code": 1}


@pytest.mark.parametrize(
    ("sig", "code", "word"), [(signal.SIGTERM, 143, "terminated"), (signal.SIGINT, 130, "interrupted")]
)
def test_a_signal_aborts_after_cleanup_and_reports_aborted(report, capsys, sig, code, word):
    cleaned = []

    def body(record):
        record["started"] = True
        try:
            os.kill(os.getpid(), sig)
            time.sleep(5)  # never reached: the signal raises here
        finally:
            cleaned.append(True)
        return 0

    started = time.monotonic()
    assert toy(body)(["--report", str(report)]) == code
    assert time.monotonic() - started < 2 and cleaned == [True]
    data = read(report)
    assert (data["status"], data["exit_code"], data["started"]) == ("aborted", code, True)
    assert data["error"]["message"].startswith(word)
    assert f"ERROR: {word}" in capsys.readouterr().err


def test_a_second_signal_does_not_interrupt_the_cleanup(report):
    steps = []

    def body(record):
        try:
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        finally:
            os.kill(os.getpid(), signal.SIGTERM)  # Jenkins' second abort, while we clean up
            steps.append("container restored")
            os.kill(os.getpid(), signal.SIGINT)
            steps.append("secret removed")
        return 0

    assert toy(body)(["--report", str(report)]) == 143
    assert steps == ["container restored", "secret removed"]
    assert read(report)["status"] == "aborted"


def test_deferred_holds_a_signal_until_the_block_ends(report):
    steps = []

    def body(record):
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            steps.append("finished the block")
        steps.append("never")
        return 0

    assert toy(body)(["--report", str(report)]) == 143
    assert steps == ["finished the block"]


@pytest.mark.parametrize("where", ["directory", "under-a-file"])
def test_an_unwritable_report_path_stops_before_the_body(tmp_path, report, capsys, where):
    ran = []
    blocker = tmp_path / "file"
    blocker.write_text("")
    path = tmp_path if where == "directory" else blocker / "r.json"
    assert toy(lambda record: ran.append(1) or 0)(["--report", str(path)]) == 2
    why = "is a directory" if where == "directory" else f"{blocker} is not a directory"
    err = capsys.readouterr().err
    assert [line for line in err.splitlines() if line.startswith("ERROR")] == [f"ERROR: --report {path}: {why}"]
    assert ran == [] and "Traceback" not in err


def test_report_path_from_the_environment_is_checked_too(tmp_path, report, monkeypatch, capsys):
    monkeypatch.setenv("CA_REPORT", str(tmp_path))
    assert toy(lambda record: 0)([]) == 2
    assert f"ERROR: --report {tmp_path}: is a directory" in capsys.readouterr().err


def test_handlers_are_restored_after_a_run(report):
    before = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    toy(lambda record: 0)([])
    assert (signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)) == before


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="prctl is Linux")
def test_the_command_body_runs_non_dumpable(report):
    """Same-user processes (a build backend) cannot read a non-dumpable process's /proc/PID/environ or mem."""
    libc = ctypes.CDLL(None)
    libc.prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE 1: an earlier in-process run may have cleared it
    seen = []

    def body(record):
        seen.append(libc.prctl(3, 0, 0, 0, 0))  # PR_GET_DUMPABLE
        return 0

    assert toy(body)([]) == 0
    assert seen == [0]


def test_a_signal_held_by_a_worker_thread_reaches_the_main_thread_when_it_is_done(report):
    steps = []

    def worker():
        with signals.deferred():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            steps.append("worker restored its container")

    def body(record):
        thread = threading.Thread(target=worker)
        thread.start()
        thread.join()
        time.sleep(2)  # the re-delivered signal interrupts this
        steps.append("never")
        return 0

    started = time.monotonic()
    assert toy(body)(["--report", str(report)]) == 143
    assert steps == ["worker restored its container"] and time.monotonic() - started < 1.5
