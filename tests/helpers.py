"""Small helpers shared by tests (not fixtures)."""

from __future__ import annotations

import os

import pytest


def tool_or_skip(path: str | None, what: str) -> str:
    """The tool's path; without it, skip with the reason, or fail when CI asks for every check
    (``CA_REQUIRE_TOOLS=1``, set by .ci/run), so a green CI means the check really ran."""
    if path:
        return path
    if os.environ.get("CA_REQUIRE_TOOLS") == "1":
        pytest.fail(f"CA_REQUIRE_TOOLS=1 but {what} is not installed", pytrace=False)
    pytest.skip(f"{what} is not installed")
