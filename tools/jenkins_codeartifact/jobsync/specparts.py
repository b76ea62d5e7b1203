"""The typed core's spec keys (discarder, parameters, triggers, bindings, timeout, publishers, raw XML),
read from YAML into :mod:`.model` parts. :mod:`.jobspecs` reads the job itself and calls these.

Every error names ``file:line``, the key and what was expected, like the rest of the specs.
"""

from __future__ import annotations

import re
from typing import Any

from . import jobrender, parts, specextra
from .model import (
    BETWEEN_PLACES,
    BINDING_KINDS,
    PARAM_KINDS,
    RAW_PLACES,
    THRESHOLDS,
    TRAITS,
    Archive,
    Binding,
    Common,
    Discard,
    GitRemote,
    JUnit,
    Multibranch,
    Param,
    Raw,
    RawItem,
    Source,
    Timeout,
    Upstream,
)
from .yamlread import Reader, show

ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
COMMON_KEYS = (
    "display_name",
    "label",
    "quiet_period",
    "discard",
    "parameters",
    "cron",
    "upstream",
    "github_push",
    "github_url",
    "raw",
)  # and for freestyle jobs, order (see ORDER_KEYS)
DISCARD_KEYS = ("days", "builds", "artifact_days", "artifact_builds", "legacy")
PARAM_KEYS = ("name", "type", "default", "description", "choices", "trim", "credential_type", "required")
BINDING_KEYS = ("type", "credentials", "username", "password", "variable", "passphrase", "access_key", "secret_key")
# Per binding type: the variable keys it requires, and those it may have.
BINDING_VARS = {
    "username-password": (("username", "password"), ()),
    "secret-text": (("variable",), ()),
    "secret-file": (("variable",), ()),
    "ssh-key": (("variable",), ("username", "passphrase")),
    "aws": (("access_key", "secret_key"), ()),
}
TIMEOUT_KEYS = ("minutes", "type", "fail", "env_var")
ARCHIVE_KEYS = ("artifacts", "excludes", "allow_empty", "only_if_successful", "fingerprint", "default_excludes",
                "case_sensitive", "follow_symlinks")  # fmt: skip
JUNIT_KEYS = ("results", "allow_empty", "keep_long_stdio", "health_scale")
REMOTE_KEYS = ("url", "credentials", "name", "refspec")
GIT_EXTRA_KEYS = (
    "name",
    "refspec",
    "remotes",
    "branches",
    "shallow",
    "depth",
    "clone_timeout",
    "no_tags",
    "checkout_timeout",
    "subdirectory",
    "submodules",
    "local_branch",
    "clean_after",
    "honor_refspec",
    "browser",
    "extensions_raw",
    "raw",
    "extensions_between",
)


def number(r: Reader, key: str, minimum: int, default: int | None = None) -> int | None:
    """An optional integer of at least ``minimum``."""
    value = r.data.get(key)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise r.error(key, f"expected an integer of at least {minimum}, got {show(value)}")
    return value


def env_name(r: Reader, key: str) -> str:
    value = r.req(key)
    if not ENV_NAME.fullmatch(value):
        raise r.error(key, f"{value!r} is not a valid environment variable name")
    return value


def choice(r: Reader, key: str, allowed: tuple[str, ...] | list[str], default: str) -> str:
    value = r.string(key, default) or default
    if value not in allowed:
        raise r.error(key, f"expected one of {', '.join(allowed)}, got {value!r}")
    return value


def raw_xml(r: Reader, key: str) -> str:
    """Raw XML text: whole, well-formed elements (checked now, not when Jenkins refuses it)."""
    text = r.string(key, "") or ""
    try:
        parts.raw_elements(text)
    except parts.RawXmlError as exc:
        raise r.error(key, str(exc), hint="write whole XML elements, as in config.xml") from None
    return text


def _discard(r: Reader) -> Discard:
    r.check_keys(DISCARD_KEYS)
    d = Discard(
        days=number(r, "days", 1),
        builds=number(r, "builds", 1),
        artifact_days=number(r, "artifact_days", 1),
        artifact_builds=number(r, "artifact_builds", 1),
        legacy=r.boolean("legacy", False),
    )
    if d.days is None and d.builds is None and d.artifact_days is None and d.artifact_builds is None:
        raise r.error(None, "keeps every build: give days, builds, artifact_days or artifact_builds")
    return d


def _param(r: Reader, seen: set[str]) -> Param:
    r.check_keys(PARAM_KEYS)
    kind = choice(r, "type", PARAM_KINDS, "string")
    name = r.req("name")
    if not name.strip() or name != name.strip():
        raise r.error("name", f"{name!r}: a parameter name must not be blank or padded")
    if name in seen:
        raise r.error("name", f"parameter {name!r} is defined twice")
    seen.add(name)
    raw_default = r.data.get("default")
    if kind == "boolean":
        default = "true" if r.boolean("default", False) else "false"
    elif kind == "choice":
        if raw_default is not None:
            raise r.error("default", "a choice parameter's default is its first choice; list that first")
        default = ""
    else:
        default = r.string("default", "") or ""
    choices: tuple[str, ...] = ()
    if kind == "choice":
        listed = r.data.get("choices")
        if not isinstance(listed, list) or not listed or not all(isinstance(c, str) for c in listed):
            raise r.error("choices", f"expected a non-empty list of strings, got {show(listed)}")
        if len(set(listed)) != len(listed):
            raise r.error("choices", "lists a choice twice")
        choices = tuple(listed)
    elif "choices" in r.data:
        raise r.error("choices", f"only a choice parameter has choices, not a {kind} one")
    if kind != "credentials" and ("credential_type" in r.data or "required" in r.data):
        raise r.error("credential_type" if "credential_type" in r.data else "required", "only for type credentials")
    if kind not in ("string", "text") and "trim" in r.data:
        raise r.error("trim", f"only a string or text parameter is trimmed, not a {kind} one")
    return Param(
        name=name,
        kind=kind,
        default=default,
        description=r.string("description", "") or "",
        choices=choices,
        trim=r.boolean("trim", False),
        credential_type=r.string("credential_type", "") or "",
        required=r.boolean("required", False),
    )


def _upstream(r: Reader) -> Upstream:
    r.check_keys(("jobs", "threshold"))
    jobs = r.data.get("jobs")
    if isinstance(jobs, list) and jobs and all(isinstance(j, str) and j.strip() for j in jobs):
        text = ", ".join(jobs)
    elif isinstance(jobs, str) and jobs.strip():
        text = jobs
    else:
        raise r.error("jobs", f"expected a job name or a non-empty list of them, got {show(jobs)}")
    return Upstream(text, choice(r, "threshold", list(THRESHOLDS), "success"))


# What raw.item may not hold: the top-level elements the renderer writes itself (a second one is a
# duplicate field Jenkins refuses). raw.item is for the others (jdk, customWorkspace, authToken...).
TYPED_TOP = ("actions", "description", "displayName", "keepDependencies", "properties", "quietPeriod",
             "scmCheckoutRetryCount", "assignedNode", "canRoam", "disabled", "blockBuildWhenDownstreamBuilding",
             "blockBuildWhenUpstreamBuilding", "triggers", "concurrentBuild", "builders", "publishers",
             "buildWrappers", "definition")  # fmt: skip


def _raw(r: Reader) -> Raw:
    r.check_keys((*RAW_PLACES, "between"))
    raw = Raw(
        **{place: raw_xml(r, place) for place in RAW_PLACES},
        between=specextra.between(r, "between", BETWEEN_PLACES),
    )
    for e in parts.raw_elements(raw.item):
        if e.tag in TYPED_TOP:
            raise r.error("item", f"<{e.tag}> is written by jobsync itself; set it with its spec key")
    return raw


def common(r: Reader) -> Common:
    """The keys freestyle and pipeline jobs share (see ``COMMON_KEYS``)."""
    d_r, u_r, raw_r = r.sub("discard"), r.sub("upstream"), r.sub("raw")
    seen: set[str] = set()
    params = []
    for p_r, raw, where in r.items("parameters"):
        if p_r is None:
            raise r.doc.error(where, f"expected a mapping, got {show(raw)}")
        params.append(_param(p_r, seen))
    label = r.string("label")
    if label is not None and not label.strip():
        raise r.error("label", "is blank: leave it out to run anywhere")
    return Common(
        display_name=r.string("display_name"),
        label=label,
        quiet_period=number(r, "quiet_period", 0),
        discard=_discard(d_r) if d_r else None,
        parameters=tuple(params),
        cron=r.string("cron"),
        upstream=_upstream(u_r) if u_r else None,
        github_push=r.boolean("github_push", False),
        github_url=r.string("github_url"),
        raw=_raw(raw_r) if raw_r else Raw(),
        order=specextra.order(r),
    )


def binding(r: Reader) -> Binding:
    """One credential binding; the type defaults to username-password (the original form)."""
    r.check_keys(BINDING_KEYS)
    kind = choice(r, "type", BINDING_KINDS, "username-password")
    required, optional = BINDING_VARS[kind]
    for key in BINDING_KEYS[2:]:
        if key in r.data and key not in required + optional:
            raise r.error(key, f"not a variable of a {kind} binding (it has: {', '.join(required + optional)})")
    names = {key: env_name(r, key) for key in required}
    names.update({key: env_name(r, key) for key in optional if key in r.data})
    return Binding(credentials=r.req("credentials"), kind=kind, **names)


def timeout(r: Reader) -> Timeout:
    r.check_keys(TIMEOUT_KEYS)
    minutes = number(r, "minutes", 1)
    if minutes is None:
        raise r.error(None, "missing required key 'minutes'")
    env_var = r.string("env_var", "") or ""
    if env_var and not ENV_NAME.fullmatch(env_var):
        raise r.error("env_var", f"{env_var!r} is not a valid environment variable name")
    kind = choice(r, "type", ("absolute", "no-activity"), "absolute")
    return Timeout(minutes, kind, r.boolean("fail", False), env_var)


def archive(r: Reader) -> Archive:
    r.check_keys(ARCHIVE_KEYS)
    return Archive(
        artifacts=r.req("artifacts"),
        excludes=r.string("excludes", "") or "",
        allow_empty=r.boolean("allow_empty", False),
        only_if_successful=r.boolean("only_if_successful", False),
        fingerprint=r.boolean("fingerprint", False),
        default_excludes=r.boolean("default_excludes", True),
        case_sensitive=r.boolean("case_sensitive", True),
        follow_symlinks=r.boolean("follow_symlinks", True),
    )


def junit(r: Reader) -> JUnit:
    r.check_keys(JUNIT_KEYS)
    scale = r.string("health_scale", "1.0") or "1.0"
    if not re.fullmatch(r"\d+(\.\d+)?", scale):
        raise r.error("health_scale", f"expected a decimal number such as 1.0, got {scale!r}")
    return JUnit(r.req("results"), r.boolean("allow_empty", False), r.boolean("keep_long_stdio", False), scale)


def git_extra(r: Reader, url_check: Any) -> dict[str, Any]:
    """The git keys beyond url/branch/credentials/clean, as Git's keyword arguments."""
    remotes = []
    for rr, raw, where in r.items("remotes"):
        if rr is None:
            raise r.doc.error(where, f"expected a mapping, got {show(raw)}")
        rr.check_keys(REMOTE_KEYS)
        url_check(rr)
        remotes.append(GitRemote(rr.req("url"), rr.string("credentials"), rr.string("name"), rr.string("refspec")))
    branches = r.data.get("branches", [])
    if not isinstance(branches, list) or not all(isinstance(b, str) and b.strip() for b in branches):
        raise r.error("branches", f"expected a list of branch specs, got {show(branches)}")
    subdirectory = r.string("subdirectory")
    if subdirectory is not None and (subdirectory.startswith(("/", "\\")) or ".." in re.split(r"[/\\]", subdirectory)):
        raise r.error("subdirectory", f"{subdirectory!r} leaves the workspace; write a relative path inside it")
    return {
        "name": r.string("name"),
        "refspec": r.string("refspec"),
        "remotes": tuple(remotes),
        "branches": tuple(branches),
        "shallow": r.boolean("shallow", False),
        "depth": number(r, "depth", 1),
        "clone_timeout": number(r, "clone_timeout", 1),
        "no_tags": r.boolean("no_tags", False),
        "checkout_timeout": number(r, "checkout_timeout", 1),
        "subdirectory": subdirectory,
        **specextra.submodules(r),
        "local_branch": r.string("local_branch"),
        "clean_after": r.boolean("clean_after", False),
        "honor_refspec": r.boolean("honor_refspec", False),
        "extensions_raw": raw_xml(r, "extensions_raw"),
        "raw": raw_xml(r, "raw"),
        "extensions_between": specextra.between(r, "extensions_between", ("extensions",)),
        "browser": specextra.browser(r),
    }


MULTIBRANCH_KEYS = ("name", "type", "description", "git", "discover", "traits_raw", "script_path", "orphaned", "scan",
                    "previous_names")  # fmt: skip
SCAN_SPECS = ("H/5 * * * *", "H/15 * * * *", "H * * * *", "H H/2 * * *", "H H/4 * * *", "H H/8 * * *", "H H * * *",
              "H H * * H")  # fmt: skip


def multibranch(
    r: Reader, name: str, previous: tuple[str, ...], source: Source, url_check: Any, path: Any
) -> Multibranch:
    """A ``type: multibranch`` job: ``git: {url, credentials, source_id}``, discovery traits, orphans, scan."""
    r.check_keys(MULTIBRANCH_KEYS)
    git_r = r.sub("git")
    if git_r is None:
        raise r.error(None, "missing required key 'git' (a multibranch pipeline needs its repository)")
    git_r.check_keys(("url", "credentials", "source_id"))
    url_check(git_r)
    discover = r.data.get("discover", ["branches"])
    if not isinstance(discover, list) or not discover or any(d not in TRAITS for d in discover):
        raise r.error("discover", f"expected a non-empty list of {', '.join(TRAITS)}, got {show(discover)}")
    o_r = r.sub("orphaned")
    if o_r is not None:
        o_r.check_keys(("days", "builds"))
    scan = r.string("scan")
    if scan is not None and scan not in SCAN_SPECS:
        raise r.error("scan", f"expected one of Jenkins' scan intervals ({', '.join(SCAN_SPECS)}), got {scan!r}")
    return Multibranch(
        name=name,
        url=git_r.req("url"),
        description=r.string("description", "") or "",
        credentials=git_r.string("credentials"),
        source_id=git_r.string("source_id", "") or "",
        discover=tuple(dict.fromkeys(discover)),
        traits_raw=raw_xml(r, "traits_raw"),
        script_path=path(r, "script_path", "Jenkinsfile"),
        orphaned_days=number(o_r, "days", 1) if o_r else None,
        orphaned_builds=number(o_r, "builds", 1) if o_r else None,
        scan=scan,
        previous_names=previous,
        source=source,
    )


def raw_item(r: Reader, name: str, previous: tuple[str, ...], source: Source) -> RawItem:
    """A ``type: raw`` item: its whole config.xml, checked well-formed now."""
    xml = r.req("xml")
    try:
        root = jobrender.xml_parse(xml)
    except Exception as exc:  # lxml's XMLSyntaxError, or a ValueError for an encoding declaration
        raise r.error("xml", f"not well-formed XML: {exc}", hint="paste the item's whole config.xml") from None
    return RawItem(name, xml, root.findtext("description") or "", previous, source)
