"""Every knob in one typed object.

Precedence, highest first: command-line flag > environment variable > ``jenkins-codeartifact.toml``
(found in the working directory or a parent, or named by ``--config``/``CA_CONFIG``) > default.
Each field declares its env var(s) here, so the README table, the CLIs and the loader cannot drift
(:mod:`.cli.options` turns the declarations into argparse flags and that table).
Unknown keys in the file are errors: a typo must not silently fall back to a default.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from . import files, redact
from .errors import ConfigError

CONFIG_NAME = "jenkins-codeartifact.toml"


GROUPS: dict[str, str] = {
    "index": "AWS and CodeArtifact (or any PyPI-compatible index)",
    "publish": "publish",
    "image": "image",
    "smoke": "smoke test and local target",
    "deploy": "deploy",
    "jobs": "job specs",
    "jenkins": "Jenkins (the API token comes from JENKINS_API_TOKEN only)",
    "run": "jobsync run",
    "repo": "ca-repo",
    "output": "output",
}


def _opt(
    default: Any,
    *env: str,
    group: str,
    doc: str,
    secret: bool = False,
    env_only: bool = False,
    flag: str | None = None,
    choices: tuple[str, ...] | None = None,
    metavar: str | None = None,
) -> Any:
    meta = {
        "env": env,
        "group": group,
        "doc": doc,
        "secret": secret,
        "env_only": env_only,
        "flag": flag,
        "choices": choices,
        "metavar": metavar,
    }
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Settings:
    """Resolved configuration shared by every command; each command reads the fields it needs."""

    # Where packages live: a CodeArtifact repository, or any PyPI-compatible index.
    domain: str | None = _opt(None, "CA_DOMAIN", group="index", doc="CodeArtifact domain name")
    domain_owner: str | None = _opt(None, "CA_DOMAIN_OWNER", group="index", doc="AWS account id that owns the domain")
    repository: str | None = _opt(None, "CA_REPOSITORY", group="index", doc="CodeArtifact repository name")
    region: str | None = _opt(None, "AWS_REGION", "AWS_DEFAULT_REGION", group="index", doc="AWS region")
    profile: str | None = _opt(None, "AWS_PROFILE", group="index", doc="AWS named profile")
    role_arn: str | None = _opt(None, "CA_ROLE_ARN", group="index", doc="role to assume first (cross-account)")
    token_duration: int = _opt(3600, "CA_TOKEN_DURATION", group="index", doc="token lifetime: 0 or 900..43200 s")
    endpoint_type: str = _opt(
        "ipv4",
        "CA_ENDPOINT_TYPE",
        group="index",
        choices=("ipv4", "dualstack"),
        doc="repository endpoint: ipv4 or dualstack",
    )
    repository_url: str | None = _opt(
        None,
        "CA_REPOSITORY_URL",
        group="index",
        metavar="URL",
        doc="generic index upload URL (devpi, Nexus…) instead of CodeArtifact; "
        "credentials from CA_INDEX_USERNAME/CA_INDEX_PASSWORD",
    )
    simple_url: str | None = _opt(
        None,
        "CA_SIMPLE_URL",
        group="index",
        metavar="URL",
        doc="generic index's simple URL (default: URL + simple/, +simple/ on devpi)",
    )
    index_username: str | None = _opt(None, "CA_INDEX_USERNAME", group="index", env_only=True, doc="generic index user")
    index_password: str | None = _opt(
        None, "CA_INDEX_PASSWORD", group="index", secret=True, env_only=True, doc="generic index password"
    )
    # ca-publish
    skip_existing: bool = _opt(
        False,
        "CA_SKIP_EXISTING",
        group="publish",
        doc="exit 0 when the version is already there; upload the files it lacks",
    )
    dry_run: bool = _opt(False, "CA_DRY_RUN", group="publish", doc="build and check, upload nothing")
    dist_dir: str | None = _opt(
        None, "CA_DIST_DIR", group="publish", metavar="DIR", doc="where built files go (default: PROJECT/dist)"
    )
    fresh_build_env: bool = _opt(
        False, "CA_FRESH_BUILD_ENV", group="publish", doc="throwaway build env instead of the cached one"
    )
    build_index: str | None = _opt(
        None, "CA_BUILD_INDEX", group="publish", metavar="URL", doc="index for build requirements (default: pip's)"
    )
    # ca-consume-deploy
    context: str = _opt(
        ".", "CA_CONTEXT", group="image", metavar="DIR", doc="docker build context (with the Dockerfile)"
    )
    image_name: str = _opt("application", "CA_IMAGE_NAME", group="image", doc="image / ECR repository name")
    tag: str | None = _opt(
        None, "CA_TAG", "BUILD_NUMBER", group="image", doc="image tag (default: Jenkins BUILD_NUMBER)"
    )
    registry: str | None = _opt(
        None, "CA_REGISTRY", group="image", metavar="HOST[:PORT]", doc="push here instead of the account's ECR"
    )
    base_image: str | None = _opt(None, "CA_BASE_IMAGE", group="image", doc="BASE_IMAGE build arg")
    docker_cli: str = _opt("docker", "CA_DOCKER_CLI", group="image", doc="docker CLI used for BuildKit builds")
    network: str = _opt(
        "host", "CA_DOCKER_NETWORK", group="image", doc="network of builds and containers: host or bridge"
    )
    push_retries: int = _opt(
        4, "CA_PUSH_RETRIES", group="image", doc="push attempts before giving up (backoff between)"
    )
    overwrite_tag: bool = _opt(
        False,
        "CA_OVERWRITE_TAG",
        group="image",
        doc="push: replace a tag the registry already has for another image (default: refuse, exit 3)",
    )
    no_registry_cache: bool = _opt(
        False,
        "CA_NO_REGISTRY_CACHE",
        group="image",
        doc="build without the registry cache (no --cache-from, no inline cache, no cache tag pushed)",
    )
    cache_tag: str = _opt(
        "buildcache",
        "CA_CACHE_TAG",
        group="image",
        doc="tag that push moves to each new image; the next build reuses its layers (ephemeral agents)",
    )
    allow_context_secrets: bool = _opt(
        False,
        "CA_ALLOW_CONTEXT_SECRETS",
        group="image",
        doc="build: go on (with a warning) when the build context holds files that look like secrets",
    )
    allow_public_index: bool = _opt(
        False,
        "CA_ALLOW_PUBLIC_INDEX",
        group="image",
        doc="build even where a Dockerfile step may install from an index other than the private one",
    )
    smoke_path: str = _opt("/healthz", "CA_SMOKE_PATH", group="smoke", doc="HTTP path polled by the smoke test")
    smoke_timeout: float = _opt(60.0, "CA_SMOKE_TIMEOUT", group="smoke", doc="seconds to wait for HTTP 200")
    container_port: int = _opt(8080, "CA_CONTAINER_PORT", group="smoke", doc="port the application listens on")
    local_port: int = _opt(8080, "CA_LOCAL_PORT", group="smoke", doc="port of the local deploy target (127.0.0.1)")
    local_state_dir: str | None = _opt(
        None,
        "CA_LOCAL_STATE_DIR",
        group="smoke",
        metavar="DIR",
        doc="local target: its proxy's state and log (default: $XDG_STATE_HOME/jenkins-codeartifact/local-target)",
    )
    local_volumes: tuple[str, ...] = _opt(
        (),
        "CA_LOCAL_VOLUMES",
        group="smoke",
        flag="--local-volume",
        metavar="SOURCE:TARGET[:ro]",
        doc="local target: a volume or host directory mounted in its container, repeatable (env: ';'-separated)",
    )
    target: str = _opt("cloudformation", "CA_TARGET", group="deploy", doc="deploy target: cloudformation or local")
    stack: str | None = _opt(None, "CA_STACK", group="deploy", doc="CloudFormation stack name")
    template: str | None = _opt(
        None, "CA_TEMPLATE", group="deploy", metavar="FILE", doc="CloudFormation template (create if missing)"
    )
    params: tuple[str, ...] = _opt(
        (),
        "CA_PARAMS",
        group="deploy",
        flag="--param",
        metavar="KEY=VALUE",
        doc="stack parameter, repeatable; others keep their previous values (env: ';'-separated)",
    )
    deploy_timeout: float = _opt(
        1800.0,
        "CA_DEPLOY_TIMEOUT",
        group="deploy",
        metavar="SECONDS",
        doc="deploy: the longest wait for the change set, the stack and the ECS rollout together",
    )
    cancel_on_timeout: bool = _opt(
        False,
        "CA_CANCEL_ON_TIMEOUT",
        group="deploy",
        doc="deploy: at the deadline cancel the stack update (CancelUpdateStack) and follow its rollback",
    )
    probe_url: str | None = _opt(
        None, "CA_PROBE_URL", group="deploy", metavar="URL", doc="deploy: probe here (default: output ApplicationUrl)"
    )
    probe_timeout: float = _opt(
        120.0, "CA_PROBE_TIMEOUT", group="deploy", metavar="SECONDS", doc="deploy: seconds the probe waits for HTTP 200"
    )
    no_probe: bool = _opt(
        False, "CA_NO_PROBE", group="deploy", doc="deploy: skip the GET of ApplicationUrl + smoke path after rollout"
    )
    plan: bool = _opt(
        False,
        "CA_PLAN",
        group="deploy",
        doc="deploy: create the change set, print its changes, delete it; change nothing",
    )
    # jobsync
    jobs_dir: str = _opt("jenkins/jobs", "CA_JOBS_DIR", group="jobs", metavar="DIR", doc="directory of job YAML specs")
    jenkins_url: str | None = _opt(None, "JENKINS_URL", group="jenkins", flag="--url", doc="Jenkins base URL")
    jenkins_user: str | None = _opt(None, "JENKINS_USER", group="jenkins", flag="--user", doc="Jenkins user")
    jenkins_api_token: str | None = _opt(
        None, "JENKINS_API_TOKEN", group="jenkins", secret=True, env_only=True, doc="Jenkins API token"
    )
    workers: int = _opt(8, "CA_WORKERS", group="jenkins", doc="parallel requests to Jenkins")
    prune: bool = _opt(
        False,
        "CA_PRUNE",
        group="jenkins",
        doc="apply removes this owner's jobs that are no longer in the specs (diff marks them as planned)",
    )
    verify: bool = _opt(
        False, "CA_VERIFY", group="jenkins", doc="also compare each managed job's config.xml (one GET each)"
    )
    adopt: bool = _opt(False, "CA_ADOPT", group="jenkins", doc="take over same-named jobs that lack the jobsync marker")
    replace: bool = _opt(
        False, "CA_REPLACE", group="jenkins", doc="delete and recreate a job whose type changed (loses history)"
    )
    owner: str | None = _opt(
        None,
        "CA_JOBSYNC_OWNER",
        group="jenkins",
        metavar="ID",
        doc="owner id written into each item's marker; only its items are updated or pruned "
        "(default: git origin URL + jobs directory)",
    )
    prune_action: str = _opt(
        "delete",
        "CA_PRUNE_ACTION",
        group="jenkins",
        choices=("delete", "disable"),
        doc="what --prune does to a job no longer in the specs: delete, or disable (keeps its history)",
    )
    max_delete: int = _opt(
        10,
        "CA_MAX_DELETE",
        group="jenkins",
        metavar="N",
        doc="--prune refuses to remove more items, or all of this owner's unless given for the run",
    )
    state_dir: str = _opt(
        ".jobsync", "CA_STATE_DIR", group="run", metavar="DIR", doc="workspaces, build numbers and console logs"
    )
    credentials_file: str | None = _opt(
        None,
        "CA_CREDENTIALS_FILE",
        group="run",
        flag="--credentials",
        metavar="FILE",
        doc="credentials by id for the build's bindings (YAML, mode 0600)",
    )
    # ca-repo
    env_tools: tuple[str, ...] = _opt(
        (),
        "CA_ENV_FOR",
        group="repo",
        flag="--for",
        metavar="TOOL",
        doc="env/exec: pip, uv, poetry, twine, netrc or docker-secret, repeatable (default: pip and uv)",
    )
    source_name: str = _opt(
        "codeartifact", "CA_SOURCE_NAME", group="repo", flag="--name", doc="env/exec: poetry's source name"
    )
    env_file: str | None = _opt(
        None,
        "CA_ENV_FILE",
        group="repo",
        flag="--write",
        metavar="FILE",
        doc="env: write here (0600) instead of stdout",
    )
    source_repository: str | None = _opt(
        None,
        "CA_FROM",
        group="repo",
        flag="--from",
        metavar="REPOSITORY",
        doc="promote: source repository (default: CA_REPOSITORY)",
    )
    target_repository: str | None = _opt(
        None, "CA_TO", group="repo", flag="--to", metavar="REPOSITORY", doc="promote: target repository"
    )
    revision: str | None = _opt(None, "CA_REVISION", group="repo", doc="promote: the tested revision of the version")
    from_report: str | None = _opt(
        None, "CA_FROM_REPORT", group="repo", metavar="FILE", doc="promote: the ca-publish report of the tested upload"
    )
    keep: int = _opt(10, "CA_KEEP", group="repo", metavar="N", doc="prune: never the newest N versions")
    older_than: float = _opt(
        0.0, "CA_OLDER_THAN", group="repo", metavar="DAYS", doc="prune: only versions published longer ago (0: any age)"
    )
    prune_versions_action: str = _opt(
        "unlist",
        "CA_PRUNE_VERSIONS_ACTION",
        group="repo",
        flag="--action",
        choices=("unlist", "archive", "dispose", "delete"),
        doc="prune: what happens to a pruned version",
    )
    protect: tuple[str, ...] = _opt(
        (), "CA_PROTECT", group="repo", metavar="VERSION", doc="prune: never this version, repeatable"
    )
    protect_file: str | None = _opt(
        None, "CA_PROTECT_FILE", group="repo", metavar="FILE", doc="prune: live versions, one per line (# comments)"
    )
    max_changes: int = _opt(
        50, "CA_MAX_CHANGES", group="repo", metavar="N", doc="prune: refuse (exit 3) to change more versions"
    )
    # every command
    report: str | None = _opt(
        None, "CA_REPORT", group="output", metavar="FILE", doc="write a JSON report here (atomically)"
    )


FIELDS: dict[str, dataclasses.Field[Any]] = {f.name: f for f in dataclasses.fields(Settings)}
_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def value_type(f: dataclasses.Field[Any]) -> type:
    """The Python type a field takes, read from its default (what coercion and argparse go by)."""
    default = f.default
    if isinstance(default, bool):
        return bool
    if isinstance(default, tuple):
        return tuple
    if isinstance(default, int):
        return int
    if isinstance(default, float):
        return float
    return str


def _coerce(name: str, value: Any, where: str) -> Any:
    """Turn a file or env value into the field's type and check it against the field's choices (the one
    place they are checked: argparse checks flags against the same tuple); bad values name their source."""
    converted = _convert(name, value, where)
    choices = FIELDS[name].metadata["choices"]
    if choices and converted not in choices:
        raise ConfigError(f"{where}: {value!r}: must be one of {', '.join(choices)}")
    return converted


def _convert(name: str, value: Any, where: str) -> Any:
    kind = value_type(FIELDS[name])
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in _TRUE | _FALSE:
                return text in _TRUE
            raise ValueError
        if kind is tuple:
            if isinstance(value, str):
                return tuple(p.strip() for p in value.split(";") if p.strip())
            if isinstance(value, list) and all(isinstance(v, str) for v in value):
                return tuple(value)
            raise ValueError
        if kind is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError
            return int(str(value).strip())
        if kind is float:
            if isinstance(value, bool):
                raise ValueError
            return float(str(value).strip())
        if not isinstance(value, str):
            raise ValueError
        return value
    except ValueError:
        expected = {bool: "true or false", tuple: "a list of strings", int: "an integer", float: "a number"}
        raise ConfigError(
            f"{where}: expected {expected.get(kind, 'a string')}, got {value!r}",
            hint="fix the value or remove it to use the default",
        ) from None


def cache_dir() -> Path:
    """Where build environments and the sandbox's base image are cached (``$XDG_CACHE_HOME``, else ~/.cache)."""
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "jenkins-codeartifact"


def find_config(start: Path) -> Path | None:
    """The nearest ``jenkins-codeartifact.toml`` in ``start`` or a parent directory."""
    for directory in (start, *start.parents):
        candidate = directory / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def read_config(path: Path) -> dict[str, Any]:
    """Parse the config file; unknown keys and env-only secrets are errors naming the file and key."""
    if not path.exists():
        raise ConfigError(f"{path}: config file not found")
    if path.is_dir():
        raise ConfigError(f"{path}: is a directory, not a config file")
    try:
        data = tomllib.loads(files.read_text(path))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    values: dict[str, Any] = {}
    for key, value in data.items():
        name = key.replace("-", "_")
        if name not in FIELDS:
            raise ConfigError(
                f"{path}: unknown key {key!r}",
                hint="known keys: " + ", ".join(n for n, f in FIELDS.items() if not f.metadata["env_only"]),
            )
        if FIELDS[name].metadata["env_only"]:
            raise ConfigError(
                f"{path}: {key!r} may only come from the environment ({FIELDS[name].metadata['env'][0]})",
                hint="secrets and identities do not belong in files checked into a repository",
            )
        values[name] = _coerce(name, value, f"{path}: {key}")
    return values


def load(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    config: str | os.PathLike[str] | None = None,
) -> Settings:
    """Resolve settings; ``flags`` holds CLI values where ``None`` means "not given"."""
    env = os.environ if env is None else env
    flags = flags or {}
    unknown = set(flags) - set(FIELDS)
    if unknown:  # a programming error in a CLI, not user input
        raise TypeError(f"unknown settings: {sorted(unknown)}")
    config_path: Path | None
    if config is not None or env.get("CA_CONFIG"):
        config_path = Path(config if config is not None else env["CA_CONFIG"])
    else:
        config_path = find_config(cwd or Path.cwd())
    from_file = read_config(config_path) if config_path else {}
    values: dict[str, Any] = {}
    for name, f in FIELDS.items():
        if flags.get(name) is not None:
            values[name] = flags[name]
            continue
        for var in f.metadata["env"]:
            if var in env and (env[var] != "" or value_type(f) is bool):
                values[name] = _coerce(name, env[var], f"environment variable {var}")
                break
        else:
            if name in from_file:
                values[name] = from_file[name]
        if f.metadata["secret"] and isinstance(values.get(name), str):
            redact.register(values[name])
    return Settings(**values)
