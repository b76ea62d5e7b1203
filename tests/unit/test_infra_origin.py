"""infra/codeartifact.yml's package group (origin controls as code), and ca-repo's calls outside the job policies.

Sources: AWS::CodeArtifact::PackageGroup's resource schema (shipped with cfn-lint: Pattern,
OriginConfiguration.Restrictions.{Publish,ExternalUpstream,InternalUpstream}.RestrictionMode) and the
user guide, "Package group definition syntax and matching behavior".
"""

from __future__ import annotations

from tests import infra_iam as iam
from tests.unit.test_infra_policies import example_params

from jenkins_codeartifact.sandbox.codeartifact_repo import INTERNAL_GROUP, PackageGroup


def test_the_package_group_allows_publishing_and_blocks_the_public_upstream() -> None:
    group = iam.render(iam.CODEARTIFACT)["Resources"]["InternalPackages"]["Properties"]
    assert group["Pattern"] == "/pypi//fantastic-ascii$"
    assert group["DomainName"] == "<Domain.Name>"
    modes = {k: v["RestrictionMode"] for k, v in group["OriginConfiguration"]["Restrictions"].items()}
    assert modes == {"Publish": "ALLOW", "ExternalUpstream": "BLOCK", "InternalUpstream": "ALLOW"}
    # the stand-in's copy of that group (ca-sandbox up starts it with this pattern) says the same
    assert {k.replace("_", "").lower(): v for k, v in INTERNAL_GROUP.items()} == {
        k.lower(): v for k, v in modes.items()
    }


def test_the_pattern_parameter_takes_a_prefix_one_name_or_nothing() -> None:
    for pattern in ("/pypi//acme-~", "/pypi//fantastic-ascii$"):
        assert not iam.check_parameters(iam.CODEARTIFACT, {"InternalPackagePattern": pattern}), pattern
        assert PackageGroup(pattern).matches("acme-lib" if pattern.endswith("~") else "fantastic-ascii")
    for bad in ("/pypi//Acme~", "acme", "/npm//acme~", "/pypi//acme"):
        assert iam.check_parameters(iam.CODEARTIFACT, {"InternalPackagePattern": bad}), bad
    template = iam.load(iam.CODEARTIFACT)  # empty: no package group (its condition is false)
    assert template["Resources"]["InternalPackages"]["Condition"] == "HasInternalPackages"
    assert template["Conditions"]["HasInternalPackages"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "InternalPackagePattern"}, ""]}]
    }


def test_neither_job_policy_grants_what_only_ca_repo_calls() -> None:
    pols = iam.policies()
    release_only = [(svc, op) for (svc, op), jobs in iam.OPERATIONS.items() if jobs == {"release"}]
    assert ("codeartifact", "CopyPackageVersions") in release_only
    granted = [
        f"{name} allows {op}"
        for svc, op in release_only
        for name in ("ProducerPolicy", "ConsumerPolicy")
        if iam.allows(pols[name], iam.requirement(svc, op, example_params(svc, op)))
    ]
    assert not granted, granted
