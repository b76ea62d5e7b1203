"""What a deploy target is and what it reports: shared by the CloudFormation and the local target."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ..errors import ConfigError

TARGETS = ("cloudformation", "local")


def validate_target(target: str) -> str:
    if target not in TARGETS:
        raise ConfigError(f"--target {target!r}: unknown target", hint=f"choose one of: {', '.join(TARGETS)}")
    return target


@dataclass(frozen=True)
class DeployResult:
    target: str
    image_tag: str
    status: str
    changed: bool
    stack: str | None = None
    change_set: str | None = None
    url: str | None = None
    outputs: dict[str, str] = field(default_factory=dict)
    image_digest: str | None = None
    rollout: list[dict[str, Any]] = field(default_factory=list)  # one entry per ECS service of the stack
    probe: dict[str, Any] | None = None  # the post-deploy GET of ApplicationUrl + the smoke path
    changes: list[str] = field(default_factory=list)  # --plan: what the change set would do
