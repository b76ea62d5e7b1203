"""Shared by the benchmarks: the repository root, a ratio table, and a sandbox that is always brought down."""

from __future__ import annotations

import contextlib
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


@contextlib.contextmanager
def sandbox(docker: bool = False) -> Iterator[dict[str, str]]:
    """A private sandbox on free ports, stopped (by PID) whatever happens."""
    from jenkins_codeartifact import sandbox as sb

    with tempfile.TemporaryDirectory(prefix="ca-bench-") as tmp:
        try:
            yield sb.up(Path(tmp), docker=docker, ports=sb.free_ports())
        finally:
            sb.down(Path(tmp))


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def report(title: str, rows: list[tuple[str, float, float]], target: float | None = None) -> None:
    """Print ``name  ours  reference  ratio`` lines; ratio = ours / reference (lower is better)."""
    print(f"\n{title}")
    print(f"{'':28} {'ours':>10} {'reference':>10} {'ratio':>7}")
    for name, ours, ref in rows:
        verdict = "met" if target is not None and ours / ref <= target else "MISSED"
        flag = "" if target is None else f"  (target <= {target:.2f}x: {verdict})"
        print(f"{name:28} {ours:>9.2f}s {ref:>9.2f}s {ours / ref:>6.2f}x{flag}")
