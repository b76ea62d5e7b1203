"""ca-publish's origin check on CodeArtifact's answers (botocore Stubber): refused, shadowed, not allowed to ask."""

from __future__ import annotations

import logging

import boto3
import pytest
from botocore.stub import Stubber

from jenkins_codeartifact.codeartifact import CodeArtifact
from jenkins_codeartifact.errors import OperationError, PreconditionError
from jenkins_codeartifact.publish import flow

WHERE = {"domain": "my-domain", "domainOwner": "111122223333", "format": "pypi", "package": "acme-lib"}


@pytest.fixture
def ca():
    client = boto3.client(
        "codeartifact",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="fake-secret-key",
    )
    with Stubber(client) as stub:
        facade = CodeArtifact(client=client, domain="my-domain", repository="dev", domain_owner="111122223333")
        facade.stub = stub  # type: ignore[attr-defined]
        yield facade
        stub.assert_no_pending_responses()


def group(publish: str, upstream: str, pattern: str = "/pypi//acme~") -> dict:
    modes = {"PUBLISH": publish, "EXTERNAL_UPSTREAM": upstream, "INTERNAL_UPSTREAM": "ALLOW"}
    restrictions = {k: {"mode": v, "effectiveMode": v} for k, v in modes.items()}
    return {"packageGroup": {"pattern": pattern, "originConfiguration": {"restrictions": restrictions}}}


def not_found(ca):
    ca.stub.add_client_error(
        "describe_package",
        "ResourceNotFoundException",
        "Package not found",
        404,
        response_meta={},
        modeled_fields={"message": "Package not found", "resourceType": "package"},
    )


def test_an_internal_group_passes_silently(ca, caplog):
    ca.stub.add_response("get_associated_package_group", group("ALLOW", "BLOCK"), WHERE)
    not_found(ca)
    with caplog.at_level(logging.INFO):
        flow.check_origin(ca, "Acme_Lib")
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]


def test_a_group_that_blocks_publishing_is_exit_3(ca):
    ca.stub.add_response("get_associated_package_group", group("BLOCK", "BLOCK"), WHERE)
    not_found(ca)
    with pytest.raises(PreconditionError, match="its package group /pypi//acme~ blocks publishing"):
        flow.check_origin(ca, "acme-lib")


def test_an_open_upstream_is_one_warning(ca, caplog):
    ca.stub.add_response("get_associated_package_group", group("ALLOW", "ALLOW", "/*"), WHERE)
    not_found(ca)
    flow.check_origin(ca, "acme-lib")
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("WARNING: acme-lib could be shadowed from the public upstream: its package group /*")


def test_a_policy_without_the_read_actions_is_a_warning_not_a_failure(ca, caplog):
    ca.stub.add_client_error("get_associated_package_group", "AccessDeniedException", "not authorized", 403)
    flow.check_origin(ca, "acme-lib")
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warning.startswith("WARNING: origin controls not checked: CodeArtifact GetAssociatedPackageGroup failed: ")
    assert "codeartifact:GetAssociatedPackageGroup: infra/jenkins-iam.yml ProducerPolicy" in warning


def test_other_errors_still_fail(ca):
    ca.stub.add_client_error("get_associated_package_group", "InternalServerException", "boom", 500)
    with pytest.raises(OperationError, match="InternalServerException"):
        flow.check_origin(ca, "acme-lib")
