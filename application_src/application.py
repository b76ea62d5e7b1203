"""The consumer of ``fantastic-ascii``: a page framing the current time, and a health check for probes.

Served by gunicorn in the image (``gunicorn application:app``); ``python application.py`` runs
Flask's development server for a quick local look. The port comes from ``PORT`` (default 8080) so
the smoke test and the local deploy target can run it on a free port with host networking.
"""

from __future__ import annotations

import datetime as dt
import html
import os
from collections.abc import Callable

from fantastic_ascii import frame
from flask import Flask, Response


def create_app(clock: Callable[[], dt.datetime] | None = None) -> Flask:
    """An app whose clock tests can fix; the default is local time, as in the walkthrough."""
    now = clock or dt.datetime.now
    app = Flask(__name__)

    @app.get("/")
    def index() -> Response:
        art = frame(f"Current time is {now():%H:%M:%S}")
        body = f"<!doctype html>\n<title>fantastic time</title>\n<pre>{html.escape(art)}</pre>\n"
        return Response(body, mimetype="text/html")

    @app.get("/healthz")
    def healthz() -> Response:
        # Cheap and dependency-free: it proves the interpreter, the venv and fantastic_ascii load.
        return Response("ok\n", mimetype="text/plain", headers={"Cache-Control": "no-store"})

    return app


app = create_app()

if __name__ == "__main__":
    app.run(host="127.0.0.1", port=int(os.environ.get("PORT", "8080")))
