"""infra/jenkins-iam.yml grants each job exactly what the toolkit calls, on the resources of this set-up.

The operations come from the code: an AST scan of tools/jenkins_codeartifact finds every botocore
operation it can call (any method or paginator of the services it makes clients for), and the table
below must name each one with the job that makes it. Some permissions are checked by AWS without a
botocore call of ours (twine's upload, pip's reads, docker push, what CloudFormation does with the
deployer's credentials); IMPLIED lists them with the reason, and the CloudFormation part is derived from
AWS's resource schemas (shipped with cfn-lint). tests/integration/test_infra_operations.py records the
calls of real runs against the same policies.
"""

from __future__ import annotations

import ast
import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import botocore.session
import pytest
from botocore import xform_name
from tests import infra_iam as iam
from tests.helpers import tool_or_skip

from jenkins_codeartifact import codeartifact

LIBRARY = iam.ROOT / "tools" / "jenkins_codeartifact"

TASKS = "ecs-tasks.amazonaws.com"
BEARER = iam.Request(
    "sts:GetServiceBearerToken",
    "*",
    (("sts:AWSServiceName", "codeartifact.amazonaws.com"),),
    "CodeArtifact's GetAuthorizationToken calls it with the caller's credentials",
)
PACKAGE = {"domain": "my-domain", "domainOwner": iam.DOMAIN_OWNER, "repository": "my-repository"}
PACKAGE_VERSION = {**PACKAGE, "format": "pypi", "package": "fantastic-ascii", "packageVersion": "1.0.0"}
# The docker push of a layered image against ECR's registry API (after ecr:GetAuthorizationToken).
ECR_PUSH = (
    "BatchCheckLayerAvailability",
    "InitiateLayerUpload",
    "UploadLayerPart",
    "CompleteLayerUpload",
    "PutImage",
    "BatchGetImage",
)
# IAM actions that take no resource type (the Service Authorization Reference): "*" is the only form.
NO_RESOURCE_TYPE = {
    "ecr:GetAuthorizationToken",
    "sts:GetServiceBearerToken",
    "ecs:DeregisterTaskDefinition",
    "ecs:DescribeTaskDefinition",
}
# cloudformation:GetTemplateSummary of a --template body names no stack, so IAM sees "*" too.
STAR_RESOURCES = NO_RESOURCE_TYPE | {"cloudformation:GetTemplateSummary"}


def example_params(service: str, operation: str) -> dict[str, Any]:
    """Parameters of the call as the toolkit makes it in the example set-up (iam.PARAMS)."""
    if service == "ecs":  # deploy follows the service of the stack's cluster (a generated name)
        cluster = f"{iam.PARAMS['ConsumerStackName']}-Cluster-1ABC2DEF3GHI"
        return {"cluster": cluster, "services": [iam.PARAMS["ContainerName"]]}
    if service == "codeartifact" and operation == "CopyPackageVersions":  # promote: dev -> release
        where = {k: v for k, v in PACKAGE_VERSION.items() if k not in ("repository", "packageVersion")}
        return {**where, "sourceRepository": PACKAGE["repository"], "destinationRepository": iam.RELEASE_REPOSITORY}
    if service == "codeartifact":
        return PACKAGE_VERSION if "Package" in operation else PACKAGE
    if service == "ecr":
        return {"repositoryName": iam.PARAMS["ContainerName"]}
    if service == "cloudformation":
        return {"StackName": iam.PARAMS["ConsumerStackName"]}
    return {}


def scanned_operations() -> dict[tuple[str, str], set[str]]:
    """Every botocore operation the library names, with the files that name it.

    Any attribute named like an operation of a service the library makes a client for counts (the
    facades pass bound methods, ``client.execute_change_set``, to a wrapper), and so does a string that
    is an operation's name (a facade may dispatch on it) and the operation behind ``get_paginator("...")``.
    A name two services share (get_authorization_token: codeartifact and ecr) counts for both.
    """
    trees = {p: ast.parse(p.read_text()) for p in LIBRARY.rglob("*.py") if "sandbox" not in p.parts}
    services = {
        n.args[0].value
        for tree in trees.values()
        for n in ast.walk(tree)
        if isinstance(n, ast.Call)
        and isinstance(n.func, ast.Attribute)
        and n.func.attr == "client"
        and n.args
        and isinstance(n.args[0], ast.Constant)
        and isinstance(n.args[0].value, str)
    }
    session = botocore.session.get_session()
    by_method: dict[str, list[tuple[str, str]]] = {}
    for service in services:
        model = session.get_service_model(service)
        for op in model.operation_names:
            by_method.setdefault(xform_name(op), []).append((model.signing_name, op))
            by_method.setdefault(op, []).append((model.signing_name, op))
    found: dict[tuple[str, str], set[str]] = {}
    for path, tree in trees.items():
        for n in ast.walk(tree):
            names = []
            if isinstance(n, ast.Attribute):
                names.append(n.attr)
            if isinstance(n, ast.Constant) and isinstance(n.value, str) and n.value[:1].isupper():
                names.append(n.value)  # a facade that dispatches on the operation's name: _api("DescribeStacks", ...)
            if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute) and n.func.attr == "get_paginator":
                names += [a.value for a in n.args if isinstance(a, ast.Constant) and isinstance(a.value, str)]
            for name in names:
                for op in by_method.get(name, []):
                    found.setdefault(op, set()).add(str(path.relative_to(iam.ROOT)))
    return found


def cloudformation_handler_requests(stack: str = "consumer", container: str = "application") -> list[iam.Request]:
    """What CloudFormation does with the deployer's credentials when a change set changes ImageTag.

    In application.yml the task definition and the service exist only with an image tag: the first
    deploy creates both, every later one replaces the task definition (its containers are create-only:
    a new revision, the old one deregistered) and updates the service. The permissions each handler
    needs are AWS's resource schemas' ``handlers.<op>.permissions``.
    """
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    arns = {
        "AWS::ECS::TaskDefinition": [iam._arn("ecs", f"task-definition/{container}TaskDefinition:7")],
        "AWS::ECS::Service": [iam._arn("ecs", f"service/{stack}-Cluster-Zm9vYmFy/{container}")],
    }
    roles = [f"arn:aws:iam::{iam.ACCOUNT}:role/{stack}-{r}-AbC123dEf456" for r in ("ExecutionRole", "TaskRole")]
    handlers = {"AWS::ECS::TaskDefinition": ("create", "delete"), "AWS::ECS::Service": ("create", "update")}
    out = []
    for kind, ops in handlers.items():
        schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(iam.REGION, kind).schema
        for op in ops:
            for action in schema["handlers"][op]["permissions"]:
                why = f"CloudFormation's {kind} {op} handler"
                if action in NO_RESOURCE_TYPE:
                    out.append(iam.Request(action, "*", why=why))
                elif action.startswith("iam:"):
                    ctx = (("iam:PassedToService", "ecs-tasks.amazonaws.com"),) if action == "iam:PassRole" else ()
                    out += [iam.Request(action, role, ctx, why) for role in roles]
                else:
                    out += [iam.Request(action, arn, why=why) for arn in arns[kind]]
    return out


def implied(job: str) -> list[iam.Request]:
    """Permissions AWS checks for a job without a botocore call of the toolkit's."""
    ca = iam.requirement
    if job == "producer":
        return [
            BEARER,
            iam.Request(
                "codeartifact:ReadFromRepository",
                ca("codeartifact", "ReadFromRepository", PACKAGE).resource,
                why="--skip-existing and an ambiguous upload compare sha256 on the simple API",
            ),
            iam.Request(
                "codeartifact:PublishPackageVersion",
                ca("codeartifact", "PublishPackageVersion", PACKAGE_VERSION).resource,
                why="twine upload to the repository endpoint",
            ),
        ]
    if job == "release":
        return release_implied()
    repo = ca("codeartifact", "ReadFromRepository", PACKAGE).resource
    push = [
        iam.Request(f"ecr:{a}", ca("ecr", a, example_params("ecr", a)).resource, why="docker push to ECR")
        for a in ECR_PUSH
    ]
    read = iam.Request("codeartifact:ReadFromRepository", repo, why="pip in the image build, and the token probe")
    return [BEARER, read, *push, *cloudformation_handler_requests()]


def release_implied() -> list[iam.Request]:
    """promote reads both repositories and copies into the release one; prune asks the upstream."""
    ca = iam.requirement
    release = {**PACKAGE_VERSION, "repository": iam.RELEASE_REPOSITORY}
    upstream = {**PACKAGE_VERSION, "repository": iam.UPSTREAM_REPOSITORY}
    copy = "codeartifact:CopyPackageVersions"
    return [
        iam.Request(
            "codeartifact:ReadFromRepository",
            ca("codeartifact", "ReadFromRepository", PACKAGE).resource,
            why="CopyPackageVersions reads its source repository",
        ),
        iam.Request(copy, ca("codeartifact", "DescribePackageVersion", release).resource, why="the copied package"),
        ca("codeartifact", "DescribePackageVersion", release),  # promote: the target's status and revision
        ca("codeartifact", "ListPackageVersionAssets", release),  # promote: the target's files by sha256
        ca("codeartifact", "DescribePackageVersion", upstream),  # prune: does the upstream serve it?
    ]


def required(job: str) -> list[iam.Request]:
    calls = [
        iam.requirement(svc, op, example_params(svc, op)) for (svc, op), jobs in iam.OPERATIONS.items() if job in jobs
    ]
    if job == "consumer":  # deploy --template: GetTemplateSummary of the body, before any stack is named
        calls.append(iam.Request("cloudformation:GetTemplateSummary", "*", why="deploy --template"))
    return calls + implied(job)


# ------------------------------------------------------------------------------------------ tests


def test_every_botocore_operation_of_the_code_is_in_the_table():
    found = scanned_operations()
    unknown = {op: files for op, files in found.items() if op not in iam.OPERATIONS}
    assert not unknown, (
        f"the code calls operations no job is assigned (add them to iam.OPERATIONS and a policy): {unknown}"
    )
    stale = set(iam.OPERATIONS) - set(found)
    assert not stale, (
        f"iam.OPERATIONS lists operations the code no longer makes (remove them and their grants): {stale}"
    )


@pytest.mark.parametrize("job", sorted(iam.JOB_POLICIES))
def test_each_job_policy_allows_what_the_job_needs_on_these_resources(job):
    policy = iam.policies()[iam.JOB_POLICIES[job]]
    denied = [str(r) for r in required(job) if not iam.allows(policy, r)]
    assert not denied, f"{job} policy denies: " + "; ".join(denied)


@pytest.mark.parametrize("job", sorted(iam.JOB_POLICIES))
def test_each_job_policy_grants_nothing_the_job_does_not_need(job):
    granted = iam.actions(iam.policies()[iam.JOB_POLICIES[job]])
    needed = {r.action for r in required(job)}
    assert granted - needed == set(), f"{job} policy grants actions no {job} command needs"
    assert needed - granted == set()


def test_teardown_and_the_other_job_are_refused():
    pols = iam.policies()
    producer, consumer = pols["ProducerPolicy"], pols["ConsumerPolicy"]
    refused = [
        (consumer, iam.requirement("codeartifact", "PublishPackageVersion", PACKAGE_VERSION)),
        (producer, iam.requirement("ecr", "PutImage", {"repositoryName": "application"})),
        (producer, iam.requirement("cloudformation", "ExecuteChangeSet", {"StackName": "consumer"})),
    ]
    refused += [
        (pol, iam.requirement(svc, op, example_params(svc, op)))
        for (svc, op), jobs in iam.OPERATIONS.items()
        if jobs == {"teardown"}
        for pol in (producer, consumer)
    ]
    wrongly = [str(req) for pol, req in refused if iam.allows(pol, req)]
    assert not wrongly, wrongly


def test_the_release_job_promotes_and_prunes_only_in_its_repositories():
    """It cannot publish, take a token or copy anywhere but the release repository; the producer cannot copy."""
    pols = iam.policies()
    release, producer = pols["ReleasePolicy"], pols["ProducerPolicy"]
    copy = example_params("codeartifact", "CopyPackageVersions")
    other = {**PACKAGE_VERSION, "repository": "other-team"}
    refused = [
        (release, iam.requirement("codeartifact", "PublishPackageVersion", PACKAGE_VERSION)),
        (release, iam.requirement("codeartifact", "GetAuthorizationToken", PACKAGE)),
        (release, iam.requirement("codeartifact", "CopyPackageVersions", {**copy, "destinationRepository": "prod"})),
        (
            release,
            iam.requirement("codeartifact", "CopyPackageVersions", {**copy, "destinationRepository": "my-repository"}),
        ),
        (release, iam.requirement("codeartifact", "DeletePackageVersions", other)),
        (release, iam.requirement("codeartifact", "ReadFromRepository", {**PACKAGE, "repository": "release"})),
        (release, iam.requirement("codeartifact", "DeletePackageVersions", {**other, "repository": "pypi-store"})),
        (producer, iam.requirement("codeartifact", "CopyPackageVersions", copy)),
        (producer, iam.requirement("codeartifact", "DeletePackageVersions", PACKAGE_VERSION)),
        (producer, iam.requirement("codeartifact", "GetAssociatedPackageGroup", {**PACKAGE, "domain": "other-domain"})),
    ]
    wrongly = [str(req) for pol, req in refused if iam.allows(pol, req)]
    assert not wrongly, wrongly
    internal = {**PACKAGE, "packageGroup": "/pypi//fantastic-ascii$"}  # infra/codeartifact.yml's group
    assert iam.allows(producer, iam.requirement("codeartifact", "GetAssociatedPackageGroup", internal))


def test_grants_are_scoped_to_this_set_up():
    consumer = iam.policies()["ConsumerPolicy"]
    other = [
        iam.requirement("codeartifact", "ReadFromRepository", {**PACKAGE, "repository": "other-team"}),
        iam.requirement("codeartifact", "GetAuthorizationToken", {**PACKAGE, "domainOwner": "999988887777"}),
        iam.requirement("ecr", "PutImage", {"repositoryName": "someone-elses"}),
        iam.requirement("cloudformation", "ExecuteChangeSet", {"StackName": "consumer-prod"}),
        iam.Request("iam:PassRole", f"arn:aws:iam::{iam.ACCOUNT}:role/admin", (("iam:PassedToService", TASKS),)),
        iam.Request(
            "iam:PassRole",
            f"arn:aws:iam::{iam.ACCOUNT}:role/consumer-TaskRole-AbC123dEf456",
            (("iam:PassedToService", "ec2.amazonaws.com"),),
        ),
        iam.Request("sts:GetServiceBearerToken", "*", (("sts:AWSServiceName", "ecr.amazonaws.com"),)),
        iam.Request("ecs:UpdateService", iam._arn("ecs", "service/prod-Cluster-x/application")),
    ]
    wrongly = [str(r) for r in other if iam.allows(consumer, r)]
    assert not wrongly, wrongly


def test_no_wildcard_actions_and_star_resources_only_where_iam_has_no_resource():
    for name, doc in iam.policies().items():
        for st in iam.statements(doc):
            for action in iam.as_list(st["Action"]):
                assert "*" not in action and "?" not in action, f"{name} {st.get('Sid')}: wildcard action {action}"
            if "*" in iam.as_list(st["Resource"]):
                assert set(iam.as_list(st["Action"])) <= STAR_RESOURCES, f"{name} {st.get('Sid')}: Resource '*'"
            if "sts:GetServiceBearerToken" in iam.as_list(st["Action"]):
                assert st["Condition"] == {"StringEquals": {"sts:AWSServiceName": "codeartifact.amazonaws.com"}}


def test_no_aws_managed_policies_and_roles_hold_one_job_policy_each():
    rendered = iam.render(iam.JENKINS_IAM, iam.PARAMS)["Resources"]
    assert "arn:aws:iam::aws:policy" not in json.dumps(rendered)
    roles = {k: v["Properties"] for k, v in rendered.items() if v["Type"] == "AWS::IAM::Role"}
    assert {k: p["ManagedPolicyArns"] for k, p in roles.items()} == {
        "ProducerRole": ["<ProducerPolicy>"],
        "ConsumerRole": ["<ConsumerPolicy>"],
        "ReleaseRole": ["<ReleasePolicy>"],
    }
    trusted = {json.dumps(p["AssumeRolePolicyDocument"]) for p in roles.values()}
    assert trusted == {json.dumps(roles["ProducerRole"]["AssumeRolePolicyDocument"])}
    profiles = {v["Properties"]["Roles"][0] for v in rendered.values() if v["Type"] == "AWS::IAM::InstanceProfile"}
    assert profiles == {"<ProducerRole>", "<ConsumerRole>", "<ReleaseRole>"}


def test_the_trusted_principal_is_added_only_when_given():
    def principals(params):
        role = iam.render(iam.JENKINS_IAM, params)["Resources"]["ConsumerRole"]["Properties"]
        return [s["Principal"] for s in role["AssumeRolePolicyDocument"]["Statement"]]

    services = {"Service": ["ec2.amazonaws.com", "ecs-tasks.amazonaws.com"]}
    assert principals(iam.PARAMS) == [services]
    jenkins = "arn:aws:iam::210987654321:user/jenkins"
    assert principals({**iam.PARAMS, "TrustedPrincipalArn": jenkins}) == [services, {"AWS": jenkins}]


def test_the_domain_owner_defaults_to_the_account():
    own = iam.policies({**iam.PARAMS, "DomainOwner": ""})["ProducerPolicy"]
    assert iam.allows(own, iam.requirement("codeartifact", "GetAuthorizationToken", {"domain": "my-domain"}))
    assert not iam.allows(own, iam.requirement("codeartifact", "GetAuthorizationToken", PACKAGE))


def _cfn_lint() -> str:
    found = shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint")
    return tool_or_skip(found, "cfn-lint")


@pytest.mark.parametrize("template", [iam.CODEARTIFACT, iam.JENKINS_IAM], ids=lambda p: p.name)
def test_cfn_lint_finds_nothing(template):
    proc = subprocess.run([_cfn_lint(), str(template)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# Parliament's findings that are the point of the policy (or its data's age), each with its reason.
EXPECTED_FINDINGS = {
    ("ConsumerPolicy", "CREDENTIALS_EXPOSURE", "ecr:getauthorizationtoken"): "the docker login of the push",
    ("ConsumerPolicy", "PERMISSIONS_MANAGEMENT_ACTIONS", "iam:passrole"): "the stack's two task roles, to ECS tasks",
    ("ConsumerPolicy", "UNKNOWN_ACTION", "ecs:StopServiceDeployment"): "newer than parliament's action table; "
    "CloudFormation's ECS service handler lists it",
}


def _finding_key(name: str, finding: dict[str, object]) -> tuple[str, str, str]:
    location = finding.get("location") or {}
    assert isinstance(location, dict)
    where = location.get("actions") or location.get("string") or ""
    return name, str(finding["issue"]), ",".join(where) if isinstance(where, list) else str(where)


def test_parliament_finds_nothing_unexpected():
    found = shutil.which("parliament", path=str(Path(sys.executable).parent)) or shutil.which("parliament")
    parliament = tool_or_skip(found, "parliament")
    seen = set()
    shared = iam.render(iam.CODEARTIFACT, {"OrganizationId": "o-a1b2c3d4e5"})["Resources"]
    resource_policies = {k: shared[k]["Properties"]["PermissionsPolicyDocument"] for k in ("Domain", "Repository")}
    for name, doc in {**iam.policies(), **resource_policies}.items():
        proc = subprocess.run(
            [parliament, "--json", "--include-community-auditors", "--string", json.dumps(doc)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        for line in proc.stdout.splitlines():
            key = _finding_key(name, json.loads(line))
            seen.add(key)
            assert key in EXPECTED_FINDINGS, f"{name}: {line}"
    assert seen, "parliament reported nothing at all, not even the expected findings"
    # and it reads what we give it: an action that does not exist is a finding
    bad = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "ecr:PushImage", "Resource": "*"}]}
    proc = subprocess.run([parliament, "--json", "--string", json.dumps(bad)], capture_output=True, text=True)
    assert "UNKNOWN_ACTION" in proc.stdout


def test_star_resource_actions_have_no_resource_type_in_iam():
    """The documented exceptions, checked against the IAM action table parliament ships."""
    tool_or_skip(shutil.which("parliament", path=str(Path(sys.executable).parent)), "parliament")
    import parliament

    table = json.loads((Path(parliament.__file__).parent / "iam_definition.json").read_text())
    privileges = {f"{s['prefix']}:{p['privilege']}": p for s in table for p in s["privileges"]}
    for action in NO_RESOURCE_TYPE:
        types = {r["resource_type"] for r in privileges[action]["resource_types"]}
        assert types == {""}, f"{action} takes a resource ({types}): scope it"


# ---------------------------------------------------------------------------------- parameters


@pytest.mark.parametrize(
    ("template", "name", "value"),
    [
        (iam.JENKINS_IAM, "DomainOwner", "12345"),
        (iam.JENKINS_IAM, "DomainOwner", "1111-2222-3333"),
        (iam.JENKINS_IAM, "RepositoryName", "-my-repository"),
        (iam.CODEARTIFACT, "RepositoryName", "my repository"),
        (iam.CODEARTIFACT, "DomainName", "My_Domain"),
        (iam.CODEARTIFACT, "DomainName", "my-domain-"),
    ],
)
def test_parameter_constraints_refuse_what_codeartifact_rejects(template, name, value):
    errors = iam.check_parameters(template, {name: value})
    assert len(errors) == 1
    rule = "12-digit AWS account id" if name == "DomainOwner" else "letters, digits"
    assert errors[0].startswith(f"Parameter '{name}' failed to satisfy constraint: must ")
    assert rule in errors[0], errors[0]


@pytest.mark.parametrize(
    "value",
    ["my-domain", "a1", "ab", "a-", "-a", "1abc", "my_domain", "x" * 50, "x" * 51, "my.repo", "My-Repo", "a" * 101],
)
def test_name_constraints_agree_with_codeartifact_and_the_toolkit(value):
    """Each parameter accepts exactly what CodeArtifact's resource schema and the toolkit's check accept."""
    import re

    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    def schema(kind, prop):
        spec = PROVIDER_SCHEMA_MANAGER.get_resource_schema(iam.REGION, kind).schema["properties"][prop]
        return spec["minLength"] <= len(value) <= spec["maxLength"] and re.search(spec["pattern"], value) is not None

    domain_ok = schema("AWS::CodeArtifact::Domain", "DomainName")
    repo_ok = schema("AWS::CodeArtifact::Repository", "RepositoryName")
    assert domain_ok == (codeartifact.DOMAIN_RE.fullmatch(value) is not None)
    assert repo_ok == (codeartifact.REPOSITORY_RE.fullmatch(value) is not None)
    for template in (iam.CODEARTIFACT, iam.JENKINS_IAM):
        assert (not iam.check_parameters(template, {"DomainName": value})) == domain_ok, template.name
        assert (not iam.check_parameters(template, {"RepositoryName": value})) == repo_ok, template.name
    assert not iam.check_parameters(iam.JENKINS_IAM, {"DomainOwner": "111122223333"})
    assert not iam.check_parameters(iam.JENKINS_IAM, {"DomainOwner": ""})


# ------------------------------------------------------------------------------- codeartifact.yml


def test_codeartifact_template_is_the_walkthroughs_set_up():
    rendered = iam.render(iam.CODEARTIFACT)
    res, out = rendered["Resources"], rendered["Outputs"]
    upstream, team = res["UpstreamRepository"]["Properties"], res["Repository"]["Properties"]
    assert (upstream["RepositoryName"], upstream["ExternalConnections"]) == ("pypi-store", ["public:pypi"])
    assert (team["RepositoryName"], team["Upstreams"]) == ("my-repository", ["<UpstreamRepository.Name>"])
    assert "ExternalConnections" not in team
    assert res["Domain"]["Properties"] == {"DomainName": "my-domain"}  # AWS-managed key, no policy by default
    assert {"DomainName", "DomainOwner", "RepositoryName", "RepositoryArn", "PypiEndpoint"} <= set(out)
    assert out["PypiEndpoint"]["Value"] == (
        "https://<Domain.Name>-<Domain.Owner>.d.codeartifact.us-east-1.amazonaws.com/pypi/<Repository.Name>/"
    )


def test_codeartifact_template_kms_key_and_organisation_read_are_optional():
    key = f"arn:aws:kms:us-east-1:{iam.ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
    res = iam.render(iam.CODEARTIFACT, {"EncryptionKeyArn": key, "OrganizationId": "o-a1b2c3d4e5"})["Resources"]
    assert res["Domain"]["Properties"]["EncryptionKey"] == key
    policies = {k: res[k]["Properties"]["PermissionsPolicyDocument"] for k in ("Domain", "Repository")}
    for doc in policies.values():
        for st in doc["Statement"]:  # Principal "*" only ever with the organisation condition
            assert st["Principal"] == "*"
            assert st["Condition"] == {"StringEquals": {"aws:PrincipalOrgID": "o-a1b2c3d4e5"}}
    member, stranger = (("aws:PrincipalOrgID", "o-a1b2c3d4e5"),), (("aws:PrincipalOrgID", "o-zzzzzzzzzz"),)
    owner = {**PACKAGE, "domainOwner": iam.ACCOUNT}
    reads = [
        ("Domain", iam.requirement("codeartifact", "GetAuthorizationToken", owner)),
        ("Repository", iam.requirement("codeartifact", "GetRepositoryEndpoint", owner)),
        ("Repository", iam.requirement("codeartifact", "ReadFromRepository", owner)),
        ("Repository", iam.requirement("codeartifact", "DescribePackageVersion", {**PACKAGE_VERSION, **owner})),
    ]
    for logical, request in reads:
        assert iam.allows(policies[logical], iam.Request(request.action, request.resource, member)), request
        assert not iam.allows(policies[logical], iam.Request(request.action, request.resource, stranger)), request
    publish = iam.requirement("codeartifact", "PublishPackageVersion", {**PACKAGE_VERSION, **owner})
    assert not iam.allows(policies["Repository"], iam.Request(publish.action, publish.resource, member))
    other = iam.requirement("codeartifact", "ReadFromRepository", {**owner, "repository": "pypi-store"})
    assert not iam.allows(policies["Repository"], iam.Request(other.action, other.resource, member))
    unshared = iam.render(iam.CODEARTIFACT)["Resources"]
    assert "PermissionsPolicyDocument" not in unshared["Domain"]["Properties"]
    assert "PermissionsPolicyDocument" not in unshared["Repository"]["Properties"]
    assert iam.check_parameters(iam.CODEARTIFACT, {"OrganizationId": "123456789012"})
    assert iam.check_parameters(iam.CODEARTIFACT, {"EncryptionKeyArn": "my-key"})


def test_deploy_script_env_lines_name_real_settings_from_real_outputs():
    """``infra/deploy.py --env`` turns codeartifact.yml's outputs into the variables the commands read."""
    from jenkins_codeartifact import settings

    outputs = set(iam.load(iam.CODEARTIFACT)["Outputs"])
    variables = {env for f in settings.FIELDS.values() for env in f.metadata["env"]}
    assert set(iam.deploy_script.SETTINGS) <= outputs
    assert set(iam.deploy_script.SETTINGS.values()) <= variables
    assert set(iam.deploy_script.SETTINGS.values()) == {"CA_DOMAIN", "CA_DOMAIN_OWNER", "CA_REPOSITORY"}
