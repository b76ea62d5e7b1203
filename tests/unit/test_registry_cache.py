"""The registry cache lookup, without an engine (the real engine: tests/integration)."""

from __future__ import annotations

import logging

import docker.errors
import pytest
import requests

from jenkins_codeartifact.consume import cache


class Api:
    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error
        self.timeout = 60
        self.seen: list[tuple[str, object, float]] = []

    def inspect_distribution(self, reference, auth_config=None):
        self.seen.append((reference, auth_config, self.timeout))
        if self.error:
            raise self.error
        return {"Descriptor": {}}


class Client:
    def __init__(self, error: BaseException | None = None) -> None:
        self.api = Api(error)


def test_a_cache_image_in_the_registry_is_used_with_the_registry_login():
    client = Client()
    assert cache.cache_from(client, "reg/app:buildcache", {"username": "AWS"}) == "reg/app:buildcache"
    assert client.api.seen == [("reg/app:buildcache", {"username": "AWS"}, cache.LOOKUP_TIMEOUT)]
    assert client.api.timeout == 60  # the client's own timeout is back


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (docker.errors.NotFound("manifest unknown"), "not in the registry yet (a first build)"),
        (docker.errors.APIError("denied: requested access to the resource is denied"), "denied"),
        (requests.ReadTimeout("Read timed out. (read timeout=15)"), "the registry did not answer in time"),
        (requests.ConnectionError("Connection aborted"), "ConnectionError"),
    ],
)
def test_an_unusable_cache_is_one_warning_and_a_cold_build(error, reason, caplog):
    client = Client(error)
    assert cache.cache_from(client, "reg/app:buildcache") is None
    (line,) = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert line.getMessage().startswith("registry cache reg/app:buildcache: ")
    assert reason in line.getMessage() and line.getMessage().endswith("; building without it")
    assert client.api.timeout == 60
