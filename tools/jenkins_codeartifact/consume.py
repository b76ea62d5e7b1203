"""The stages of ``ca-consume-deploy``, from settings to results: build, smoke-test, push, deploy, teardown.

Each stage is a method so the CLI stays a thin dispatcher and ``all`` is just the stages in order: a
stage that raises stops the run, so a failed smoke test never pushes and a failed push never deploys.
Every stage records what it did in :attr:`Pipeline.record`, which the CLI writes as ``--report``.
The AWS clients and the docker client are made lazily through factories tests can replace.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from . import codeartifact, deploy, image
from .errors import ConfigError
from .settings import Settings

log = logging.getLogger(__name__)
STAGES = ("build", "smoke-test", "push", "deploy")


def parse_params(values: tuple[str, ...] | list[str]) -> dict[str, str]:
    """``KEY=VALUE`` pairs into a dict; a malformed one is a usage error naming it."""
    out: dict[str, str] = {}
    for item in values:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(f"--param {item!r}: expected KEY=VALUE", hint="for example --param SubnetA=subnet-123")
        out[key.strip()] = value
    return out


def _aws_client(settings: Settings, service: str) -> Any:
    from . import aws

    return aws.session(settings).client(service)


@dataclass
class Pipeline:
    """The consumer pipeline for one image tag."""

    settings: Settings
    docker_factory: Callable[[], Any] | None = None
    aws_client: Callable[[Settings, str], Any] = _aws_client
    index_resolver: Callable[[Settings], codeartifact.Index] = codeartifact.resolve_index
    push_backoff: float = 2.0
    record: dict[str, Any] = field(default_factory=dict)
    _docker: Any = None
    _registry: image.Registry | None = None

    def check(self, command: str) -> None:
        """Validate the inputs ``command`` uses before anything slow starts; teardown needs no tag."""
        s = self.settings
        image.validate_network(s.network)
        if command in ("deploy", "teardown", "all"):
            deploy.validate_target(s.target)
            if s.target == "cloudformation":
                self._stack_name()
                parse_params(s.params)
        if command in ("build", "all"):
            image.check_context(Path(s.context))
        if command != "teardown":
            image.validate_ref(s.image_name, s.tag)
            self.record.update(image=self.local, tag=self.tag)

    @property
    def tag(self) -> str:
        return image.validate_ref(self.settings.image_name, self.settings.tag)

    @property
    def local(self) -> str:
        return f"{self.settings.image_name}:{self.tag}"

    @property
    def docker(self) -> Any:
        if self._docker is None:
            self._docker = image.engine(self.docker_factory)
        return self._docker

    def registry(self) -> image.Registry:
        """``--registry`` as given, else the account's ECR with a fresh login."""
        if self._registry is None:
            if self.settings.registry:
                self._registry = image.registry_from_url(self.settings.registry)
            else:
                self._registry = image.ecr_login(self.aws_client(self.settings, "ecr"))
        return self._registry

    def build(self) -> image.BuildResult:
        s = self.settings
        index = self.index_resolver(s)
        self.docker  # noqa: B018 - fail on a missing engine before resolving anything slow
        result = image.build(
            index,
            context=s.context,
            image=self.local,
            cli=s.docker_cli,
            base_image=s.base_image,
            network=s.network,
        )
        self.record["build"] = asdict(result)
        return result

    def smoke_test(self) -> image.SmokeResult:
        s = self.settings
        result = image.smoke_test(
            self.docker,
            self.local,
            path=s.smoke_path,
            timeout=s.smoke_timeout,
            network=s.network,
            container_port=s.container_port,
        )
        self.record["smoke_test"] = asdict(result)
        return result

    def push(self) -> image.PushResult:
        s = self.settings
        registry = self.registry()
        result = image.push(
            self.docker,
            self.local,
            registry,
            s.image_name,
            self.tag,
            attempts=s.push_retries,
            backoff=self.push_backoff,
        )
        self.record["push"] = asdict(result)
        return result

    def deploy(self) -> deploy.DeployResult:
        s = self.settings
        target = deploy.validate_target(s.target)
        if target == "local":
            registry = self.registry()
            result = deploy.deploy_local(
                self.docker,
                registry.reference(s.image_name, self.tag),
                name=deploy.local_name(s.image_name),
                port=s.local_port,
                path=s.smoke_path,
                timeout=s.smoke_timeout,
                network=s.network,
                container_port=s.container_port,
                auth=registry.auth,
                tag=self.tag,
            )
        else:
            result = deploy.deploy_stack(
                self.aws_client(s, "cloudformation"),
                self._stack_name(),
                self.tag,
                template=s.template,
                params=parse_params(s.params),
            )
        self.record["deploy"] = asdict(result)
        return result

    def teardown(self) -> dict[str, Any]:
        s = self.settings
        if deploy.validate_target(s.target) == "local":
            result = deploy.teardown_local(self.docker, deploy.local_name(s.image_name))
        else:
            ecr = None if s.registry else self.aws_client(s, "ecr")
            result = deploy.teardown_stack(self.aws_client(s, "cloudformation"), self._stack_name(), ecr=ecr)
        self.record["teardown"] = result
        return result

    def _stack_name(self) -> str:
        if not self.settings.stack:
            raise ConfigError("no stack name", hint="pass --stack or set CA_STACK")
        return self.settings.stack

    def run(self, command: str) -> None:
        """Run one subcommand; ``all`` runs the four stages in order and stops at the first failure."""
        stages = {
            "build": self.build,
            "smoke-test": self.smoke_test,
            "push": self.push,
            "deploy": self.deploy,
            "teardown": self.teardown,
        }
        self.check(command)
        if command == "all":
            for name in STAGES:
                stages[name]()
            return
        stages[command]()


def summary(record: dict[str, Any]) -> list[str]:
    """The lines the CLI prints on stdout for later pipeline steps (``KEY=value``, shell-friendly)."""
    lines = [f"IMAGE={record['image']}"] if "image" in record else []
    if "build" in record:
        lines.append(f"IMAGE_ID={record['build']['image_id']}")
    if "push" in record:
        lines.append(f"PUSHED={record['push']['reference']}")
        if record["push"].get("digest"):
            lines.append(f"DIGEST={record['push']['digest']}")
    if "deploy" in record:
        d = record["deploy"]
        lines.append(f"DEPLOYED={d['target']}:{d['status']}{'' if d['changed'] else ' (no changes)'}")
        if d.get("url"):
            lines.append(f"URL={d['url']}")
    return lines
