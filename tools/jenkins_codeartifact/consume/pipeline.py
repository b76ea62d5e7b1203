"""The stages of ``ca-consume-deploy``, from settings to results: build, smoke-test, push, deploy, teardown.

Each stage is a method so the CLI stays a thin dispatcher and ``all`` is just the stages in order: a
stage that raises stops the run, so a failed smoke test never pushes and a failed push never deploys.
Every stage records what it did in :attr:`Stages.record`, which the CLI writes as ``--report``.
The AWS clients and the docker client are made lazily through factories tests can replace; all AWS
clients of one run share one session, so ``--role-arn`` costs one AssumeRole however many stages run.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import docker.errors

from .. import index as indexes
from ..errors import CAError, ConfigError, PreconditionError
from ..index import Index
from ..settings import Settings
from . import cache, changeset, cleanup, cloudformation, containers, dockerfile, image, local_target, tags
from . import context as build_context
from . import registry as registries
from .target import DeployResult, validate_target

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


@dataclass
class Stages:
    """The consumer pipeline for one image tag."""

    settings: Settings
    docker_factory: Callable[[], Any] | None = None
    aws_client: Callable[[Settings, str], Any] | None = None  # default: clients of one shared session
    index_resolver: Callable[[Settings], Index] | None = None  # default: codeartifact's
    push_backoff: float = 2.0
    record: dict[str, Any] = field(default_factory=dict)
    _docker: Any = None
    _registry: registries.Registry | None = None
    _session: Any = None

    def check(self, command: str) -> None:
        """Validate every input ``command`` uses before its first stage starts: a mistake in what the
        deploy needs (template, parameters, stack) must not surface after a build and a push."""
        s = self.settings
        uses = set(STAGES) if command == "all" else {command}
        if command != "teardown":
            self.record.update(image=self.local, tag=self.tag)
        containers.validate_network(s.network)
        if uses & {"deploy", "teardown"}:
            validate_target(s.target)
            if s.target == "cloudformation":
                self._stack_name()
            elif uses & {"deploy"}:
                _check_port("--local-port", s.local_port)
                local_target.parse_volumes(s.local_volumes)
        if uses & {"smoke-test", "deploy"}:
            _check_smoke(s)
        if uses & {"deploy"}:
            for flag, seconds in (("--deploy-timeout", s.deploy_timeout), ("--probe-timeout", s.probe_timeout)):
                if not seconds > 0:
                    raise ConfigError(f"{flag} {seconds:g}: must be more than 0 seconds")
        if uses & {"push", "deploy"} and s.registry:
            registries.registry_from_url(s.registry)
        if uses & {"build", "push"} and not s.no_registry_cache and not image.TAG_RE.fullmatch(s.cache_tag):
            raise ConfigError(
                f"--cache-tag {s.cache_tag!r}: not a valid image tag", hint="up to 128 of A-Z a-z 0-9 _ . -"
            )
        if uses & {"push"} and s.push_retries < 1:
            raise ConfigError(f"--push-retries {s.push_retries}: must be at least 1")
        if uses & {"push", "deploy"} and s.target == "cloudformation" and (s.stack or "deploy" in uses):
            self.params  # noqa: B018 - validates --param
            cloudformation.read_template(s.template)  # readable, UTF-8, within the inline limit
        if uses & {"build"}:
            docker_file = image.check_context(Path(s.context))
            dockerfile.check(
                docker_file, Path(s.context), allow_public_index=s.allow_public_index, base_image=s.base_image
            )
            build_context.check(Path(s.context), allow=s.allow_context_secrets)  # nothing secret goes in a layer
            if self.index_resolver is None:
                indexes.check_settings(s)

    @functools.cached_property
    def tag(self) -> str:
        """``--tag``, validated (with ``--image-name``) on first use."""
        return image.validate_ref(self.settings.image_name, self.settings.tag)

    @functools.cached_property
    def params(self) -> dict[str, str]:
        """``--param KEY=VALUE`` pairs, parsed on first use."""
        return parse_params(self.settings.params)

    @property
    def local(self) -> str:
        return f"{self.settings.image_name}:{self.tag}"

    @property
    def docker(self) -> Any:
        if self._docker is None:
            self._docker = containers.engine(self.docker_factory)
        return self._docker

    def client(self, service: str) -> Any:
        """A boto3 client; the session (and its AssumeRole) is made once, on first use."""
        if self.aws_client is not None:
            return self.aws_client(self.settings, service)
        from .. import aws

        if self._session is None:
            self._session = aws.session(self.settings)
        return aws.client(self._session, service)  # connect/read timeouts, bounded retries, each retry logged

    def index(self) -> Index:
        if self.index_resolver is not None:
            return self.index_resolver(self.settings)
        return indexes.resolve_index(self.settings, client_factory=lambda s: self.client("codeartifact"))

    def registry(self) -> registries.Registry:
        """``--registry`` as given, else the account's ECR with a fresh login."""
        if self._registry is None:
            if self.settings.registry:
                self._registry = registries.registry_from_url(self.settings.registry)
            else:
                self._registry = registries.ecr_login(self.client("ecr"))
        return self._registry

    def build(self) -> image.BuildResult:
        s = self.settings
        self.docker  # noqa: B018 - fail on a missing engine before resolving anything slow
        registry = self._cache_registry()
        result = image.build(
            self.index(),
            context=s.context,
            image=self.local,
            cli=s.docker_cli,
            base_image=s.base_image,
            network=s.network,
            inline_cache=not s.no_registry_cache,
            cache_from=self._cache_from(registry),
        )
        self.record["build"] = asdict(result)
        return result

    def _cache_registry(self) -> registries.Registry | None:
        """The registry the cache comes from, or None (turned off, or no registry: one line says why)."""
        if self.settings.no_registry_cache:
            return None
        try:
            return self.registry()
        except CAError as exc:  # e.g. no ECR login from this agent: the push will say so, the build goes on
            log.warning("registry cache: no registry (%s); building without it", exc.message)
            return None

    def _cache_from(self, registry: registries.Registry | None) -> str | None:
        """The registry cache image to build from, or None (turned off, no registry, or not usable)."""
        if registry is None:
            return None
        s = self.settings
        return cache.cache_from(self.docker, registry.reference(s.image_name, s.cache_tag), registry.auth)

    def smoke_test(self) -> containers.SmokeResult:
        s = self.settings
        try:
            result = containers.smoke_test(
                self.docker,
                self.local,
                path=s.smoke_path,
                timeout=s.smoke_timeout,
                network=s.network,
                container_port=s.container_port,
            )
        except containers.SmokeFailed as exc:
            self.record["smoke_test"] = asdict(exc.result)  # the report says what it saw, also on failure
            raise
        self.record["smoke_test"] = asdict(result)
        return result

    def push(self) -> registries.PushResult:
        s = self.settings
        self._create_stack_for_ecr()
        registry = self.registry()
        ecr = self.client("ecr") if registry.ecr else None
        remote = tags.lookup(registry, s.image_name, self.tag, ecr=ecr)  # a tag is never silently replaced
        if remote is not None and tags.already_pushed(remote, self.local, self._image_id(), overwrite=s.overwrite_tag):
            result = registries.PushResult(remote.reference, remote.digest, 0)
            self.record["push"] = {**asdict(result), "already_pushed": True}
            return result
        result = registries.push(
            self.docker,
            self.local,
            registry,
            s.image_name,
            self.tag,
            attempts=s.push_retries,
            backoff=self.push_backoff,
        )
        self.record["push"] = asdict(result)
        if not s.no_registry_cache and s.cache_tag != self.tag:
            self._push_cache_tag(registry)
        return result

    def _image_id(self) -> str:
        try:
            return str(self.docker.images.get(self.local).id)
        except docker.errors.ImageNotFound as exc:
            raise PreconditionError(
                f"image {self.local} not found", hint="build it first (ca-consume-deploy build)"
            ) from exc

    def _push_cache_tag(self, registry: registries.Registry) -> None:
        """Move ``--cache-tag`` to the image just pushed (its layers are there: a manifest, no uploads).

        Only a warning when it fails: the release is pushed, the next build is merely cold.
        """
        s = self.settings
        try:
            cached = registries.push(
                self.docker, self.local, registry, s.image_name, s.cache_tag, attempts=1, backoff=self.push_backoff
            )
        except CAError as exc:
            log.warning("registry cache: could not push %s (%s); the next build will be cold", s.cache_tag, exc.message)
            return
        self.record["push"]["cache"] = cached.reference

    def deploy(self) -> DeployResult:
        s = self.settings
        target = validate_target(s.target)
        digest = self.digest()  # a tag that is not in the registry stops here, before anything changes
        if target == "local":
            registry = self.registry()
            ref, local = registry.reference(s.image_name, self.tag), local_target.from_settings(s)
            result = local_target.deploy_local(self.docker, ref, local, auth=registry.auth, tag=self.tag)
        else:
            watch = changeset.Watch(
                timeout=s.deploy_timeout,
                cancel_on_timeout=s.cancel_on_timeout,
                probe_path=None if s.no_probe else s.smoke_path,
                probe_timeout=s.probe_timeout,
                probe_url=s.probe_url,
                plan=s.plan,
            )
            known: dict[str, Any] = {"target": target, "image_tag": self.tag, "image_digest": digest}
            try:
                result = changeset.deploy_stack(
                    self.client("cloudformation"),
                    self._stack_name(),
                    self.tag,
                    ecs=self.client("ecs"),
                    watch=watch,
                    template=s.template,
                    params=self.params,
                    defaults=self._defaults(),
                    digest=digest,
                    record=known,
                )
            except BaseException:
                self.record["deploy"] = known  # a failed or aborted deploy reports how far it got
                raise
        result = dataclasses.replace(result, image_digest=digest)
        self.record["deploy"] = asdict(result)
        return result

    def digest(self) -> str | None:
        """The digest ``--tag`` has in the registry the deploy takes it from (exit 3 if it is not there)."""
        s = self.settings
        if s.registry:
            return registries.registry_digest(registries.registry_from_url(s.registry), s.image_name, self.tag)
        return registries.ecr_digest(self.client("ecr"), s.image_name, self.tag)

    def _defaults(self) -> dict[str, str]:
        """Stack parameters with a value implied by our options: the ECR repository is the image name."""
        return {cloudformation.CONTAINER_NAME: self.settings.image_name}

    def _create_stack_for_ecr(self) -> None:
        """On a first deployment to ECR, create the stack (which holds the repository) before pushing.

        Only with everything a creation needs: the account's ECR (no ``--registry``), the CloudFormation
        target, a stack name and ``--template``. The stack is created with an empty ImageTag, which the
        template must allow (application.yml creates its service only once there is a tag); the deploy
        stage then sets the tag. An existing stack is left alone.
        """
        s = self.settings
        if s.registry or s.target != "cloudformation" or not s.stack or not s.template:
            return
        created = changeset.create_stack_without_image(
            self.client("cloudformation"),
            s.stack,
            template=s.template,
            params=self.params,
            defaults=self._defaults(),
        )
        if created is not None:
            self.record["stack_created"] = asdict(created)

    def teardown(self) -> dict[str, Any]:
        s = self.settings
        if validate_target(s.target) == "local":
            local = local_target.from_settings(s)
            result = local_target.teardown_local(self.docker, local.name, local.state)
        else:
            ecr = None if s.registry else self.client("ecr")
            result = cloudformation.teardown_stack(self.client("cloudformation"), self._stack_name(), ecr=ecr)
        self.record["teardown"] = result
        return result

    def _stack_name(self) -> str:
        if not self.settings.stack:
            raise ConfigError("no stack name", hint="pass --stack or set CA_STACK")
        return self.settings.stack

    def run(self, command: str) -> None:
        """Run one subcommand; ``all`` runs the four stages in order and stops at the first failure.

        What the way out cleaned up (containers, the docker CLI, the secret, a restored local target) goes
        into the record's ``cleaned_up``, which the report and the abort line quote.
        """
        cleanup.drain()
        try:
            self._run(command)
        except BaseException:
            self.record["cleaned_up"] = cleanup.drain()
            raise
        cleaned = cleanup.drain()
        if cleaned:
            self.record["cleaned_up"] = cleaned

    def _run(self, command: str) -> None:
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


def _check_port(flag: str, port: int) -> None:
    if not 0 < port < 65536:
        raise ConfigError(f"{flag} {port}: not a TCP port (1-65535)")


def _check_smoke(s: Settings) -> None:
    if not s.smoke_path.startswith("/"):
        raise ConfigError(f"--smoke-path {s.smoke_path!r}: must start with /")
    if not s.smoke_timeout > 0:
        raise ConfigError(f"--smoke-timeout {s.smoke_timeout:g}: must be more than 0 seconds")
    _check_port("--container-port", s.container_port)


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
        if d["status"] == "PLANNED":  # deploy --plan: what would change, nothing deployed
            lines += [f"CHANGE={change}" for change in d.get("changes") or []]
            return [*lines, f"PLANNED={len(d.get('changes') or [])} change(s) to stack {d['stack']}"]
        lines.append(f"DEPLOYED={d['target']}:{d['status']}{'' if d['changed'] else ' (no changes)'}")
        for rollout in d.get("rollout") or []:
            lines.append(f"ROLLOUT={rollout['service'].rsplit('/', 1)[-1]}:{rollout['state'] or rollout['verdict']}")
        if d.get("probe"):
            lines.append(f"PROBE={d['probe']['url']}:{d['probe']['status']}")
        if d.get("image_digest") and not (record.get("push") or {}).get("digest"):
            lines.append(f"DIGEST={d['image_digest']}")
        if d.get("url"):
            lines.append(f"URL={d['url']}")
    return lines
