"""Which images an environment ran, kept as tags in its registry repository, and where a rollback goes.

Why tags: the history must survive with no local state (ephemeral agents) and work on real AWS, where an
executed change set is deleted and stack tags propagate to every resource. A registry tag is free, is
read with the same credentials the deploy already has, and pins the image against a keep-last-N
lifecycle rule that matches only release tags. After each healthy deploy to environment ``E``:

- ``deployed-E-<n>`` names the digest (n = 1, 2, ...; a redeploy of the live digest adds nothing);
- ``live-E`` moves to it.

A rollback moves ``live-E`` back and marks the entry it leaves with ``rolledback-E-<n>``: a rolled-back
entry is never a target again, so two rollbacks in a row go two steps back, never forth.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from ..errors import ConfigError, PreconditionError
from .images import Images, Manifest

log = logging.getLogger(__name__)
ENV_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,99}")
PREFIXES = ("live-", "deployed-", "rolledback-")


def check_env(env: str) -> str:
    """An environment name fits in a tag (``deployed-<env>-<n>``: at most 128 of A-Z a-z 0-9 _ . -)."""
    if not ENV_RE.fullmatch(env):
        raise ConfigError(
            f"environment {env!r}: not usable in a registry tag", hint="up to 100 of A-Z a-z 0-9 _ . -, first a letter"
        )
    return env


def live_tag(env: str) -> str:
    return f"live-{env}"


@dataclass(frozen=True)
class Entry:
    """One healthy deploy: its place in the environment's history and the digest it ran."""

    seq: int
    digest: str
    rolled_back: bool

    def tag(self, env: str) -> str:
        return f"deployed-{env}-{self.seq}"


def entries(tags: dict[str, str], env: str) -> list[Entry]:
    """The environment's history, oldest first, from the repository's tags."""
    deployed = re.compile(rf"deployed-{re.escape(env)}-([0-9]+)")
    marked = {m.group(1) for t in tags if (m := re.fullmatch(rf"rolledback-{re.escape(env)}-([0-9]+)", t))}
    found = [
        Entry(int(m.group(1)), digest, m.group(1) in marked)
        for tag, digest in tags.items()
        if (m := deployed.fullmatch(tag))
    ]
    return sorted(found, key=lambda e: e.seq)


def record(images: Images, env: str, manifest: Manifest, tags: dict[str, str] | None = None) -> str | None:
    """After a healthy deploy: a new ``deployed-E-<n>`` (unless the newest entry is this digest and was not
    rolled back) and ``live-E`` moved to it. Returns the new history tag, or None."""
    tags = images.tags() if tags is None else tags
    history = entries(tags, env)
    added = None
    if not history or history[-1].digest != manifest.digest or history[-1].rolled_back:
        added = Entry((history[-1].seq if history else 0) + 1, manifest.digest, False).tag(env)
        images.put(added, manifest)
    if tags.get(live_tag(env)) != manifest.digest:
        images.put(live_tag(env), manifest)
    log.info("history: %s is %s in %s", live_tag(env), manifest.digest, images.where)
    return added


def current(history: list[Entry], live: str | None) -> Entry | None:
    """The entry the environment runs now: the newest one of the live digest that was not rolled back."""
    return next((e for e in reversed(history) if e.digest == live and not e.rolled_back), None)


def previous(history: list[Entry], live: str | None, env: str, where: str) -> Entry:
    """Where a rollback goes by default: the newest entry before the current one, of another digest, not
    rolled back; exit 3 when there is none."""
    now = current(history, live)
    for entry in reversed(history):
        if (now is None or entry.seq < now.seq) and entry.digest != live and not entry.rolled_back:
            return entry
    raise PreconditionError(
        f"no earlier image to roll back to: the history of {env} in {where} has "
        f"{len(history)} deploy(s), none before the live one ({live or 'none'}) that was not rolled back",
        hint="name the image: ca-consume-deploy rollback --to TAG (or --to-digest sha256:...)",
    )


def mark_rolled_back(images: Images, env: str, history: list[Entry], live: str | None) -> str | None:
    """Mark the entry a rollback leaves, so no later rollback comes back to it; returns the mark's tag."""
    now = current(history, live)
    if now is None:
        return None
    manifest = images.manifest(now.digest)
    if manifest is None:
        return None
    mark = f"rolledback-{env}-{now.seq}"
    images.put(mark, manifest)
    return mark


def release_tag(tags: dict[str, str], digest: str, cache_tag: str) -> str | None:
    """A tag of ``digest`` that a person pushed (not a history or cache tag): what the report calls it."""
    names = sorted(
        (t for t, d in tags.items() if d == digest and not t.startswith(PREFIXES) and not t.startswith(cache_tag)),
        key=lambda t: (not t.isdigit(), -int(t) if t.isdigit() else 0, t),
    )
    return names[0] if names else None
