"""The consumer app: the framed time page, the health check, and the files the image is built from."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pytest
from application import create_app

APP = Path(__file__).resolve().parents[1]


@pytest.fixture
def client():
    app = create_app(clock=lambda: dt.datetime(2030, 5, 17, 9, 8, 7))
    app.config["TESTING"] = True
    return app.test_client()


def test_index_frames_the_current_time(client):
    resp = client.get("/")
    assert resp.status_code == 200
    assert resp.mimetype == "text/html"
    body = resp.get_data(as_text=True)
    art = re.search(r"<pre>(.*)</pre>", body, re.S).group(1)
    assert art.splitlines() == [
        "+--------------------------+",
        "| Current time is 09:08:07 |",
        "+--------------------------+",
    ]


def test_default_clock_is_now():
    body = create_app().test_client().get("/").get_data(as_text=True)
    assert re.search(r"\| Current time is \d\d:\d\d:\d\d \|", body)


def test_healthz(client):
    resp = client.get("/healthz")
    assert (resp.status_code, resp.get_data(as_text=True)) == (200, "ok\n")
    assert resp.headers["Cache-Control"] == "no-store"


def test_unknown_path_is_404(client):
    assert client.get("/nope").status_code == 404


def test_requirements_pin_every_distribution():
    lines = [ln.strip() for ln in (APP / "requirements.txt").read_text().splitlines()]
    pins = [ln for ln in lines if ln and not ln.startswith("#")]
    assert all(re.fullmatch(r"[A-Za-z0-9._-]+==[0-9][A-Za-z0-9.]*", p) for p in pins), pins
    names = {p.split("==")[0].lower() for p in pins}
    assert {"fantastic-ascii", "flask"} <= names
    assert "fantastic-ascii==1.0.0" in pins


@pytest.mark.parametrize(("name", "install"), [("Dockerfile", "uv pip install"), ("Dockerfile.pip", "pip install")])
def test_dockerfile_keeps_the_token_out_of_the_image_and_reads_in_a_minute(name, install):
    text = (APP / name).read_text()
    assert len(text.splitlines()) <= 30, "a Dockerfile people can read"
    instructions = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert "ARG BASE_IMAGE=python:3.12-slim" in instructions
    assert "--mount=type=secret,id=pipconf" in text
    # the base image is the only build arg: it cannot carry a credential
    assert re.findall(r"^\s*ARG\s+(\w+)", text, re.M) == ["BASE_IMAGE"]
    assert not re.search(r"^\s*ENV\s+.*(UV_INDEX|PIP_INDEX|TOKEN|PASSWORD)", text, re.M)
    # the download cache is mounted for the install, never copied into a layer; the venv is what stays
    assert "type=cache" in text and "/opt/venv" in text
    assert not re.search(r"^\s*COPY\s+--from=", text, re.M)
    assert re.search(r"^USER\s+\d+", text, re.M), "runs as a non-root user"
    # dependencies before code: requirements.txt is mounted and installed before application.py
    body = "\n".join(instructions)
    assert body.index("source=requirements.txt") < body.index(install) < body.index("application.py /app/")
    assert body.rstrip().splitlines()[-1].startswith("COPY "), "the code is the last layer"


def test_dockerignore_sends_only_what_the_image_needs():
    allowed = {ln[1:] for ln in (APP / ".dockerignore").read_text().splitlines() if ln.startswith("!")}
    assert allowed == {"requirements.txt", "application.py", "gunicorn.conf.py"}
