"""The few Jenkins calls jobsync makes, one request each over :mod:`.transport` (bounds, retries, errors).

Writes pass :meth:`~.transport.Transport._write` a ``landed`` check, so that after an answer that
leaves open whether a POST took effect the item is read back before anything is sent again: a create
or delete by the item's description (its marker hash makes it unique to the content), an update by the
whole canonical config.xml (a repair of a hand edit keeps the description).
"""

from __future__ import annotations

import functools
import logging
import urllib.parse
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from ..errors import OperationError
from . import configxml, xmlcompare
from .transport import Transport

log = logging.getLogger(__name__)

TREE_FIELDS = "name,description,color"  # color: "disabled", or "..._anime" while a build runs


def job_path(name: str) -> str:
    return "".join(f"job/{urllib.parse.quote(part, safe='')}/" for part in name.split("/") if part)


Status = Literal["ours", "ownerless", "foreign", "copy", "unmanaged"]


@dataclass(frozen=True)
class Remote:
    """One item on the server as the tree query shows it."""

    name: str
    cls: str
    description: str
    container: bool = False  # api/json exported ``jobs``: a folder, multibranch project, organization folder
    color: str = ""  # jobs only: "disabled", or "<colour>_anime" while a build runs

    @functools.cached_property
    def marker(self) -> configxml.Marker | None:
        return configxml.parse_marker(self.description)

    @property
    def managed(self) -> bool:
        return self.marker is not None

    @property
    def is_folder(self) -> bool:
        return self.container or self.cls == configxml.FOLDER_CLASS or self.cls.endswith(".Folder")

    @property
    def disabled(self) -> bool:
        return self.color.startswith("disabled")

    @property
    def building(self) -> bool:
        return self.color.endswith("_anime")

    def status(self, owner: str) -> Status:
        m = self.marker
        if m is None:
            return "unmanaged"
        if m.owner is None:
            return "ownerless"
        if m.name != self.name:
            return "copy"
        return "ours" if m.owner == owner else "foreign"


class Client(Transport):
    """Jenkins for jobsync; ``workers`` bounds the parallel requests of plan and apply."""

    def _description(self, name: str) -> str | None:
        """The item's description as the server holds it, ``None`` if there is no such item."""
        response = self._get(job_path(name) + "api/json?tree=description", f"{name}: reading it back", missing_ok=True)
        if response is None:
            return None
        try:
            return str(response.json().get("description") or "")
        except (ValueError, AttributeError):
            raise OperationError(f"{name}: reading it back: {self.url} returned invalid JSON") from None

    # ------------------------------------------------------------------------------------- the API

    def tree(self, depth: int, folder: str = "") -> list[Remote]:
        """Every item (under ``folder``) down to ``depth`` folder levels, in one request.

        One level further only ``jobs[name]`` is asked for: its presence marks the items of the last
        level that hold others (Jenkins exports ``jobs`` for every folder-like item, multibranch too).
        """
        where = f" in {folder}" if folder else ""
        spec = f"{TREE_FIELDS},jobs[name]"
        for _ in range(depth):
            spec = f"{TREE_FIELDS},jobs[{spec}]"
        query = urllib.parse.quote(f"jobs[{spec}]", safe="[],")
        response = self._get(job_path(folder) + f"api/json?tree={query}", f"listing jobs{where}")
        assert response is not None
        if "X-Jenkins" not in response.headers:
            raise OperationError(
                f"{self.url} answered, but not as Jenkins (no X-Jenkins header)", hint="check --url/JENKINS_URL"
            )
        try:
            data = response.json()
        except ValueError:
            raise OperationError(f"listing jobs: {self.url} returned invalid JSON") from None
        out: list[Remote] = []

        def walk(items: Iterable[dict[str, Any]], prefix: str, level: int) -> None:
            for item in items:
                name = prefix + str(item.get("name", ""))
                children = item.get("jobs")
                description, color = item.get("description") or "", item.get("color") or ""
                out.append(Remote(name, str(item.get("_class", "")), description, children is not None, color))
                if children and level < depth:
                    walk(children, name + "/", level + 1)

        walk(data.get("jobs") or (), f"{folder}/" if folder else "", 0)
        return out

    def config(self, name: str) -> str:
        response = self._get(job_path(name) + "config.xml", f"{name}: reading config.xml")
        assert response is not None
        return response.text

    def create(self, name: str, xml: str) -> None:
        parent, _, short = name.rpartition("/")
        path = job_path(parent) + "createItem?name=" + urllib.parse.quote(short, safe="")
        wanted = _description_of(xml)
        self._write(path, f"{name}: create", xml.encode("utf-8"), lambda: self._description(name) == wanted)

    def update(self, name: str, xml: str) -> None:
        def landed() -> bool:  # the whole config: an update may keep the description (a hand edit repaired)
            server = self.config(name)
            return xmlcompare.canonical(server) == xmlcompare.canonical(xml) or bool(xmlcompare.dropped(server, xml))

        self._write(job_path(name) + "config.xml", f"{name}: update", xml.encode("utf-8"), landed)

    def delete(self, name: str) -> None:
        self._write(job_path(name) + "doDelete", f"{name}: delete", None, lambda: self._description(name) is None)

    def rename(self, name: str, new_short: str) -> None:
        """Jenkins' rename action (AbstractItem.doConfirmRename): the item keeps its builds and numbers."""
        parent = name.rpartition("/")[0]
        new = f"{parent}/{new_short}" if parent else new_short
        path = job_path(name) + "confirmRename?newName=" + urllib.parse.quote(new_short, safe="")
        self._write(path, f"{name}: rename to {new_short}", None, lambda: self._description(new) is not None)

    def move(self, name: str, folder: str) -> None:
        """cloudbees-folder's move action (RelocationAction): ``destination`` is the folder's full name."""
        new = f"{folder}/{name.rpartition('/')[2]}" if folder else name.rpartition("/")[2]
        path = job_path(name) + "move/move?destination=" + urllib.parse.quote("/" + folder, safe="/")
        what = f"{name}: move to {folder or 'the top level'}"
        self._write(path, what, None, lambda: self._description(new) is not None)

    def disable(self, name: str) -> None:
        self._write(job_path(name) + "disable", f"{name}: disable", None, lambda: self._color(name) == "disabled")

    def enable(self, name: str) -> None:
        self._write(job_path(name) + "enable", f"{name}: enable", None, lambda: self._color(name) != "disabled")

    def building(self, name: str) -> bool:
        """Whether any of the job's recent builds is still running (checked right before deleting it)."""
        query = urllib.parse.quote("builds[number,building]{0,50}", safe="[],{}")
        response = self._get(job_path(name) + f"api/json?tree={query}", f"{name}: reading its builds")
        assert response is not None
        try:
            return any(b.get("building") for b in response.json().get("builds") or ())
        except (ValueError, AttributeError):
            raise OperationError(f"{name}: reading its builds: {self.url} returned invalid JSON") from None

    def _color(self, name: str) -> str:
        response = self._get(job_path(name) + "api/json?tree=color", f"{name}: reading it back")
        assert response is not None
        try:
            return str(response.json().get("color") or "")
        except (ValueError, AttributeError):
            raise OperationError(f"{name}: reading it back: {self.url} returned invalid JSON") from None


def _description_of(xml: str) -> str:
    """The description a POST of ``xml`` leaves on the server: its marker makes it unique to the content."""
    return xmlcompare.parse(xml).findtext("description") or ""
