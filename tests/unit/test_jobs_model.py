"""Job specs: the walkthrough's two jobs load; every mistake is one line naming file:line and the field."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from jenkins_codeartifact.cli import jobsync
from jenkins_codeartifact.errors import ConfigError
from jenkins_codeartifact.jobsync import jobspecs, model

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str, name: str = "jobs.yml") -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def error(tmp_path: Path, text: str) -> str:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        jobspecs.load(tmp_path)
    message = exc.value.message
    assert "\n" not in message
    return message


def test_walkthrough_jobs():
    specs = jobspecs.load(ROOT / "jenkins" / "jobs")
    producer = specs.get("producer")
    assert isinstance(producer, model.Freestyle)
    assert producer.git is not None and producer.git.clean == "before-checkout"
    assert producer.poll == "* * * * *"
    assert producer.bindings == (model.Binding("aws", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),)
    assert any(step.startswith("ca-publish package_src") for step in producer.shell)
    consumer = specs.get("consumer")
    assert isinstance(consumer, model.Pipeline)
    assert consumer.script_path == "application_src/Jenkinsfile"
    assert consumer.poll == "* * * * *"
    assert consumer.jenkinsfile is not None and consumer.jenkinsfile.credentials == "aws"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("jobs:\n  - name: a\n    type: freestyle\n    pol: '* * * * *'\n", "jobs.yml:4: jobs[0].pol: unknown key"),
        (
            "jobs:\n  - name: a\n    type: freestyl\n",
            "jobs.yml:3: jobs[0].type: expected type freestyle, pipeline, multibranch or raw",
        ),
        ("jobs:\n  - name: a\n    type: freestyle\n    git: {branch: main}\n", "jobs.yml:4: jobs[0].git: missing"),
        (
            "jobs:\n  - name: a\n    type: freestyle\n    git:\n      url: u\n      clean: always\n",
            "jobs.yml:6: jobs[0].git.clean: expected one of none, before-checkout, wipe",
        ),
        (
            "jobs:\n  - name: a\n    type: freestyle\n    disabled: maybe\n",
            "jobs.yml:4: jobs[0].disabled: expected true",
        ),
        (
            "jobs:\n  - name: a\n    type: freestyle\n    shell: [1]\n",
            "jobs.yml:4: jobs[0].shell[0]: expected a string",
        ),
        (
            "jobs:\n  - name: a\n    type: freestyle\n    bindings:\n"
            "      - {credentials: aws, username: 1X, password: P}\n",
            "jobs.yml:5: jobs[0].bindings[0].username: '1X' is not a valid environment variable name",
        ),
        ("jobs:\n  - name: a\n    type: pipeline\n", "jobs.yml:2: jobs[0]: missing required key 'git'"),
        ("jobs:\n  - type: freestyle\n", "jobs.yml:2: jobs[0]: missing required key 'name'"),
        ("jobs:\n  - name: 'a:b'\n    type: freestyle\n", "jobs.yml:2: jobs[0].name: 'a:b': Jenkins rejects"),
        ("jobs:\n  - name: '..'\n    type: freestyle\n", "jobs.yml:2: jobs[0].name: '..': '..' is not a valid name"),
        ("jobs:\n  - name: 'a//b'\n    type: freestyle\n", "jobs.yml:2: jobs[0].name: 'a//b': empty path segment"),
        ("jobs:\n  - name: ''\n    type: freestyle\n", "jobs.yml:2: jobs[0].name: name must not be empty"),
        ("jobs:\n  - name: ' a'\n    type: freestyle\n", "leading or trailing whitespace"),
        ("jobs:\n  - name: a\n    type: freestyle\n    name: b\n", "jobs.yml:4: jobs[0].name: duplicate key"),
        ("job:\n  - name: a\n", "jobs.yml:1: job: unknown key"),
        ("jobs: [a]\n", "jobs.yml:1: jobs[0]: expected a mapping, got 'a'"),
        ("- a\n", "jobs.yml:1: (top level): expected a mapping"),
        (
            'jobs:\n  - name: a\n    type: freestyle\n    description: "bell \\a"\n',
            "jobs.yml:4: jobs[0].description: contains a control character",
        ),
        ("jobs:\n  - name: a\n   type: x\n", "jobs.yml:3: not valid YAML"),
        ("defaults: {shel: x}\n", "jobs.yml:1: defaults.shel: unknown key"),
        (
            "templates:\n  - job: {name: 'p-{pkg}', type: freestyle}\n    instances:\n      - {pkgs: a}\n",
            "jobs.yml:4: templates[0].instances[0]: unknown template variable {pkg}",
        ),
        (
            "templates:\n  - job: {name: 'p-{pkg}', type: freestyle, pol: x}\n    instances:\n      - {pkg: a}\n",
            "jobs.yml:2: templates[0].job.pol: unknown key (instance pkg=a)",
        ),
        (
            "templates:\n  - job: {name: 'p', type: freestyle}\n",
            "jobs.yml:2: templates[0].instances: expected a non-empty",
        ),
        ("jobs:\n  - name: f/a\n    type: freestyle\n", "jobs.yml:2: name: parent folder 'f' of 'f/a' is not declared"),
        (
            "jobs:\n  - name: p\n    type: pipeline\n    git: {url: u}\n    jenkinsfile:\n      environment: {1A: x}\n",
            "jobs.yml:6: jobs[0].jenkinsfile.environment.1A: '1A' is not a valid environment variable name",
        ),
    ],
)
def test_errors_name_file_line_and_field(tmp_path, text, expected):
    assert expected in error(tmp_path, text)


def test_duplicate_names_across_files(tmp_path):
    write(tmp_path, "jobs:\n  - {name: a, type: freestyle}\n", "one.yml")
    write(tmp_path, "\njobs:\n  - {name: a, type: freestyle}\n", "two.yml")
    with pytest.raises(ConfigError, match=r"two.yml:3: name: 'a' is already defined at .*one.yml:2"):
        jobspecs.load(tmp_path)


def test_defaults_merge_under_jobs(tmp_path):
    write(
        tmp_path,
        """\
        defaults:
          type: freestyle
          git: {url: "https://x/y.git", clean: wipe}
        jobs:
          - name: a
            git: {branch: "*/dev"}
          - name: b
            type: pipeline
            git: {url: "https://x/z.git"}
        """,
    )
    specs = jobspecs.load(tmp_path)
    a, b = specs.get("a"), specs.get("b")
    assert isinstance(a, model.Freestyle) and a.git == model.Git("https://x/y.git", "*/dev", None, "wipe")
    assert isinstance(b, model.Pipeline) and b.git == model.Git("https://x/z.git", "*/main", None, "wipe")


def test_folders_come_before_their_jobs(tmp_path):
    write(
        tmp_path,
        """\
        jobs: [{name: t/x/j, type: freestyle}, {name: top, type: freestyle}]
        folders: [{name: t/x}, {name: t}]
        """,
    )
    assert [i.name for i in jobspecs.load(tmp_path).items] == ["t", "t/x", "top", "t/x/j"]


def test_expand_leaves_shell_variables_alone():
    fail = ConfigError
    assert jobspecs.expand("${A} {a} $a {{b}} {", {"a": 1}, fail) == "${A} 1 $a {b} {"
    assert jobspecs.expand(["{a}", {"k": "{a}"}, 3], {"a": "x"}, fail) == ["x", {"k": "x"}, 3]


def test_missing_directory_and_empty_directory(tmp_path):
    with pytest.raises(ConfigError, match="jobs directory not found"):
        jobspecs.load(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"no \*\.yml job specs"):
        jobspecs.load(tmp_path)


def test_cli_bad_yaml_is_one_line_and_exit_2(tmp_path, capsys):
    write(tmp_path, "jobs:\n  - name: a\n    type: freestyle\n    pol: x\n")
    assert jobsync.main(["render", "--jobs-dir", str(tmp_path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    first = err.splitlines()[0]
    assert first.startswith("ERROR: ") and "jobs.yml:4: jobs[0].pol: unknown key" in first
    assert err.splitlines()[1].startswith("TIP: known keys here:")


def test_cli_render_to_directory(tmp_path, capsys):
    out_dir = tmp_path / "out"
    assert jobsync.main(["render", "--jobs-dir", str(ROOT / "jenkins" / "jobs"), "-o", str(out_dir)]) == 0
    assert sorted(p.name for p in out_dir.iterdir()) == ["consumer.xml", "producer.xml"]
    assert jobsync.main(["render", "--jobs-dir", str(ROOT / "jenkins" / "jobs")]) == 0
    assert "==> producer <==" in capsys.readouterr().out


def test_cli_usage_error_exit_2(capsys):
    assert jobsync.main(["frobnicate"]) == 2
    assert (
        jobsync.main(
            ["apply", "--jobs-dir", str(ROOT / "jenkins" / "jobs"), "--workers", "0", "--url", "http://127.0.0.1:9"]
        )
        == 2
    )
