from setuptools import Extension, setup

setup(ext_modules=[Extension("cdemo._speed", ["cdemo/_speed.c"])])
