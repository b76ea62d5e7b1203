"""jobsync on bad input: one table, one line each, the documented exit code, no traceback, nothing written.

Every case runs the real CLI (in-process) on files in a temporary directory and checks what a user sees:
the exit code, that stderr is an ``ERROR:`` line (plus at most a ``TIP:``) naming the file, field and
value, that stdout is empty, and that no file under the temporary directory was created or changed.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from jenkins_codeartifact.cli import jobsync

# 9 levels of 9 references: 387M strings once expanded; 418 bytes on disk.
BOMB = "jobs:\n" + "".join(
    f"  - &{c} [{', '.join(['*' + p] * 9) if p else ', '.join(['lol'] * 9)}]\n"
    for p, c in zip(["", *"abcdefgh"], "abcdefghi", strict=True)
)
PIPELINE = "jobs:\n  - name: app\n    type: pipeline\n    git: {url: 'https://x/y.git'}\n"
JENKINSFILE = "    jenkinsfile: {credentials: aws}\n"


@dataclass(frozen=True)
class Case:
    id: str
    files: dict[str, str | bytes]  # relative to the test's directory; "->target" makes a symlink
    needles: tuple[str, ...]  # all of them in the ERROR line
    argv: tuple[str, ...] = ("render", "--jobs-dir", "{tmp}/jobs")
    code: int = 2
    seconds: float | None = None  # time bound, where time is the point


CASES = [
    Case(
        "render-o-onto-a-file",
        {"jobs/a.yml": "jobs: [{name: a, type: freestyle}]\n", "out.xml": "keep me\n"},
        ("-o", "out.xml", "is a file, not a directory"),
        argv=("render", "--jobs-dir", "{tmp}/jobs", "-o", "{tmp}/out.xml"),
    ),
    Case(
        "render-o-under-a-file",
        {"jobs/a.yml": "jobs: [{name: a, type: freestyle}]\n", "out.xml": "keep me\n"},
        ("-o", "out.xml/x", "is a file"),
        argv=("render", "--jobs-dir", "{tmp}/jobs", "-o", "{tmp}/out.xml/x"),
    ),
    Case("jobs-dir-is-a-file", {"jobs": "not a directory\n"}, ("jobs", "is not a directory")),
    Case("jobs-dir-missing", {}, ("jobs", "jobs directory not found")),
    Case("jobs-dir-without-specs", {"jobs/README": "x\n"}, ("jobs", "no *.yml job specs")),
    Case("yaml-not-utf8", {"jobs/a.yml": b"jobs:\n  - name: \xff\xfe\n"}, ("a.yml: not UTF-8 text (byte",)),
    Case(
        "dangling-symlink-spec",
        {"jobs/a.yml": "jobs: [{name: a, type: freestyle}]\n", "jobs/b.yml": "->gone.yml"},
        ("b.yml", "cannot read", "No such file"),
    ),
    Case("yaml-syntax", {"jobs/a.yml": "jobs:\n  - name: a\n   type: x\n"}, ("a.yml:3", "not valid YAML")),
    Case("alias-bomb", {"jobs/a.yml": BOMB}, ("a.yml:3", "aliases are not supported", "*a"), seconds=1.0),
    Case("self-alias", {"jobs/a.yml": "jobs: &x\n  - *x\n"}, ("a.yml:2", "aliases", "*x"), seconds=1.0),
    Case(
        "merge-key-alias",
        {"jobs/a.yml": "defaults: &d {type: freestyle}\njobs:\n  - {<<: *d, name: a}\n"},
        ("a.yml:3", "aliases", "*d"),
    ),
    Case(
        "name-number",
        {"jobs/a.yml": "jobs:\n  - name: 010\n    type: freestyle\n"},
        ("a.yml:2", "jobs[0].name", "010", "quote it"),
    ),
    Case(
        "name-boolean",
        {"jobs/a.yml": "jobs:\n  - name: yes\n    type: freestyle\n"},
        ("a.yml:2", "jobs[0].name", "true/false", "quote it: 'yes'"),
    ),
    Case(
        "branch-float",
        {"jobs/a.yml": "jobs:\n  - name: a\n    type: freestyle\n    git: {url: u, branch: 1.10}\n"},
        ("a.yml:4", "git.branch", "1.10", "quote it"),
    ),
    Case(
        "git-credentials-hex",
        {"jobs/a.yml": "jobs:\n  - name: a\n    type: freestyle\n    git: {url: u, credentials: 0x1F}\n"},
        ("a.yml:4", "git.credentials", "0x1F", "quote it"),
    ),
    Case(
        "binding-credentials-number",
        {
            "jobs/a.yml": "jobs:\n  - name: a\n    type: freestyle\n    bindings:\n"
            "      - {credentials: 42, username: U, password: P}\n"
        },
        ("a.yml:5", "bindings[0].credentials", "42", "quote it"),
    ),
    Case(
        "env-value-number",
        {"jobs/a.yml": PIPELINE + "    jenkinsfile:\n      environment: {CA_TOKEN_DURATION: 900}\n"},
        ("a.yml:6", "environment.CA_TOKEN_DURATION", "900", "quote it"),
    ),
    Case(
        "env-key-number",
        {"jobs/a.yml": PIPELINE + "    jenkinsfile:\n      environment: {010: x}\n"},
        ("a.yml:6", "keys must be strings", "010", "quote it"),
    ),
    Case(
        "env-key-newline",
        {"jobs/a.yml": PIPELINE + '    jenkinsfile:\n      environment: {"FOO\\n": x}\n'},
        ("a.yml:6", "environment['FOO\\n']", "not a valid environment variable name"),
    ),
    Case(
        "binding-variable-newline",
        {
            "jobs/a.yml": "jobs:\n  - name: a\n    type: freestyle\n    bindings:\n"
            '      - {credentials: aws, username: "U\\n", password: P}\n'
        },
        ("a.yml:5", "bindings[0].username", "'U\\n'", "not a valid environment variable name"),
    ),
    Case(
        "template-variable-number",
        {"jobs/a.yml": "templates:\n  - job: {name: 'p-{v}', type: freestyle}\n    instances: [{v: 1.10}]\n"},
        ("a.yml:3", "instances[0].v", "1.10", "quote it"),
    ),
    Case(
        "script-path-absolute",
        {"jobs/a.yml": PIPELINE + "    script_path: /tmp/x/Jenkinsfile\n" + JENKINSFILE},
        ("a.yml:5", "script_path", "'/tmp/x/Jenkinsfile'", "absolute"),
        argv=("render", "--jobs-dir", "{tmp}/jobs", "--write-jenkinsfiles", "--root", "{tmp}/repo"),
    ),
    Case(
        "script-path-escaping",
        {"jobs/a.yml": PIPELINE + "    script_path: ../../../../tmp/x/Jenkinsfile\n" + JENKINSFILE, "repo/.keep": ""},
        ("a.yml:5", "script_path", "../../../../tmp/x/Jenkinsfile", "leaves the repository root"),
        argv=("render", "--jobs-dir", "{tmp}/jobs", "--write-jenkinsfiles", "--root", "{tmp}/repo"),
    ),
    Case(
        "script-path-through-symlink",
        {
            "jobs/a.yml": PIPELINE + "    script_path: ci/Jenkinsfile\n" + JENKINSFILE,
            "repo/ci": "->../outside",
            "outside/.keep": "",
        },
        ("repo/ci/Jenkinsfile", "outside", "outside the repository root"),
        argv=("render", "--jobs-dir", "{tmp}/jobs", "--write-jenkinsfiles", "--root", "{tmp}/repo"),
    ),
    Case(
        "root-is-a-file",
        {"jobs/a.yml": PIPELINE + JENKINSFILE, "repo": "a file\n"},
        ("repo", "repository root is not a directory"),
        argv=("render", "--jobs-dir", "{tmp}/jobs", "--write-jenkinsfiles", "--root", "{tmp}/repo"),
    ),
    Case(
        "names-differ-only-in-case",
        {
            "jobs/a.yml": "jobs:\n  - {name: app, type: freestyle}\n",
            "jobs/b.yml": "\njobs:\n  - {name: App, type: freestyle}\n",
        },
        ("b.yml:3", "'App'", "collides with 'app'", "a.yml:2"),
    ),
    Case(
        "folder-spelt-differently",
        {"jobs/a.yml": "folders: [{name: Team}]\njobs:\n  - {name: team/app, type: freestyle}\n"},
        ("a.yml:3", "'team/app'", "declared as 'Team'", "a.yml:1"),
    ),
    Case(
        "name-trailing-dot",
        {"jobs/a.yml": "jobs:\n  - {name: release., type: freestyle}\n"},
        ("a.yml:2", "jobs[0].name", "'release.'", "ending in '.'"),
    ),
    Case(
        "name-unsafe-character",
        {"jobs/a.yml": "jobs:\n  - {name: 'a#b', type: freestyle}\n"},
        ("a.yml:2", "jobs[0].name", "'a#b'", "'#'"),
    ),
    Case(
        "nesting-too-deep",
        {"jobs/a.yml": "jobs: " + "[" * 900 + "]" * 900 + "\n"},
        ("a.yml:1", "nested more than 32 levels deep"),
        seconds=1.0,
    ),
    Case(
        "key-not-a-string",
        {"jobs/a.yml": "jobs:\n  - ? [a, b]\n    : c\n"},
        ("a.yml:2", "keys must be plain strings"),
    ),
    Case(
        "name-date",
        {"jobs/a.yml": "jobs:\n  - {name: 2024-01-01, type: freestyle}\n"},
        ("a.yml:2", "jobs[0].name", "YAML reads 2024-01-01 as a date", "quote it"),
    ),
    Case(
        "python-tag",
        {"jobs/a.yml": "jobs:\n  - {name: !!python/object:os.system x, type: freestyle}\n"},
        ("a.yml:2", "not valid YAML", "python/object"),
    ),
    Case(
        "git-url-with-password",
        {
            "jobs/a.yml": "jobs:\n  - {name: a, type: freestyle, git: {url: 'https://bot:hunter2-pw@git.example.com/r.git'}}\n"
        },
        ("a.yml:2", "jobs[0].git.url", "carries a password"),
    ),
    Case(
        "secret-in-environment-block",
        {"jobs/a.yml": PIPELINE + "    jenkinsfile:\n      environment: {CA_INDEX_PASSWORD: hunter2-pw}\n"},
        ("a.yml:6", "environment.CA_INDEX_PASSWORD", "looks like a secret"),
    ),
    Case(
        "unknown-key",
        {"jobs/a.yml": "jobs:\n  - {name: a, type: freestyle, pol: x}\n"},
        ("a.yml:2", "jobs[0].pol", "unknown key"),
    ),
]


def snapshot(root: Path) -> dict[str, tuple[str, bytes | str]]:
    """Every path under ``root`` with its kind and content (or link target)."""
    out: dict[str, tuple[str, bytes | str]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath, name)
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path))
            elif path.is_dir():
                out[rel] = ("dir", b"")
            else:
                out[rel] = ("file", path.read_bytes())
    return out


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for rel, content in case.files.items():
        path = tmp_path / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, str) and content.startswith("->"):
            path.symlink_to(content[2:])
        elif isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content, encoding="utf-8")
    before = snapshot(tmp_path)
    argv = [a.format(tmp=tmp_path) for a in case.argv]

    start = time.monotonic()
    code = jobsync.main(argv)
    elapsed = time.monotonic() - start

    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert code == case.code, err
    assert out == ""
    assert lines and lines[0].startswith("ERROR: "), err
    assert all(line.startswith(("ERROR: ", "TIP: ")) for line in lines) and len(lines) <= 2, err
    assert "Traceback" not in err and "unexpected" not in err and "hunter2-pw" not in err
    for needle in case.needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert snapshot(tmp_path) == before, "something was written"
    if case.seconds is not None:
        assert elapsed < case.seconds, f"took {elapsed:.2f}s"
