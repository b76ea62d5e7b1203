"""The build runner's fork server on its own: one exit code per request, output in the request's file,
the request's environment and argv, and none of the toolkit's own modules on the hook's path."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from jenkins_codeartifact.publish import build

HOOK = """
import json, os, sys
try:
    import fork_server  # the server directory (publish/, with build.py) must not be on the path
    shadowed = True
except ImportError:
    shadowed = False
print(json.dumps({"argv": sys.argv[1:], "env": os.environ.get("PROBE"), "cwd": os.getcwd(), "shadowed": shadowed}))
sys.exit(int(sys.argv[1]))
"""


def test_each_request_gets_its_exit_code_output_env_and_a_clean_path(tmp_path):
    hook = tmp_path / "hook.py"
    hook.write_text(HOOK)
    server = subprocess.Popen(
        [sys.executable, str(build.FORK_SERVER), "json"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert server.stdin is not None and server.stdout is not None
    answers = []
    for n, code in enumerate((0, 3)):
        out = tmp_path / f"out{n}.log"
        request = {"cmd": [sys.executable, str(hook), str(code)], "cwd": str(tmp_path), "env": {"PROBE": str(n)}}
        server.stdin.write(json.dumps({**request, "out": str(out)}) + "\n")
        server.stdin.flush()
        answers.append(int(server.stdout.readline()))
        seen = json.loads(out.read_text())
        assert seen == {"argv": [str(code)], "env": str(n), "cwd": str(tmp_path), "shadowed": False}
        assert out.stat().st_mode & 0o777 == 0o600
    server.stdin.close()
    assert server.wait(timeout=10) == 0
    assert answers == [0, 3]
    assert Path(build.FORK_SERVER).parent.name == "publish"
