"""Spec keys the typed core grew for real estates: e-mail, ANSI colour, EnvInject's password wrapper,
workspace cleanup, the git repository browser and submodule options; raw XML between typed elements and
the run order of a place (see :mod:`.specparts` for the core). It uses :mod:`.specparts`' helpers by
module, as that module imports this one."""

from __future__ import annotations

import re
from typing import Any

from . import jobrender, specparts
from .model import (
    BROWSERS,
    ORDER_KEYS,
    Browser,
    Cleanup,
    Freestyle,
    InjectPasswords,
    Mail,
    Pipeline,
    RawAt,
    Submodules,
)
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


SUBMODULE_KEYS = ("disable", "recursive", "tracking", "reference", "parent_credentials", "timeout", "shallow",
                  "depth", "threads")  # fmt: skip


def submodules(r: Reader) -> dict[str, Any]:
    """git ``submodules``: true (recursive, the parent's credentials) or a mapping of SubmoduleOption."""
    m_r = r.sub("submodules") if isinstance(r.data.get("submodules"), dict) else None
    if m_r is None:
        return {"submodules": r.boolean("submodules", False)}
    m_r.check_keys(SUBMODULE_KEYS)
    options = Submodules(
        disable=m_r.boolean("disable", False),
        recursive=m_r.boolean("recursive", False),
        tracking=m_r.boolean("tracking", False),
        reference=m_r.string("reference", "") or "",
        parent_credentials=m_r.boolean("parent_credentials", False),
        timeout=specparts.number(m_r, "timeout", 1),
        shallow=m_r.boolean("shallow", False),
        depth=specparts.number(m_r, "depth", 1),
        threads=specparts.number(m_r, "threads", 1),
    )
    return {"submodules": False, "submodule_options": options}


def between(r: Reader, key: str, places: tuple[str, ...]) -> tuple[RawAt, ...]:
    """``raw.between`` (or git ``extensions_between``): raw XML entries placed among the typed elements."""
    out = []
    for e_r, value, where in r.items(key):
        if e_r is None:
            raise r.doc.error(where, f"expected a mapping with after and xml, got {show(value)}")
        e_r.check_keys(("place", "after", "xml"))
        place = specparts.choice(e_r, "place", places, places[0])
        after = specparts.number(e_r, "after", 0)
        if after is None:
            raise e_r.error("after", "missing: how many typed elements of the place come before this XML")
        e_r.req("xml")
        out.append(RawAt(place, after, specparts.raw_xml(e_r, "xml")))
    return tuple(out)


def check_between(r: Reader, job: Freestyle | Pipeline) -> None:
    """Each raw entry between typed elements sits within its place (``after`` at most the typed count)."""
    entries = [*job.common.raw.between, *(job.git.extensions_between if job.git else ())]
    for entry in entries:
        count = jobrender.typed_count(job, entry.place)
        if entry.after > count:
            raise r.error(
                "raw" if entry.place != "extensions" else "git",
                f"between entry for {entry.place} has after: {entry.after}, but the job has {count} typed "
                f"element(s) there",
            )


def order(r: Reader) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """``order:``: per place (publishers, buildWrappers), the keys of its typed elements in run order."""
    o_r = r.sub("order")
    if o_r is None:
        return ()
    o_r.check_keys(ORDER_KEYS)
    out = []
    for place in ORDER_KEYS:
        if place not in o_r.data:
            continue
        keys = o_r.data[place]
        if not isinstance(keys, list) or not all(isinstance(k, str) for k in keys):
            raise o_r.error(place, f"expected a list of {', '.join(ORDER_KEYS[place])}, got {show(keys)}")
        out.append((place, tuple(keys)))
    return tuple(out)


def check_order(r: Reader, job: Freestyle) -> None:
    """Each ``order:`` list names exactly the typed elements the job has in that place, once each."""
    for place, keys in job.common.order:
        have = jobrender.typed_keys(job, place)
        if sorted(keys) != sorted(have):
            raise r.error(
                "order", f"{place}: {list(keys)} must name each of the job's typed {place} once: {list(have)}"
            )
