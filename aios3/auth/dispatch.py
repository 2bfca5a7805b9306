"""Which signature a request carries, and the one public entry that verifies it.

An S3 request authenticates in exactly one way: an ``Authorization`` header (SigV4's
``AWS4-HMAC-SHA256`` or SigV2's ``AWS``), SigV4 query parameters (``X-Amz-*``), SigV2
query parameters (``AWSAccessKeyId``/``Signature``/``Expires``), or not at all. Deciding
that here keeps ``sigv4`` and ``sigv2`` each about one scheme.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from aios3.auth import sigv2, sigv4
from aios3.auth.request import AuthResult, Pairs, RequestParts, header_map, parse_query
from aios3.errors import S3Error

# Query parameters that decide which auth mechanism a request uses.
_SIGV4_PARAMS = frozenset({b"X-Amz-Algorithm", b"X-Amz-Credential", b"X-Amz-Signature"})
_SIGV2_PARAMS = frozenset({b"AWSAccessKeyId", b"Signature"})
_AUTH_PARAMS = (
    _SIGV4_PARAMS
    | _SIGV2_PARAMS
    | {
        b"X-Amz-Date",
        b"X-Amz-Expires",
        b"X-Amz-SignedHeaders",
        b"Expires",
    }
)
_NAMES = {name: name.decode() for name in _AUTH_PARAMS}
_ONLY_ONE = (
    "Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, "
    "Signature query string parameter or the Authorization header should be specified"
)


def is_anonymous(req: RequestParts) -> bool:
    """True when the request carries no credentials at all, so the caller may allow it anonymously."""
    if any(name.lower() == "authorization" for name, _ in req.headers):
        return False
    if not req.raw_query:
        return True
    names = {name for name, _ in parse_query(req.raw_query)}
    return names.isdisjoint(_SIGV4_PARAMS) and names.isdisjoint(_SIGV2_PARAMS)


def authenticate(req: RequestParts, credentials: Mapping[str, str], now: datetime) -> AuthResult:
    """Verify the request's signature, whichever form it uses; raise the S3Error AWS would answer.

    ``credentials`` maps access key to secret key; ``now`` is timezone-aware UTC.
    """
    try:
        return _authenticate(req, credentials, now)
    except UnicodeEncodeError:
        # Only text that never came off the wire (lone surrogates) gets here.
        raise S3Error(
            "InvalidRequest", "The request contains characters that are not valid UTF-8"
        ) from None


def _authenticate(req: RequestParts, credentials: Mapping[str, str], now: datetime) -> AuthResult:
    headers = header_map(req.headers)
    pairs = parse_query(req.raw_query) if req.raw_query else []
    params = _auth_params(pairs)
    v4_query = not _SIGV4_PARAMS.isdisjoint(params)
    v2_query = not _SIGV2_PARAMS.isdisjoint(params)
    authorization = headers.get("authorization")
    if authorization is not None:
        if v4_query or v2_query:
            raise S3Error("InvalidRequest", _ONLY_ONE)
        value = authorization[0]
        if value.strip().partition(" ")[0] == "AWS":
            return sigv2.verify_header(req, headers, value, credentials, now)
        return sigv4.verify_header(req, headers, pairs, value, credentials, now)
    if v4_query and v2_query:
        raise S3Error("InvalidRequest", _ONLY_ONE)
    text_params = {_NAMES[name]: value.decode("utf-8", "replace") for name, value in params.items()}
    if v4_query:
        return sigv4.verify_query(req, headers, pairs, text_params, credentials, now)
    if v2_query:
        return sigv2.verify_query(req, headers, text_params, credentials, now)
    raise S3Error("AccessDenied")


def _auth_params(pairs: Pairs) -> dict[bytes, bytes]:
    """The query parameters that carry authentication, first occurrence of each."""
    params: dict[bytes, bytes] = {}
    for name, value in pairs:
        if name in _AUTH_PARAMS:
            params.setdefault(name, value)
    return params
