"""ca-repo's pure parts: the env lines of each tool, and the prune plan (no server, no subprocess)."""

from __future__ import annotations

import pytest

from jenkins_codeartifact.codeartifact import VersionInfo
from jenkins_codeartifact.errors import ConfigError
from jenkins_codeartifact.repo import env
from jenkins_codeartifact.repo.prune import plan

CREDS = env.Credentials(
    simple_url="https://d-111122223333.d.codeartifact.us-east-1.amazonaws.com/pypi/dev/simple/",
    upload_url="https://d-111122223333.d.codeartifact.us-east-1.amazonaws.com/pypi/dev/",
    username="aws",
    password="tok/en+with=odd'chars",
)


def test_the_token_is_url_quoted_in_index_urls_and_shell_quoted_in_lines() -> None:
    lines = env.render(CREDS, ("pip", "uv"))
    url = "https://aws:tok%2Fen%2Bwith%3Dodd%27chars@d-111122223333.d.codeartifact.us-east-1.amazonaws.com/pypi/dev/simple/"
    assert lines.splitlines()[0] == f"export PIP_INDEX_URL={url}"  # quoted for the URL: nothing left to shell-quote
    quoted = env.shell_lines({"TWINE_PASSWORD": CREDS.password})
    assert quoted == "export TWINE_PASSWORD='tok/en+with=odd'\"'\"'chars'\n"
    assert lines.splitlines()[1].startswith("export UV_DEFAULT_INDEX=")


def test_poetry_names_are_upper_cased_with_underscores() -> None:
    assert env.poetry_key("corp-index.v2") == "CORP_INDEX_V2"
    assert list(env.variables(CREDS, ("poetry",), "corp-index")) == [
        "POETRY_REPOSITORIES_CORP_INDEX_URL",
        "POETRY_HTTP_BASIC_CORP_INDEX_USERNAME",
        "POETRY_HTTP_BASIC_CORP_INDEX_PASSWORD",
    ]


@pytest.mark.parametrize(
    ("tools", "name", "message"),
    [
        (("pip", "npm"), "codeartifact", "--for npm: unknown tool"),
        (("docker-secret", "netrc"), "codeartifact", "--for docker-secret: prints a file's content"),
        (("poetry",), "9lives", "--name '9lives': must be a letter then"),
    ],
)
def test_bad_tool_choices_are_one_line(tools: tuple[str, ...], name: str, message: str) -> None:
    with pytest.raises(ConfigError) as err:
        env.check_tools(tools, name)
    assert err.value.message.startswith(message)


def test_defaults_and_duplicates() -> None:
    assert env.check_tools((), "codeartifact") == ("pip", "uv")
    assert env.check_tools(("uv", "pip", "uv"), "codeartifact") == ("uv", "pip")


def v(version: str, published: float | None, status: str = "Published", origin: str = "INTERNAL") -> VersionInfo:
    return VersionInfo(version, status, "r", origin, "dev" if origin == "INTERNAL" else None, published)


def test_the_plan_orders_by_publish_time_not_by_version_or_list_order() -> None:
    versions = [v("2.0", 100.0), v("10.0", 300.0), v("3.0", 200.0), v("0.1", None), v("9.9", None, origin="EXTERNAL")]
    decided = {d.version: (d.change, d.reason) for d in plan(versions, 1, None, set(), "archive")}
    assert decided == {
        "10.0": (False, "newest 1"),
        "3.0": (True, "was Published"),
        "2.0": (True, "was Published"),
        "0.1": (False, "publish time unknown"),
        "9.9": (False, "served by the upstream"),
    }


def test_versions_already_in_the_target_state_and_too_recent_ones_stay() -> None:
    versions = [v("1.3", 400.0), v("1.2", 300.0, "Archived"), v("1.1", 200.0), v("1.0", 100.0)]
    decided = {d.version: d.reason for d in plan(versions, 0, 150.0, set(), "archive")}
    assert decided == {"1.3": "too recent", "1.2": "already Archived", "1.1": "too recent", "1.0": "was Published"}


def test_a_version_an_upstream_repository_has_stays() -> None:
    versions = [v("1.1", 200.0), v("1.0", 100.0)]
    decided = {d.version: d.reason for d in plan(versions, 0, None, set(), "unlist", {"1.0": "dev"})}
    assert decided == {"1.1": "was Published", "1.0": "served by the upstream dev"}
