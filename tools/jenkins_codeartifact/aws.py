"""boto3 sessions: profile, region, and an optional assume-role for cross-account work.

boto3 resolves credentials and its own ``AWS_ENDPOINT_URL_<SERVICE>`` variables itself; this module only
adds the role hop and turns "no credentials / no region" into errors that say what to set.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.exceptions

from . import redact
from .errors import CAError, ConfigError, OperationError
from .settings import Settings

log = logging.getLogger(__name__)
SESSION_NAME = "jenkins-codeartifact"


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
_CREDENTIAL_CODES = frozenset(
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
        "MissingAuthenticationToken",
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
        if code in _CREDENTIAL_CODES:
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
