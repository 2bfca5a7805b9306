"""SigV4 verification of S3 requests, in both the Authorization-header and presigned-URL forms.

Given the framework-free ``RequestParts`` and the known credentials, each form either
names the caller (``AuthResult``) or raises the ``S3Error`` AWS would answer with;
``auth.dispatch`` decides which form (or SigV2) a request uses.
It does not read the body: it only says which SHA-256 the body must have (checked by
``auth.payload`` as the bytes stream in) or, for aws-chunked bodies, which streaming
form they use and the seed their chunk signatures chain from (``auth.chunked``).

Facts follow the Amazon S3 API reference, "Authenticating Requests (AWS Signature
Version 4)": "Using the Authorization Header", "Signature Calculations for the
Authorization Header: Transferring Payload in a Single Chunk" and "Using Query
Parameters". Error codes and messages mirror what S3 answers, so SDKs behave as they do
against AWS.

This runs on every request, so it parses each header once, compiles no regexes and
caches derived signing keys.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from aios3.auth.digests import hmac_sha256_hex, sha256_hex
from aios3.auth.request import (
    AuthResult,
    ChunkChain,
    HeaderMap,
    Pairs,
    RequestParts,
    canonical_header_value,
    canonical_query,
    encoded_path,
    first_header,
    utf8,
)
from aios3.errors import S3Error

ALGORITHM = "AWS4-HMAC-SHA256"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
# x-amz-content-sha256 values of aws-chunked bodies ("Authenticating Requests: Using the
# Authorization Header", the table of x-amz-content-sha256 values).
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
_STREAMING_SIGV4A = frozenset(
    {"STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER"}
)
SERVICE = "s3"
TERMINATOR = "aws4_request"
# S3 answers RequestTimeTooSkewed when a header-signed request's time is more than 15
# minutes from its clock; we use the same tolerance for presigned URLs dated ahead.
MAX_SKEW = timedelta(minutes=15)
# "X-Amz-Expires ... Minimum value of 1. Maximum value of 604800 (seven days)."
MAX_EXPIRES = 604800

_SIGV4A = "AWS4-ECDSA-P256-SHA256"
# x-amz-* headers a request may carry without signing them: both already feed the
# string to sign in the header form (the payload hash line, the timestamp), and a
# presigned URL carries its own X-Amz-Date in the query.
_UNSIGNED_OK = frozenset({"x-amz-content-sha256", "x-amz-date"})
_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_CREDENTIAL_FORMAT = 'expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/aws4_request".'
_HEADER_MALFORMED = "The authorization header is malformed; "
_QUERY_MALFORMED = "Error parsing the X-Amz-Credential parameter; "
_QUERY_REQUIRED = (
    "Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
    "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters."
)


def signing_key(secret: str, date: str, region: str, service: str) -> bytes:
    """Derive (or fetch from cache) the SigV4 signing key; one HMAC chain per scope, not per request."""
    cache_key = (secret, date, region, service)
    key = _KEY_CACHE.get(cache_key)
    if key is None:
        key = hmac.digest(utf8("AWS4" + secret), utf8(date), "sha256")
        for part in (region, service, TERMINATOR):
            key = hmac.digest(key, utf8(part), "sha256")
        if len(_KEY_CACHE) >= _KEY_CACHE_MAX:
            # Scopes change once a day per key; a full cache means junk scopes, so start over.
            _KEY_CACHE.clear()
        _KEY_CACHE[cache_key] = key
    return key


_KEY_CACHE: dict[tuple[str, str, str, str], bytes] = {}
_KEY_CACHE_MAX = 256


# --- the two auth forms -------------------------------------------------------------


def verify_header(
    req: RequestParts,
    headers: HeaderMap,
    pairs: Pairs,
    authorization: str,
    credentials: Mapping[str, str],
    now: datetime,
) -> AuthResult:
    """Verify the ``Authorization: AWS4-HMAC-SHA256 ...`` form."""
    credential, signed_headers, signature = _parse_authorization(authorization)
    access_key, scope_date, region = _parse_credential(
        credential, "AuthorizationHeaderMalformed", _HEADER_MALFORMED
    )
    secret = _secret_for(access_key, credentials)

    stamp, request_time = _request_time(headers)
    if scope_date != stamp[:8]:
        raise S3Error(
            "AuthorizationHeaderMalformed",
            _HEADER_MALFORMED + "Invalid credential date. Date is not the same as X-Amz-Date.",
        )
    if abs(now - request_time) > MAX_SKEW:
        sent = first_header(headers, "x-amz-date") or first_header(headers, "date")
        raise S3Error(
            "RequestTimeTooSkewed",
            RequestTime=sent or stamp,
            ServerTime=_iso(now),
            MaxAllowedSkewMilliseconds=str(int(MAX_SKEW.total_seconds() * 1000)),
        )

    payload_hash = first_header(headers, "x-amz-content-sha256")
    if payload_hash is None:
        # What S3 answers when a SigV4 header-signed request omits the header.
        raise S3Error(
            "InvalidRequest", "Missing required header for this request: x-amz-content-sha256"
        )
    payload_hash = payload_hash.strip()
    content_sha256, streaming = _content_sha256(payload_hash)

    _check_signature(
        req,
        headers,
        canonical_query(pairs),
        signed_headers,
        payload_hash,
        stamp,
        scope_date,
        region,
        access_key,
        secret,
        signature,
    )
    return _result(
        access_key,
        "sigv4-header",
        content_sha256,
        streaming,
        secret,
        stamp,
        scope_date,
        region,
        signature,
    )


def verify_query(
    req: RequestParts,
    headers: HeaderMap,
    pairs: Pairs,
    params: dict[str, str],
    credentials: Mapping[str, str],
    now: datetime,
) -> AuthResult:
    """Verify the presigned-URL form (``X-Amz-*`` query parameters)."""
    algorithm = params.get("X-Amz-Algorithm")
    credential = params.get("X-Amz-Credential")
    signature = params.get("X-Amz-Signature")
    stamp = params.get("X-Amz-Date")
    signed_headers = params.get("X-Amz-SignedHeaders")
    expires_text = params.get("X-Amz-Expires")
    if (
        algorithm is None
        or credential is None
        or signature is None
        or stamp is None
        or signed_headers is None
        or expires_text is None
    ):
        raise S3Error("AuthorizationQueryParametersError", _QUERY_REQUIRED)
    if algorithm != ALGORITHM:
        if algorithm == _SIGV4A:
            raise S3Error("NotImplemented", "Signature Version 4A is not supported")
        raise S3Error(
            "AuthorizationQueryParametersError", 'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256"'
        )
    access_key, scope_date, region = _parse_credential(
        credential, "AuthorizationQueryParametersError", _QUERY_MALFORMED
    )
    request_time = _parse_amz_date(stamp)
    if request_time is None:
        raise S3Error(
            "AuthorizationQueryParametersError",
            "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\"",
        )
    expires = _parse_expires(expires_text)
    if scope_date != stamp[:8]:
        raise S3Error(
            "AuthorizationQueryParametersError",
            _QUERY_MALFORMED + "Invalid credential date. Date is not the same as X-Amz-Date.",
        )
    secret = _secret_for(access_key, credentials)

    # S3 answers "Request is not yet valid" for presigned URLs dated in the future. The
    # docs give no tolerance, so we allow the same 15 minutes of clock skew as the header
    # form: a client whose clock runs a little fast should still work against us.
    if request_time - now > MAX_SKEW:
        raise S3Error(
            "AccessDenied",
            "Request is not yet valid",
            **{"X-Amz-Date": stamp, "ServerTime": _iso(now)},
        )
    expiry = request_time + timedelta(seconds=expires)
    if now > expiry:
        raise S3Error(
            "AccessDenied",
            "Request has expired",
            **{"X-Amz-Expires": expires_text, "Expires": _iso(expiry), "ServerTime": _iso(now)},
        )

    # Presigned URLs sign "UNSIGNED-PAYLOAD" unless the client also sent (and signed)
    # an x-amz-content-sha256 header, in which case that value is what it signed.
    header_hash = first_header(headers, "x-amz-content-sha256")
    payload_hash = UNSIGNED_PAYLOAD if header_hash is None else header_hash.strip()
    content_sha256, streaming = _content_sha256(payload_hash)

    _check_signature(
        req,
        headers,
        canonical_query(pairs, b"X-Amz-Signature"),
        signed_headers,
        payload_hash,
        stamp,
        scope_date,
        region,
        access_key,
        secret,
        signature,
    )
    return _result(
        access_key,
        "sigv4-query",
        content_sha256,
        streaming,
        secret,
        stamp,
        scope_date,
        region,
        signature,
    )


# --- shared checks ------------------------------------------------------------------


def _result(
    access_key: str,
    signing: str,
    content_sha256: str | None,
    streaming: str | None,
    secret: str,
    stamp: str,
    scope_date: str,
    region: str,
    signature: str,
) -> AuthResult:
    """The verified caller; for signed aws-chunked bodies, with the seed their chunks chain from."""
    chain = None
    if streaming in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER):
        chain = ChunkChain(
            key=signing_key(secret, scope_date, region, SERVICE),
            amz_date=stamp,
            scope=f"{scope_date}/{region}/{SERVICE}/{TERMINATOR}",
            seed=signature.lower(),
        )
    return AuthResult(access_key, signing, content_sha256, streaming, chain)


def _check_signature(
    req: RequestParts,
    headers: HeaderMap,
    canonical_query: str,
    signed_headers: str,
    payload_hash: str,
    stamp: str,
    scope_date: str,
    region: str,
    access_key: str,
    secret: str,
    provided: str,
) -> None:
    """Rebuild the canonical request and compare signatures; raise SignatureDoesNotMatch on a miss."""
    names = signed_headers.split(";")
    if "host" not in names:
        # SigV4 requires the host header to be signed; S3 reports unsigned headers so.
        raise S3Error(
            "AccessDenied",
            "There were headers present in the request which were not signed",
            HeadersNotSigned="host",
        )
    # S3 refuses x-amz-* headers left out of the signature, so that nobody can add
    # metadata, checksums or copy sources to a signed request (or a presigned URL).
    signed = set(names)
    unsigned = sorted(
        {
            name
            for name in headers
            if name.startswith("x-amz-") and name not in signed and name not in _UNSIGNED_OK
        }
    )
    if unsigned:
        raise S3Error(
            "AccessDenied",
            "There were headers present in the request which were not signed",
            HeadersNotSigned=", ".join(unsigned),
        )
    canonical_headers = "".join(
        [f"{name}:{canonical_header_value(headers.get(name))}\n" for name in names]
    )
    # Everything after the canonical URI is the same for both URI forms tried below.
    tail = f"\n{canonical_query}\n{canonical_headers}\n{signed_headers}\n{payload_hash}"
    head = req.method + "\n"
    scope = f"{scope_date}/{region}/{SERVICE}/{TERMINATOR}"
    sts_head = f"{ALGORITHM}\n{stamp}\n{scope}\n"
    key = signing_key(secret, scope_date, region, SERVICE)
    provided_ok = provided.isascii()

    raw_uri = req.raw_path or "/"
    canonical_request = head + raw_uri + tail
    string_to_sign = sts_head + _sha256_hex(canonical_request)
    expected = hmac_sha256_hex(key, utf8(string_to_sign))
    if provided_ok and hmac.compare_digest(expected, provided):
        return

    # Clients disagree on which path characters to escape (S3 does not normalise the
    # URI), so also try the path as a client that escapes everything would have signed it.
    encoded_uri = encoded_path(raw_uri)
    if encoded_uri != raw_uri:
        alt_sts = sts_head + _sha256_hex(head + encoded_uri + tail)
        alt_expected = hmac_sha256_hex(key, utf8(alt_sts))
        if provided_ok and hmac.compare_digest(alt_expected, provided):
            return

    raise S3Error(
        "SignatureDoesNotMatch",
        AWSAccessKeyId=access_key,
        StringToSign=string_to_sign,
        SignatureProvided=provided,
        StringToSignBytes=utf8(string_to_sign).hex(" "),
        CanonicalRequest=canonical_request,
        CanonicalRequestBytes=utf8(canonical_request).hex(" "),
    )


def _secret_for(access_key: str, credentials: Mapping[str, str]) -> str:
    """Look the access key up; an unknown key is InvalidAccessKeyId, as S3 says it."""
    secret = credentials.get(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=access_key)
    return secret


def _content_sha256(value: str) -> tuple[str | None, str | None]:
    """Interpret x-amz-content-sha256: (body hash or None, streaming mode or None)."""
    if len(value) == 64 and _HEX_DIGITS.issuperset(value):
        # Accepting uppercase hex is a small leniency; AuthResult promises lowercase.
        return value.lower(), None
    if value == UNSIGNED_PAYLOAD:
        return None, None
    if value in (STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER):
        return None, value
    if value in _STREAMING_SIGV4A:
        raise S3Error("NotImplemented", "Signature Version 4A is not supported")
    raise S3Error(
        "InvalidArgument",
        "x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, "
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER or a valid sha256 value.",
        ArgumentName="x-amz-content-sha256",
        ArgumentValue=value,
    )


def _request_time(headers: HeaderMap) -> tuple[str, datetime]:
    """The signed timestamp (ISO 8601 basic) and its instant, from x-amz-date or else Date."""
    amz_date = first_header(headers, "x-amz-date")
    when: datetime | None = None
    if amz_date is not None:
        amz_date = amz_date.strip()
        when = _parse_amz_date(amz_date)
        if when is not None:
            return amz_date, when
    else:
        date = first_header(headers, "date")
        if date is not None:
            try:
                when = parsedate_to_datetime(date)
            except (TypeError, ValueError):
                when = None
            if when is not None:
                when = when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)
                # The string to sign always carries the basic-format timestamp.
                return when.strftime("%Y%m%dT%H%M%SZ"), when
    raise S3Error("AccessDenied", "AWS authentication requires a valid Date or x-amz-date header")


# --- parsing ------------------------------------------------------------------------


def _parse_authorization(value: str) -> tuple[str, str, str]:
    """Split ``AWS4-HMAC-SHA256 Credential=.., SignedHeaders=.., Signature=..`` into its parts."""
    algorithm, _, rest = value.strip().partition(" ")
    if algorithm != ALGORITHM:
        if algorithm == _SIGV4A:
            raise S3Error("NotImplemented", "Signature Version 4A is not supported")
        # What S3 answers for an Authorization scheme it does not know at all.
        raise S3Error(
            "InvalidArgument",
            "Unsupported Authorization Type",
            ArgumentName="Authorization",
            ArgumentValue=value,
        )
    # Components are comma-separated, but clients vary in spacing; no value holds a
    # comma or a space, so treat both as separators in any mix.
    fields: dict[str, str] = {}
    for token in rest.replace(",", " ").split():
        name, eq, field = token.partition("=")
        if not eq or not field or name in fields:
            raise _malformed_header()
        fields[name] = field
    credential = fields.get("Credential")
    signed_headers = fields.get("SignedHeaders")
    signature = fields.get("Signature")
    if credential is None or signed_headers is None or signature is None or len(fields) != 3:
        raise _malformed_header()
    return credential, signed_headers, signature


def _malformed_header() -> S3Error:
    return S3Error(
        "AuthorizationHeaderMalformed",
        _HEADER_MALFORMED + "the authorization header requires three components: "
        "Credential, SignedHeaders, and Signature.",
    )


def _parse_credential(credential: str, code: str, prefix: str) -> tuple[str, str, str]:
    """Split ``AKID/YYYYMMDD/region/s3/aws4_request`` into (access key, date, region)."""
    parts = credential.rsplit("/", 4)
    if len(parts) != 5 or not all(parts):
        raise S3Error(code, prefix + "the Credential is mal-formed; " + _CREDENTIAL_FORMAT)
    access_key, date, region, service, terminator = parts
    if service != SERVICE:
        raise S3Error(
            code, f'{prefix}incorrect service "{service}". This endpoint belongs to "{SERVICE}".'
        )
    if terminator != TERMINATOR:
        raise S3Error(
            code, f'{prefix}incorrect terminal "{terminator}". This endpoint uses "{TERMINATOR}".'
        )
    # Deliberate leniency vs AWS: S3 rejects a region other than the bucket's with
    # AuthorizationHeaderMalformed. We are one local endpoint with no real regions, so we
    # accept whichever region the client signed with (the signature still covers it).
    return access_key, date, region


def _parse_amz_date(text: str) -> datetime | None:
    """Parse ``YYYYMMDDTHHMMSSZ`` without strptime; the last stamp is kept, as requests
    of the same second (most of them, under load) carry the same one."""
    global _last_amz_date
    last_text, last_when = _last_amz_date
    if text == last_text:
        return last_when
    when = _amz_date(text)
    if when is not None:
        _last_amz_date = text, when
    return when


_last_amz_date: tuple[str, datetime | None] = ("", None)


def _amz_date(text: str) -> datetime | None:
    if len(text) != 16 or text[8] != "T" or text[15] != "Z":
        return None
    digits = text[:8] + text[9:15]
    if not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return datetime(
            int(text[0:4]),
            int(text[4:6]),
            int(text[6:8]),
            int(text[9:11]),
            int(text[11:13]),
            int(text[13:15]),
            tzinfo=UTC,
        )
    except ValueError:
        return None


def _parse_expires(text: str) -> int:
    """X-Amz-Expires: whole seconds, 1 to 604800, with S3's messages for each failure."""
    code = "AuthorizationQueryParametersError"
    body = text[1:] if text.startswith("-") else text
    if not body or not (body.isascii() and body.isdigit()):
        raise S3Error(code, "X-Amz-Expires should be a number")
    if text.startswith("-"):
        raise S3Error(code, "X-Amz-Expires must be non-negative")
    expires = int(body)
    if expires > MAX_EXPIRES:
        raise S3Error(
            code, f"X-Amz-Expires must be less than a week (in seconds) that is; {MAX_EXPIRES}"
        )
    if expires < 1:
        raise S3Error(code, "X-Amz-Expires must be at least 1 second")
    return expires


def _sha256_hex(text: str) -> str:
    return sha256_hex(utf8(text))


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
