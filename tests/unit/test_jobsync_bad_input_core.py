"""Bad input for the typed core, the raw escape hatch and ``jobsync import``: one table, one line each.

The same checks as tests/unit/test_jobsync_bad_input.py (exit code, one ERROR line naming file:line,
the field and the value, nothing written), for every new field.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.test_jobsync_bad_input import Case
from tests.unit.test_jobsync_bad_input import test_bad_input as check


def job(body: str, kind: str = "freestyle") -> dict[str, str | bytes]:
    """A spec with one job ``a`` of ``kind``; ``body`` holds its further keys, one per line (4 spaces)."""
    return {"jobs/a.yml": f"jobs:\n  - name: a\n    type: {kind}\n" + body}


P = "    parameters:\n      - "
IMPORT = ("import", "--jobs-dir", "{tmp}/out", "--from-xml", "{tmp}/xml")
CASES = [
    Case(
        "type-unknown",
        job("", "matrix"),
        ("a.yml:3", "jobs[0].type", "freestyle, pipeline, multibranch or raw", "'matrix'"),
    ),
    Case("display-name-not-text", job("    display_name: [x]\n"), ("a.yml:4", "display_name", "expected a string")),
    Case("label-blank", job("    label: '  '\n"), ("a.yml:4", "label", "blank")),
    Case("quiet-period-negative", job("    quiet_period: -1\n"), ("a.yml:4", "quiet_period", "at least 0", "-1")),
    Case("quiet-period-text", job("    quiet_period: soon\n"), ("quiet_period", "'soon'")),
    Case("concurrent-not-bool", job("    concurrent: yes please\n"), ("a.yml:4", "concurrent", "true or false")),
    Case("scm-retry-bool", job("    scm_retry: true\n"), ("scm_retry", "at least 0", "True")),
    Case("discard-empty", job("    discard: {legacy: false}\n"), ("a.yml:4", "discard", "keeps every build")),
    Case("discard-zero-days", job("    discard: {days: 0}\n"), ("discard.days", "at least 1", "0")),
    Case("discard-unknown-key", job("    discard: {keep: 3}\n"), ("discard.keep", "unknown key")),
    Case("discard-not-mapping", job("    discard: 10\n"), ("a.yml:4", "discard", "expected a mapping", "10")),
    Case("param-not-mapping", job("    parameters: [VERSION]\n"), ("parameters[0]", "expected a mapping", "'VERSION'")),
    Case("param-type-unknown", job(P + "{name: X, type: file}\n"), ("a.yml:5", "parameters[0].type", "'file'")),
    Case("param-name-missing", job(P + "{default: x}\n"), ("parameters[0]", "missing required key 'name'")),
    Case("param-name-padded", job(P + "{name: ' X'}\n"), ("parameters[0].name", "blank or padded")),
    Case("param-twice", job(P + "{name: X}\n      - {name: X}\n"), ("parameters[1].name", "'X' is defined twice")),
    Case(
        "param-boolean-default-text",
        job(P + "{name: X, type: boolean, default: maybe}\n"),
        ("default", "true or false"),
    ),
    Case(
        "param-choice-without-choices",
        job(P + "{name: X, type: choice}\n"),
        ("parameters[0].choices", "non-empty list"),
    ),
    Case("param-choice-twice", job(P + "{name: X, type: choice, choices: [a, a]}\n"), ("choices", "twice")),
    Case(
        "param-choice-default",
        job(P + "{name: X, type: choice, choices: [a], default: a}\n"),
        ("default", "first choice"),
    ),
    Case("param-choices-on-string", job(P + "{name: X, choices: [a]}\n"), ("choices", "not a string one")),
    Case("param-trim-on-boolean", job(P + "{name: X, type: boolean, trim: true}\n"), ("trim", "not a boolean one")),
    Case("param-required-on-string", job(P + "{name: X, required: true}\n"), ("required", "only for type credentials")),
    Case(
        "upstream-no-jobs",
        job("    upstream: {threshold: success}\n"),
        ("upstream.jobs", "a job name or a non-empty list"),
    ),
    Case("upstream-threshold", job("    upstream: {jobs: b, threshold: green}\n"), ("upstream.threshold", "'green'")),
    Case("github-push-text", job("    github_push: on push\n"), ("github_push", "true or false")),
    Case(
        "binding-type-unknown", job("    bindings: [{type: vault, credentials: c}]\n"), ("bindings[0].type", "'vault'")
    ),
    Case(
        "binding-secret-text-without-variable",
        job("    bindings: [{type: secret-text, credentials: c}]\n"),
        ("bindings[0]", "missing required key 'variable'"),
    ),
    Case(
        "binding-variable-of-another-type",
        job("    bindings: [{type: secret-file, credentials: c, variable: F, username: U}]\n"),
        ("bindings[0].username", "not a variable of a secret-file binding"),
    ),
    Case(
        "binding-aws-bad-variable",
        job("    bindings: [{type: aws, credentials: c, access_key: 1KEY, secret_key: S}]\n"),
        ("bindings[0].access_key", "'1KEY' is not a valid environment variable name"),
    ),
    Case(
        "binding-ssh-without-credentials",
        job("    bindings: [{type: ssh-key, variable: K}]\n"),
        ("bindings[0]", "missing required key 'credentials'"),
    ),
    Case("timeout-no-minutes", job("    timeout: {type: absolute}\n"), ("a.yml:4", "timeout", "'minutes'")),
    Case("timeout-zero", job("    timeout: {minutes: 0}\n"), ("timeout.minutes", "at least 1", "0")),
    Case("timeout-type", job("    timeout: {minutes: 5, type: elastic}\n"), ("timeout.type", "'elastic'")),
    Case(
        "archive-no-artifacts",
        job("    archive: {fingerprint: true}\n"),
        ("archive", "missing required key 'artifacts'"),
    ),
    Case("junit-scale", job("    junit: {results: r.xml, health_scale: lots}\n"), ("junit.health_scale", "'lots'")),
    Case("git-depth-zero", job("    git: {url: u, depth: 0}\n"), ("git.depth", "at least 1", "0")),
    Case("git-branches-not-list", job("    git: {url: u, branches: main}\n"), ("git.branches", "list of branch specs")),
    Case(
        "git-subdirectory-escapes",
        job("    git: {url: u, subdirectory: ../up}\n"),
        ("git.subdirectory", "'../up'", "leaves"),
    ),
    Case(
        "git-remote-password",
        job("    git: {url: u, remotes: [{url: 'https://me:hunter2-pw@git.example.com/r.git'}]}\n"),
        ("git.remotes[0].url", "carries a password"),
    ),
    Case(
        "git-extensions-raw-broken",
        job("    git: {url: u, extensions_raw: '<a><b></a>'}\n"),
        ("extensions_raw", "not well-formed"),
    ),
    Case("raw-place-unknown", job("    raw: {scm: '<x/>'}\n"), ("a.yml:4", "raw.scm", "unknown key")),
    Case(
        "raw-not-well-formed",
        job("    raw: {publishers: '<hudson.tasks.Mailer>'}\n"),
        ("raw.publishers", "not well-formed"),
    ),
    Case(
        "raw-text-outside-elements",
        job("    raw: {builders: 'make <x/>'}\n"),
        ("raw.builders", "text outside an element"),
    ),
    Case(
        "raw-item-typed-element",
        job("    raw: {item: '<disabled>true</disabled>'}\n"),
        ("raw.item", "<disabled>", "spec key"),
    ),
    Case("raw-not-text", job("    raw: {builders: [a]}\n"), ("raw.builders", "expected a string")),
    Case("raw-item-no-xml", job("", "raw"), ("jobs[0]", "missing required key 'xml'")),
    Case("raw-item-broken-xml", job("    xml: '<project>'\n", "raw"), ("a.yml:4", "jobs[0].xml", "not well-formed")),
    Case(
        "raw-item-unknown-key", job("    xml: '<project/>'\n    shell: make\n", "raw"), ("jobs[0].shell", "unknown key")
    ),
    Case("multibranch-no-git", job("", "multibranch"), ("jobs[0]", "missing required key 'git'")),
    Case(
        "multibranch-discover-unknown",
        job("    git: {url: u}\n    discover: [forks]\n", "multibranch"),
        ("a.yml:5", "jobs[0].discover", "branches, tags"),
    ),
    Case(
        "multibranch-scan-not-an-interval",
        job("    git: {url: u}\n    scan: '*/7 * * * *'\n", "multibranch"),
        ("jobs[0].scan", "scan intervals", "'*/7 * * * *'"),
    ),
    Case(
        "multibranch-orphaned-zero",
        job("    git: {url: u}\n    orphaned: {builds: 0}\n", "multibranch"),
        ("orphaned.builds", "at least 1"),
    ),
    Case(
        "multibranch-script-path-escapes",
        job("    git: {url: u}\n    script_path: ../Jenkinsfile\n", "multibranch"),
        ("jobs[0].script_path", "leaves the repository"),
    ),
    Case("pipeline-no-script", job("", "pipeline"), ("jobs[0]", "'git' or 'script'")),
    Case(
        "pipeline-script-and-git",
        job("    script: x\n    git: {url: u}\n", "pipeline"),
        ("jobs[0].script", "not both"),
    ),
    Case(
        "pipeline-script-path-inline",
        job("    script: x\n    script_path: J\n", "pipeline"),
        ("script_path", "only for"),
    ),
    Case(
        "pipeline-sandbox-text", job("    script: x\n    sandbox: strict\n", "pipeline"), ("sandbox", "true or false")
    ),
    Case(
        "import-not-xml",
        {"xml/a.xml": "<project><description>x</project>"},
        ("a.xml", "not well-formed XML"),
        argv=IMPORT,
    ),
    Case("import-missing-path", {}, ("--from-xml", "xml", "no such file or directory"), argv=IMPORT),
    Case(
        "import-same-name-twice",
        {"xml/a.xml": "<project/>", "xml/A/config.xml": "<project/>"},
        ("two sources name the item",),
        argv=(*IMPORT, "{tmp}/xml/A/config.xml"),
    ),
    Case(
        "import-bad-name",
        {"xml/a;b.xml": "<project/>"},
        ("not a Jenkins item name", "';'"),
        argv=IMPORT,
    ),
    Case(
        "import-existing-file",
        {"xml/a.xml": "<project/>", "out/imported.yml": "jobs: []\n"},
        ("imported.yml exists", "never overwrites"),
        argv=IMPORT,
        code=3,
    ),
    Case(
        "import-folder-with-from-xml",
        {"xml/a.xml": "<project/>"},
        ("--folder and --match select items on the server",),
        argv=(*IMPORT, "--match", "a*"),
    ),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_core(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(case, tmp_path, capsys)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)
