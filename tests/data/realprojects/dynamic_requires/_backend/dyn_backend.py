"""setuptools, plus a build requirement named at build time: six, which must be in the build env."""

import pathlib

from setuptools import build_meta as _setuptools
from setuptools.build_meta import *  # noqa: F403


def get_requires_for_build_sdist(config_settings=None):
    return ["six", *_setuptools.get_requires_for_build_sdist(config_settings)]


def build_sdist(sdist_directory, config_settings=None):
    import six

    pathlib.Path("dynreq/_six.py").write_text(f"SIX = {six.__version__!r}\n")
    return _setuptools.build_sdist(sdist_directory, config_settings)
