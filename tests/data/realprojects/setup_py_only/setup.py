from setuptools import setup

setup(name="legacy-demo", version="0.3.0", py_modules=["legacy_demo"], description="setup.py only, no pyproject.toml")
