"""Bad input for the second pass of the typed core: raw XML between typed elements, the run order of a
place, and the long-tail plugins (e-mail, ANSI colour, EnvInject passwords, cleanup, git browser,
submodule options). The same checks as tests/unit/test_jobsync_bad_input.py, one line each."""

from __future__ import annotations

from pathlib import Path

import pytest
from tests.unit.test_jobsync_bad_input import Case
from tests.unit.test_jobsync_bad_input import test_bad_input as check
from tests.unit.test_jobsync_bad_input_core import job

B = "    raw:\n      between:\n        - "
G = "    git:\n      url: https://git.example.com/a.git\n"
CASES = [
    Case("between-unknown-place", job(B + "{place: item, after: 0, xml: '<x/>'}\n"), ("place", "'item'")),
    Case(
        "between-after-beyond-typed",
        job("    shell: [make]\n" + B + "{place: builders, after: 2, xml: '<x/>'}\n"),
        ("a.yml:", "after: 2", "1 typed element"),
    ),
    Case("between-after-missing", job(B + "{place: builders, xml: '<x/>'}\n"), ("after", "missing")),
    Case("between-after-negative", job(B + "{place: builders, after: -1, xml: '<x/>'}\n"), ("after", "-1")),
    Case("between-xml-missing", job(B + "{place: builders, after: 0}\n"), ("missing required key 'xml'",)),
    Case("between-xml-malformed", job(B + "{place: builders, after: 0, xml: '<x>'}\n"), ("xml", "well-formed")),
    Case("between-xml-text", job(B + "{place: builders, after: 0, xml: 'echo hi'}\n"), ("xml", "text outside")),
    Case("between-not-mapping", job(B + "'<x/>'\n"), ("raw.between[0]", "expected a mapping", "'<x/>'")),
    Case("between-unknown-key", job(B + "{place: builders, after: 0, xml: '<x/>', at: 1}\n"), ("at", "unknown key")),
    Case(
        "extensions-between-beyond",
        job(G + "      extensions_between: [{after: 1, xml: '<x/>'}]\n"),
        ("git", "after: 1", "0 typed element"),
    ),
    Case("order-unknown-place", job("    order: {builders: [shell]}\n"), ("order.builders", "unknown key")),
    Case("order-not-a-list", job("    order: {publishers: mail}\n"), ("order.publishers", "expected a list", "'mail'")),
    Case(
        "order-names-missing-element",
        job("    timestamps: true\n    timeout: {minutes: 5}\n    order: {buildWrappers: [timestamps]}\n"),
        ("order", "['timestamps']", "['timeout', 'timestamps']"),
    ),
    Case(
        "order-names-twice",
        job("    timestamps: true\n    order: {buildWrappers: [timestamps, timestamps]}\n"),
        ("order", "once"),
    ),
    Case("order-in-pipeline", job("    script: echo\n    order: {}\n", "pipeline"), ("order", "unknown key")),
    Case("mail-no-recipients", job("    mail: {individuals: true}\n"), ("mail", "missing required key 'recipients'")),
    Case(
        "mail-bad-address", job("    mail: {recipients: 'team at example'}\n"), ("mail.recipients", "'team at example'")
    ),
    Case("mail-not-mapping", job("    mail: team@example.com\n"), ("mail", "expected a mapping", "team@example.com")),
    Case("mail-flag-not-bool", job("    mail: {recipients: a@b.c, individuals: maybe}\n"), ("individuals", "'maybe'")),
    Case("ansicolor-bad-name", job("    ansicolor: 'x<y'\n"), ("ansicolor", "colour map", "'x<y'")),
    Case("ansicolor-not-text", job("    ansicolor: [xterm]\n"), ("ansicolor", "expected a string")),
    Case("inject-passwords-unknown-key", job("    inject_passwords: {entries: [a]}\n"), ("entries", "unknown key")),
    Case(
        "inject-passwords-not-mapping", job("    inject_passwords: true\n"), ("inject_passwords", "expected a mapping")
    ),
    Case("cleanup-unknown-key", job("    cleanup: {patterns: ['*.o']}\n"), ("cleanup.patterns", "unknown key")),
    Case("cleanup-flag-not-bool", job("    cleanup: {delete_dirs: 1}\n"), ("delete_dirs", "true or false")),
    Case("browser-unknown-type", job(G + "      browser: {type: fisheye, url: 'https://x/'}\n"), ("type", "'fisheye'")),
    Case("browser-bad-url", job(G + "      browser: {type: github, url: 'github.com/x'}\n"), ("url", "'github.com/x'")),
    Case(
        "browser-version-not-gitlab",
        job(G + "      browser: {type: github, url: 'https://x/', version: '6.0'}\n"),
        ("version", "only a gitlab browser"),
    ),
    Case(
        "browser-version-bad",
        job(G + "      browser: {type: gitlab, url: 'https://x/', version: latest}\n"),
        ("version", "'latest'"),
    ),
    Case("submodules-threads-zero", job(G + "      submodules: {threads: 0}\n"), ("threads", "at least 1", "0")),
    Case("submodules-unknown-key", job(G + "      submodules: {jobs: 4}\n"), ("submodules.jobs", "unknown key")),
    Case("timeout-env-var-bad", job("    timeout: {minutes: 5, env_var: 'A B'}\n"), ("env_var", "'A B'")),
    Case("archive-flag-not-bool", job("    archive: {artifacts: a, follow_symlinks: no way}\n"), ("follow_symlinks",)),
    Case(
        "pipeline-timeout-inline-script",
        job("    script: echo hi\n    timeout: {minutes: 5}\n", "pipeline"),
        ("a.yml:", "timeout", "option of its script"),
    ),
    Case(
        "pipeline-timeout-twice",
        job(G + "    jenkinsfile: {timeout_minutes: 5}\n    timeout: {minutes: 5}\n", "pipeline"),
        ("timeout", "not both"),
    ),
    Case(
        "pipeline-timeout-fail",
        job(G + "    jenkinsfile: {}\n    timeout: {minutes: 5, fail: true}\n", "pipeline"),
        ("timeout.fail", "freestyle only"),
    ),
    Case("honor-refspec-not-bool", job(G + "      honor_refspec: sometimes\n"), ("honor_refspec", "'sometimes'")),
]


@pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])
def test_bad_input_long_tail(case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    check(case, tmp_path, capsys)


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 30 and len({c.id for c in CASES}) == len(CASES)
