"""The registry cache: the previous image in the registry the pipeline pushes to, reused by the next build.

Ephemeral agents (Kubernetes, ECS, autoscaled EC2) start every build with an empty engine, so layer
caching on the agent buys nothing there. The build records BuildKit's inline cache in the image
(``BUILDKIT_INLINE_CACHE=1``), the push stage also moves ``--cache-tag`` to it, and the next build names
that image with ``--cache-from``: unchanged steps (the dependency stage) come from the registry instead of
being rebuilt. Works with the classic ``DOCKER_BUILDKIT=1 docker build`` (no buildx needed).

The cache is an optimisation, never a reason to fail: a registry that is not configured, not reachable,
refuses us, or has no cache image yet gives one line and a cold build. It is asked through the engine
(the same resolution BuildKit does) with a short deadline, so a hanging registry cannot stall the build.
"""

from __future__ import annotations

import logging
from typing import Any

import docker.errors
import requests

from .containers import docker_reason

log = logging.getLogger(__name__)
LOOKUP_TIMEOUT = 15.0  # seconds for the engine to resolve the cache image's manifest


def lookup(client: Any, reference: str, auth: dict[str, str] | None = None, timeout: float = LOOKUP_TIMEOUT) -> str:
    """Why ``reference`` cannot serve as a cache, or "" when the registry has it (engine's view)."""
    api = client.api
    saved = api.timeout
    api.timeout = timeout
    try:
        api.inspect_distribution(reference, auth_config=auth)
    except docker.errors.NotFound:
        return "not in the registry yet (a first build)"
    except docker.errors.APIError as exc:
        reason = docker_reason(exc)
        if "not found" in reason.lower() or "manifest unknown" in reason.lower():
            return "not in the registry yet (a first build)"
        return reason
    except (requests.RequestException, OSError) as exc:
        return "the registry did not answer in time" if "timed out" in str(exc).lower() else type(exc).__name__
    finally:
        api.timeout = saved
    return ""


def cache_from(client: Any, reference: str, auth: dict[str, str] | None = None) -> str | None:
    """``reference`` if the registry has it, else None after one line saying why the build is cold."""
    problem = lookup(client, reference, auth)
    if problem:
        log.warning("registry cache %s: %s; building without it", reference, problem)
        return None
    log.info("registry cache: reusing the layers of %s where they match", reference)
    return reference
