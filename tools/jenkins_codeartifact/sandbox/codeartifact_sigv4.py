"""SigV4 as AWS checks it on the CodeArtifact API: the stand-in refuses what the service would refuse.

The expected signature is computed with botocore's own signer over the headers the request says it
signed, so a client that signs like boto3 passes and any other key, scope or body does not.
"""

from __future__ import annotations

import hmac
import re
from email.message import Message

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from .codeartifact_model import ApiError

CREDENTIAL_RE = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/(?P<service>[^/]+)/aws4_request,"
    r"\s*SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]{64})$"
)


def check_signature(
    method: str, path: str, headers: Message, body: bytes, access_key_id: str | None, secret_access_key: str | None
) -> None:
    """SigV4 like AWS: a missing, malformed, foreign-key or wrongly signed request is refused with 403."""
    header = headers.get("Authorization")
    if not header:
        raise ApiError(403, "MissingAuthenticationTokenException", "Missing Authentication Token")
    match = CREDENTIAL_RE.match(header.strip())
    amz_date = headers.get("X-Amz-Date", "")
    if not match or not amz_date:
        raise ApiError(
            403,
            "IncompleteSignatureException",
            "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature' and an X-Amz-Date header",
        )
    if match["service"] != "codeartifact":
        raise ApiError(
            403,
            "InvalidSignatureException",
            f"Credential should be scoped to 'codeartifact', not '{match['service']}'",
        )
    if access_key_id is None:
        return
    if match["key"] != access_key_id:
        raise ApiError(403, "UnrecognizedClientException", "The security token included in the request is invalid.")
    request = AWSRequest(
        method=method,
        url=f"http://{headers.get('Host', '')}{path}",
        data=body,
        headers={name: headers.get(name, "") for name in match["signed"].split(";")},
    )
    request.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key_id, secret_access_key or ""), "codeartifact", match["region"])
    expected = signer.signature(signer.string_to_sign(request, signer.canonical_request(request)), request)
    if not hmac.compare_digest(expected, match["signature"]):
        raise ApiError(
            403,
            "InvalidSignatureException",
            "The request signature we calculated does not match the signature you provided. "
            "Check your AWS Secret Access Key and signing method.",
        )
