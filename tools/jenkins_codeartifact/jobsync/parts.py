"""config.xml elements of the typed job parts, one function each, as Jenkins and its plugins save them.

Class names, element names and the fields written (defaults included) follow what the plugins' XStream
serialisation writes on a UI save; ``plugin="x@version"`` attributes are left out (see
:mod:`.configxml`). Each function returns one element, so that :mod:`.importxml` can prove an imported
element by rendering it alone. Raw XML (the escape hatch) goes through :func:`raw_elements`.
"""

from __future__ import annotations

from lxml import etree

from .model import (
    THRESHOLDS,
    Archive,
    Binding,
    Discard,
    Git,
    JUnit,
    Param,
    RawAt,
    Submodules,
    Timeout,
    Upstream,
)
from .partsextra import (
    ANSICOLOR as ANSICOLOR,
)
from .partsextra import (
    BROWSER_CLASSES as BROWSER_CLASSES,
)
from .partsextra import (
    CLEANUP as CLEANUP,
)
from .partsextra import (
    INJECT_PASSWORDS as INJECT_PASSWORDS,
)
from .partsextra import (
    MAILER as MAILER,
)
from .partsextra import (
    ansicolor as ansicolor,
)
from .partsextra import (
    browser as browser,
)
from .partsextra import (
    cleanup as cleanup,
)
from .partsextra import (
    inject_passwords as inject_passwords,
)
from .partsextra import (
    mailer as mailer,
)
from .partsextra import (
    submodule_option as submodule_option,
)

_BIND = "org.jenkinsci.plugins.credentialsbinding.impl."
BINDING_CLASSES = {
    "username-password": _BIND + "UsernamePasswordMultiBinding",
    "secret-text": _BIND + "StringBinding",
    "secret-file": _BIND + "FileBinding",
    "ssh-key": _BIND + "SSHUserPrivateKeyBinding",
    "aws": "com.cloudbees.jenkins.plugins.awscredentials.AmazonWebServicesCredentialsBinding",
}
PARAM_CLASSES = {
    "string": "hudson.model.StringParameterDefinition",
    "boolean": "hudson.model.BooleanParameterDefinition",
    "choice": "hudson.model.ChoiceParameterDefinition",
    "text": "hudson.model.TextParameterDefinition",
    "password": "hudson.model.PasswordParameterDefinition",
    "credentials": "com.cloudbees.plugins.credentials.CredentialsParameterDefinition",
}
_EXT = "hudson.plugins.git.extensions.impl."
TIMEOUT = "hudson.plugins.build__timeout.BuildTimeoutWrapper"
_TIMEOUT_STRATEGIES = {
    "absolute": ("hudson.plugins.build_timeout.impl.AbsoluteTimeOutStrategy", "timeoutMinutes"),
    "no-activity": ("hudson.plugins.build_timeout.impl.NoActivityTimeOutStrategy", "timeoutSecondsString"),
}


class RawXmlError(ValueError):
    """Raw XML text that is not a sequence of well-formed elements."""


def el(parent: etree._Element | None, tag: str, text: str | None = None, **attrib: str) -> etree._Element:
    child = etree.Element(tag, attrib) if parent is None else etree.SubElement(parent, tag, attrib)
    if text is not None:
        child.text = text
    return child


def boolean(value: bool) -> str:
    return "true" if value else "false"


def raw_elements(text: str) -> list[etree._Element]:
    """The elements of raw XML text (zero or more, whitespace between them); RawXmlError otherwise."""
    if not text.strip():
        return []
    # blank text between elements dropped, so the serialiser indents raw XML like the rest
    parser = etree.XMLParser(resolve_entities=False, no_network=True, remove_blank_text=True)
    try:
        wrapper = etree.fromstring(f"<raw>{text}</raw>".encode(), parser)
    except etree.XMLSyntaxError as exc:
        raise RawXmlError(f"not well-formed XML: {exc.msg}") from None
    if (wrapper.text or "").strip() or any((c.tail or "").strip() for c in wrapper):
        raise RawXmlError("text outside an element; raw XML must be whole elements")
    out = []
    for child in wrapper:
        if not isinstance(child.tag, str):
            raise RawXmlError("a comment or processing instruction between elements; keep it inside one")
        child.tail = None
        out.append(child)
    return out


def placed(typed: list[etree._Element], tail: str, between: tuple[RawAt, ...] = ()) -> list[etree._Element]:
    """The elements of one place: the typed ones in order, each raw entry of ``between`` after its
    ``after`` typed ones, then the raw ``tail`` (an ``after`` beyond the typed count is refused on load)."""
    if not between:
        return typed + raw_elements(tail)
    out: list[etree._Element] = []
    for i in range(len(typed) + 1):
        for r in between:
            if r.after == i:
                out.extend(raw_elements(r.xml))
        if i < len(typed):
            out.append(typed[i])
    return out + raw_elements(tail)


def strip_plugins(root: etree._Element) -> etree._Element:
    """``root`` without ``plugin="x@version"`` attributes (Jenkins fills them in; they would tie a spec to
    one plugin version), as ``--verify`` compares."""
    for e in root.iter():
        if isinstance(e.tag, str):
            e.attrib.pop("plugin", None)
    return root


def raw_text(elements: list[etree._Element]) -> str:
    """Elements as raw XML text for a spec, one after the other, without ``plugin`` attributes."""
    parts = []
    for e in elements:
        copy = strip_plugins(etree.fromstring(etree.tostring(e)))
        copy.tail = None
        etree.indent(copy, space="  ")  # only whitespace between elements, which Jenkins ignores
        parts.append(etree.tostring(copy, encoding="unicode"))
    return "\n".join(parts) + ("\n" if parts else "")


def _int(value: int | None) -> str:
    return str(-1 if value is None else value)


def discard(d: Discard) -> etree._Element:
    """``<jenkins.model.BuildDiscarderProperty>`` (or the legacy top-level ``<logRotator>``)."""
    if d.legacy:
        strategy = el(None, "logRotator", **{"class": "hudson.tasks.LogRotator"})
        root = strategy
    else:
        root = el(None, "jenkins.model.BuildDiscarderProperty")
        strategy = el(root, "strategy", **{"class": "hudson.tasks.LogRotator"})
    el(strategy, "daysToKeep", _int(d.days))
    el(strategy, "numToKeep", _int(d.builds))
    el(strategy, "artifactDaysToKeep", _int(d.artifact_days))
    el(strategy, "artifactNumToKeep", _int(d.artifact_builds))
    return root


def _param(parent: etree._Element, p: Param) -> None:
    e = el(parent, PARAM_CLASSES[p.kind])
    el(e, "name", p.name)
    el(e, "description", p.description)
    if p.kind == "choice":
        choices = el(e, "choices", **{"class": "java.util.Arrays$ArrayList"})
        a = el(choices, "a", **{"class": "string-array"})
        for c in p.choices:
            el(a, "string", c)
        return
    el(e, "defaultValue", p.default)
    if p.kind in ("string", "text"):
        el(e, "trim", boolean(p.trim))
    elif p.kind == "credentials":
        el(e, "credentialType", p.credential_type)
        el(e, "required", boolean(p.required))


def parameters(params: tuple[Param, ...]) -> etree._Element:
    root = el(None, "hudson.model.ParametersDefinitionProperty")
    defs = el(root, "parameterDefinitions")
    for p in params:
        _param(defs, p)
    return root


def github_project(url: str) -> etree._Element:
    root = el(None, "com.coravy.hudson.plugins.github.GithubProjectProperty")
    el(root, "projectUrl", url)
    el(root, "displayName", "")
    return root


def timer(spec: str) -> etree._Element:
    root = el(None, "hudson.triggers.TimerTrigger")
    el(root, "spec", spec)
    return root


def scm_trigger(spec: str) -> etree._Element:
    root = el(None, "hudson.triggers.SCMTrigger")
    el(root, "spec", spec)
    el(root, "ignorePostCommitHooks", "false")
    return root


def upstream(u: Upstream) -> etree._Element:
    root = el(None, "jenkins.triggers.ReverseBuildTrigger")
    el(root, "spec", "")
    el(root, "upstreamProjects", u.jobs)
    threshold = el(root, "threshold")
    name, ordinal, color = THRESHOLDS[u.threshold]
    el(threshold, "name", name)
    el(threshold, "ordinal", ordinal)
    el(threshold, "color", color)
    el(threshold, "completeBuild", "true")
    return root


def github_push() -> etree._Element:
    root = el(None, "com.cloudbees.jenkins.GitHubPushTrigger")
    el(root, "spec", "")
    return root


def shell(command: str) -> etree._Element:
    root = el(None, "hudson.tasks.Shell")
    el(root, "command", command)
    el(root, "configuredLocalRules")
    return root


def timeout(t: Timeout) -> etree._Element:
    root = el(None, TIMEOUT)
    cls, field = _TIMEOUT_STRATEGIES[t.kind]
    strategy = el(root, "strategy", **{"class": cls})
    el(strategy, field, str(t.minutes if t.kind == "absolute" else t.minutes * 60))
    ops = el(root, "operationList")
    if t.fail:
        el(ops, "hudson.plugins.build__timeout.operations.FailOperation")
    if t.env_var:
        el(root, "timeoutEnvVar", t.env_var)
    return root


def _binding(parent: etree._Element, b: Binding) -> None:
    e = el(parent, BINDING_CLASSES[b.kind])
    el(e, "credentialsId", b.credentials)
    if b.kind == "username-password":
        el(e, "usernameVariable", b.username)
        el(e, "passwordVariable", b.password)
    elif b.kind in ("secret-text", "secret-file"):
        el(e, "variable", b.variable)
    elif b.kind == "ssh-key":
        el(e, "keyFileVariable", b.variable)
        el(e, "passphraseVariable", b.passphrase)
        el(e, "usernameVariable", b.username)
    else:
        el(e, "accessKeyVariable", b.access_key)
        el(e, "secretKeyVariable", b.secret_key)


def bindings(items: tuple[Binding, ...]) -> etree._Element:
    root = el(None, "org.jenkinsci.plugins.credentialsbinding.impl.SecretBuildWrapper")
    listed = el(root, "bindings")
    for b in items:
        _binding(listed, b)
    return root


def archive(a: Archive) -> etree._Element:
    root = el(None, "hudson.tasks.ArtifactArchiver")
    el(root, "artifacts", a.artifacts)
    if a.excludes:
        el(root, "excludes", a.excludes)
    el(root, "allowEmptyArchive", boolean(a.allow_empty))
    el(root, "onlyIfSuccessful", boolean(a.only_if_successful))
    el(root, "fingerprint", boolean(a.fingerprint))
    el(root, "defaultExcludes", boolean(a.default_excludes))
    el(root, "caseSensitive", boolean(a.case_sensitive))
    el(root, "followSymlinks", boolean(a.follow_symlinks))
    return root


def junit(j: JUnit) -> etree._Element:
    root = el(None, "hudson.tasks.junit.JUnitResultArchiver")
    el(root, "testResults", j.results)
    el(root, "keepLongStdio", boolean(j.keep_long_stdio))
    el(root, "healthScaleFactor", j.health_scale)
    el(root, "allowEmptyResults", boolean(j.allow_empty))
    el(root, "skipPublishingChecks", "false")
    el(root, "skipMarkingBuildUnstable", "false")
    return root


def _remote(parent: etree._Element, url: str, credentials: str | None, name: str | None, refspec: str | None) -> None:
    remote = el(parent, "hudson.plugins.git.UserRemoteConfig")
    if name is not None:
        el(remote, "name", name)
    if refspec is not None:
        el(remote, "refspec", refspec)
    el(remote, "url", url)
    if credentials:
        el(remote, "credentialsId", credentials)


def git_extensions(git: Git) -> list[etree._Element]:
    """The typed extensions of ``git``, in the order the git plugin's UI lists them."""
    out = []
    if git.clean == "before-checkout":
        e = el(None, _EXT + "CleanBeforeCheckout")
        el(e, "deleteUntrackedNestedRepositories", "false")
        out.append(e)
    elif git.clean == "wipe":
        out.append(el(None, _EXT + "WipeWorkspace"))
    if git.clean_after:
        e = el(None, _EXT + "CleanCheckout")
        el(e, "deleteUntrackedNestedRepositories", "false")
        out.append(e)
    if git.shallow or git.depth is not None or git.clone_timeout is not None or git.no_tags or git.honor_refspec:
        e = el(None, _EXT + "CloneOption")
        el(e, "shallow", boolean(git.shallow))
        el(e, "noTags", boolean(git.no_tags))
        el(e, "reference", "")
        if git.depth is not None:
            el(e, "depth", str(git.depth))
        if git.clone_timeout is not None:
            el(e, "timeout", str(git.clone_timeout))
        el(e, "honorRefspec", boolean(git.honor_refspec))
        out.append(e)
    if git.checkout_timeout is not None:
        el(e := el(None, _EXT + "CheckoutOption"), "timeout", str(git.checkout_timeout))
        out.append(e)
    if git.subdirectory is not None:
        el(e := el(None, _EXT + "RelativeTargetDirectory"), "relativeTargetDir", git.subdirectory)
        out.append(e)
    if git.submodule_options is not None:
        out.append(submodule_option(git.submodule_options))
    elif git.submodules:
        out.append(submodule_option(Submodules(recursive=True, parent_credentials=True)))
    if git.local_branch is not None:
        el(e := el(None, _EXT + "LocalBranch"), "localBranch", git.local_branch)
        out.append(e)
    return out


def git_scm(git: Git) -> etree._Element:
    """``<scm class="hudson.plugins.git.GitSCM">``: remotes, branches, extensions (typed, then raw)."""
    scm = el(None, "scm", **{"class": "hudson.plugins.git.GitSCM"})
    el(scm, "configVersion", "2")
    remotes = el(scm, "userRemoteConfigs")
    _remote(remotes, git.url, git.credentials, git.name, git.refspec)
    for r in git.remotes:
        _remote(remotes, r.url, r.credentials, r.name, r.refspec)
    branches = el(scm, "branches")
    for branch in (git.branch, *git.branches):
        el(el(branches, "hudson.plugins.git.BranchSpec"), "name", branch)
    if git.browser is not None:
        scm.append(browser(git.browser))
    scm.extend(raw_elements(git.raw))
    extensions = el(scm, "extensions")
    extensions.extend(placed(git_extensions(git), git.extensions_raw, git.extensions_between))
    return scm
