"""gunicorn settings read from the environment, so one image serves the smoke test and every target."""

import os

bind = f"{os.environ.get('HOST', '0.0.0.0')}:{os.environ.get('PORT', '8080')}"  # noqa: S104 - a container must listen beyond its own loopback
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
accesslog = "-"
errorlog = "-"
# The image's file system may be read-only; heartbeat files go to memory-backed /dev/shm when present.
worker_tmp_dir = "/dev/shm" if os.path.isdir("/dev/shm") else None
# gunicorn >= 25 opens a control socket under $HOME; the app user has none and nothing uses it.
control_socket_disable = True
