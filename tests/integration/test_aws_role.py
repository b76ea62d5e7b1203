"""--role-arn: the session holds the assumed role's temporary credentials (moto's STS)."""

from __future__ import annotations

import json

import pytest
from tests.helpers import sandbox_client

from jenkins_codeartifact import aws, config, redact
from jenkins_codeartifact.errors import OperationError


def test_assume_role_returns_a_session_with_the_roles_credentials(sandbox_env, sandbox_environ, tmp_path):
    iam = sandbox_client(sandbox_env, "iam")
    trust = {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
    name = f"deployer-{tmp_path.name[-8:]}"
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    s = aws.session(config.load({"role_arn": arn}, env=sandbox_environ, cwd=tmp_path))
    creds = s.get_credentials().get_frozen_credentials()
    assert creds.access_key != sandbox_env["AWS_ACCESS_KEY_ID"] and creds.token
    assert redact.scrub(creds.secret_key) == "***" and redact.scrub(creds.token) == "***"
    assert s.region_name == sandbox_env["AWS_REGION"]


def test_sts_unreachable_is_a_clear_error(sandbox_environ, monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    role = "arn:aws:iam::111122223333:role/x"
    with pytest.raises(OperationError, match=f"cannot reach STS to assume {role}"):
        aws.session(config.load({"role_arn": role}, cwd=tmp_path))
