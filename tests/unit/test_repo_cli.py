"""``ca-repo env|exec|promote|prune`` end to end against the in-process stand-in (real boto3, real retries).

What a user sees is asserted: stdout, the ERROR line, the exit code, the report, and what the repository
holds afterwards. Faults: throttling and 5xx during promote (answers lost after the copy landed, a copy
that stopped half-way), a revision mismatch, a protected and an upstream version in prune.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from tests.unit.test_sandbox_api import KEY, SECRET, WHERE
from tests.unit.test_standin_repo import Store, serving

from jenkins_codeartifact import redact
from jenkins_codeartifact.cli import repo
from jenkins_codeartifact.sandbox import codeartifact_api as ca
from jenkins_codeartifact.sandbox.codeartifact_model import ApiError

FILES = ("acme_lib-1.0-py3-none-any.whl", "acme_lib-1.0.tar.gz")


@pytest.fixture
def store() -> Store:
    s = Store()
    s.add("aws/dev", "acme-lib", "1.0", *FILES)
    return s


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    for var in [v for v in os.environ if v.startswith(("CA_", "AWS_", "PIP_", "UV_"))]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", KEY)
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", SECRET)
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    monkeypatch.setenv("CA_DOMAIN", WHERE["domain"])
    monkeypatch.setenv("CA_DOMAIN_OWNER", WHERE["domainOwner"])
    monkeypatch.setenv("CA_REPOSITORY", "dev")
    yield
    redact.clear()


@pytest.fixture
def server(store: Store, env: None, monkeypatch: pytest.MonkeyPatch) -> Iterator[ca.StandIn]:
    with serving(store) as s:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", s.url)  # type: ignore[attr-defined]
        yield s


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = repo.main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def errors(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("ERROR")]


def report(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    return data


# -- env and exec -------------------------------------------------------------------------------------------


def test_env_prints_only_export_lines_that_a_shell_can_eval(server: ca.StandIn, capsys: Any) -> None:
    code, out, err = cli(capsys, "env")
    assert code == 0
    assert [line.split("=", 1)[0] for line in out.splitlines()] == ["export PIP_INDEX_URL", "export UV_DEFAULT_INDEX"]
    shown = subprocess.run(
        ["sh", "-c", out + 'printf "%s\\n%s\\n" "$PIP_INDEX_URL" "$UV_DEFAULT_INDEX"'],
        capture_output=True,
        text=True,
        check=True,
        env={"PATH": os.environ["PATH"]},
    ).stdout.splitlines()
    base = server.url.split("//")[1]  # type: ignore[attr-defined]
    assert (
        shown[0] == shown[1] and shown[0].startswith("http://aws:") and shown[0].endswith(f"@{base}/pypi/dev/simple/")
    )
    token = shown[0].split(":", 2)[2].rsplit("@", 1)[0]
    assert len(token) > 1000 and token not in err
    assert "expires" in err and "UV_INDEX=" not in out


def test_env_for_poetry_and_twine_with_a_source_name(server: ca.StandIn, capsys: Any) -> None:
    code, out, err = cli(capsys, "env", "--for", "poetry", "--for", "twine", "--name", "corp-index")
    assert code == 0
    names = [line.split("=", 1)[0].removeprefix("export ") for line in out.splitlines()]
    assert names == [
        "POETRY_REPOSITORIES_CORP_INDEX_URL",
        "POETRY_HTTP_BASIC_CORP_INDEX_USERNAME",
        "POETRY_HTTP_BASIC_CORP_INDEX_PASSWORD",
        "TWINE_REPOSITORY_URL",
        "TWINE_USERNAME",
        "TWINE_PASSWORD",
    ]
    assert '[[tool.poetry.source]]\nname = "corp-index"' in err and "***" not in err


def test_env_write_makes_a_private_file_and_prints_nothing(server: ca.StandIn, capsys: Any, tmp_path: Path) -> None:
    target = tmp_path / "out" / "pip.conf"
    code, out, _err = cli(capsys, "env", "--for", "docker-secret", "--write", str(target))
    assert (code, out) == (0, "")
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert target.read_text().startswith("[global]\nindex-url = http://aws:")
    assert [p.name for p in target.parent.iterdir()] == ["pip.conf"]  # no temp file left


def test_env_file_outputs_are_not_mixed_with_env_lines(env: None, capsys: Any) -> None:
    code, out, err = cli(capsys, "env", "--for", "netrc", "--for", "pip")
    assert (code, out) == (2, "")
    assert errors(err) == [
        "ERROR: --for netrc: prints a file's content, not environment lines, so it cannot be combined"
    ]


def test_env_without_credentials_is_one_line_and_no_output(env: None, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    code, out, err = cli(capsys, "env")
    assert (code, out) == (2, "")
    assert errors(err) == ["ERROR: no AWS credentials found"]


def test_env_with_a_token_that_is_already_expired(store: Store, env: None, capsys: Any, monkeypatch: Any) -> None:
    with serving(store, clock=lambda: 1_000_000_000.0) as s:  # the service's clock is years behind ours
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", s.url)  # type: ignore[attr-defined]
        code, out, err = cli(capsys, "env", "--token-duration", "900")
    assert (code, out) == (1, "")
    assert errors(err) == [
        "ERROR: CodeArtifact returned a token that expired at 2001-09-09 02:01:40 UTC, before it could be used"
    ]


def test_exec_runs_the_command_with_the_token_masked(server: ca.StandIn, capfd: Any) -> None:
    script = (
        'echo "pip reads $PIP_INDEX_URL"; echo "uv: $UV_DEFAULT_INDEX" >&2; printf "bar %s\\r" "$PIP_INDEX_URL"; exit 7'
    )
    code = repo.main(["exec", "--", "sh", "-c", script])
    out, err = capfd.readouterr()
    assert code == 7
    assert out.startswith("pip reads http://aws:***@") and "uv: http://aws:***@" in err
    assert out.split("\n")[1].startswith("bar http://aws:***@") and out.endswith("/pypi/dev/simple/\r")  # a \r line
    assert "eyJ2ZXIi" not in out + err  # no token (they start with this header)


def test_exec_without_a_command(env: None, capsys: Any) -> None:
    code, _out, err = cli(capsys, "exec")
    assert code == 2 and errors(err) == ["ERROR: ca-repo exec: no command given"]


# -- promote ------------------------------------------------------------------------------------------------


def revision(server: ca.StandIn, repository: str = "dev") -> str:
    found = server.backend.version(server.config.repositories[repository], "acme-lib", "1.0")
    assert found is not None
    return str(found["revision"])


def promote(capsys: Any, tmp_path: Path, *extra: str) -> tuple[int, str, dict[str, Any]]:
    path = tmp_path / "promote.json"
    code, _out, err = cli(capsys, "promote", "acme-lib", "1.0", "--to", "release", "--report", str(path), *extra)
    return code, err, report(path)


def test_promote_pinned_copies_and_checks_then_is_already_there(
    server: ca.StandIn, store: Store, capsys: Any, tmp_path: Path
) -> None:
    code, err, data = promote(capsys, tmp_path, "--revision", revision(server))
    assert code == 0, err
    assert data["outcome"] == "promoted" and data["status"] == "ok"
    assert sorted(f["filename"] for f in data["files"]) == sorted(FILES)
    assert store.files[("aws/release", "acme-lib", "1.0")] == store.files[("aws/dev", "acme-lib", "1.0")]
    assert "promoted in release: 2 files, sha256 identical to the source" in err
    code, err, data = promote(capsys, tmp_path)
    assert (code, data["outcome"]) == (0, "already there")


def test_promote_refuses_a_revision_that_is_not_the_tested_one(
    server: ca.StandIn, store: Store, capsys: Any, tmp_path: Path
) -> None:
    code, err, data = promote(capsys, tmp_path, "--revision", "tested-revision")
    assert code == 3
    assert errors(err) == [
        f"ERROR: acme-lib 1.0 in dev is at revision {revision(server)}, not the tested tested-revision"
    ]
    assert ("aws/release", "acme-lib", "1.0") not in store.files and data["status"] == "failed"


def test_promote_refuses_a_version_that_is_not_published(server: ca.StandIn, capsys: Any, tmp_path: Path) -> None:
    server.versions.set_status("dev", "acme-lib", "1.0", "Unlisted")
    code, err, _ = promote(capsys, tmp_path)
    assert code == 3 and errors(err) == ["ERROR: acme-lib 1.0 is Unlisted in dev: only a Published version is promoted"]


def test_promote_from_a_report_whose_files_are_not_the_sources(
    server: ca.StandIn, store: Store, capsys: Any, tmp_path: Path
) -> None:
    tested = store.files[("aws/dev", "acme-lib", "1.0")]
    files = [{"filename": n, "sha256": h} for n, h in tested.items() if n.endswith(".whl")]
    files.append({"filename": "acme_lib-1.0.tar.gz", "sha256": "f" * 64})
    (tmp_path / "publish.json").write_text(json.dumps({"name": "acme_lib", "version": "1.0", "files": files}))
    code, err, _ = promote(capsys, tmp_path, "--from-report", str(tmp_path / "publish.json"))
    assert code == 3
    assert errors(err)[0].startswith(
        "ERROR: acme-lib 1.0 in dev is not what the report lists: acme_lib-1.0.tar.gz: sha256"
    )


def test_promote_from_a_report_of_another_revision(
    server: ca.StandIn, store: Store, capsys: Any, tmp_path: Path
) -> None:
    files = [{"filename": n, "sha256": h} for n, h in store.files[("aws/dev", "acme-lib", "1.0")].items()]
    report_data = {"name": "acme-lib", "version": "1.0", "files": files, "revision": "the-tested-one"}
    (tmp_path / "publish.json").write_text(json.dumps(report_data))
    code, err, _ = promote(capsys, tmp_path, "--from-report", str(tmp_path / "publish.json"))
    assert code == 3 and "not the tested the-tested-one" in errors(err)[0]
    (tmp_path / "publish.json").write_text(json.dumps({**report_data, "version": "2.0"}))
    code, err, _ = promote(capsys, tmp_path, "--from-report", str(tmp_path / "publish.json"))
    assert code == 2 and errors(err)[0].endswith("publish.json: reports acme-lib 2.0, not acme-lib 1.0")


def test_promote_onto_a_different_version_in_the_target_names_the_file(
    server: ca.StandIn, store: Store, capsys: Any, tmp_path: Path
) -> None:
    store.add("aws/release", "acme-lib", "1.0", FILES[0])
    code, err, data = promote(capsys, tmp_path)
    assert code == 1 and data["outcome"] == "different"
    assert errors(err) == ["ERROR: acme-lib 1.0 in release differs from the source: acme_lib-1.0.tar.gz: missing"]


def test_promote_dry_run_copies_nothing(server: ca.StandIn, store: Store, capsys: Any, tmp_path: Path) -> None:
    code, _err, data = promote(capsys, tmp_path, "--dry-run")
    assert (code, data["outcome"]) == (0, "would promote")
    assert ("aws/release", "acme-lib", "1.0") not in store.files


def test_promote_through_throttling_and_a_lost_answer(
    server: ca.StandIn, store: Store, capsys: Any, tmp_path: Path
) -> None:
    server.throttle.force(2, retry_after=0, operation="CopyPackageVersions")
    server.faults.force("CopyPackageVersions", after=True)  # the copy lands, its answer is a 500
    code, err, data = promote(capsys, tmp_path)
    assert code == 0 and data["outcome"] == "promoted" and data["copy"] == "exists"
    retries = [line for line in err.splitlines() if "CopyPackageVersions" in line and "retry" in line]
    assert len(retries) == 3 and "InternalServerException (HTTP 500)" in retries[-1]


def test_a_copy_that_stopped_half_way_is_never_reported_promoted(
    server: ca.StandIn, store: Store, capsys: Any, tmp_path: Path, monkeypatch: Any
) -> None:
    def half(source: str, target: str, package: str, version: str) -> None:
        first = sorted(store.files[(source, package, version)].items())[0]
        store.files[(target, package, version)] = dict([first])
        store.published[(target, package, version)] = 1
        raise ApiError(500, "InternalServerException", "copy interrupted")

    monkeypatch.setattr(store, "copy", half)
    code, err, data = promote(capsys, tmp_path)
    assert code == 1 and data["outcome"] == "different" and data["status"] == "failed"
    assert errors(err) == ["ERROR: acme-lib 1.0 in release differs from the source: acme_lib-1.0.tar.gz: missing"]


def test_promote_needs_a_valid_target(env: None, capsys: Any) -> None:
    code, _out, err = cli(capsys, "promote", "acme-lib", "1.0")
    assert code == 2 and errors(err) == ["ERROR: missing --to"]
    code, _out, err = cli(capsys, "promote", "acme-lib", "1.0", "--to", "x")
    assert code == 2 and errors(err) == ["ERROR: --to 'x': not a valid CodeArtifact repository name"]


def test_promote_onto_a_version_archived_in_the_target(
    server: ca.StandIn, store: Store, capsys: Any, tmp_path: Path
) -> None:
    store.copy("aws/dev", "aws/release", "acme-lib", "1.0")
    server.versions.set_status("release", "acme-lib", "1.0", "Archived")
    code, err, _ = promote(capsys, tmp_path)
    assert code == 3 and errors(err) == ["ERROR: acme-lib 1.0 is already in release, Archived"]


# -- prune --------------------------------------------------------------------------------------------------


@pytest.fixture
def many(store: Store, server: ca.StandIn) -> ca.StandIn:
    for n in range(1, 7):  # 1.1 (oldest) .. 1.6 (newest), a day apart, the newest ten days ago
        store.add("aws/dev", "acme-lib", f"1.{n}", f"acme_lib-1.{n}.tar.gz", when=1_700_000_000 + n * 86400)
    server.versions.upstream["acme-lib"] = {"0.9"}  # public PyPI serves a version of this name
    return server


def statuses(server: ca.StandIn) -> dict[str, str]:
    return {v: server.versions.status("dev", "acme-lib", v) for v in ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5", "1.6")}


def test_prune_keeps_the_newest_the_protected_and_the_upstream(many: ca.StandIn, capsys: Any, tmp_path: Path) -> None:
    (tmp_path / "live.txt").write_text("# deployed\n1.2\n")
    path = tmp_path / "prune.json"
    argv = ["prune", "acme-lib", "--keep", "3", "--protect", "1.1", "--protect-file", "live.txt", "--report", str(path)]
    code, _out, err = cli(capsys, *argv)
    assert code == 0, err
    assert statuses(many) == {
        "1.0": "Unlisted",
        "1.1": "Published",
        "1.2": "Published",
        "1.3": "Unlisted",
        "1.4": "Published",
        "1.5": "Published",
        "1.6": "Published",
    }
    plan = {p["version"]: p["reason"] for p in report(path)["plan"]}
    assert plan["0.9"] == "served by the upstream" and plan["1.1"] == "protected" and plan["1.6"] == "newest 3"
    assert err.index("prune plan for acme-lib in dev (2 to unlist):") < err.index("acme-lib: 2 versions unlisted")


def test_prune_in_release_takes_promoted_versions_but_not_what_an_upstream_serves(
    store: Store, env: None, capsys: Any, monkeypatch: Any
) -> None:
    """A promoted copy entered the domain through dev ("PackageVersionOrigin"), yet it is release's to prune;
    a version release's upstream repository (dev here) also has stays."""
    for n in range(1, 4):
        store.add("aws/dev", "acme-lib", f"2.{n}", f"acme_lib-2.{n}.tar.gz", when=1_700_000_000 + n)
    with serving(store, upstreams={"release": ["dev"]}) as s:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", s.url)  # type: ignore[attr-defined]
        for n in range(1, 4):
            assert cli(capsys, "promote", "acme-lib", f"2.{n}", "--to", "release")[0] == 0
        store.files.pop(("aws/dev", "acme-lib", "2.1"))  # dev no longer has 2.1; it still has 2.2
        code, _out, err = cli(capsys, "prune", "acme-lib", "--repository", "release", "--keep", "1")
        assert code == 0, err
        assert {v: s.versions.status("release", "acme-lib", v) for v in ("2.1", "2.2", "2.3")} == {
            "2.1": "Unlisted",
            "2.2": "Published",
            "2.3": "Published",
        }
    assert "keep     2.2  (served by the upstream dev)" in err


def test_prune_above_the_cap_changes_nothing(many: ca.StandIn, capsys: Any) -> None:
    code, _out, err = cli(capsys, "prune", "acme-lib", "--keep", "1", "--max-changes", "3", "--action", "delete")
    assert code == 3
    assert errors(err) == ["ERROR: prune would delete 6 versions of acme-lib, more than --max-changes 3"]
    assert set(statuses(many).values()) == {"Published"}


def test_prune_dry_run_and_older_than(many: ca.StandIn, capsys: Any) -> None:
    code, _out, err = cli(capsys, "prune", "acme-lib", "--keep", "1", "--dry-run", "--action", "archive")
    assert code == 0 and "archive  1.0" in err and set(statuses(many).values()) == {"Published"}
    # every version was published in 2023: none is older than 100000 days, so nothing changes
    code, _out, err = cli(capsys, "prune", "acme-lib", "--keep", "1", "--older-than", "100000", "--action", "dispose")
    assert code == 0 and set(statuses(many).values()) == {"Published"} and "too recent" in err


def test_prune_bad_numbers(env: None, capsys: Any) -> None:
    code, _out, err = cli(capsys, "prune", "acme-lib", "--keep", "-1")
    assert code == 2 and errors(err) == ["ERROR: --keep -1: must be 0 or more (the newest N versions are never pruned)"]
    code, _out, err = cli(capsys, "prune", "acme-lib", "--keep", "x")
    assert code == 2 and "--keep: invalid int value: 'x'" in errors(err)[0]


# -- origin controls ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("groups", "upstream", "code", "line"),
    [
        ([], set(), 0, "WARNING: acme-lib could be shadowed from the public upstream: its package group /* let"),
        ([("/pypi//acme~", "ALLOW", "BLOCK")], set(), 0, "publishing allowed; the public upstream is blocked"),
        ([("/pypi//acme~", "BLOCK", "BLOCK")], set(), 3, "ERROR: publishing acme-lib will be refused"),
        ([], {"0.9"}, 3, "ERROR: publishing acme-lib to dev will be refused: its package origin controls block"),
    ],
)
def test_origin_says_refused_or_shadowable(
    store: Store, env: None, capsys: Any, monkeypatch: Any, groups: list[Any], upstream: set[str], code: int, line: str
) -> None:
    from jenkins_codeartifact.sandbox.codeartifact_repo import PackageGroup

    store.files.clear()  # a new name: the group decides, unless public PyPI has versions of it
    made = [
        PackageGroup(p, {"PUBLISH": pub, "EXTERNAL_UPSTREAM": up, "INTERNAL_UPSTREAM": "ALLOW"})
        for p, pub, up in groups
    ]
    with serving(store, package_groups=made) as s:
        s.versions.upstream["acme-lib"] = upstream
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", s.url)  # type: ignore[attr-defined]
        got, _out, err = cli(capsys, "origin", "Acme_Lib")
    assert got == code
    assert any(x.startswith(line) or line in x for x in err.splitlines()), err


# -- secrets and signals ------------------------------------------------------------------------------------


def test_the_token_reaches_stdout_only(server: ca.StandIn, capsys: Any, tmp_path: Path) -> None:
    """env prints the token where asked (stdout); its report, its stderr and exec's report never hold it."""
    code, out, err = cli(capsys, "env", "-v", "--for", "twine", "--report", str(tmp_path / "env.json"))
    assert code == 0
    token = next(line for line in out.splitlines() if "TWINE_PASSWORD" in line).split("=", 1)[1].strip("'")
    assert len(token) > 1000
    code, _out, err2 = cli(capsys, "exec", "--report", str(tmp_path / "exec.json"), "--", "true")
    assert code == 0
    for text in (err, err2, (tmp_path / "env.json").read_text(), (tmp_path / "exec.json").read_text()):
        assert token not in text and "eyJ2ZXIi" not in text


def test_sigterm_stops_exec_and_its_command_within_5_seconds(server: ca.StandIn, tmp_path: Path) -> None:
    import signal
    import sys
    import time

    script = 'echo "$$"; exec sleep 60'
    proc = subprocess.Popen(
        [sys.executable, "-m", "jenkins_codeartifact.cli.repo", "exec", "--", "sh", "-c", script],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    child = int(proc.stdout.readline())
    start = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    code = proc.wait(timeout=10)
    elapsed = time.monotonic() - start
    assert code == 143 and elapsed < 5.0
    assert not Path(f"/proc/{child}").exists() or "zombie" in Path(f"/proc/{child}/status").read_text()
    assert "ERROR: terminated (SIGTERM)" in proc.communicate()[1]


def test_env_for_a_generic_index_without_a_password(env: None, capsys: Any, monkeypatch: Any) -> None:
    monkeypatch.setenv("CA_REPOSITORY_URL", "https://pypi.example.invalid/")
    monkeypatch.setenv("CA_SIMPLE_URL", "https://pypi.example.invalid/simple/")
    code, out, err = cli(capsys, "env")
    assert (code, out) == (2, "")
    assert errors(err) == ["ERROR: no password for https://pypi.example.invalid/"]
    monkeypatch.setenv("CA_INDEX_USERNAME", "ci")
    monkeypatch.setenv("CA_INDEX_PASSWORD", "s3cret-generic")
    code, out, err = cli(capsys, "env", "--for", "pip")
    assert code == 0 and out == "export PIP_INDEX_URL=https://ci:s3cret-generic@pypi.example.invalid/simple/\n"
    assert "s3cret-generic" not in err
