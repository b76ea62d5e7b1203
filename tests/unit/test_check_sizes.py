"""tools/dev/check_sizes.py names a long function and a long module, and passes a tree without them."""

import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "tools" / "dev" / "check_sizes.py"


def _run(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(SCRIPT), str(root)], capture_output=True, text=True, check=False)


def test_names_each_offender_with_its_line_and_fails(tmp_path: Path) -> None:
    body = "".join(f"    x{i} = {i}\n" for i in range(60))
    (tmp_path / "long.py").write_text("import os\n\n\ndef long():\n" + body)
    (tmp_path / "big.py").write_text("x = 1\n" * 401)
    (tmp_path / "fine.py").write_text("def short():\n    return 1\n")
    result = _run(tmp_path)
    assert result.returncode == 1
    assert f"{tmp_path / 'long.py'}:4: long() of 61 lines (limit 60)" in result.stdout
    assert f"{tmp_path / 'big.py'}: module of 401 lines (limit 400)" in result.stdout
    assert "fine.py" not in result.stdout


def test_a_tree_within_the_limits_passes(tmp_path: Path) -> None:
    (tmp_path / "ok.py").write_text("def f():\n" + "    pass\n" * 59)
    result = _run(tmp_path)
    assert (result.returncode, result.stdout) == (0, "")
