"""The CodeArtifact API stand-in, in-process with an in-memory backend, through real boto3 and raw HTTP."""

from __future__ import annotations

import base64
import datetime as dt
import threading
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest
import requests

from jenkins_codeartifact.sandbox import codeartifact_api as ca

KEY, SECRET = "AKIAUNITTEST00000000", "unit-secret-key"
TOKEN = "unit-token-0123456789"
WHERE = {"domain": "my-domain", "domainOwner": "111122223333"}
REPO = {**WHERE, "repository": "my-repository", "format": "pypi"}


class MemoryBackend:
    """Two files of sbx-demo 1.0; nothing else exists."""

    def token(self) -> str:
        return TOKEN

    def version(self, index: str, package: str, version: str) -> dict[str, Any] | None:
        if (index, package, version) != ("aws/my-repository", "sbx-demo", "1.0"):
            return None
        return {
            "displayName": "Sbx_Demo",
            "summary": "demo",
            "homePage": "",
            "license": "MIT",
            "publishedTime": 1_700_000_000,
            "revision": "rev-1",
        }

    def assets(self, index: str, package: str, version: str) -> list[dict[str, Any]]:
        return [
            {"name": f"sbx_demo-1.0{suffix}", "size": 10, "hashes": {"SHA-256": "0" * 64}}
            for suffix in ("-py3-none-any.whl", ".tar.gz", ".zip")
        ]


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    server = ca.make_server(ca.Config(access_key_id=KEY, secret_access_key=SECRET), MemoryBackend())
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def client(url: str, key: str = KEY, secret: str = SECRET, validate: bool = True) -> Any:
    return boto3.client(
        "codeartifact",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        config=botocore.config.Config(retries={"max_attempts": 1}, parameter_validation=validate),
    )


def error(exc_info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[int, str, str]:
    resp = exc_info.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def test_token_and_expiration(url: str) -> None:
    resp = client(url).get_authorization_token(**WHERE, durationSeconds=900)
    assert resp["authorizationToken"] == TOKEN
    left = (resp["expiration"] - dt.datetime.now(dt.UTC)).total_seconds()
    assert 890 < left <= 901


def test_duration_zero_means_the_session_lifetime(url: str) -> None:
    resp = client(url).get_authorization_token(domain="my-domain", durationSeconds=0)
    assert resp["expiration"] > dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)


@pytest.mark.parametrize("duration", [1, 899, 43201, 50000])
def test_duration_out_of_range_is_a_validation_error(url: str, duration: int) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).get_authorization_token(**WHERE, durationSeconds=duration)
    status, code, message = error(exc)
    assert (status, code) == (400, "ValidationException")
    assert "43200" in message


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"domain": "Bad_Domain"}, (400, "ValidationException", "at 'domain' failed to satisfy constraint")),
        ({"domain": "my-domain", "domainOwner": "12345678901x"}, (400, "ValidationException", "'domainOwner'")),
        ({"domain": "my-domain", "domainOwner": "999999999999"}, (403, "AccessDeniedException", "not authorized")),
        ({"domain": "other-domain"}, (404, "ResourceNotFoundException", "Domain not found")),
    ],
)
def test_domain_and_owner_are_checked_like_the_service(url: str, kwargs: dict[str, str], expected: tuple) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).get_authorization_token(**kwargs)
    status, code, message = error(exc)
    assert (status, code) == expected[:2]
    assert expected[2] in message


def test_repository_endpoint_is_a_pypi_url_on_the_stand_in(url: str) -> None:
    resp = client(url).get_repository_endpoint(**WHERE, repository="my-repository", format="pypi")
    assert resp["repositoryEndpoint"] == "http://127.0.0.1:3142/pypi/my-repository/"


def test_unknown_repository_and_bad_format(url: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).get_repository_endpoint(**WHERE, repository="nope", format="pypi")
    assert error(exc)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).get_repository_endpoint(**WHERE, repository="my-repository", format="wheel")
    assert error(exc)[:2] == (400, "ValidationException")
    assert "enum value set" in error(exc)[2]


def test_describe_normalises_the_name(url: str) -> None:
    version = client(url).describe_package_version(**REPO, package="Sbx_Demo", packageVersion="1.0")["packageVersion"]
    assert version["packageName"] == "sbx-demo"
    assert version["displayName"] == "Sbx_Demo"
    assert version["status"] == "Published"
    assert version["licenses"] == [{"name": "MIT"}]
    assert version["publishedTime"] == dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)


def test_describe_missing_version_is_resource_not_found(url: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).describe_package_version(**REPO, package="sbx-demo", packageVersion="2.0")
    assert error(exc)[:2] == (404, "ResourceNotFoundException")


def test_assets_are_paged(url: str) -> None:
    c = client(url)
    first = c.list_package_version_assets(**REPO, package="sbx-demo", packageVersion="1.0", maxResults=2)
    assert len(first["assets"]) == 2 and first["nextToken"]
    assert first["versionRevision"] == "rev-1"
    pages = c.get_paginator("list_package_version_assets").paginate(
        **REPO, package="sbx-demo", packageVersion="1.0", PaginationConfig={"PageSize": 1}
    )
    names = [a["name"] for page in pages for a in page["assets"]]
    assert names == [a["name"] for a in MemoryBackend().assets("", "", "")]


def test_bad_page_token_and_page_size(url: str) -> None:
    c = client(url)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.list_package_version_assets(**REPO, package="sbx-demo", packageVersion="1.0", nextToken="garbage")
    assert error(exc)[:2] == (400, "ValidationException")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        c.list_package_version_assets(**REPO, package="sbx-demo", packageVersion="1.0", maxResults=1001)
    assert error(exc)[:2] == (400, "ValidationException")


def test_wrong_secret_and_unknown_key_are_refused(url: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url, secret="not-the-secret").get_authorization_token(domain="my-domain")
    assert error(exc)[:2] == (403, "InvalidSignatureException")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url, key="AKIAOTHER").get_authorization_token(domain="my-domain")
    assert error(exc)[:2] == (403, "UnrecognizedClientException")


def test_unsigned_request_is_refused_with_rest_json_error(url: str) -> None:
    resp = requests.post(f"{url}/v1/authorization-token?domain=my-domain", timeout=5)
    assert resp.status_code == 403
    assert resp.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    assert resp.json() == {"message": "Missing Authentication Token"}


def test_missing_required_parameter(url: str) -> None:
    # botocore checks required parameters itself; switch that off to see the server's answer
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url, validate=False).get_authorization_token()
    status, code, message = error(exc)
    assert (status, code) == (400, "ValidationException")
    assert "Value null at 'domain'" in message


def test_operations_the_sandbox_does_not_implement(url: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).list_domains()
    assert error(exc)[:2] == (501, "NotImplemented")


@pytest.mark.parametrize(
    "auth",
    [None, ("aws", "wrong"), ("someone", TOKEN)],
    ids=["none", "wrong-token", "wrong-user"],
)
def test_pypi_endpoint_needs_the_token(url: str, auth: tuple[str, str] | None) -> None:
    resp = requests.get(f"{url}/pypi/my-repository/simple/sbx-demo/", auth=auth, timeout=5)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


def test_pypi_endpoint_accepts_the_token(url: str) -> None:
    # no devpi behind this server: a 404 from the stand-in means the credentials were accepted
    header = "Basic " + base64.b64encode(f"aws:{TOKEN}".encode()).decode()
    resp = requests.get(f"{url}/pypi/my-repository/simple/", headers={"Authorization": header}, timeout=5)
    assert resp.status_code == 404


def test_validate_reports_every_problem() -> None:
    with pytest.raises(ca.ApiError) as exc:
        ca.validate("GetRepositoryEndpoint", {"domain": "X", "format": "pypi"})
    assert exc.value.message.startswith("2 validation errors detected")
    assert ca.validate("GetAuthorizationToken", {"domain": "my-domain", "duration": "900"}) == {
        "domain": "my-domain",
        "durationSeconds": 900,
    }
