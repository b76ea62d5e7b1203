"""Fail on a function over 60 lines or a module over 400 lines in the library (issue 25's house rule).

Usage: python tools/dev/check_sizes.py [ROOT]   (default: tools/jenkins_codeartifact; tests and fakes are
not the library and are not checked). Prints one line per offender and exits 1 if there is any.
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_FUNCTION = 60
MAX_MODULE = 400


def offenders(root: Path) -> list[str]:
    """``path:line: what`` for every function and module over its limit, in path order."""
    found = []
    for path in sorted(root.rglob("*.py")):
        source = path.read_text(encoding="utf-8")
        lines = len(source.splitlines())
        if lines > MAX_MODULE:
            found.append(f"{path}: module of {lines} lines (limit {MAX_MODULE})")
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION:
                    found.append(f"{path}:{node.lineno}: {node.name}() of {length} lines (limit {MAX_FUNCTION})")
    return found


def main(argv: list[str]) -> int:
    root = Path(argv[0]) if argv else Path(__file__).resolve().parents[1] / "jenkins_codeartifact"
    found = offenders(root)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
