"""An older build never replaces a newer one: deploys are ordered by the job's build number.

Why the build number and not a time: build 41 can finish (and push) after build 42 when two builds of a
job run at once, so created and pushed times get the race wrong. ``build`` records the number as the
image label :data:`LABEL` (``BUILD_NUMBER`` or ``--build-number``); ``deploy`` reads the label of the live
image and of the new one from the registry's config blobs. An image without the label is compared by
nothing and deploys with a WARNING; ``rollback`` is the way back and is not checked.
"""

from __future__ import annotations

import logging
from typing import Any

from ..errors import ConfigError, PreconditionError
from .images import Images, labels

log = logging.getLogger(__name__)
LABEL = "io.github.jenkins-codeartifact.build-number"


def build_label(number: str | None) -> dict[str, str]:
    """The label ``build`` adds (none without a build number); a number that is not one is a usage error."""
    if number is None or number == "":
        return {}
    if not number.strip().isdigit():
        raise ConfigError(f"--build-number {number!r}: not a whole number", hint="Jenkins' BUILD_NUMBER is one")
    return {LABEL: str(int(number))}


def build_number(images: Images, digest: str) -> int | None:
    """The build number an image was labelled with, or None (no label, or the registry will not say)."""
    found = labels(images, digest)
    value = (found or {}).get(LABEL, "")
    return int(value) if value.isdigit() else None


def check(images: Images, live: str | None, new: str | None, *, allow: bool, what: str) -> dict[str, Any]:
    """Refuse (exit 3) to replace the ``live`` digest with ``new`` from an earlier build, unless ``allow``.

    Returns what the report says about the order: ``{"live_build": N, "new_build": M}`` (None: unknown).
    """
    if not new or not live or live == new:
        return {}
    new_build, live_build = build_number(images, new), build_number(images, live)
    order = {"live_build": live_build, "new_build": new_build}
    if new_build is None or live_build is None:
        which = "the new image" if new_build is None else "the live image"
        log.warning(
            "WARNING: %s has no build-number label (%s): %s is deployed without an order check",
            which,
            LABEL,
            what,
        )
        return order
    if new_build >= live_build:
        return order
    if allow:
        log.warning("WARNING: --allow-downgrade: build %d replaces the live build %d", new_build, live_build)
        return order
    raise PreconditionError(
        f"{what} is build {new_build}, older than the live build {live_build} ({live}); nothing was deployed",
        hint="an older build that finished late does not replace a newer one: to go back use ca-consume-deploy "
        "rollback, or pass --allow-downgrade",
    )
