"""Reading infra/*.yml the way CloudFormation and IAM would, for the tests of the AWS set-up.

``render`` resolves a template's intrinsics (Ref, Sub, If, Equals, Not, GetAtt as a placeholder) for given
parameter values, so a managed policy becomes the JSON document IAM would store. ``allows`` evaluates
such a document for one request (action, resource ARN, condition context) with IAM's rules for the
subset our policies use: Allow statements only, Action/Resource with ``*``/``?`` wildcards, Action
case-insensitive, and the StringEquals/StringLike condition operators (a key missing from the request
makes its condition false). ``requirement`` turns a recorded botocore call into such a request.
``check_parameters`` applies CloudFormation's parameter constraints and words the refusal as it does.
"""

from __future__ import annotations

import importlib.util
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]
INFRA = ROOT / "infra"
CODEARTIFACT = INFRA / "codeartifact.yml"
JENKINS_IAM = INFRA / "jenkins-iam.yml"
APPLICATION = ROOT / "application_src" / "application.yml"

# The example set-up every test renders: the sandbox's CodeArtifact names and moto's account.
REGION = "us-east-1"
ACCOUNT = "123456789012"
DOMAIN_OWNER = "111122223333"
PARAMS = {
    "DomainName": "my-domain",
    "DomainOwner": DOMAIN_OWNER,
    "RepositoryName": "my-repository",
    "ConsumerStackName": "consumer",
    "ContainerName": "application",
}
JOB_POLICIES = {"producer": "ProducerPolicy", "consumer": "ConsumerPolicy", "release": "ReleasePolicy"}
RELEASE_REPOSITORY = "release"  # jenkins-iam.yml's ReleaseRepositoryName default: ca-repo promote's --to
UPSTREAM_REPOSITORY = "pypi-store"  # codeartifact.yml's UpstreamRepositoryName default

# Every botocore operation of the toolkit, and who makes it. "teardown" is the walkthrough's clean-up
# (ca-consume-deploy teardown), run by whoever created the stack, never by a Jenkins job; "base" is the
# agent's own identity before the --role-arn hop (the job role's trust policy decides that one);
# "release" is ca-repo promote and prune (jenkins-iam.yml's ReleasePolicy). ca-repo origin makes the
# producer's origin check, so the producer policy is what it needs.
OPERATIONS: dict[tuple[str, str], set[str]] = {
    ("codeartifact", "GetAuthorizationToken"): {"producer", "consumer"},
    ("codeartifact", "GetRepositoryEndpoint"): {"producer", "consumer"},
    ("codeartifact", "DescribePackageVersion"): {"producer", "release"},
    ("codeartifact", "ListPackageVersionAssets"): {"producer", "release"},
    ("codeartifact", "ListPackageVersions"): {"release"},
    ("codeartifact", "DescribeRepository"): {"release"},  # prune: the upstreams that serve a version too
    ("codeartifact", "CopyPackageVersions"): {"release"},
    ("codeartifact", "UpdatePackageVersionsStatus"): {"release"},
    ("codeartifact", "DisposePackageVersions"): {"release"},
    ("codeartifact", "DeletePackageVersions"): {"release"},
    ("codeartifact", "DescribePackage"): {"producer"},  # ca-publish's origin check, before the build
    ("codeartifact", "GetAssociatedPackageGroup"): {"producer"},
    ("ecr", "GetAuthorizationToken"): {"consumer"},
    ("ecr", "DescribeImages"): {"consumer"},  # deploy: the digest of the tag it deploys
    ("cloudformation", "DescribeStacks"): {"consumer", "teardown"},
    ("cloudformation", "GetTemplateSummary"): {"consumer"},
    ("cloudformation", "CreateChangeSet"): {"consumer"},
    ("cloudformation", "DescribeChangeSet"): {"consumer"},
    ("cloudformation", "DeleteChangeSet"): {"consumer"},
    ("cloudformation", "ExecuteChangeSet"): {"consumer"},
    ("cloudformation", "DescribeStackEvents"): {"consumer", "teardown"},
    ("cloudformation", "ListStackResources"): {"consumer", "teardown"},  # deploy: the ECS service to follow
    ("cloudformation", "CancelUpdateStack"): {"consumer"},  # deploy --cancel-on-timeout
    ("ecs", "DescribeServices"): {"consumer"},  # deploy follows the rollout
    ("ecr", "BatchGetImage"): {"consumer"},  # push: is the tag already there (and which image)?
    # deploy/rollback/promote: history tags (PutImage), build-number labels (config blob), copy by digest
    ("ecr", "PutImage"): {"consumer"},
    ("ecr", "GetDownloadUrlForLayer"): {"consumer"},
    ("ecr", "BatchCheckLayerAvailability"): {"consumer"},
    ("ecr", "InitiateLayerUpload"): {"consumer"},
    ("ecr", "UploadLayerPart"): {"consumer"},
    ("ecr", "CompleteLayerUpload"): {"consumer"},
    ("cloudformation", "DeleteStack"): {"teardown"},
    ("ecr", "ListImages"): {"teardown"},
    ("ecr", "BatchDeleteImage"): {"teardown"},
    ("sts", "AssumeRole"): {"base"},
}
# What the commands do over HTTP against the repository endpoint with the CodeArtifact token, and the
# IAM action CodeArtifact checks for it: the simple API (pip, the token probe, --skip-existing's and an
# ambiguous upload's sha256 check) and twine's upload.
INDEX_OPERATIONS: dict[tuple[str, str], set[str]] = {
    ("codeartifact", "ReadFromRepository"): {"producer", "consumer"},
    ("codeartifact", "PublishPackageVersion"): {"producer"},
}


class _Loader(yaml.SafeLoader):
    """CloudFormation's short-form tags (!Ref x, !Sub ..., !If [...]) as their long form ({"Ref": x} ...)."""


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    if isinstance(node, yaml.ScalarNode):
        value: Any = loader.construct_scalar(node)
        if suffix == "GetAtt":
            value = value.split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)
    return {"Ref" if suffix == "Ref" else f"Fn::{suffix}": value}


_Loader.add_multi_constructor("!", _intrinsic)


def load(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = yaml.load(path.read_text(), Loader=_Loader)
    return data


_NO_VALUE = object()


@dataclass
class _Resolver:
    template: dict[str, Any]
    params: dict[str, str]
    pseudo: dict[str, str] = field(
        default_factory=lambda: {
            "AWS::AccountId": ACCOUNT,
            "AWS::Region": REGION,
            "AWS::Partition": "aws",
            "AWS::StackName": "stack",
        }
    )

    def ref(self, name: str) -> Any:
        if name == "AWS::NoValue":
            return _NO_VALUE
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.params:
            return self.params[name]
        return f"<{name}>"  # a resource: its physical id is only known once deployed

    def condition(self, name: str) -> bool:
        return bool(self(self.template["Conditions"][name]))

    def sub(self, text: str, extra: Mapping[str, Any]) -> str:
        def one(m: re.Match[str]) -> str:
            key = m.group(1)
            if key in extra:
                return str(extra[key])
            if "." in key and not key.startswith("AWS::"):
                return f"<{key}>"
            return str(self.ref(key))

        return re.sub(r"\$\{([^}!]+)\}", one, text)

    def __call__(self, node: Any) -> Any:
        if isinstance(node, list):
            items = [self(x) for x in node]
            return [x for x in items if x is not _NO_VALUE]
        if not isinstance(node, dict):
            return node
        if len(node) == 1:
            ((key, arg),) = node.items()
            if key == "Ref":
                return self.ref(arg)
            if key == "Fn::Sub":
                text, extra = (arg, {}) if isinstance(arg, str) else (arg[0], {k: self(v) for k, v in arg[1].items()})
                return self.sub(text, extra)
            if key == "Fn::If":
                return self(arg[1] if self.condition(arg[0]) else arg[2])
            if key == "Fn::Equals":
                return self(arg[0]) == self(arg[1])
            if key == "Fn::Not":
                return not self(arg[0])
            if key == "Fn::GetAtt":
                return f"<{arg[0]}.{arg[1]}>"
            if key == "Condition":
                return self.condition(arg)
        out = {k: self(v) for k, v in node.items()}
        return {k: v for k, v in out.items() if v is not _NO_VALUE}


def render(path: Path, params: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The template's Resources and Outputs with every intrinsic resolved for ``params`` (over defaults)."""
    template = load(path)
    values = {k: str(v.get("Default", "")) for k, v in template.get("Parameters", {}).items()}
    values.update({k: v for k, v in (params or {}).items() if k in values})
    resolve = _Resolver(template, values)
    return {"Resources": resolve(template["Resources"]), "Outputs": resolve(template.get("Outputs", {}))}


def policies(params: Mapping[str, str] | None = None) -> dict[str, dict[str, Any]]:
    """Each managed policy of jenkins-iam.yml, by logical id, as the JSON document IAM stores."""
    rendered = render(JENKINS_IAM, PARAMS if params is None else params)
    return {
        name: res["Properties"]["PolicyDocument"]
        for name, res in rendered["Resources"].items()
        if res["Type"] == "AWS::IAM::ManagedPolicy"
    }


def statements(doc: Mapping[str, Any]) -> list[dict[str, Any]]:
    st = doc["Statement"]
    return [st] if isinstance(st, dict) else list(st)


def as_list(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value or [])


def actions(doc: Mapping[str, Any]) -> set[str]:
    return {a for s in statements(doc) if s["Effect"] == "Allow" for a in as_list(s.get("Action"))}


# --------------------------------------------------------------------------------------- evaluation


@dataclass(frozen=True)
class Request:
    """One authorisation IAM makes: what a call (or a call made on our behalf) needs."""

    action: str
    resource: str
    context: tuple[tuple[str, str], ...] = ()
    why: str = ""

    def __str__(self) -> str:
        ctx = "".join(f" {k}={v}" for k, v in self.context)
        return f"{self.action} on {self.resource}{ctx}" + (f" ({self.why})" if self.why else "")


def _glob(pattern: str, value: str, *, case: bool) -> bool:
    if not case:
        pattern, value = pattern.lower(), value.lower()
    regex = re.escape(pattern).replace(r"\*", ".*").replace(r"\?", ".")
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


def _conditions_hold(conditions: Mapping[str, Any], context: Mapping[str, str]) -> bool:
    for operator, tests in conditions.items():
        if operator not in ("StringEquals", "StringLike"):
            raise AssertionError(f"the evaluator does not know the condition operator {operator}")
        for key, wanted in tests.items():
            value = context.get(key)
            if value is None:
                return False
            if operator == "StringEquals" and value not in as_list(wanted):
                return False
            if operator == "StringLike" and not any(_glob(w, value, case=True) for w in as_list(wanted)):
                return False
    return True


def allows(doc: Mapping[str, Any], request: Request) -> bool:
    """Whether the identity policy ``doc`` allows ``request`` (no Deny statements in ours; asserted)."""
    context = dict(request.context)
    allowed = False
    for st in statements(doc):
        assert st["Effect"] in ("Allow", "Deny")
        if not any(_glob(a, request.action, case=False) for a in as_list(st.get("Action"))):
            continue
        if not any(_glob(r, request.resource, case=True) for r in as_list(st.get("Resource"))):
            continue
        if not _conditions_hold(st.get("Condition", {}), context):
            continue
        if st["Effect"] == "Deny":
            return False
        allowed = True
    return allowed


def _arn(service: str, resource: str, *, account: str = ACCOUNT, region: str = REGION) -> str:
    return f"arn:aws:{service}:{region}:{account}:{resource}"


def stack_arn(stack: str) -> str:
    return _arn("cloudformation", f"stack/{stack}/0c2a9f80-1111-11ef-9d5a-0affd2a1b2c3")


def requirement(service: str, operation: str, params: Mapping[str, Any], *, stack: str = "consumer") -> Request:
    """The IAM request behind one botocore call, with the resource ARN built from its parameters."""
    action = f"{service}:{operation}"
    if service == "codeartifact":
        owner = str(params.get("domainOwner") or ACCOUNT)
        domain = params["domain"]
        if operation == "GetAuthorizationToken":
            return Request(action, _arn(service, f"domain/{domain}", account=owner))
        if operation == "GetAssociatedPackageGroup":  # IAM checks the group the name falls in (root: /*)
            group = str(params.get("packageGroup") or "/*")
            return Request(action, _arn(service, f"package-group/{domain}{group}", account=owner))
        if operation == "CopyPackageVersions":  # checked on the destination (the source needs ReadFromRepository)
            return Request(
                action, _arn(service, f"repository/{domain}/{params['destinationRepository']}", account=owner)
            )
        repo = params["repository"]
        if operation in ("GetRepositoryEndpoint", "ReadFromRepository", "DescribeRepository"):
            return Request(action, _arn(service, f"repository/{domain}/{repo}", account=owner))
        ns = params.get("namespace") or ""
        return Request(
            action, _arn(service, f"package/{domain}/{repo}/{params['format']}/{ns}/{params['package']}", account=owner)
        )
    if service == "ecr":
        if operation == "GetAuthorizationToken":
            return Request(action, "*")
        return Request(action, _arn(service, f"repository/{params['repositoryName']}"))
    if service == "cloudformation":
        if operation in ("GetTemplateSummary", "ValidateTemplate") and "StackName" not in params:
            return Request(action, "*")
        name = str(params.get("StackName") or stack)
        return Request(action, name if name.startswith("arn:") else stack_arn(name))
    if service == "ecs" and ("services" in params or "service" in params):  # following a rollout
        cluster = str(params.get("cluster") or "default").rsplit("/", 1)[-1]
        name = str((params.get("services") or [params.get("service")])[0]).rsplit("/", 1)[-1]
        return Request(action, _arn(service, f"service/{cluster}/{name}"))
    raise KeyError(f"{action}: no resource mapping in tests/infra_iam.py; add one (and a policy statement)")


# ------------------------------------------------------------------------------------- parameters


def _deploy_module() -> Any:
    spec = importlib.util.spec_from_file_location("infra_deploy", INFRA / "deploy.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


deploy_script = _deploy_module()


def check_parameters(path: Path, values: Mapping[str, str]) -> list[str]:
    """CloudFormation's refusals of ``values`` for the template's parameters (infra/deploy.py's check)."""
    specs = deploy_script.template_parameters(path.read_text(), str(path))
    return list(deploy_script.check_parameters(specs, dict(values)))
