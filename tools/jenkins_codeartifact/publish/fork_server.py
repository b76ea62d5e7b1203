"""The build runner's fork server: a script run by the *build environment's* interpreter (stdlib only).

Usage: ``python fork_server.py BACKEND_MODULE``, then one JSON request per line on stdin
(``{"cmd": [python, hook_script, *args], "cwd": ..., "env": {...}, "out": log_path}``); for each, one
line on stdout with the hook's exit code. Everything the hook prints goes to ``out``.

pyproject_hooks starts a fresh interpreter per hook, which imports the backend (setuptools) again each
time. This server imports the backend once, then forks one child per hook. A
forked child starts from the same clean state a fresh interpreter would reach after the import, runs the
hook script it was asked for, and exits; nothing a hook does survives into the next one.
``WarmRunner`` in ``build.py`` drives it; ``benchmarks/publish.py`` measures what it saves.
"""

from __future__ import annotations

import contextlib
import importlib
import json
import os
import runpy
import sys
import traceback
from typing import Any, TextIO


def _run_hook(req: dict[str, Any], proto: TextIO) -> None:
    """In the forked child: run the hook script as ``__main__`` with the request's cwd, env and argv."""
    code = 1
    try:
        proto.close()  # only the server answers: a hook must not hold the answer pipe open
        out = os.open(req["out"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        sys.argv = req["cmd"][1:]
        sys.path.insert(0, os.path.dirname(req["cmd"][1]))
        runpy.run_path(req["cmd"][1], run_name="__main__")
        code = 0
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
    except BaseException:
        traceback.print_exc()
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def main(backend: str) -> None:
    proto = os.fdopen(os.dup(1), "w")  # answers only; whatever the backend prints goes to stderr
    os.dup2(2, 1)
    # Neither the caller's directory nor this file's: its siblings (build.py...) would shadow real packages.
    here = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if p not in ("", os.getcwd(), here)]
    with contextlib.suppress(BaseException):  # the hook imports it again and reports the error properly
        importlib.import_module(backend)
    for line in sys.stdin:
        req = json.loads(line)
        pid = os.fork()
        if pid == 0:
            _run_hook(req, proto)
        print(os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]), file=proto, flush=True)


if __name__ == "__main__":
    main(sys.argv[1])
