"""Which index the build environment's requirements come from, and how uv is told.

``python -m build`` installs build requirements with pip, so pip's configuration decides the index:
``PIP_INDEX_URL``/``PIP_EXTRA_INDEX_URL``/``PIP_FIND_LINKS``/``PIP_NO_INDEX``/``PIP_CONSTRAINT`` and
pip.conf (what ``aws codeartifact login --tool pip`` writes). uv reads none of that, so it is read here
with pip's own configuration loader and handed to uv as ``UV_*`` variables (never argv: a URL may
carry a token). Precedence: ``--build-index`` > pip's index-url > the CodeArtifact repository being
published to (its upstream serves setuptools & co.) > PyPI; pip's extra indexes and find-links apply
in every case but ``--build-index``, as pip would apply them.
"""

from __future__ import annotations

import hashlib
import os
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import ConfigError

PYPI = "https://pypi.org/simple"
# uv's own index settings, dropped from its environment so the line that names the index tells the truth
_UV_INDEX_VARS = ("UV_INDEX", "UV_INDEX_URL", "UV_DEFAULT_INDEX", "UV_EXTRA_INDEX_URL", "UV_FIND_LINKS", "UV_NO_INDEX")


@dataclass(frozen=True)
class BuildIndex:
    """Where build requirements come from; ``source`` says who decided it (for the one line the user reads)."""

    index_url: str
    source: str
    extra_index_urls: tuple[str, ...] = ()
    find_links: tuple[str, ...] = ()
    no_index: bool = False
    constraints: tuple[str, ...] = ()

    def uv_environ(self) -> dict[str, str]:
        """Variables for ``uv pip``: pip's semantics (best match across every index, as pip picks)."""
        env = {"UV_INDEX_URL": self.index_url, "UV_INDEX_STRATEGY": "unsafe-best-match"}
        if self.extra_index_urls:
            env["UV_EXTRA_INDEX_URL"] = " ".join(self.extra_index_urls)
        if self.find_links:
            env["UV_FIND_LINKS"] = ",".join(self.find_links)
        if self.no_index:
            env["UV_NO_INDEX"] = "1"
        if self.constraints:
            env["UV_CONSTRAINT"] = " ".join(self.constraints)
        return env

    def describe(self) -> str:
        """One line, credentials masked."""
        text = f"{mask(self.index_url)} ({self.source})"
        if self.no_index:
            text = f"no index ({self.source})"
        if self.extra_index_urls:
            text += ", extra: " + " ".join(mask(u) for u in self.extra_index_urls)
        if self.find_links:
            text += ", find-links: " + " ".join(mask(u) for u in self.find_links)
        return text

    def key(self) -> str:
        """What of it decides an environment's content (credentials aside: a new token is the same index)."""
        parts = [
            *(strip_credentials(u) for u in (self.index_url, *self.extra_index_urls, *self.find_links)),
            str(self.no_index),
        ]
        for constraint in self.constraints:
            try:
                parts.append(hashlib.sha256(open(constraint, "rb").read()).hexdigest())  # noqa: SIM115
            except OSError:
                parts.append(constraint)
        return "\n".join(parts)


def strip_credentials(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    if parts.username is None and parts.password is None:
        return url
    host = (parts.hostname or "") + (f":{parts.port}" if parts.port else "")
    return urllib.parse.urlunsplit(parts._replace(netloc=host))


def mask(url: str) -> str:
    """``https://aws:****@host/...``: the user sees which credentials were used, never their value."""
    parts = urllib.parse.urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port:
        host += f":{parts.port}"
    return urllib.parse.urlunsplit(parts._replace(netloc=f"{parts.username}:****@{host}"))


def pip_options(environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """pip's configuration as ``pip install`` sees it: files and PIP_* variables, later sections winning."""
    environ = os.environ if environ is None else environ
    try:
        from pip._internal.configuration import Configuration
        from pip._internal.exceptions import ConfigurationError
    except ImportError:  # no pip beside ca-publish: its variables still count
        return {k[4:].lower().replace("_", "-"): v for k, v in environ.items() if k.startswith("PIP_")}
    config = Configuration(isolated=False)
    try:
        config.load()
    except ConfigurationError as exc:
        raise ConfigError(f"pip configuration: {exc}") from None
    items: dict[str, str] = {}
    for key, value in config.items():  # pip >= 25: (file, {key: value}) in precedence order; before: (key, value)
        items.update(value if isinstance(value, dict) else {key: value})
    options: dict[str, str] = {}
    for section in ("global", "install", ":env:"):
        for key, value in items.items():
            if key.startswith(section + "."):
                options[key[len(section) + 1 :]] = value
    return options


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("1", "true", "yes", "on")


def resolve(explicit: str | None, repository: Callable[[], str] | None, options: Mapping[str, str]) -> BuildIndex:
    """The build index: ``explicit`` (--build-index), else pip's, else ``repository()`` (CodeArtifact), else PyPI."""
    if explicit:
        if not urllib.parse.urlsplit(explicit).scheme:
            raise ConfigError(f"--build-index {explicit!r}: not a URL (https://host/simple/)")
        return BuildIndex(index_url=explicit, source="--build-index")
    extra = tuple(options.get("extra-index-url", "").split())
    links = tuple(options.get("find-links", "").split())
    constraints = tuple(options.get("constraint", "").split())
    if options.get("index-url"):
        url, source = options["index-url"], "pip configuration"
    elif repository is not None:
        url, source = repository(), "the CodeArtifact repository"
    else:
        url, source = PYPI, "PyPI, pip's default" + (", with pip's configuration" if extra or links else "")
    no_index = _truthy(options.get("no-index"))
    return BuildIndex(url, source, extra, links, no_index, constraints)


def uv_child_environ(base: Mapping[str, str], index: BuildIndex) -> dict[str, str]:
    """The environment of a ``uv pip`` child: ``base`` minus uv's own index settings, plus ``index``'s."""
    return {**{k: v for k, v in base.items() if k not in _UV_INDEX_VARS}, **index.uv_environ()}
