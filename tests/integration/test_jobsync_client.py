"""jobsync's HTTP client against the fake Jenkins: errors in Jenkins' own words, crumbs, URLs, faults."""

from __future__ import annotations

import logging
import re
import shutil
from pathlib import Path

import pytest
from tests.fakes.fake_jenkins import ALL_PLUGINS, FakeJenkins

from jenkins_codeartifact import redact
from jenkins_codeartifact.cli import jobsync

JOBS = """\
folders:
  - name: team
jobs:
  - {name: producer, type: freestyle, shell: make}
  - {name: consumer, type: freestyle, shell: make test}
  - {name: team/a, type: freestyle, shell: a}
  - {name: team/b, type: freestyle, shell: b}
  - {name: team/c, type: freestyle, shell: c}
"""
NAMES = ["consumer", "producer", "team", "team/a", "team/b", "team/c"]
GOLDEN = Path(__file__).resolve().parents[1] / "golden"


@pytest.fixture
def specs(tmp_path: Path) -> Path:
    d = tmp_path / "jobs"
    d.mkdir()
    (d / "jobs.yml").write_text(JOBS, encoding="utf-8")
    return d


@pytest.fixture
def env(fake, monkeypatch, tmp_path):
    for var in [v for v in __import__("os").environ if v.startswith(("JENKINS_", "CA_"))]:
        monkeypatch.delenv(var)
    monkeypatch.setenv("JENKINS_URL", fake.url)
    monkeypatch.setenv("JENKINS_USER", fake.user)
    monkeypatch.setenv("JENKINS_API_TOKEN", fake.token)
    monkeypatch.setenv("CA_JOBSYNC_OWNER", "git.example.com/team-a/jobs")  # the specs are not in a git clone
    monkeypatch.chdir(tmp_path)
    yield
    redact.clear()


def run(specs: Path, *args: str) -> int:
    return jobsync.main([args[0], "--jobs-dir", str(specs), *args[1:]])


def errors(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith(("ERROR", "TIP"))]


# ------------------------------------------------------------------- 14.7: Jenkins' words, not its markup


def test_a_failure_is_reported_from_x_error_not_the_html_page(fake, specs, env, capsys):
    fake.faults["producer"] = 400  # a hudson.model.Failure: X-Error header over an HTML page
    fake.faults["consumer"] = 500  # an exception: the "Oops!" page, no X-Error
    assert run(specs, "apply") == 1
    err = capsys.readouterr().err
    assert "ERROR: producer: create: Jenkins answered HTTP 400: Injected failure for producer\n" in err
    oops = re.search(r"ERROR: consumer: create: Jenkins answered HTTP 500: (.*)\n", err)
    assert oops, err
    assert re.fullmatch(r"A problem occurred while processing the request Logging ID=[0-9a-f]+", oops.group(1))
    assert not re.search(r"<|DOCTYPE|log in|New Item|var x", err)
    assert sorted(fake.items) == ["team", "team/a", "team/b", "team/c"]


# --------------------------------------------------------------------------- 7.7: a crumb that went stale


def test_a_crumb_rotated_mid_apply_is_fetched_again_once(fake, specs, env, monkeypatch, capsys):
    monkeypatch.setenv("JENKINS_API_TOKEN", fake.password)  # a password session needs crumbs; a token does not
    monkeypatch.setenv("CA_WORKERS", "1")
    fake.rotate_every = 2  # Jenkins restarts (or the session expires) after every second write
    assert run(specs, "apply") == 0
    err = capsys.readouterr().err
    assert "6 created, 0 updated, 0 unchanged, 0 deleted, 0 failed" in err
    assert sorted(fake.items) == NAMES
    refused = [line for line in err.splitlines() if "refused the CSRF crumb" in line]
    crumbs = [path for method, path, _ in fake.log if path == "/crumbIssuer/api/json"]
    assert len(refused) == len(crumbs) - 1 >= 2
    assert all(line.startswith("WARNING: ") and "fetching a new one" in line for line in refused)
    assert "permission denied" not in err and "TIP" not in err


def test_a_crumb_refused_again_is_reported_as_such(fake, specs, env, monkeypatch, capsys):
    monkeypatch.setenv("JENKINS_API_TOKEN", fake.password)
    fake.csrf_broken = True  # every crumb is refused (a proxy that drops the session cookie)
    assert run(specs, "apply") == 1
    err = capsys.readouterr().err
    lines = errors(err)
    assert (
        "ERROR: team: create: Jenkins refused a freshly fetched CSRF crumb too "
        "(HTTP 403: HTTP ERROR 403 No valid crumb was included in the request)" in lines
    )
    assert "permission denied" not in err and "JENKINS_API_TOKEN" not in err  # not a credentials problem
    assert fake.items == {}
    posts = [path for method, path, _ in fake.log if method == "POST" and "name=team" in path]
    assert len(posts) == 2  # the first try and exactly one retry with a new crumb


# ------------------------------------------------------------------------- 7.3 and 7.6: the Jenkins URL


def test_a_password_in_the_url_is_refused_and_never_printed(fake, specs, env, monkeypatch, capsys, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "pa%3Ass-W0rd-in-url"
    url = fake.url.replace("http://", f"http://admin:{secret}@")
    monkeypatch.setenv("JENKINS_URL", url)
    for command in ("apply", "diff"):
        assert run(specs, command, "-v") == 2
    out, err = capsys.readouterr()
    assert errors(err)[:2] == [
        f"ERROR: Jenkins URL {fake.url} must not carry credentials (user:password@)",
        f"TIP: set JENKINS_URL={fake.url} and put the user in JENKINS_USER, the API token in JENKINS_API_TOKEN",
    ]
    for text in (out, err, caplog.text):
        assert secret not in text and "pa:ss-W0rd" not in text
    assert fake.requests == 0


@pytest.mark.parametrize(
    ("url", "why"),
    [
        ("127.0.0.1:1", "is not an http:// or https:// URL with a host"),
        ("localhost", "is not an http:// or https:// URL with a host"),
        ("ftp://jenkins.example.com/", "is not an http:// or https:// URL with a host"),
        ("http://", "is not an http:// or https:// URL with a host"),
        ("http://localhost:80x/", "is not a valid URL"),
    ],
)
def test_a_url_that_is_not_http_is_one_usage_error(specs, env, monkeypatch, capsys, url, why):
    monkeypatch.setenv("JENKINS_URL", url)
    assert run(specs, "diff") == 2
    lines = errors(capsys.readouterr().err)
    assert lines[0] == f"ERROR: Jenkins URL {url!r} {why}"
    assert len(lines) == 2 and lines[1].startswith("TIP: ")


# ------------------------------------------------------------- 14.1-14.4: what Jenkins keeps of a POST


def test_jenkins_can_read_every_class_of_every_golden(fake, env, tmp_path, capsys):
    """No element of ours lands in Jenkins' "old/unreadable data" (View$PropertyImpList did)."""
    jobs = tmp_path / "golden"
    jobs.mkdir()
    for spec in (GOLDEN / "jobs").glob("*.yml"):
        # freestyle_clean: same job names as freestyle_full. typed_core and raw use plugins the local
        # Jenkins (jenkins/plugins.txt) does not install (build-timeout, github, aws-credentials, matrix...),
        # long_tail too (ansicolor, envinject, ws-cleanup, mailer, cmake)
        if spec.stem not in ("freestyle_clean", "typed_core", "raw", "long_tail"):
            shutil.copy(spec, jobs)
    assert run(jobs, "apply") == 0
    assert len(fake.items) >= 10 and fake.old_data == []
    assert all("PropertyList" in fake.config(n) for n, i in fake.items.items() if i.cls.endswith(".Folder"))


def test_a_description_saved_from_the_ui_with_crlf_is_not_a_change(fake, env, tmp_path, capsys):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    shutil.copy(GOLDEN / "jobs" / "folders.yml", jobs)
    assert run(jobs, "apply") == 0
    saved = (GOLDEN / "saved" / "folders.xml").read_text(encoding="utf-8").split("==> team <==\n")[1]
    # the saved file has the ownerless marker of an offline render; apply wrote its owner in
    saved = re.sub(r"(sha256:[0-9a-f]{24})\]", r"\1 owner=git.example.com/team-a/jobs name=team]", saved)
    fake.put("team", saved.split("\n==> ")[0], verbatim=True)  # the folder's page saved in the UI
    assert "\r\n" in fake.items["team"].description
    fake.reset_counts()
    capsys.readouterr()
    for args in (("apply",), ("apply", "--verify")):
        assert run(jobs, *args) == 0
        assert "0 created, 0 updated, 3 unchanged" in capsys.readouterr().err
    assert fake.writes() == []


def test_what_jenkins_drops_names_the_missing_plugin_and_is_not_resent(env, tmp_path, monkeypatch, capsys):
    jobs = tmp_path / "jobs"
    jobs.mkdir()
    (jobs / "j.yml").write_text(
        "jobs:\n  - {name: stamped, type: freestyle, shell: make, timestamps: true}\n"
        "  - {name: plain, type: freestyle, shell: make}\n"
    )
    with FakeJenkins(installed=ALL_PLUGINS - {"timestamper"}) as fake:
        monkeypatch.setenv("JENKINS_URL", fake.url)
        assert run(jobs, "apply") == 0  # Jenkins accepts the POST and drops what it cannot bind
        assert fake.old_data == [("stamped", "hudson.plugins.timestamper.TimestamperBuildWrapper")]
        assert "Timestamper" not in fake.config("stamped")
        capsys.readouterr()
        assert run(jobs, "diff", "--verify") == 0
        out = capsys.readouterr().out
        assert (
            "! conflict  job    stamped (Jenkins dropped hudson.plugins.timestamper.TimestamperBuildWrapper "
            "(plugin timestamper) from config.xml: install timestamper on the server, or remove that setting "
            "from the spec; not sent again)" in out
        )
        assert "= unchanged job    plain" in out
        fake.reset_counts()
        for _ in range(2):
            assert run(jobs, "apply", "--verify") == 1
            err = capsys.readouterr().err
            assert "ERROR: stamped: Jenkins dropped hudson.plugins.timestamper.TimestamperBuildWrapper" in err
        assert fake.writes() == []  # reported, never re-pushed
