"""application.yml's ECR lifecycle policy, evaluated by ECR's documented rules against a list of images.

moto validates a policy but never applies it, so :func:`evaluate` applies it as the ECR user guide
("Lifecycle policy evaluation rules") describes: rules in ``rulePriority`` order; an image a rule's tag
selection matches can never be expired by a rule of lower priority; ``imageCountMoreThan`` keeps the
newest N of what a rule selects, ``sinceImagePushed`` expires what is older than N days.
"""

from __future__ import annotations

import fnmatch
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parents[2] / "application_src" / "application.yml"


class _Loader(yaml.SafeLoader):
    pass


_Loader.add_multi_constructor(
    "!", lambda loader, suffix, node: loader.construct_scalar(node) if isinstance(node, yaml.ScalarNode) else None
)


def template() -> dict[str, Any]:
    return yaml.load(TEMPLATE.read_text(encoding="utf-8"), Loader=_Loader)


def policy(**values: int) -> dict[str, Any]:
    """The policy text with its ``${Param}`` replaced by the template's defaults (or ``values``)."""
    t = template()
    text = t["Resources"]["ECRRepository"]["Properties"]["LifecyclePolicy"]["LifecyclePolicyText"]
    defaults = {k: v.get("Default") for k, v in t["Parameters"].items()}
    return json.loads(re.sub(r"\$\{(\w+)\}", lambda m: str(values.get(m.group(1), defaults[m.group(1)])), text))


@dataclass(frozen=True)
class Image:
    digest: str
    tags: tuple[str, ...]
    age_days: float  # since its push


def _selects(rule: dict[str, Any], image: Image) -> bool:
    sel = rule["selection"]
    if sel["tagStatus"] == "untagged":
        return not image.tags
    if sel["tagStatus"] == "any":
        return True
    patterns = sel.get("tagPatternList") or [p + "*" for p in sel.get("tagPrefixList", [])]
    return bool(image.tags) and all(any(fnmatch.fnmatchcase(t, p) for t in image.tags) for p in patterns)


def evaluate(rules: dict[str, Any], images: list[Image]) -> set[str]:
    """The digests the policy expires."""
    expired: set[str] = set()
    claimed: set[str] = set()
    for rule in sorted(rules["rules"], key=lambda r: r["rulePriority"]):
        selected = [i for i in images if i.digest not in claimed and _selects(rule, i)]
        claimed |= {i.digest for i in selected}
        sel = rule["selection"]
        if sel["countType"] == "imageCountMoreThan":
            newest_first = sorted(selected, key=lambda i: i.age_days)
            expired |= {i.digest for i in newest_first[sel["countNumber"] :]}
        else:
            expired |= {i.digest for i in selected if i.age_days > sel["countNumber"]}
    return expired


def test_the_rules_are_ordered_so_that_nothing_an_environment_needs_expires():
    images = [Image(f"r{n}", (str(n),), 100 - n) for n in range(1, 71)]  # releases 1..70, 70 the newest
    images[4] = Image("r5", ("5", "live-prod", "deployed-prod-1"), 95)  # prod still runs an old build
    images[59] = Image("r60", ("60", "live-staging", "deployed-staging-9"), 40)
    images[39] = Image("r40", ("40", "buildcache"), 60)
    for n in range(10, 35):  # 25 deploys to staging kept as history
        images[n] = Image(f"r{n + 1}", (str(n + 1), f"deployed-staging-{n}"), 100 - (n + 1))
    images += [Image("u-old", (), 8.5), Image("u-new", (), 1.0)]
    gone = evaluate(policy(), images)
    assert {"r5", "r60", "r40"}.isdisjoint(gone)  # live and cache: never
    history = sorted(
        (i for i in images if any(t.startswith("deployed-") for t in i.tags) and not any("live-" in t for t in i.tags)),
        key=lambda i: i.age_days,
    )
    assert len(history) == 25
    assert {i.digest for i in history[:20]}.isdisjoint(gone)  # KeepHistory=20: the newest 20 rollback targets
    assert {i.digest for i in history[20:]} <= gone
    releases_only = sorted((i for i in images if i.tags and all(t.isdigit() for t in i.tags)), key=lambda i: i.age_days)
    assert {i.digest for i in releases_only[:30]}.isdisjoint(gone)
    assert {i.digest for i in releases_only[30:]} <= gone
    assert "u-old" in gone and "u-new" not in gone


def test_a_keep_last_n_rule_first_would_have_expired_what_prod_runs():
    """Why the order matters (va.gov-team#43688): the release rule first selects the live image too."""
    rules = policy()
    release = next(r for r in rules["rules"] if r["selection"].get("tagPatternList") == ["*"])
    wrong = {"rules": [{**release, "rulePriority": 0}, *rules["rules"]]}
    images = [Image(f"r{n}", (str(n),), 100 - n) for n in range(1, 41)]
    images[0] = Image("r1", ("1", "live-prod"), 99)
    assert "r1" in evaluate(wrong, images) and "r1" not in evaluate(rules, images)


def test_moto_creates_the_repository_with_its_tag_exclusions_and_takes_its_policy():
    moto = pytest.importorskip("moto")
    import boto3

    with moto.mock_aws():
        ec2 = boto3.client("ec2", region_name="eu-west-1")
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        subnets = [s["SubnetId"] for s in ec2.describe_subnets()["Subnets"]][:2]
        cfn = boto3.client("cloudformation", region_name="eu-west-1")
        params = {"VPC": vpc, "SubnetA": subnets[0], "SubnetB": subnets[1], "RepositoryName": "app-staging"}
        cfn.create_stack(
            StackName="app-staging",
            TemplateBody=TEMPLATE.read_text(encoding="utf-8"),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in params.items()],
            Capabilities=["CAPABILITY_IAM"],
        )
        ecr = boto3.client("ecr", region_name="eu-west-1")
        (repo,) = ecr.describe_repositories()["repositories"]
        assert repo["repositoryName"] == "app-staging"
        assert repo["imageTagMutability"] == "IMMUTABLE_WITH_EXCLUSION"
        excluded = {f["filter"] for f in repo["imageTagMutabilityExclusionFilters"]}
        assert excluded == {"buildcache*", "live-*"}  # the tags that move; releases and history never do
        # moto's CloudFormation leaves the policy out; its ECR API takes it as ECR would
        ecr.put_lifecycle_policy(repositoryName="app-staging", lifecyclePolicyText=json.dumps(policy()))
        stored = json.loads(ecr.get_lifecycle_policy(repositoryName="app-staging")["lifecyclePolicyText"])
        assert stored == policy()
