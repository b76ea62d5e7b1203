"""application.yml, the walkthrough's CloudFormation template, passes cfn-lint and keeps its contract."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import yaml
from tests.helpers import tool_or_skip

TEMPLATE = Path(__file__).resolve().parents[2] / "application_src" / "application.yml"


class _Loader(yaml.SafeLoader):
    """Reads CloudFormation's short-form intrinsics (!Ref, !Sub ...) as plain values."""


_Loader.add_multi_constructor("!", lambda loader, suffix, node: None)


def test_cfn_lint_finds_nothing():
    cfn_lint = tool_or_skip(
        shutil.which("cfn-lint", path=str(Path(sys.executable).parent)) or shutil.which("cfn-lint"), "cfn-lint"
    )
    proc = subprocess.run([cfn_lint, str(TEMPLATE)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_template_has_the_parameters_and_output_the_pipeline_uses():
    template = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
    assert {"ImageTag", "ContainerName", "VPC", "SubnetA", "SubnetB"} <= set(template["Parameters"])
    assert "ApplicationUrl" in template["Outputs"]
    kinds = {r["Type"] for r in template["Resources"].values()}
    assert {
        "AWS::ECR::Repository",
        "AWS::ECS::Cluster",
        "AWS::ECS::TaskDefinition",
        "AWS::ECS::Service",
        "AWS::IAM::Role",
        "AWS::EC2::SecurityGroup",
        "AWS::ElasticLoadBalancingV2::LoadBalancer",
        "AWS::ElasticLoadBalancingV2::TargetGroup",
        "AWS::ElasticLoadBalancingV2::Listener",
    } <= kinds
