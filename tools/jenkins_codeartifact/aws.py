"""boto3 sessions: profile, region, and an optional assume-role for cross-account work; bounded clients.

boto3 resolves credentials and its own ``AWS_ENDPOINT_URL_<SERVICE>`` variables itself; this module
adds the role hop, turns "no credentials / no region" into errors that say what to set, and gives every
client connect/read timeouts and botocore's "standard" retries (bounded attempts, exponential backoff
with jitter), honouring a throttled answer's ``Retry-After`` and logging each retry on one line.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
from botocore.retries.standard import RetryContext, StandardRetryConditions

from . import netpolicy, redact
from .errors import CAError, ConfigError, OperationError
from .settings import Settings

log = logging.getLogger(__name__)
SESSION_NAME = "jenkins-codeartifact"
CONNECT_TIMEOUT, READ_TIMEOUT = 10.0, 60.0  # seconds, per attempt
MAX_ATTEMPTS = 5  # in all, the first included; AWS_MAX_ATTEMPTS overrides
RETRY_AFTER_CAP = 20.0  # the longest Retry-After honoured (botocore's own backoff also stops at 20 s)


def client_config() -> botocore.config.Config:
    """Timeouts and retries for every client; AWS_RETRY_MODE (standard|adaptive) and AWS_MAX_ATTEMPTS win."""
    mode = os.environ.get("AWS_RETRY_MODE") or "standard"
    try:
        attempts = max(1, int(os.environ.get("AWS_MAX_ATTEMPTS") or MAX_ATTEMPTS))
    except ValueError:
        raise ConfigError(f"AWS_MAX_ATTEMPTS={os.environ['AWS_MAX_ATTEMPTS']!r}: must be a whole number") from None
    if mode not in ("standard", "adaptive", "legacy"):
        raise ConfigError(f"AWS_RETRY_MODE={mode!r}: must be standard or adaptive")
    return botocore.config.Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": mode, "total_max_attempts": attempts},
    )


class _RetryLog:
    """A ``needs-retry`` handler run before botocore's: one line per retry, and Retry-After honoured.

    It decides with botocore's own standard conditions, so it logs exactly the retries botocore makes;
    returning None leaves the delay to botocore (exponential backoff with jitter).
    """

    def __init__(self, service: str, attempts: int) -> None:
        self.service, self.attempts = service, attempts
        self.conditions = StandardRetryConditions(max_attempts=attempts)

    def __call__(self, attempts: int, response: Any, caught_exception: Any, operation: Any, **kw: Any) -> float | None:
        http, parsed = response if response is not None else (None, None)
        context = RetryContext(
            attempt_number=attempts,
            operation_model=operation,
            http_response=http,
            parsed_response=parsed,
            caught_exception=caught_exception,
            request_context=(kw.get("request_dict") or {}).get("context", {}),
        )
        if not self.conditions.is_retryable(context):
            return None
        if caught_exception is not None or http is None:
            cause = type(caught_exception).__name__
        else:
            code = (parsed or {}).get("Error", {}).get("Code") or "error"
            cause = f"{code} (HTTP {http.status_code})"
        delay = netpolicy.parse_retry_after(http.headers.get("Retry-After")) if http is not None else None
        delay = min(delay, RETRY_AFTER_CAP) if delay is not None else None
        when = f"in {delay:g}s (Retry-After)" if delay is not None else "with backoff"
        log.warning(
            "%s %s: %s, retry %d of %d %s",
            self.service,
            operation.name,
            cause,
            attempts,
            self.attempts - 1,
            when,
        )
        return delay


def client(boto_session: boto3.Session, service: str) -> Any:
    """A client of ``service`` with :func:`client_config` and its retries logged."""
    config = client_config()
    made = boto_session.client(service, config=config)
    attempts = int((config.retries or {}).get("total_max_attempts", MAX_ATTEMPTS))
    model = made.meta.service_model
    name = model.metadata.get("serviceAbbreviation") or model.metadata.get("serviceFullName") or service
    made.meta.events.register_first(f"needs-retry.{model.service_id.hyphenize()}", _RetryLog(name, attempts))
    return made


def session(settings: Settings) -> boto3.Session:
    """A session for ``settings``; with ``role_arn``, one holding that role's temporary credentials."""
    try:
        base = boto3.Session(profile_name=settings.profile, region_name=settings.region)
    except botocore.exceptions.ProfileNotFound as exc:
        raise ConfigError(f"AWS profile {settings.profile!r} not found", hint="check AWS_PROFILE") from exc
    if base.region_name is None:
        raise ConfigError("no AWS region configured", hint="pass --region or set AWS_REGION")
    creds = base.get_credentials()
    if creds is None:
        raise ConfigError(
            "no AWS credentials found",
            hint="bind AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY in Jenkins, or run on an instance role",
        )
    frozen = creds.get_frozen_credentials()
    redact.register(frozen.secret_key)
    redact.register(frozen.token)
    if not settings.role_arn:
        return base
    sts = base.client("sts")
    try:
        resp: dict[str, Any] = sts.assume_role(RoleArn=settings.role_arn, RoleSessionName=SESSION_NAME)
    except botocore.exceptions.BotoCoreError as exc:
        raise OperationError(f"cannot reach STS to assume {settings.role_arn}: {exc}") from exc
    except botocore.exceptions.ClientError as exc:
        raise OperationError(
            f"cannot assume role {settings.role_arn}: {exc.response['Error'].get('Message', exc)}",
            hint="check the role's trust policy allows this principal to call sts:AssumeRole",
        ) from exc
    c = resp["Credentials"]
    redact.register(c["SecretAccessKey"])
    redact.register(c["SessionToken"])
    log.info("assumed role %s", settings.role_arn)
    return boto3.Session(
        aws_access_key_id=c["AccessKeyId"],
        aws_secret_access_key=c["SecretAccessKey"],
        aws_session_token=c["SessionToken"],
        region_name=base.region_name,
    )


# The one botocore error mapper: every AWS call of the library turns its failure into one line here.
# Error codes that mean the AWS credentials themselves are wrong (not the resource, nor the region).
CREDENTIAL_CODES = frozenset(
    {
        "InvalidSignatureException",
        "SignatureDoesNotMatch",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "InvalidAccessKeyId",
        "ExpiredToken",
        "ExpiredTokenException",
        "AuthFailure",
        "IncompleteSignature",
        "IncompleteSignatureException",
        "MissingAuthenticationToken",
        "MissingAuthenticationTokenException",
    }
)
CREDENTIALS_HINT = (
    "the AWS credentials were refused: check AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY (or the profile, the role "
    "and the clock); a temporary session token may have expired"
)


def error_code(exc: BaseException) -> str:
    """The AWS error code of a ClientError ("" for anything else)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Code") or "")
    return ""


def error_message(exc: BaseException) -> str:
    """The AWS error message of a ClientError (``str(exc)`` for anything else)."""
    if isinstance(exc, botocore.exceptions.ClientError):
        return str(exc.response.get("Error", {}).get("Message") or exc)
    return str(exc)


def api_error(what: str, exc: BaseException, *, hint: str | None = None, network_hint: str | None = None) -> CAError:
    """``WHAT: Code: Message`` for a refused call, ``WHAT: reason`` for one that never got an answer
    (``what`` says what failed, e.g. "CloudFormation DescribeStacks failed"); refused credentials always
    point at the credentials, whatever ``hint`` the caller had in mind."""
    if isinstance(exc, botocore.exceptions.ClientError):
        code = error_code(exc) or "Error"
        if code in CREDENTIAL_CODES:
            hint = CREDENTIALS_HINT
        return OperationError(redact.scrub(f"{what}: {code}: {error_message(exc)}"), hint=hint)
    return OperationError(
        redact.scrub(f"{what}: {exc}"),
        hint=network_hint or hint or "check network access to AWS (or its AWS_ENDPOINT_URL_* variable) and the region",
    )


@contextlib.contextmanager
def calling(what: str, *, hint: str | None = None, network_hint: str | None = None) -> Iterator[None]:
    """Run AWS calls, turning any botocore failure into :func:`api_error`."""
    try:
        yield
    except (botocore.exceptions.ClientError, botocore.exceptions.BotoCoreError) as exc:
        raise api_error(what, exc, hint=hint, network_hint=network_hint) from exc
