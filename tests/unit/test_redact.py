"""Every registered secret is masked in log records, formatted output and error messages."""

from __future__ import annotations

import io
import logging
import secrets

from jenkins_codeartifact import console, redact
from jenkins_codeartifact.errors import OperationError


def test_scrub_replaces_every_occurrence_and_the_url_quoted_form():
    token = "tok/" + secrets.token_hex(12) + "+="
    redact.register(token)
    quoted = token.replace("/", "%2F").replace("+", "%2B").replace("=", "%3D")
    text = redact.scrub(f"a {token} b https://aws:{quoted}@host/simple/ {token}")
    assert token not in text and quoted not in text
    assert text == "a *** b https://aws:***@host/simple/ ***"


def test_short_values_are_not_registered():
    redact.register("ab")
    assert redact.scrub("ab abc") == "ab abc"


def test_errors_are_scrubbed_at_creation():
    token = secrets.token_hex(16)
    redact.register(token)
    err = OperationError(f"upload failed with {token}", hint=f"token {token} expired")
    assert token not in str(err) and token not in (err.hint or "")


def test_log_records_and_tracebacks_are_scrubbed():
    token = secrets.token_urlsafe(24)
    redact.register(token)
    stream = io.StringIO()
    console.setup(verbose=True, stream=stream)
    log = logging.getLogger("jenkins_codeartifact.test")
    log.info("token is %s", token)
    try:
        raise ValueError(f"bad {token}")
    except ValueError:
        log.exception("failed")
    logging.getLogger("botocore.test").info("third party says %s", token)
    out = stream.getvalue()
    assert token not in out
    assert out.count("***") >= 3


def test_no_colour_when_not_a_tty():
    stream = io.StringIO()
    console.setup(stream=stream)
    logging.getLogger("jenkins_codeartifact.test").error("ERROR: plain")
    assert "\033[" not in stream.getvalue()
