"""Settings precedence (flag > env > file > default), coercion and config-file errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from jenkins_codeartifact import config, settings
from jenkins_codeartifact.errors import ConfigError


def write_config(tmp_path: Path, text: str) -> Path:
    path = tmp_path / settings.CONFIG_NAME
    path.write_text(text)
    return path


def test_defaults_without_anything(tmp_path):
    s = config.load({}, env={}, cwd=tmp_path)
    assert s.domain is None and s.token_duration == 3600 and s.endpoint_type == "ipv4" and s.target == "cloudformation"


def test_precedence_flag_over_env_over_file_over_default(tmp_path):
    write_config(tmp_path, 'domain = "from-file"\nrepository = "file-repo"\nregion = "eu-west-1"\n')
    env = {"CA_DOMAIN": "from-env", "CA_REPOSITORY": "env-repo"}
    s = config.load({"domain": "from-flag"}, env=env, cwd=tmp_path)
    assert (s.domain, s.repository, s.region, s.token_duration) == ("from-flag", "env-repo", "eu-west-1", 3600)


def test_config_found_in_a_parent_directory(tmp_path):
    write_config(tmp_path, 'repository = "parent-repo"\n')
    child = tmp_path / "a" / "b"
    child.mkdir(parents=True)
    assert config.load({}, env={}, cwd=child).repository == "parent-repo"


def test_explicit_config_path_and_CA_CONFIG(tmp_path):
    other = tmp_path / "other.toml"
    other.write_text('stack = "explicit"\n')
    assert config.load({}, env={}, cwd=tmp_path, config=other).stack == "explicit"
    assert config.load({}, env={"CA_CONFIG": str(other)}, cwd=tmp_path).stack == "explicit"


def test_env_values_are_typed(tmp_path):
    env = {"CA_TOKEN_DURATION": "900", "CA_SKIP_EXISTING": "true", "CA_SMOKE_TIMEOUT": "2.5", "CA_PARAMS": "A=1; B=2"}
    s = config.load({}, env=env, cwd=tmp_path)
    assert (s.token_duration, s.skip_existing, s.smoke_timeout, s.params) == (900, True, 2.5, ("A=1", "B=2"))


def test_tag_falls_back_to_jenkins_build_number(tmp_path):
    assert config.load({}, env={"BUILD_NUMBER": "42"}, cwd=tmp_path).tag == "42"
    assert config.load({}, env={"BUILD_NUMBER": "42", "CA_TAG": "v1"}, cwd=tmp_path).tag == "v1"


def test_empty_env_value_counts_as_unset(tmp_path):
    write_config(tmp_path, 'domain = "from-file"\n')
    assert config.load({}, env={"CA_DOMAIN": ""}, cwd=tmp_path).domain == "from-file"


def test_unknown_key_in_file_is_an_error_naming_file_and_key(tmp_path):
    path = write_config(tmp_path, 'domian = "typo"\n')
    with pytest.raises(ConfigError) as err:
        config.load({}, env={}, cwd=tmp_path)
    assert str(path) in err.value.message and "'domian'" in err.value.message
    assert err.value.exit_code == 2


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ("token_duration = 'soon'\n", "token_duration: expected an integer"),
        ("skip_existing = 'maybe'\n", "skip_existing: expected true or false"),
        ("domain = 3\n", "domain: expected a string"),
        ("domain = \n", "not valid TOML"),
    ],
)
def test_bad_values_in_file(tmp_path, text, needle):
    write_config(tmp_path, text)
    with pytest.raises(ConfigError, match=needle):
        config.load({}, env={}, cwd=tmp_path)


def test_bad_env_value_names_the_variable(tmp_path):
    with pytest.raises(ConfigError, match="CA_TOKEN_DURATION: expected an integer, got 'x'"):
        config.load({}, env={"CA_TOKEN_DURATION": "x"}, cwd=tmp_path)


def test_secrets_are_refused_in_the_file(tmp_path):
    write_config(tmp_path, 'index_password = "hunter2hunter2"\n')
    with pytest.raises(ConfigError, match="may only come from the environment"):
        config.load({}, env={}, cwd=tmp_path)


def test_missing_explicit_config_file(tmp_path):
    with pytest.raises(ConfigError, match="config file not found"):
        config.load({}, env={}, cwd=tmp_path, config=tmp_path / "nope.toml")


def test_every_field_has_an_env_var_and_doc():
    for name, f in settings.FIELDS.items():
        assert f.metadata["env"], name
        assert f.metadata["doc"], name


def test_cli_zero_is_a_value_not_an_absent_flag(tmp_path, monkeypatch):
    import argparse

    from jenkins_codeartifact.cli._common import load_settings

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CA_TOKEN_DURATION", "900")
    args = argparse.Namespace(token_duration=0, skip_existing=False, params=[], config=None)
    assert load_settings(args).token_duration == 0


@pytest.mark.parametrize("name", [n for n, f in settings.FIELDS.items() if f.metadata["choices"]])
def test_a_value_outside_the_choices_is_refused_from_env_and_file_alike(tmp_path, name):
    """argparse checks a flag's choices; the same tuple checks the environment and the config file."""
    field = settings.FIELDS[name]
    var = field.metadata["env"][0]
    choices = ", ".join(field.metadata["choices"])
    with pytest.raises(ConfigError, match=f"environment variable {var}: 'bogus': must be one of {choices}"):
        config.load({}, env={var: "bogus"}, cwd=tmp_path)
    for good in field.metadata["choices"]:
        assert getattr(config.load({}, env={var: good}, cwd=tmp_path), name) == good
    write_config(tmp_path, f'{name} = "bogus"\n')
    with pytest.raises(ConfigError, match=f"{name}: 'bogus': must be one of {choices}"):
        config.load({}, env={}, cwd=tmp_path)
