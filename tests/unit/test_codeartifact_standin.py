"""The CodeArtifact client against the stand-in, through real botocore: credentials, throttling, tokens.

Sources: botocore's codeartifact model (ThrottlingException is HTTP 429 with ``Retry-After``;
``expiration`` of GetAuthorizationToken) and botocore's "standard" retry mode; the CodeArtifact user
guide, "CodeArtifact authentication and tokens" (tokens expire; 12 hours at most).
"""

from __future__ import annotations

import logging
import time

import boto3
import pytest
import requests
from tests.unit.test_sandbox_api import KEY, SECRET, WHERE, Clock, serving

from jenkins_codeartifact import aws
from jenkins_codeartifact.codeartifact import CodeArtifact
from jenkins_codeartifact.errors import ConfigError, OperationError
from jenkins_codeartifact.index import Index


@pytest.fixture
def boto(monkeypatch):
    """A session with the stand-in's key; AWS_* variables of the developer's shell cannot leak in."""
    for var in ("AWS_MAX_ATTEMPTS", "AWS_RETRY_MODE", "AWS_PROFILE", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")

    def make(url: str, secret: str = SECRET) -> boto3.Session:
        monkeypatch.setenv("AWS_ENDPOINT_URL_CODEARTIFACT", url)
        return boto3.Session(aws_access_key_id=KEY, aws_secret_access_key=secret, region_name="us-east-1")

    return make


def facade(client, clock=time.time, duration=900) -> CodeArtifact:
    return CodeArtifact(
        client=client,
        domain=WHERE["domain"],
        repository="my-repository",
        domain_owner=WHERE["domainOwner"],
        duration=duration,
        clock=clock,
    )


def test_wrong_secret_key_says_check_the_credentials(boto):
    with serving() as server:
        client = aws.client(boto(server.url, secret="not-the-secret"), "codeartifact")
        with pytest.raises(ConfigError) as err:
            facade(client).token()
    assert "InvalidSignatureException" in err.value.message
    assert "AWS_SECRET_ACCESS_KEY" in (err.value.hint or "") and "domain" not in (err.value.hint or "")


def test_client_has_timeouts_and_bounded_standard_retries(boto):
    config = aws.client(boto("http://127.0.0.1:9"), "codeartifact").meta.config
    assert (config.connect_timeout, config.read_timeout) == (aws.CONNECT_TIMEOUT, aws.READ_TIMEOUT)
    assert config.retries == {"mode": "standard", "total_max_attempts": aws.MAX_ATTEMPTS}


def test_throttled_calls_are_retried_after_retry_after_and_logged(boto, caplog):
    with serving() as server:
        client = aws.client(boto(server.url), "codeartifact")
        server.throttle.force(2, retry_after=1, operation="GetAuthorizationToken")
        caplog.set_level(logging.WARNING, logger="jenkins_codeartifact.aws")
        start = time.monotonic()
        assert facade(client).token()
        elapsed = time.monotonic() - start
    retries = [r.getMessage() for r in caplog.records if "retry" in r.getMessage()]
    assert retries == [
        f"CodeArtifact GetAuthorizationToken: ThrottlingException (HTTP 429), retry {n} of 4 in 1s (Retry-After)"
        for n in (1, 2)
    ]
    assert 2.0 <= elapsed < 5.0  # Retry-After honoured, not botocore's sub-second first backoff


def test_throttling_that_outlasts_the_attempts_is_one_clear_error(boto, monkeypatch):
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    with serving() as server:
        client = aws.client(boto(server.url), "codeartifact")
        server.throttle.force(5, retry_after=0)
        with pytest.raises(OperationError) as err:
            facade(client).token()
    assert err.value.message.startswith("CodeArtifact GetAuthorizationToken failed: ThrottlingException (HTTP 429)")
    assert "40 calls per second" in (err.value.hint or "")


def test_a_run_that_outlives_its_token_gets_a_fresh_one(boto):
    """Client and stand-in share a clock: 20 minutes pass between fetching the index and using it."""
    clock = Clock()
    with serving(clock=clock) as server:
        ca = facade(aws.client(boto(server.url), "codeartifact"), clock=clock, duration=900)
        index = Index("u/", server.url + "/pypi/my-repository/", "aws", ca.token(), codeartifact=ca)
        page = server.url + "/pypi/my-repository/simple/sbx-demo/"
        first = index.credentials()
        assert requests.get(page, auth=first, timeout=5).status_code == 404  # accepted (no devpi behind)
        clock.now += 599  # 301 s left: the cached token is still used
        assert index.credentials() == first
        clock.now += 601  # 15 minutes after it was minted: the first token has expired
        assert requests.get(page, auth=first, timeout=5).status_code == 401
        fresh = index.credentials()
        assert fresh is not None and fresh != first
        assert requests.get(page, auth=fresh, timeout=5).status_code == 404
