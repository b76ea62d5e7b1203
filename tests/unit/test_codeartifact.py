"""CodeArtifact facade: validation, token cache and expiry, endpoint, version lookup, URL forms."""

from __future__ import annotations

import datetime as dt
import secrets

import boto3
import pytest
from botocore.stub import Stubber

from jenkins_codeartifact import redact
from jenkins_codeartifact.codeartifact import CodeArtifact
from jenkins_codeartifact.dists import normalize
from jenkins_codeartifact.errors import ConfigError, OperationError, PreconditionError
from jenkins_codeartifact.index import Index, resolve_index


@pytest.fixture
def client():
    c = boto3.client(
        "codeartifact",
        region_name="us-east-1",
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="fake-secret-key",
    )
    with Stubber(c) as stub:
        c.stub = stub
        yield c
        stub.assert_no_pending_responses()


def make(client, clock=lambda: 1_000_000.0, **kw):
    return CodeArtifact(
        client=client, domain="my-domain", repository="my-repo", domain_owner="111122223333", clock=clock, **kw
    )


@pytest.mark.parametrize("name", ["My_Domain", "d", "-bad", "bad-", "a" * 51, "under_score"])
def test_invalid_domain_names(client, name):
    with pytest.raises(ConfigError, match="not a valid CodeArtifact domain name"):
        CodeArtifact(client=client, domain=name, repository="repo")


@pytest.mark.parametrize("seconds", [1, 899, 43201, -5])
def test_duration_out_of_range(client, seconds):
    with pytest.raises(ConfigError, match=f"token duration {seconds}"):
        make(client, duration=seconds)


@pytest.mark.parametrize("seconds", [0, 900, 3600, 43200])
def test_duration_in_range(client, seconds):
    assert make(client, duration=seconds).duration == seconds


def test_bad_owner_and_endpoint_type(client):
    with pytest.raises(ConfigError, match="12-digit"):
        CodeArtifact(client=client, domain="my-domain", repository="repo", domain_owner="12")
    with pytest.raises(ConfigError, match="ipv4 or dualstack"):
        make(client, endpoint_type="ipv6")


def token_response(value, expires_at):
    return {"authorizationToken": value, "expiration": dt.datetime.fromtimestamp(expires_at, tz=dt.UTC)}


def test_token_is_cached_until_five_minutes_before_expiry(client):
    now = [1_000_000.0]
    ca = make(client, clock=lambda: now[0], duration=900)
    first, second = secrets.token_hex(8), secrets.token_hex(8)
    params = {"domain": "my-domain", "domainOwner": "111122223333", "durationSeconds": 900}
    client.stub.add_response("get_authorization_token", token_response(first, now[0] + 900), params)
    client.stub.add_response("get_authorization_token", token_response(second, now[0] + 2000), params)
    assert ca.token() == first
    now[0] += 599  # 301 s left: still good
    assert ca.token() == first
    now[0] += 2  # 299 s left: inside the margin, renewed
    assert ca.token() == second
    assert redact.scrub(first) == "***" and redact.scrub(second) == "***"


def test_access_denied_becomes_an_operation_error_with_a_hint(client):
    client.stub.add_client_error("get_authorization_token", "AccessDeniedException", "not allowed", 403)
    with pytest.raises(OperationError) as err:
        make(client).token()
    assert "AccessDeniedException" in err.value.message and "sts:GetServiceBearerToken" in (err.value.hint or "")


@pytest.mark.parametrize("endpoint_type", ["ipv4", "dualstack"])
def test_endpoint_asks_for_pypi_and_gets_a_trailing_slash(client, endpoint_type):
    url = "https://my-domain-111122223333.d.codeartifact.us-east-1.amazonaws.com/pypi/my-repo"
    client.stub.add_response(
        "get_repository_endpoint",
        {"repositoryEndpoint": url},
        {
            "domain": "my-domain",
            "domainOwner": "111122223333",
            "repository": "my-repo",
            "format": "pypi",
            "endpointType": endpoint_type,
        },
    )
    ca = make(client, endpoint_type=endpoint_type)
    assert ca.endpoint() == url + "/"
    assert ca.endpoint() == url + "/"  # cached: one call only


def test_version_lookup_uses_the_normalised_name_and_lists_assets(client):
    base = {
        "domain": "my-domain",
        "domainOwner": "111122223333",
        "repository": "my-repo",
        "format": "pypi",
        "package": "fantastic-ascii",
        "packageVersion": "1.0.0",
    }
    client.stub.add_response("describe_package_version", {"packageVersion": {"status": "Unfinished"}}, base)
    client.stub.add_response(
        "list_package_version_assets",
        {"assets": [{"name": "fantastic_ascii-1.0.0.tar.gz"}], "nextToken": "p2"},
        {**base, "maxResults": 1000},
    )
    client.stub.add_response(
        "list_package_version_assets",
        {"assets": [{"name": "fantastic_ascii-1.0.0-py3-none-any.whl"}]},
        {**base, "maxResults": 1000, "nextToken": "p2"},
    )
    files = make(client).version_files("Fantastic_ASCII", "1.0.0")
    assert files == {"fantastic_ascii-1.0.0.tar.gz", "fantastic_ascii-1.0.0-py3-none-any.whl"}


@pytest.mark.parametrize(
    ("op", "call"), [("get_repository_endpoint", "endpoint"), ("get_authorization_token", "token")]
)
def test_unknown_repository_or_domain_is_a_config_error(client, op, call):
    client.stub.add_client_error(op, "ResourceNotFoundException", "Repository my-repo not found", 404)
    with pytest.raises(ConfigError) as err:
        getattr(make(client), call)()
    assert "Repository my-repo not found" in err.value.message
    assert "CA_REPOSITORY" in (err.value.hint or "") and err.value.exit_code == 2


@pytest.mark.parametrize("kind", ["package", "package-version"])
def test_missing_version_is_none(client, kind):
    client.stub.add_client_error(
        "describe_package_version",
        "ResourceNotFoundException",
        "no such version",
        404,
        modeled_fields={"message": "no such version", "resourceType": kind},
    )
    assert make(client).version_files("fantastic-ascii", "9.9.9") is None


@pytest.mark.parametrize("kind", ["repository", "domain", None])
def test_missing_repository_is_not_a_missing_version(client, kind):
    fields = {"message": "Repository not found", **({"resourceType": kind} if kind else {})}
    client.stub.add_client_error(
        "describe_package_version", "ResourceNotFoundException", "Repository not found", 404, modeled_fields=fields
    )
    with pytest.raises(ConfigError, match="Repository not found") as err:
        make(client).version_files("fantastic-ascii", "9.9.9")
    assert "CA_REPOSITORY" in (err.value.hint or "")


VERSION = {
    "domain": "my-domain",
    "domainOwner": "111122223333",
    "repository": "my-repo",
    "format": "pypi",
    "package": "fantastic-ascii",
    "packageVersion": "1.0.0",
}


@pytest.mark.parametrize("status", ["Archived", "Disposed"])
def test_archived_or_disposed_version_takes_no_files(client, status):
    client.stub.add_response("describe_package_version", {"packageVersion": {"status": status}}, VERSION)
    with pytest.raises(PreconditionError) as err:
        make(client).version_files("fantastic-ascii", "1.0.0")
    assert err.value.exit_code == 3
    assert err.value.message.startswith(f"fantastic-ascii 1.0.0 is {status} in CodeArtifact my-domain/my-repo")


def test_deleted_version_and_vanished_assets_are_absent(client):
    client.stub.add_response("describe_package_version", {"packageVersion": {"status": "Deleted"}}, VERSION)
    assert make(client).version_files("fantastic-ascii", "1.0.0") is None
    client.stub.add_response("describe_package_version", {"packageVersion": {"status": "Published"}}, VERSION)
    client.stub.add_client_error(
        "list_package_version_assets",
        "ResourceNotFoundException",
        "gone",
        404,
        modeled_fields={"message": "gone", "resourceType": "package-version"},
    )
    assert make(client).version_files("fantastic-ascii", "1.0.0") is None  # not "exists with no files"


@pytest.mark.parametrize(
    "code",
    [
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "ExpiredToken",
        "ExpiredTokenException",
    ],
)
def test_bad_aws_credentials_point_at_the_credentials(client, code):
    client.stub.add_client_error("get_authorization_token", code, "The request signature we calculated...", 403)
    with pytest.raises(ConfigError) as err:
        make(client).token()
    assert code in err.value.message and err.value.exit_code == 2
    assert err.value.hint == "check the AWS credentials (AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY/AWS_PROFILE)"


@pytest.mark.parametrize(("raw", "norm"), [("Fantastic_ASCII", "fantastic-ascii"), ("a.b-c__d", "a-b-c-d")])
def test_normalize(raw, norm):
    assert normalize(raw) == norm


def test_pip_index_url_quotes_and_registers_the_password():
    password = "p@ss/" + secrets.token_hex(6)
    index = Index(
        upload_url="https://h/pypi/r/", simple_url="https://h/pypi/r/simple/", username="aws", password=password
    )
    url = index.pip_index_url()
    assert url == f"https://aws:{password.replace('@', '%40').replace('/', '%2F')}@h/pypi/r/simple/"
    assert password not in redact.scrub(url) and "%40" not in redact.scrub(url).split("@")[0]
    assert password not in repr(index)


def test_generic_index_url_forms(tmp_path):
    from jenkins_codeartifact import config

    s = config.load({"repository_url": "http://127.0.0.1:9/repository/pypi-hosted"}, env={}, cwd=tmp_path)
    index = resolve_index(s)
    assert index.upload_url == "http://127.0.0.1:9/repository/pypi-hosted/"
    assert index.simple_url == "http://127.0.0.1:9/repository/pypi-hosted/simple/"
    s = config.load(
        {"repository_url": "http://devpi/u/i", "simple_url": "http://devpi/u/i/+simple/"}, env={}, cwd=tmp_path
    )
    assert resolve_index(s).simple_url == "http://devpi/u/i/+simple/"
    with pytest.raises(ConfigError, match="must be an http"):
        resolve_index(config.load({"repository_url": "ftp://x"}, env={}, cwd=tmp_path))


def test_missing_domain_and_repository(tmp_path):
    from jenkins_codeartifact import config

    with pytest.raises(ConfigError, match="missing --domain and --repository"):
        resolve_index(config.load({}, env={}, cwd=tmp_path))
