"""A minimal in-tree backend: the build must use this file, not the flit_core installed in the build env."""

import base64
import hashlib
import io
import os
import tarfile
import zipfile

NAME, VERSION = "shadowed", "1.0.0"
METADATA = f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\nSummary: built by the in-tree backend\n"
CODE = b'BUILT_BY = "the in-tree flit_core"\n'


def get_requires_for_build_sdist(config_settings=None):
    return []


def get_requires_for_build_wheel(config_settings=None):
    return []


def _add(tar, name, data):
    info = tarfile.TarInfo(name)
    info.size, info.mode, info.mtime = len(data), 0o644, 1700000000
    tar.addfile(info, io.BytesIO(data))


def build_sdist(sdist_directory, config_settings=None):
    name = f"{NAME}-{VERSION}.tar.gz"
    with tarfile.open(os.path.join(sdist_directory, name), "w:gz") as tar:
        for path in ("pyproject.toml", "flit_core/__init__.py", "flit_core/buildapi.py"):
            with open(path, "rb") as f:
                _add(tar, f"{NAME}-{VERSION}/{path}", f.read())
        _add(tar, f"{NAME}-{VERSION}/PKG-INFO", METADATA.encode())
    return name


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    name = f"{NAME}-{VERSION}-py3-none-any.whl"
    info = f"{NAME}-{VERSION}.dist-info"
    files = {
        f"{NAME}.py": CODE,
        f"{info}/METADATA": METADATA.encode(),
        f"{info}/WHEEL": b"Wheel-Version: 1.0\nGenerator: in-tree\nRoot-Is-Purelib: true\nTag: py3-none-any\n",
    }
    record = "".join(
        f"{path},sha256={base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b'=').decode()},{len(data)}\n"
        for path, data in files.items()
    )
    files[f"{info}/RECORD"] = (record + f"{info}/RECORD,,\n").encode()
    with zipfile.ZipFile(os.path.join(wheel_directory, name), "w") as whl:
        for path, data in files.items():
            whl.writestr(zipfile.ZipInfo(path, (2023, 11, 14, 0, 0, 0)), data)
    return name
