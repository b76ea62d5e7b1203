"""boto3 session factory: the errors a Jenkins user sees when region, credentials or profile are missing."""

from __future__ import annotations

import pytest

from jenkins_codeartifact import aws, settings
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
        aws.session(settings.load({}, env={}, cwd=tmp_path))


def test_no_credentials(tmp_path):
    with pytest.raises(ConfigError, match="no AWS credentials found") as err:
        aws.session(settings.load({"region": "us-east-1"}, env={}, cwd=tmp_path))
    assert "instance role" in (err.value.hint or "")


def test_unknown_profile(tmp_path):
    with pytest.raises(ConfigError, match="AWS profile 'nope' not found"):
        aws.session(settings.load({"profile": "nope", "region": "us-east-1"}, env={}, cwd=tmp_path))


def test_secret_key_is_registered(tmp_path, monkeypatch):
    from jenkins_codeartifact import redact

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIDTESTTEST")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "s3cr3t-value-for-the-test")
    aws.session(settings.load({"region": "us-east-1"}, env={}, cwd=tmp_path))
    assert redact.scrub("key s3cr3t-value-for-the-test") == "key ***"
