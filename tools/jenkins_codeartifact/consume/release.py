"""What happens around a deploy once there is more than one: the live image, the order check, the history,
and where ``rollback`` goes. :mod:`.pipeline` calls these as small hooks; each is testable alone.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, PreconditionError
from . import cloudformation, history
from .images import Images, Manifest
from .registry import DIGEST_RE

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
