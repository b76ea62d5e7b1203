"""The CodeArtifact API stand-in, in-process with an in-memory backend, through real boto3 and raw HTTP.

Behaviours and where they come from: botocore's codeartifact model (routes, parameter constraints,
error shapes, ThrottlingException's Retry-After header, durationSeconds 0/900..43200) and the
CodeArtifact user guide ("Python package name normalization", "Package version status",
"Update package version status", "CodeArtifact authentication and tokens").
"""

from __future__ import annotations

import base64
import contextlib
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
from jenkins_codeartifact.sandbox.codeartifact_state import TOKEN_PREFIX

KEY, SECRET = "AKIAUNITTEST00000000", "unit-secret-key"
BACKEND_PASSWORD = "unit-backend-password-0123456789"
WHERE = {"domain": "my-domain", "domainOwner": "111122223333"}
REPO = {**WHERE, "repository": "my-repository", "format": "pypi"}


class MemoryBackend:
    """Two files of sbx-demo 1.0; nothing else exists."""

    def password(self) -> str:
        return BACKEND_PASSWORD

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


@contextlib.contextmanager
def serving(**config: Any) -> Iterator[ca.StandIn]:
    """A stand-in on a free loopback port (``server.url``), stopped afterwards."""
    server = ca.make_server(ca.Config(access_key_id=KEY, secret_access_key=SECRET, **config), MemoryBackend())
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def url() -> Iterator[str]:
    with serving() as server:
        yield server.url  # type: ignore[attr-defined]


class Clock:
    """The stand-in's time, moved by the test."""

    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def __call__(self) -> float:
        return self.now


def client(url: str, key: str = KEY, secret: str = SECRET, validate: bool = True, session: str | None = None) -> Any:
    return boto3.client(
        "codeartifact",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=key,
        aws_secret_access_key=secret,
        aws_session_token=session,
        config=botocore.config.Config(retries={"total_max_attempts": 1}, parameter_validation=validate),
    )


def basic(token: str, user: str = "aws") -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{token}".encode()).decode()}


def error(exc_info: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[int, str, str]:
    resp = exc_info.value.response
    return resp["ResponseMetadata"]["HTTPStatusCode"], resp["Error"]["Code"], resp["Error"]["Message"]


def test_tokens_are_new_on_every_call_long_and_shaped_like_codeartifact_ones(url: str) -> None:
    first = client(url).get_authorization_token(**WHERE, durationSeconds=900)
    second = client(url).get_authorization_token(**WHERE, durationSeconds=900)
    assert first["authorizationToken"] != second["authorizationToken"]
    for token in (first["authorizationToken"], second["authorizationToken"]):
        assert 1100 <= len(token) <= 1300 and token.startswith(TOKEN_PREFIX) and token.count(".") == 4
        assert BACKEND_PASSWORD not in token
    left = (first["expiration"] - dt.datetime.now(dt.UTC)).total_seconds()
    assert 890 < left <= 901


def test_duration_defaults_to_12_hours_and_0_means_the_role_session() -> None:
    clock = Clock()
    with serving(clock=clock, session_seconds=1800) as server:
        url = server.url  # type: ignore[attr-defined]
        start = dt.datetime.fromtimestamp(clock.now, dt.UTC)
        default = client(url).get_authorization_token(domain="my-domain")["expiration"]
        assert default - start == dt.timedelta(hours=12)
        user = client(url).get_authorization_token(domain="my-domain", durationSeconds=0)["expiration"]
        assert user - start == dt.timedelta(hours=12)  # long-term keys: no session, the 12-hour cap
        role = client(url, session="role-session-token").get_authorization_token(domain="my-domain", durationSeconds=0)
        assert role["expiration"] - start == dt.timedelta(seconds=1800)  # what is left of the role session


def test_endpoint_refuses_a_token_once_it_expired() -> None:
    clock = Clock()
    with serving(clock=clock) as server:
        url = server.url  # type: ignore[attr-defined]
        token = client(url).get_authorization_token(**WHERE, durationSeconds=900)["authorizationToken"]
        page = f"{url}/pypi/my-repository/simple/sbx-demo/"
        assert requests.get(page, headers=basic(token), timeout=5).status_code == 404  # accepted (no devpi here)
        clock.now += 899
        assert requests.get(page, headers=basic(token), timeout=5).status_code == 404
        clock.now += 1
        expired = requests.get(page, headers=basic(token), timeout=5)
        assert expired.status_code == 401 and "expired" in expired.json()["message"]
        tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
        assert requests.get(page, headers=basic(tampered), timeout=5).status_code == 401


def test_throttling_answers_429_with_retry_after() -> None:
    clock = Clock()
    with serving(clock=clock) as server:
        url = server.url  # type: ignore[attr-defined]
        c = client(url)
        for _ in range(40):  # GetAuthorizationToken's quota: 40 per second
            c.get_authorization_token(domain="my-domain")
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            c.get_authorization_token(domain="my-domain")
        assert error(exc)[:2] == (429, "ThrottlingException")
        assert exc.value.response["retryAfterSeconds"] == 1  # the Retry-After header, parsed by botocore
        clock.now += 1
        c.get_authorization_token(domain="my-domain")
        server.throttle.force(1, retry_after=7, operation="GetRepositoryEndpoint")
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            c.get_repository_endpoint(**WHERE, repository="my-repository", format="pypi")
        assert error(exc)[:2] == (429, "ThrottlingException") and exc.value.response["retryAfterSeconds"] == 7
        c.get_repository_endpoint(**WHERE, repository="my-repository", format="pypi")  # once only


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
    both = client(url).get_repository_endpoint(
        **WHERE, repository="my-repository", format="pypi", endpointType="dualstack"
    )
    assert both["repositoryEndpoint"] == "http://localhost:3142/pypi/my-repository/"


def test_unknown_repository_and_bad_format(url: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).get_repository_endpoint(**WHERE, repository="nope", format="pypi")
    assert error(exc)[:2] == (404, "ResourceNotFoundException")
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).get_repository_endpoint(**WHERE, repository="my-repository", format="wheel")
    assert error(exc)[:2] == (400, "ValidationException")
    assert "enum value set" in error(exc)[2]


def test_describe_wants_the_normalised_name(url: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).describe_package_version(**REPO, package="Sbx_Demo", packageVersion="1.0")
    assert error(exc)[:2] == (404, "ResourceNotFoundException")
    assert exc.value.response["resourceType"] == "package-version"
    version = client(url).describe_package_version(**REPO, package="sbx-demo", packageVersion="1.0")["packageVersion"]
    assert version["packageName"] == "sbx-demo"
    assert version["displayName"] == "Sbx_Demo"
    assert version["status"] == "Published"
    assert version["licenses"] == [{"name": "MIT"}]
    assert version["publishedTime"] == dt.datetime.fromtimestamp(1_700_000_000, dt.UTC)


def test_describe_missing_version_is_resource_not_found(url: str) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).describe_package_version(**REPO, package="sbx-demo", packageVersion="2.0")
    assert error(exc)[:2] == (404, "ResourceNotFoundException")
    # a pypi package has no namespace: asking with one finds nothing (no invented validation error)
    with pytest.raises(botocore.exceptions.ClientError) as exc:
        client(url).describe_package_version(**REPO, namespace="ns", package="sbx-demo", packageVersion="1.0")
    assert error(exc)[:2] == (404, "ResourceNotFoundException")


def test_version_status_is_held_and_disposing_drops_the_assets() -> None:
    with serving() as server:
        c = client(server.url)  # type: ignore[attr-defined]
        where = {**REPO, "package": "sbx-demo"}
        done = c.update_package_versions_status(**where, versions=["1.0", "9.9"], targetStatus="Archived")
        assert done["successfulVersions"]["1.0"]["status"] == "Archived"
        assert done["failedVersions"]["9.9"]["errorCode"] == "NOT_FOUND"
        assert c.describe_package_version(**where, packageVersion="1.0")["packageVersion"]["status"] == "Archived"
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            c.update_package_versions_status(**where, versions=["1.0"], targetStatus="Disposed")
        assert error(exc)[:2] == (400, "ValidationException")
        mismatch = c.dispose_package_versions(**where, versions=["1.0"], expectedStatus="Published")
        assert mismatch["failedVersions"]["1.0"]["errorCode"] == "MISMATCHED_STATUS"
        disposed = c.dispose_package_versions(**where, versions=["1.0"])
        assert disposed["successfulVersions"]["1.0"]["status"] == "Disposed"
        assert c.describe_package_version(**where, packageVersion="1.0")["packageVersion"]["status"] == "Disposed"
        assert c.list_package_version_assets(**where, packageVersion="1.0")["assets"] == []


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


@pytest.mark.parametrize("who", ["none", "wrong-token", "wrong-user", "backend-password"])
def test_pypi_endpoint_needs_the_token(url: str, who: str) -> None:
    token = client(url).get_authorization_token(**WHERE)["authorizationToken"]
    headers = {
        "none": {},
        "wrong-token": basic("wrong"),
        "wrong-user": basic(token, user="someone"),
        "backend-password": basic(BACKEND_PASSWORD),
    }[who]
    resp = requests.get(f"{url}/pypi/my-repository/simple/sbx-demo/", headers=headers, timeout=5)
    assert resp.status_code == 401
    assert resp.headers["WWW-Authenticate"].startswith("Basic")


def test_pypi_endpoint_accepts_the_token_and_serves_no_root_listing(url: str) -> None:
    # no devpi behind this server: a 404 naming the missing backend means the credentials were accepted
    token = client(url).get_authorization_token(**WHERE)["authorizationToken"]
    resp = requests.get(f"{url}/pypi/my-repository/simple/sbx-demo/", headers=basic(token), timeout=5)
    assert resp.status_code == 404 and "no package backend" in resp.json()["message"]
    with serving(devpi_url="http://127.0.0.1:9") as server:  # a backend that would fail if it were asked
        base = server.url  # type: ignore[attr-defined]
        token = client(base).get_authorization_token(**WHERE)["authorizationToken"]
        for root in ("simple/", "simple"):
            resp = requests.get(f"{base}/pypi/my-repository/{root}", headers=basic(token), timeout=5)
            assert resp.status_code == 404 and "no such resource" in resp.json()["message"]


def test_validate_reports_every_problem() -> None:
    with pytest.raises(ca.ApiError) as exc:
        ca.validate("GetRepositoryEndpoint", {"domain": "X", "format": "pypi"})
    assert exc.value.message.startswith("2 validation errors detected")
    assert ca.validate("GetAuthorizationToken", {"domain": "my-domain", "duration": "900"}) == {
        "domain": "my-domain",
        "durationSeconds": 900,
    }
