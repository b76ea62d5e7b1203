"""boto3 session factory: the errors a Jenkins user sees when region, credentials or profile are missing."""

from __future__ import annotations

import pytest

from jenkins_codeartifact import aws, config
from jenkins_codeartifact.errors import ConfigError


@pytest.fixture(autouse=True)
def isolated(monkeypatch, tmp_path):
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_REGION",
        "AWS_DEFAULT_REGION",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_STS",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "credentials"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.chdir(tmp_path)


def test_no_region(tmp_path):
    with pytest.raises(ConfigError, match="no AWS region configured"):
        aws.session(config.load({}, env={}, cwd=tmp_path))


def test_no_credentials(tmp_path):
    with pytest.raises(ConfigError, match="no AWS credentials found") as err:
        aws.session(config.load({"region": "us-east-1"}, env={}, cwd=tmp_path))
    assert "instance role" in (err.value.hint or "")


def test_unknown_profile(tmp_path):
    with pytest.raises(ConfigError, match="AWS profile 'nope' not found"):
        aws.session(config.load({"profile": "nope", "region": "us-east-1"}, env={}, cwd=tmp_path))


def test_secret_key_is_registered(tmp_path, monkeypatch):
    from jenkins_codeartifact import redact

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-for-the-test")
    aws.session(config.load({"region": "us-east-1"}, env={}, cwd=tmp_path))
    assert redact.scrub("key s3cr3t-value-for-the-test") == "key ***"


def test_client_retry_mode_and_attempts_follow_the_environment(monkeypatch):
    import boto3

    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "3")
    session = boto3.Session(aws_access_key_id="AKIDTEST", aws_secret_access_key="x", region_name="us-east-1")
    config = aws.client(session, "codeartifact").meta.config
    assert config.retries == {"mode": "adaptive", "total_max_attempts": 3}
    assert (config.connect_timeout, config.read_timeout) == (aws.CONNECT_TIMEOUT, aws.READ_TIMEOUT)


@pytest.mark.parametrize(("var", "value"), [("AWS_MAX_ATTEMPTS", "many"), ("AWS_RETRY_MODE", "aggressive")])
def test_bad_retry_settings_are_one_line_errors(monkeypatch, var, value):
    monkeypatch.setenv(var, value)
    with pytest.raises(ConfigError, match=f"{var}={value!r}"):
        aws.client_config()
