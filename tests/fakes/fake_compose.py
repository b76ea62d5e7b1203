"""A stand-in for ``docker compose`` that records each call, for the jenkins-it harness's tests.

Every call appends its arguments (JSON, one line) to ``$FAKE_COMPOSE_LOG``. ``up`` sleeps
``$FAKE_COMPOSE_UP_SLEEP`` seconds (writing its PID to ``$FAKE_COMPOSE_PIDFILE`` first), ``logs SERVICE``
prints ``SERVICE_1  | $FAKE_COMPOSE_LOGS``, ``exec`` prints ``$FAKE_COMPOSE_EXEC_OUT``, ``config``
the services (``$FAKE_COMPOSE_SERVICES``), ``ps`` the running ones (``$FAKE_COMPOSE_RUNNING``);
``$FAKE_COMPOSE_FAIL`` names a subcommand that exits 1.
"""

from __future__ import annotations

import json
import os
import sys
import time


def main() -> int:
    args = sys.argv[1:]
    with open(os.environ["FAKE_COMPOSE_LOG"], "a", encoding="utf-8") as log:
        log.write(json.dumps(args) + "\n")
    verb = next((a for a in args if a in ("up", "down", "logs", "exec", "ps", "config")), "")
    if verb == os.environ.get("FAKE_COMPOSE_FAIL"):
        print(f"fake compose: {verb} failed")
        return 1
    if verb == "up":
        if os.environ.get("FAKE_COMPOSE_PIDFILE"):  # whole or absent: written aside, then renamed
            pidfile = os.environ["FAKE_COMPOSE_PIDFILE"]
            with open(pidfile + ".tmp", "w", encoding="utf-8") as f:
                f.write(str(os.getpid()))
            os.replace(pidfile + ".tmp", pidfile)
        time.sleep(float(os.environ.get("FAKE_COMPOSE_UP_SLEEP", "0")))
    elif verb == "logs":
        print(f"{args[-1]}_1  | {os.environ.get('FAKE_COMPOSE_LOGS', '')}")
    elif verb == "config":
        print(os.environ.get("FAKE_COMPOSE_SERVICES", "jenkins devpi devpi-setup"))
    elif verb == "ps":
        print(os.environ.get("FAKE_COMPOSE_RUNNING", "jenkins devpi"))
    elif verb == "exec":
        print(os.environ.get("FAKE_COMPOSE_EXEC_OUT", ""))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
