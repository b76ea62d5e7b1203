"""What happens around a deploy once there is more than one: the live image, the order check, the history,
where ``rollback`` goes and what ``promote`` takes. :mod:`.pipeline` dispatches to these; the deploy
itself stays its ``deploy_image``.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .. import config as settings_config
from .. import settings as settings_mod
from ..errors import CAError, ConfigError, OperationError, PreconditionError
from . import cloudformation, history, local_target, ordering, promote
from . import registry as registries
from .images import EcrImages, Images, Manifest, V2Images
from .registry import DIGEST_RE
from .target import DeployResult

if TYPE_CHECKING:
    from .pipeline import Stages

log = logging.getLogger(__name__)


def stack_digest(client: Any, stack: str) -> str | None:
    """The digest the stack runs (its ImageDigest parameter), read from the stack itself; None without one."""
    found = cloudformation.Stack(client, stack).describe()
    if not found:
        return None
    params = {str(p["ParameterKey"]): str(p.get("ParameterValue", "")) for p in found.get("Parameters", [])}
    digest = params.get("ImageDigest", "")
    return digest if DIGEST_RE.fullmatch(digest) else None


def check_rollback_options(to_tag: str | None, to_digest: str | None) -> None:
    if to_tag and to_digest:
        raise ConfigError("--to and --to-digest: give one of them", hint="a tag (--to 41) or a digest (--to-digest)")
    if to_digest and not DIGEST_RE.fullmatch(to_digest):
        raise ConfigError(f"--to-digest {to_digest!r}: not a digest", hint="sha256: and 64 hex digits")


@dataclass(frozen=True)
class Target:
    """Where a rollback goes: the manifest, the tag the report and the stack call it, and a tag naming it
    (what the local target pulls)."""

    manifest: Manifest
    tag: str
    pull_tag: str


def rollback_target(
    images: Images,
    tags: dict[str, str],
    env: str,
    live: str | None,
    *,
    to_tag: str | None,
    to_digest: str | None,
    cache_tag: str,
) -> Target:
    """The image a rollback deploys, checked to be in the registry still (exit 3 naming it when expired)."""
    if to_tag:
        ref, named = to_tag, f"tag {to_tag}"
    elif to_digest:
        ref, named = to_digest, f"digest {to_digest}"
    else:
        entry = history.previous(history.entries(tags, env), live, env, images.where)
        ref, named = entry.digest, f"digest {entry.digest} ({entry.tag(env)})"
    manifest = images.manifest(ref)
    if manifest is None:
        raise PreconditionError(
            f"cannot roll back to {named}: {images.name} in {images.where} no longer has it (expired or deleted); "
            "nothing was deployed",
            hint="keep live-* and deployed-* tags out of the lifecycle policy's expiring rules; pick another image "
            "with --to TAG",
        )
    if manifest.digest == live:
        raise PreconditionError(f"{named} is the live image of {env}; nothing to roll back")
    naming = sorted(t for t, d in tags.items() if d == manifest.digest)
    tag = to_tag or history.release_tag(tags, manifest.digest, cache_tag) or (naming[0] if naming else "")
    pull = to_tag or next((t for t in naming if t.startswith("deployed-")), naming[0] if naming else "")
    if not tag or not pull:
        raise PreconditionError(
            f"cannot roll back to {named}: no tag in {images.where} names it", hint="roll back with --to TAG"
        )
    return Target(manifest, tag, pull)


def after_rollback(images: Images, env: str, tags: dict[str, str], live: str | None, target: Target) -> dict[str, Any]:
    """A healthy rollback: mark the entry left (never a target again) and move ``live-<env>`` back."""
    mark = history.mark_rolled_back(images, env, history.entries(tags, env), live)
    images.put(history.live_tag(env), target.manifest)
    return {"marked": mark, "live_tag": history.live_tag(env)}


def named(tags: dict[str, str], digest: str | None, cache_tag: str) -> dict[str, str | None]:
    """``{tag, digest}`` of an image as the report gives it."""
    if digest is None:
        return {"tag": None, "digest": None}
    return {"tag": history.release_tag(tags, digest, cache_tag), "digest": digest}


def promote_here(stages: Stages) -> DeployResult:
    """Deploy here (``--to``) the digest live and healthy in ``--from``, copied over when its registry differs."""
    s, source = stages.settings, source_stages(stages)
    where = source.settings.promote_from or ""
    tag, digest = promote.live_and_healthy(
        source.client("cloudformation"), source.client("ecs"), source._stack_name(), where
    )
    stages.record["promote"] = {"from": where, "to": s.env, "image_tag": tag, "image_digest": digest}
    images, theirs = images_of(stages), images_of(source)
    if (theirs.where, theirs.name) != (images.where, images.name):
        stages.record["promote"]["copy"] = promote.copy(theirs, images, digest, tag)
    return deploy_in_order(stages, tag, digest, images)


def source_stages(stages: Stages) -> Stages:
    """The stages of ``--from``: its environment's table, not this run's flags or CA_STACK-like variables."""
    s = stages.settings
    if not s.promote_from or not s.env:
        raise ConfigError(
            "promote: needs --from ENV and --to ENV", hint="ca-consume-deploy promote --from staging --to prod"
        )
    skip = {var for name in settings_config.ENVIRONMENT_KEYS for var in settings_mod.FIELDS[name].metadata["env"]}
    env = {k: v for k, v in os.environ.items() if k not in skip | {"CA_ENV"}}
    there = settings_config.load({"env": s.promote_from}, env=env, config=stages.config)
    there = dataclasses.replace(there, promote_from=s.promote_from, target="cloudformation")
    if (there.stack, there.region) == (s.stack, s.region):
        raise ConfigError(f"promote: --from {s.promote_from} and --to {s.env} are the same stack {s.stack}")
    return type(stages)(there, docker_factory=stages.docker_factory, aws_client=stages.aws_client, config=stages.config)


def deploy_in_order(stages: Stages, tag: str, digest: str | None, images: Images) -> DeployResult:
    """Deploy ``digest`` unless it is an older build than the live one; a healthy deploy joins the history."""
    s, env = stages.settings, environment(stages)
    tags = images.tags() if digest else {}
    live = live_digest(stages, tags, env)
    what = f"image {s.image_name}:{tag}"
    order = ordering.check(images, live, digest, allow=s.allow_downgrade, what=what)
    result = stages.deploy_image(tag, digest, tag)
    stages.record["deploy"]["order"] = order
    manifest = images.manifest(digest) if digest and not s.plan else None
    if manifest is not None:  # live and healthy: the history a rollback reads
        with _history(f"{what} is deployed", images, "rerun this deploy: it changes nothing and records it"):
            stages.record["deploy"]["history"] = history.record(images, env, manifest, tags)
    return result


def rollback(stages: Stages) -> DeployResult:
    """Deploy the newest earlier image that was live and healthy here (or ``--to``/``--to-digest``)."""
    s = stages.settings
    images, env = images_of(stages), environment(stages)
    tags = images.tags()
    live = live_digest(stages, tags, env)
    target = rollback_target(
        images, tags, env, live, to_tag=s.rollback_tag, to_digest=s.rollback_digest, cache_tag=s.cache_tag
    )
    came_from = named(tags, live, s.cache_tag)
    went_to = {"tag": target.tag, "digest": target.manifest.digest}
    stages.record["rollback"] = {"rolled_back_from": came_from, "rolled_back_to": went_to}
    log.info("rollback of %s: %s -> %s (%s)", env, live or "nothing live", target.manifest.digest, target.tag)
    result = stages.deploy_image(target.tag, target.manifest.digest, target.pull_tag)
    stages.record["deploy"].update(stages.record["rollback"])
    if not s.plan:
        hint = f"tag {target.manifest.digest} as {history.live_tag(env)} by hand before the next rollback"
        with _history(f"{env} is rolled back to {target.tag}", images, hint):
            stages.record["deploy"]["history"] = after_rollback(images, env, tags, live, target)
    return result


def images_of(stages: Stages) -> Images:
    """The repository the deploy takes images from, as manifests and tags (history, labels)."""
    s = stages.settings
    if s.registry:
        return V2Images(registries.registry_from_url(s.registry), s.image_name)
    return EcrImages(stages.client("ecr"), s.image_name)


def environment(stages: Stages) -> str:
    """The name the history tags use: the stack (or the local target's name)."""
    s = stages.settings
    name = s.env or (stages._stack_name() if s.target == "cloudformation" else local_target.local_name(s.image_name))
    return history.check_env(name)


def live_digest(stages: Stages, tags: dict[str, str], env: str) -> str | None:
    """What runs now: the stack's ImageDigest (from the stack itself), or the local target's ``live-`` tag."""
    if stages.settings.target == "cloudformation":
        return stack_digest(stages.client("cloudformation"), stages._stack_name())
    return tags.get(history.live_tag(env))


@contextlib.contextmanager
def _history(done: str, images: Images, hint: str) -> Iterator[None]:
    """A history update after a deploy: its failure says that the deploy itself happened."""
    try:
        yield
    except CAError as exc:
        message = f"{done}, but its history in {images.where} was not updated: {exc.message}"
        raise OperationError(message, hint=hint) from exc
