"""Spec keys of the long tail the typed core grew for real estates: e-mail, ANSI colour, EnvInject's
password wrapper, workspace cleanup, the git repository browser (see :mod:`.specparts` for the core)."""

from __future__ import annotations

import re
from typing import Any

from .model import BROWSERS, Browser, Cleanup, InjectPasswords, Mail
from .yamlread import Reader, show

MAIL_KEYS = ("recipients", "every_unstable", "individuals")
INJECT_KEYS = ("global_passwords", "mask_parameters")
CLEANUP_KEYS = ("delete_dirs", "parameter", "external_delete", "disable_deferred")
BROWSER_KEYS = ("type", "url", "version")
FREESTYLE_KEYS = ("mail", "ansicolor", "inject_passwords", "cleanup")
_ADDRESS = re.compile(r"[^\s@,]+@[^\s@,]+|\$\{?\w+\}?")  # an address, or a variable Jenkins expands


def _block(r: Reader, key: str, allowed: tuple[str, ...]) -> Reader | None:
    """The mapping under ``key`` (``{}`` allowed: every field at its default), or None when absent."""
    if key not in r.data:
        return None
    if r.data[key] is None or not isinstance(r.data[key], dict):
        raise r.error(key, f"expected a mapping, got {show(r.data[key])}")
    sub = r.sub(key) or Reader(r.doc, {}, (*r.path, key), r.note)
    sub.check_keys(allowed)
    return sub


def mail(r: Reader) -> Mail | None:
    m_r = _block(r, "mail", MAIL_KEYS)
    if m_r is None:
        return None
    recipients = m_r.req("recipients")
    bad = [a for a in re.split(r"[\s,]+", recipients.strip()) if a and not _ADDRESS.fullmatch(a)]
    if not recipients.strip() or bad:
        raise m_r.error("recipients", f"expected e-mail addresses separated by spaces, got {recipients!r}")
    return Mail(recipients, m_r.boolean("every_unstable", True), m_r.boolean("individuals", False))


def ansicolor(r: Reader) -> str | None:
    value = r.string("ansicolor")
    if value is not None and not re.fullmatch(r"[\w .-]+", value):
        raise r.error("ansicolor", f"expected a colour map name such as xterm, got {value!r}")
    return value


def inject_passwords(r: Reader) -> InjectPasswords | None:
    i_r = _block(r, "inject_passwords", INJECT_KEYS)
    if i_r is None:
        return None
    return InjectPasswords(i_r.boolean("global_passwords", False), i_r.boolean("mask_parameters", False))


def cleanup(r: Reader) -> Cleanup | None:
    c_r = _block(r, "cleanup", CLEANUP_KEYS)
    if c_r is None:
        return None
    return Cleanup(
        delete_dirs=c_r.boolean("delete_dirs", False),
        parameter=c_r.string("parameter", "") or "",
        external_delete=c_r.string("external_delete", "") or "",
        disable_deferred=c_r.boolean("disable_deferred", False),
    )


def freestyle(r: Reader) -> dict[str, Any]:
    """The long-tail keyword arguments of a freestyle job."""
    return {"mail": mail(r), "ansicolor": ansicolor(r), "inject_passwords": inject_passwords(r), "cleanup": cleanup(r)}


def browser(r: Reader) -> Browser | None:
    """git ``browser: {type, url, version}``: the repository browser that links changes."""
    b_r = _block(r, "browser", BROWSER_KEYS)
    if b_r is None:
        return None
    kind = b_r.req("type")
    if kind not in BROWSERS:
        raise b_r.error("type", f"expected one of {', '.join(BROWSERS)}, got {kind!r}")
    url = b_r.req("url")
    if not re.fullmatch(r"https?://\S+", url):
        raise b_r.error("url", f"expected an http(s) URL, got {url!r}")
    version = b_r.data.get("version", "")
    if isinstance(version, int | float) and not isinstance(version, bool):
        version = str(version)
    if not isinstance(version, str) or (version and not re.fullmatch(r"\d+(\.\d+)*", version)):
        raise b_r.error("version", f"expected a version number such as 6.0, got {show(version)}")
    if version and kind != "gitlab":
        raise b_r.error("version", f"only a gitlab browser has a version, not {kind}")
    return Browser(kind, url, version)
