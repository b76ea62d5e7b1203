"""The Dockerfile check: an install that would go around the private index stops the run with exit 2.

Each case is a Dockerfile as a user would write it; the assertions are the one ERROR line (file and
line), the warnings, and that nothing stops a Dockerfile that does it right.
"""

from __future__ import annotations

import logging
import textwrap
from pathlib import Path

import pytest

from jenkins_codeartifact.consume import dockerfile
from jenkins_codeartifact.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "application_src"
CORPUS = ROOT / "tests" / "data" / "dockerfiles"


def write(tmp_path: Path, text: str, **files: str) -> Path:
    for name, content in files.items():
        path = tmp_path / name.replace("__", "/")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(content))
        if name.replace("__", "/") == "Dockerfile":
            return path
    path = tmp_path / "Dockerfile"
    path.write_text(textwrap.dedent(text).lstrip())
    return path


def error(path: Path, **kw) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        dockerfile.check(path, path.parent, **kw)
    assert caught.value.exit_code == 2
    return caught.value


@pytest.mark.parametrize("name", ["Dockerfile", "Dockerfile.pip"])
def test_the_samples_pass_without_a_word(name, caplog):
    caplog.set_level(logging.WARNING)
    assert dockerfile.check(SAMPLES / name, SAMPLES, base_image="python:3.13-slim") == []
    assert caplog.records == []


def test_a_pip_install_without_the_secret_names_the_file_and_line(tmp_path):
    path = write(
        tmp_path,
        """
        FROM python:3.12-slim
        COPY . /app
        # the walkthrough's step
        RUN pip install \\
            -r /app/requirements.txt
        """,
    )
    exc = error(path)
    assert exc.message == (
        f"{path}:4: `pip install -r /app/requirements.txt` does not mount the pipconf secret: "
        "it would install from public PyPI"
    )
    assert "--mount=type=secret,id=pipconf,target=/etc/pip.conf" in (exc.hint or "")


def test_allow_public_index_turns_the_error_into_one_warning(tmp_path, caplog):
    path = write(tmp_path, "FROM python:3.12\nRUN pip install flask\n")
    warnings = dockerfile.check(path, tmp_path, allow_public_index=True)
    assert warnings == [
        f"{path}:2: `pip install flask` does not mount the pipconf secret: it would install from public PyPI "
        "(allowed by --allow-public-index)"
    ]
    assert [r.getMessage() for r in caplog.records] == warnings


def test_a_secret_under_another_id_is_named(tmp_path):
    path = write(tmp_path, "FROM python:3.12\nRUN --mount=type=secret,id=pip,target=/etc/pip.conf pip install x\n")
    assert "(it mounts the secret 'pip', not 'pipconf')" in error(path).message


@pytest.mark.parametrize(
    "run",
    [
        "RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf pip install -r requirements.txt",
        "RUN --mount=type=secret,id=pipconf PIP_CONFIG_FILE=/run/secrets/pipconf pip install flask",
        "ENV PIP_CONFIG_FILE=/run/secrets/pipconf\nRUN --mount=type=secret,id=pipconf pip install flask",
        "RUN --mount=type=secret,id=pipconf,target=/root/.config/pip/pip.conf python3 -m pip install flask",
        "RUN --mount=type=secret,id=pipconf "
        "UV_INDEX_URL=\"$(sed -n 's/^index-url = //p' /run/secrets/pipconf)\" uv pip install --system flask",
        "RUN pip install --no-index --find-links /wheels flask",
        "RUN pip --version && pip list",
        "RUN uv --version",
    ],
)
def test_installs_that_read_the_secret_or_stay_offline_pass(tmp_path, run):
    path = write(tmp_path, f"FROM python:3.12\n{run}\n")
    assert dockerfile.inspect(path, tmp_path).errors == []


@pytest.mark.parametrize(
    ("run", "needle"),
    [
        ("RUN --mount=type=secret,id=pipconf pip install flask", "mounted at /run/secrets/pipconf, where pip does not"),
        ("RUN --mount=type=secret,id=pipconf uv pip install --system flask", "where uv does not read it"),
        ('RUN ["pip", "install", "flask"]', "`pip install flask` does not mount"),
        ("RUN sh -c 'cd /app && pip3.12 install .'", "`pip3.12 install .` does not mount"),
        ("RUN python -m pip install -U pip", "`python -m pip install -U pip` does not mount"),
        ("RUN uv sync --frozen", "`uv sync --frozen` does not mount"),
        ("RUN poetry install --no-root", "`poetry install --no-root` does not mount"),
        ("RUN pipenv sync --system", "`pipenv sync --system` does not mount"),
        ("RUN pip --version && env FOO=1 pip install x", "`pip install x` does not mount"),
    ],
)
def test_installs_that_go_around_the_secret_are_errors(tmp_path, run, needle):
    path = write(tmp_path, f"FROM python:3.12\n{run}\n")
    assert needle in error(path).message


@pytest.mark.parametrize(
    "option", ["--extra-index-url https://pypi.org/simple", "-i https://pypi.org/simple", "--index-url=http://x/"]
)
def test_an_index_option_in_a_run_line_is_an_error(tmp_path, option):
    run = f"RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf pip install {option} flask"
    path = write(tmp_path, f"FROM python:3.12\n{run}\n")
    assert error(path).message.startswith(f"{path}:2: `{option.replace('=', ' ')}` in `pip install")


def test_the_walkthroughs_pip_config_set_is_an_error(tmp_path):
    path = write(tmp_path, 'FROM python:3.7\nARG INDEX_URL\nRUN pip config set global.index-url "$INDEX_URL"\n')
    assert error(path).message == (
        f"{path}:3: `pip config set global.index-url $INDEX_URL` writes an index into the image's pip.conf "
        "(a token with it)"
    )


def test_an_index_option_read_from_a_variable_is_not_flagged(tmp_path):
    run = 'RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf pip install --index-url "$URL" flask'
    assert dockerfile.inspect(write(tmp_path, f"FROM python:3.12\n{run}\n"), tmp_path).errors == []


def test_index_options_in_requirements_files_are_found_through_includes_and_bind_mounts(tmp_path):
    (tmp_path / "requirements").mkdir()
    (tmp_path / "requirements" / "base.txt").write_text("flask==3.1.3\n--extra-index-url https://pypi.org/simple\n")
    (tmp_path / "requirements" / "prod.txt").write_text("# production\n-r base.txt\ngunicorn\n")
    run = (
        "RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf "
        "--mount=type=bind,source=requirements,target=/tmp/req pip install -r /tmp/req/prod.txt"
    )
    run_copy = "RUN --mount=type=secret,id=pipconf,target=/etc/pip.conf pip install -r requirements/prod.txt"
    for line in (run, run_copy):
        path = write(tmp_path, f"FROM python:3.12\nWORKDIR /app\n{line}\n")
        found = dockerfile.inspect(path, tmp_path).errors
        assert found == [
            f"{tmp_path / 'requirements' / 'base.txt'}:2: `--extra-index-url https://pypi.org/simple` names "
            f"another index (installed by {path}:3)"
        ]


@pytest.mark.parametrize(
    "line", ["ENV PIP_EXTRA_INDEX_URL=https://pypi.org/simple", "ARG UV_INDEX_URL", "ENV PIP_INDEX_URL https://x/"]
)
def test_index_variables_are_errors(tmp_path, line):
    path = write(tmp_path, f"FROM python:3.12\n{line}\n")
    assert error(path).message.startswith(f"{path}:2: {line.split()[0]} ")


def test_a_script_it_cannot_see_into_is_one_warning_naming_the_line(tmp_path):
    path = write(tmp_path, "FROM python:3.12\nCOPY . .\nRUN chmod +x install.sh && ./install.sh --prod\n")
    assert dockerfile.check(path, tmp_path) == [
        f"{path}:3: `./install.sh --prod` runs a script this check cannot see into; if it installs packages, "
        "mount the pipconf secret for it"
    ]


def test_a_fixed_from_with_base_image_is_one_warning_naming_the_line(tmp_path):
    path = write(tmp_path, 'FROM python:3.12 AS base\nRUN true\nFROM base\nCMD ["true"]\n')
    assert dockerfile.check(path, tmp_path, base_image="python:3.13-slim") == [
        f"{path}:1: FROM python:3.12 is fixed, so --base-image python:3.13-slim is ignored "
        "(declare ARG BASE_IMAGE=... before it and write FROM ${BASE_IMAGE})"
    ]
    assert dockerfile.check(path, tmp_path) == []  # no --base-image: nothing to ignore
    good = write(tmp_path, "ARG BASE_IMAGE=python:3.12\nFROM ${BASE_IMAGE} AS base\nFROM base\n")
    assert dockerfile.check(good, tmp_path, base_image="python:3.13-slim") == []


def test_every_error_is_counted_and_the_first_named(tmp_path):
    path = write(tmp_path, "FROM python:3.12\nRUN pip install a\nRUN pip install b\nENV PIP_INDEX_URL=x\n")
    assert error(path).message.endswith("it would install from public PyPI (and 2 more)")


@pytest.mark.parametrize(
    ("name", "errors", "warnings"),
    [
        ("uv-docker-example.Dockerfile", [17, 25], [2]),
        ("uv-docker-example-multistage.Dockerfile", [15, 20], [25]),
        ("awesome-compose-flask.Dockerfile", [7], [17, 22, 2]),  # two heredoc RUNs it cannot read, the FROM
        ("ghostwriter-django.Dockerfile", [12, 31], [6]),  # `pip install -U pip` in a long apk RUN, then -r
    ],
)
def test_public_dockerfiles_are_stopped_at_the_right_lines(name, errors, warnings):
    found = dockerfile.inspect(CORPUS / name, CORPUS, base_image="python:3.13-slim")
    lines = [[int(text.split(":", 2)[1]) for text in kind] for kind in (found.errors, found.warnings)]
    assert lines == [errors, warnings]
    assert all("does not mount the pipconf secret" in text for text in found.errors)
    exc = error(CORPUS / name)
    assert exc.message.startswith(f"{CORPUS / name}:{errors[0]}: ")
