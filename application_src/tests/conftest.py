"""Make the app and its sample dependency importable without installing either.

In the image both come from the index; here ``fantastic_ascii`` comes from ../../package_src/src when it
is not installed, so the app's tests run in the project's own venv.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

APP = Path(__file__).resolve().parents[1]
PACKAGE_SRC = APP.parent / "package_src" / "src"

sys.path.insert(0, str(APP))
if importlib.util.find_spec("fantastic_ascii") is None and PACKAGE_SRC.is_dir():
    sys.path.insert(0, str(PACKAGE_SRC))
