"""``python -m tests.jenkins_it``: the compose scenario as a process (what the abort test signals).

Exit 0 passed, 1 failed, 3 cannot run here (the reason on stderr), 143/130 aborted. The Jenkins
password comes from ``JENKINS_IT_PASSWORD`` (never argv); ``CA_COMPOSE`` names another compose command.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from jenkins_codeartifact import signals

from .scenario import Options, Unavailable, run

ROOT = Path(__file__).resolve().parents[2]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.jenkins_it", description=__doc__)
    parser.add_argument("--url", default=Options.url)
    parser.add_argument("--project", default=Options.project)
    parser.add_argument("--no-probe", action="store_true", help="skip the registry and engine checks")
    parser.add_argument("--ready-timeout", type=float, default=Options.ready_seconds)
    parser.add_argument("--build-timeout", type=float, default=Options.build_seconds)
    args = parser.parse_args(argv)
    opts = Options(ROOT, url=args.url, project=args.project, probe=not args.no_probe)
    opts.ready_seconds, opts.build_seconds = args.ready_timeout, args.build_timeout
    if os.environ.get("JENKINS_IT_PASSWORD"):
        opts.password = os.environ["JENKINS_IT_PASSWORD"]
    sys.stdout.reconfigure(line_buffering=True)  # type: ignore[union-attr]  # each console line as it comes
    with signals.handlers(restore=False):
        try:
            run(opts, sys.stdout.write)
        except Unavailable as exc:
            print(f"jenkins-it: cannot run here: {exc}", file=sys.stderr)
            return 3
        except signals.Terminated:
            print("jenkins-it: aborted (SIGTERM); compose project brought down", file=sys.stderr)
            return signals.EXIT_SIGTERM
        except KeyboardInterrupt:
            print("jenkins-it: interrupted; compose project brought down", file=sys.stderr)
            return signals.EXIT_SIGINT
        except Exception as exc:
            print(f"jenkins-it: FAILED: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
