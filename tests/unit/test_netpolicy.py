"""The one I/O policy: backoff bounds, Retry-After, the retry line, and the retrying request."""

import email.utils
import logging
import time

import pytest
import requests

from jenkins_codeartifact import netpolicy
from jenkins_codeartifact.netpolicy import Policy

FAST = Policy(connect=1.0, read=2.0, retries=3, backoff=0.1, backoff_max=0.3)


def test_backoff_doubles_within_half_to_all_of_its_ceiling_and_stops_at_the_cap():
    for retry, ceiling in ((1, 0.1), (2, 0.2), (3, 0.3), (9, 0.3)):
        waits = [FAST.delay(retry) for _ in range(200)]
        assert ceiling / 2 <= min(waits) and max(waits) <= ceiling


def test_a_retry_after_wins_over_backoff_and_is_capped():
    assert FAST.delay(1, retry_after=7.0) == 7.0
    assert FAST.delay(1, retry_after=3600.0) == netpolicy.RETRY_AFTER_MAX


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("5", 5.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("86400", netpolicy.RETRY_AFTER_MAX),
        ("soon", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_in_seconds(header, expected):
    assert netpolicy.parse_retry_after(header) == expected


def test_retry_after_as_an_http_date():
    header = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= (netpolicy.parse_retry_after(header) or 0) <= 31


class _Answer:
    def __init__(self, status: int, retry_after: str | None = None) -> None:
        self.status_code = status
        self.headers = requests.structures.CaseInsensitiveDict({"Retry-After": retry_after} if retry_after else {})


def _sender(*outcomes):
    queue = list(outcomes)

    def send():
        outcome = queue.pop(0)
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome

    return send


def test_request_retries_5xx_and_network_errors_then_returns_the_answer(caplog):
    caplog.set_level(logging.WARNING)
    slept = []
    send = _sender(_Answer(503), requests.ConnectionError("Connection refused"), _Answer(404))
    answer = netpolicy.request(send, FAST, "registry GET http://r/v2/", logging.getLogger("t"), sleep=slept.append)
    assert answer.status_code == 404 and len(slept) == 2
    lines = [r.getMessage() for r in caplog.records]
    assert lines[0].startswith("registry GET http://r/v2/: answered HTTP 503; retry 1 of 3 in ")
    assert lines[1].startswith("registry GET http://r/v2/: could not be reached (connection refused); retry 2 of 3")


def test_request_waits_for_retry_after_and_says_so(caplog):
    caplog.set_level(logging.WARNING)
    slept = []
    netpolicy.request(_sender(_Answer(429, "4"), _Answer(200)), FAST, "GET u", logging.getLogger("t"), slept.append)
    assert slept == [4.0]
    assert caplog.records[0].getMessage() == "GET u: answered HTTP 429; retry 1 of 3 in 4.0s (Retry-After)"


def test_request_gives_up_after_the_retries_with_the_last_cause():
    send = _sender(_Answer(502), _Answer(503), _Answer(500), requests.ReadTimeout("Read timed out"))
    with pytest.raises(netpolicy.RetriesExhausted) as exc:
        netpolicy.request(send, FAST, "GET u", logging.getLogger("t"), sleep=lambda s: None)
    assert (exc.value.cause, exc.value.attempts) == ("did not answer within 2s", 4)


@pytest.mark.parametrize(
    ("exc", "words"),
    [
        (requests.ReadTimeout("HTTPConnectionPool: Read timed out. (read timeout=1)"), "no answer (read timed out)"),
        (requests.ConnectionError("[Errno 111] Connection refused"), "connection refused"),
        (requests.ConnectionError("Connection reset by peer"), "connection reset"),
        (requests.exceptions.ChunkedEncodingError("IncompleteRead(3 bytes read)"), "answer cut off"),
        (ValueError("odd"), "ValueError"),
    ],
)
def test_failures_are_described_in_words_a_user_can_act_on(exc, words):
    assert netpolicy.describe_failure(exc) == words
