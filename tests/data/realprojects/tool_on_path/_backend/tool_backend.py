"""setuptools, after recording which `wheel` executable PATH finds first (the env's, as PyPA build sets)."""

import pathlib
import subprocess

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403


def build_sdist(sdist_directory, config_settings=None):
    said = subprocess.run(["wheel", "version"], capture_output=True, text=True, check=True).stdout.strip()
    pathlib.Path("toolpath/_tool.py").write_text(f"TOOL = {said!r}\n")
    return _setuptools.build_sdist(sdist_directory, config_settings)
