"""version from the git tag, via setup_requires in setup.cfg (python-dateutil does this)."""
