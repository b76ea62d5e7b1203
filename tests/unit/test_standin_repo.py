"""The stand-in's operations for promotion, retention and origin controls, through real boto3.

Every raw answer is checked against botocore's output shape for the operation (no unknown member, the
types and enums of the model), so the stand-in cannot drift from what the service sends. Sources:
botocore's codeartifact model (CopyPackageVersions, ListPackageVersions, DeletePackageVersions,
DescribePackage, GetAssociatedPackageGroup; the ListPackageVersions paginator) and the CodeArtifact user
guide ("Copy packages between repositories", "Package groups", "Package group definition syntax and
matching behavior", "Editing package origin controls").
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest
import requests
from tests.unit.test_sandbox_api import KEY, REPO, SECRET, WHERE, basic, client, error

from jenkins_codeartifact.sandbox import codeartifact_api as ca
from jenkins_codeartifact.sandbox.codeartifact_model import service_model
from jenkins_codeartifact.sandbox.codeartifact_repo import PackageGroup

INDEXES = {"dev": "aws/dev", "release": "aws/release"}


class Store:
    """Versions in memory, per index: ``files[(index, package, version)] = {name: sha256}``."""

    def __init__(self) -> None:
        self.files: dict[tuple[str, str, str], dict[str, str]] = {}
        self.published: dict[tuple[str, str, str], int] = {}

    def add(self, index: str, package: str, version: str, *names: str, when: int = 1_700_000_000) -> None:
        self.files[(index, package, version)] = {n: f"{abs(hash(n)):064d}"[:64] for n in names}
        self.published[(index, package, version)] = when

    def password(self) -> str:
        return "store-password-0123456789"

    def version(self, index: str, package: str, version: str) -> dict[str, Any] | None:
        files = self.files.get((index, package, version))
        if files is None:
            return None
        revision = str(abs(hash(tuple(sorted(files.items())))))
        return {
            "displayName": package,
            "summary": "",
            "homePage": "",
            "license": "",
            "publishedTime": self.published[(index, package, version)],
            "revision": revision,
        }

    def assets(self, index: str, package: str, version: str) -> list[dict[str, Any]]:
        files = self.files.get((index, package, version), {})
        return [{"name": n, "size": 1, "hashes": {"SHA-256": h}} for n, h in sorted(files.items())]

    def versions(self, index: str, package: str) -> list[dict[str, Any]]:
        out = []
        for i, p, v in self.files:
            if (i, p) == (index, package):
                found = self.version(i, p, v)
                assert found is not None
                out.append({"version": v, "revision": found["revision"], "publishedTime": found["publishedTime"]})
        return out

    def copy(self, source: str, target: str, package: str, version: str) -> None:
        self.files[(target, package, version)] = dict(self.files[(source, package, version)])
        self.published[(target, package, version)] = self.published[(source, package, version)]


@contextlib.contextmanager
def serving(store: Store, **config: Any) -> Iterator[ca.StandIn]:
    server = ca.make_server(
        ca.Config(access_key_id=KEY, secret_access_key=SECRET, repositories=dict(INDEXES), **config), store
    )
    server.url = f"http://127.0.0.1:{server.server_address[1]}"  # type: ignore[attr-defined]
    server.config.public_url = server.url  # type: ignore[attr-defined]
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


# -- answers checked against botocore's output shapes -------------------------------------------------------


def shape_problems(shape: Any, value: Any, where: str = "") -> list[str]:
    """What in ``value`` (raw JSON) the model's ``shape`` does not allow."""
    kind = shape.type_name
    if kind == "structure":
        if not isinstance(value, dict):
            return [f"{where}: expected an object"]
        problems = [f"{where}.{k}: not in the model" for k in value if k not in shape.members]
        problems += [f"{where}.{k}: required" for k in shape.required_members if k not in value]
        for key, member in shape.members.items():
            if key in value:
                problems += shape_problems(member, value[key], f"{where}.{key}")
        return problems
    if kind == "list":
        if not isinstance(value, list):
            return [f"{where}: expected a list"]
        return [p for i, item in enumerate(value) for p in shape_problems(shape.member, item, f"{where}[{i}]")]
    if kind == "map":
        if not isinstance(value, dict):
            return [f"{where}: expected a map"]
        return [p for k, v in value.items() for p in shape_problems(shape.value, v, f"{where}[{k}]")]
    expected = {"string": str, "integer": int, "long": int, "boolean": bool, "timestamp": (int, float)}[kind]
    if not isinstance(value, expected):
        return [f"{where}: {value!r} is not a {kind}"]
    if kind == "string" and shape.enum and value not in shape.enum:
        return [f"{where}: {value!r} not in {shape.enum}"]
    return []


def boto(url: str, problems: list[str]) -> Any:
    c = client(url)

    def check(http_response: Any, model: Any, **kw: Any) -> None:
        if http_response.status_code == 200 and model.output_shape is not None:
            body = json.loads(http_response.content)
            problems.extend(f"{model.name}{p}" for p in shape_problems(model.output_shape, body))

    c.meta.events.register("after-call.codeartifact", check)
    return c


def at(repository: str) -> dict[str, str]:
    return {**REPO, "repository": repository}


COPY = {**WHERE, "format": "pypi", "sourceRepository": "dev", "destinationRepository": "release"}


def test_the_shape_check_itself_catches_an_unknown_member_and_a_bad_enum() -> None:
    shape = service_model().operation_model("ListPackageVersions").output_shape
    bad = {"versions": [{"version": "1", "status": "Gone", "extra": 1}], "format": "pypi", "package": "p"}
    assert shape_problems(shape, bad) == [
        ".versions[0].extra: not in the model",
        ".versions[0].status: 'Gone' not in " + str(shape.members["versions"].member.members["status"].enum),
    ]


def test_copy_pinned_to_a_revision_copies_only_a_matching_one() -> None:
    store, problems = Store(), []
    store.add("aws/dev", "acme-lib", "1.0", "acme_lib-1.0.tar.gz", "acme_lib-1.0-py3-none-any.whl")
    store.add("aws/dev", "acme-lib", "1.1", "acme_lib-1.1.tar.gz")
    with serving(store) as server:
        c = boto(server.url, problems)  # type: ignore[attr-defined]
        revision = c.describe_package_version(**at("dev"), package="acme-lib", packageVersion="1.0")["packageVersion"][
            "revision"
        ]
        done = c.copy_package_versions(**COPY, package="acme-lib", versionRevisions={"1.0": revision, "1.1": "stale"})
        assert done["successfulVersions"] == {"1.0": {"revision": revision, "status": "Published"}}
        assert done["failedVersions"]["1.1"]["errorCode"] == "MISMATCHED_REVISION"
        copied = c.describe_package_version(**at("release"), package="acme-lib", packageVersion="1.0")["packageVersion"]
        assert copied["origin"] == {"domainEntryPoint": {"repositoryName": "dev"}, "originType": "INTERNAL"}
        assets = c.list_package_version_assets(**at("release"), package="acme-lib", packageVersion="1.0")["assets"]
        assert sorted(a["name"] for a in assets) == ["acme_lib-1.0-py3-none-any.whl", "acme_lib-1.0.tar.gz"]
        again = c.copy_package_versions(**COPY, package="acme-lib", versions=["1.0", "9.9"])
        assert again["failedVersions"]["1.0"]["errorCode"] == "ALREADY_EXISTS"
        assert again["failedVersions"]["9.9"]["errorCode"] == "NOT_FOUND"
        overwrite = c.copy_package_versions(**COPY, package="acme-lib", versions=["1.0"], allowOverwrite=True)
        assert list(overwrite["successfulVersions"]) == ["1.0"]
        with pytest.raises(botocore.exceptions.ClientError) as exc:  # both, or neither: the service refuses
            c.copy_package_versions(**COPY, package="acme-lib", versions=["1.0"], versionRevisions={"1.0": revision})
        assert error(exc)[:2] == (400, "ValidationException")
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            c.copy_package_versions(**{**COPY, "destinationRepository": "nowhere"}, package="acme-lib", versions=["1"])
        assert error(exc)[:2] == (404, "ResourceNotFoundException")
    assert problems == []


def test_list_versions_sorts_filters_and_pages() -> None:
    store, problems = Store(), []
    for n in range(5):
        store.add("aws/dev", "acme-lib", f"1.{n}", f"acme_lib-1.{n}.tar.gz", when=1_700_000_000 + n)
    with serving(store) as server:
        server.versions.upstream["acme-lib"] = {"0.1"}
        c = boto(server.url, problems)  # type: ignore[attr-defined]
        c.update_package_versions_status(**at("dev"), package="acme-lib", versions=["1.1"], targetStatus="Unlisted")
        pages = c.get_paginator("list_package_versions").paginate(
            **at("dev"), package="acme-lib", sortBy="PUBLISHED_TIME", PaginationConfig={"PageSize": 2}
        )
        versions = [v for page in pages for v in page["versions"]]
        assert [v["version"] for v in versions] == ["1.4", "1.3", "1.2", "1.1", "1.0", "0.1"]
        assert {v["version"]: v["origin"]["originType"] for v in versions}["0.1"] == "EXTERNAL"
        unlisted = c.list_package_versions(**at("dev"), package="acme-lib", status="Unlisted")["versions"]
        assert [v["version"] for v in unlisted] == ["1.1"]
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            c.list_package_versions(**at("dev"), package="nothing-here")
        assert error(exc)[:2] == (404, "ResourceNotFoundException")
        assert exc.value.response["resourceType"] == "package"  # type: ignore[typeddict-item]
    assert problems == []


def test_delete_removes_the_version() -> None:
    store, problems = Store(), []
    store.add("aws/dev", "acme-lib", "1.0", "acme_lib-1.0.tar.gz")
    with serving(store) as server:
        c = boto(server.url, problems)  # type: ignore[attr-defined]
        gone = c.delete_package_versions(**at("dev"), package="acme-lib", versions=["1.0", "2.0"])
        assert gone["successfulVersions"]["1.0"]["status"] == "Deleted"
        assert gone["failedVersions"]["2.0"]["errorCode"] == "NOT_FOUND"
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            c.describe_package_version(**at("dev"), package="acme-lib", packageVersion="1.0")
        assert error(exc)[:2] == (404, "ResourceNotFoundException")
    assert problems == []


def test_package_groups_give_the_effective_origin_configuration() -> None:
    store, problems = Store(), []
    store.add("aws/dev", "acme-lib", "1.0", "acme_lib-1.0.tar.gz")
    store.add("aws/dev", "requests", "9.0", "requests-9.0.tar.gz")
    group = PackageGroup(
        "/pypi//acme~", {"PUBLISH": "ALLOW", "EXTERNAL_UPSTREAM": "BLOCK", "INTERNAL_UPSTREAM": "INHERIT"}
    )
    with serving(store, package_groups=[group]) as server:
        server.versions.upstream["requests"] = {"2.32.3"}
        c = boto(server.url, problems)  # type: ignore[attr-defined]
        ours = c.get_associated_package_group(**WHERE, format="pypi", package="acme-lib")["packageGroup"]
        assert ours["pattern"] == "/pypi//acme~"
        modes = {k: v["effectiveMode"] for k, v in ours["originConfiguration"]["restrictions"].items()}
        assert modes == {"PUBLISH": "ALLOW", "EXTERNAL_UPSTREAM": "BLOCK", "INTERNAL_UPSTREAM": "ALLOW"}
        other = c.get_associated_package_group(**WHERE, format="pypi", package="requests")["packageGroup"]
        assert other["pattern"] == "/*"
        described = c.describe_package(**at("dev"), package="acme-lib")["package"]["originConfiguration"]
        assert described["restrictions"] == {"publish": "ALLOW", "upstream": "BLOCK"}
        shadowed = c.describe_package(**at("dev"), package="requests")["package"]["originConfiguration"]
        assert shadowed["restrictions"] == {"publish": "BLOCK", "upstream": "ALLOW"}
    assert problems == []


def test_publishing_into_a_group_that_blocks_it_is_refused() -> None:
    group = PackageGroup(
        "/pypi//acme-lib$", {"PUBLISH": "BLOCK", "EXTERNAL_UPSTREAM": "ALLOW", "INTERNAL_UPSTREAM": "ALLOW"}
    )
    with serving(Store(), package_groups=[group], devpi_url="http://127.0.0.1:9") as server:
        base = server.url  # type: ignore[attr-defined]
        token = client(base).get_authorization_token(**WHERE)["authorizationToken"]
        form = b'--x\r\nContent-Disposition: form-data; name="name"\r\n\r\nacme_lib\r\n--x\r\n'
        form += b'Content-Disposition: form-data; name="version"\r\n\r\n1.0\r\n--x--\r\n'
        headers = {**basic(token), "Content-Type": "multipart/form-data; boundary=x"}
        resp = requests.post(f"{base}/pypi/dev/", data=form, headers=headers, timeout=5)
    assert resp.status_code == 403 and "publish=BLOCK" in resp.json()["message"]


def test_forced_server_errors_before_and_after_the_change() -> None:
    store = Store()
    store.add("aws/dev", "acme-lib", "1.0", "acme_lib-1.0.tar.gz")
    with serving(store) as server:
        c = client(server.url)  # type: ignore[attr-defined]  (one attempt: the 500 is seen)
        server.faults.force("CopyPackageVersions", after=True)
        with pytest.raises(botocore.exceptions.ClientError) as exc:
            c.copy_package_versions(**COPY, package="acme-lib", versions=["1.0"])
        assert error(exc)[:2] == (500, "InternalServerException")
        assert ("aws/release", "acme-lib", "1.0") in store.files  # the answer was lost, the copy landed


def test_the_first_operations_answer_in_their_model_shapes_too() -> None:
    store, problems = Store(), []
    store.add("aws/dev", "acme-lib", "1.0", "acme_lib-1.0.tar.gz")
    with serving(store) as server:
        c = boto(server.url, problems)  # type: ignore[attr-defined]
        c.get_authorization_token(**WHERE, durationSeconds=900)
        c.get_repository_endpoint(**WHERE, repository="dev", format="pypi")
        c.describe_repository(**WHERE, repository="dev")
        where = {**at("dev"), "package": "acme-lib"}
        c.describe_package_version(**where, packageVersion="1.0")
        c.list_package_version_assets(**where, packageVersion="1.0")
        c.update_package_versions_status(**where, versions=["1.0"], targetStatus="Archived")
        c.dispose_package_versions(**where, versions=["1.0"])
    assert problems == []


# devpi 6's project page of aws/release, as captured through the stand-in (two files of one version)
DEVPI_HTML = (
    '<!DOCTYPE html><html lang="en"><head><title>aws/release: links for fantastic-ascii</title></head><body>'
    "<h1>aws/release: links for fantastic-ascii</h1>\n<p><strong>INFO:</strong> Because this project isn't in the "
    "<code>mirror_whitelist</code>, no releases from <strong>root/pypi</strong> are included.</p>"
    'aws/release <a href="../../+f/8aa/ea157b0809f8f/fantastic_ascii-1.0.1.tar.gz#sha256=8aae" '
    'data-requires-python="&gt;=3.9">fantastic_ascii-1.0.1.tar.gz</a><br>\n'
    'aws/release <a href="../../+f/b94/8a1771b6bd90f/fantastic_ascii-1.0.1-py3-none-any.whl#sha256=b948" '
    'data-requires-python="&gt;=3.9">fantastic_ascii-1.0.1-py3-none-any.whl</a><br>\n'
    'aws/release <a href="../../+f/c01/0000000000000/fantastic_ascii-1.0.2.tar.gz#sha256=c010" '
    'data-requires-python="&gt;=3.9">fantastic_ascii-1.0.2.tar.gz</a><br>\n</body></html>'
)


def test_project_pages_leave_out_versions_package_managers_must_not_see() -> None:
    from jenkins_codeartifact.sandbox.codeartifact_repo import filter_page

    html = filter_page(DEVPI_HTML.encode(), "text/html", ["1.0.1"]).decode()
    assert "fantastic_ascii-1.0.1" not in html and ">fantastic_ascii-1.0.2.tar.gz</a>" in html
    assert "are included.</p>aws/release <a" in html  # the markup around a removed link stays whole
    assert filter_page(DEVPI_HTML.encode(), "text/html", []).decode() == DEVPI_HTML
    page = {
        "meta": {"api-version": "1.0"},
        "name": "fantastic-ascii",
        "files": [{"filename": "fantastic_ascii-1.0.1.tar.gz"}, {"filename": "fantastic_ascii-1.0.2.tar.gz"}],
    }
    shown = json.loads(filter_page(json.dumps(page).encode(), "application/vnd.pypi.simple.v1+json", ["1.0.1"]))
    assert [f["filename"] for f in shown["files"]] == ["fantastic_ascii-1.0.2.tar.gz"]
