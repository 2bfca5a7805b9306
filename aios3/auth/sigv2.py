"""SigV2 verification of S3 requests: ``Authorization: AWS AKID:sig`` and ``?AWSAccessKeyId=..``.

Signature Version 2 is legacy, but still what boto3's ``generate_presigned_url`` makes by
default and what SigV2-era clients (boto 2, old tools) send. Facts follow the Amazon S3
developer guide, "Signing and authenticating REST requests" (AWS Signature Version 2):

    StringToSign = HTTP-Verb \\n Content-MD5 \\n Content-Type \\n Date \\n
                   CanonicalizedAmzHeaders + CanonicalizedResource
    Signature    = Base64(HMAC-SHA1(secret, UTF-8(StringToSign)))

SigV2 signs neither the body nor most of the query: only the path and the sub-resources
listed below. Clients never agreed on every detail (which sub-resources, ``uploads`` or
``uploads=``, inner whitespace in header values, the path's escaping), so besides the
canonical form we also try the few forms real clients produce; each one is still a full
HMAC over the request as received, only canonicalised differently.
"""

from __future__ import annotations

import base64
import hmac
import itertools
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from urllib.parse import unquote_to_bytes

from aios3.auth.request import (
    AuthResult,
    HeaderMap,
    RequestParts,
    encoded_path,
    first_header,
    utf8,
)
from aios3.errors import S3Error

# "The client timestamp ... must be within 15 minutes of the Amazon S3 system time."
MAX_SKEW = timedelta(minutes=15)

# Sub-resources the developer guide says must be signed ("Constructing the
# CanonicalizedResource element"), including the response-* overrides and ``delete``.
_DOCUMENTED = frozenset(
    {
        "acl",
        "delete",
        "lifecycle",
        "location",
        "logging",
        "notification",
        "partNumber",
        "policy",
        "requestPayment",
        "torrent",
        "uploadId",
        "uploads",
        "versionId",
        "versioning",
        "versions",
        "website",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "response-content-language",
        "response-content-type",
        "response-expires",
    }
)
# What botocore's HmacV1Auth signs (its QSAOfInterest): the documented set plus the
# sub-resources S3 added later.
_BOTOCORE = _DOCUMENTED | frozenset(
    {
        "accelerate",
        "analytics",
        "cors",
        "defaultObjectAcl",
        "inventory",
        "metrics",
        "object-lock",
        "replication",
        "restore",
        "select",
        "select-type",
        "storageClass",
        "tagging",
    }
)
# boto 2 signs a shorter list plus Google Cloud Storage extras.
_BOTO2 = (_BOTOCORE - {"accelerate", "analytics", "inventory", "metrics", "object-lock"}) | {
    "websiteConfig",
    "compose",
    "billing",
    "userProject",
}
# minio-go (and MinIO) also sign a few newer S3 sub-resources.
_EVERY = _BOTOCORE | _BOTO2 | {"encryption", "legal-hold", "retention"}
# Tried in this order; the first is the one an error reports.
_SUBRESOURCE_SETS = (_EVERY, _BOTOCORE, _BOTO2, _DOCUMENTED)

_QUERY_REQUIRED = (
    "Query-string authentication requires the Signature, Expires and AWSAccessKeyId parameters"
)


def verify_header(
    req: RequestParts,
    headers: HeaderMap,
    authorization: str,
    credentials: Mapping[str, str],
    now: datetime,
) -> AuthResult:
    """Verify ``Authorization: AWS AKID:signature``; the request time must be within 15 minutes."""
    access_key, signature = _parse_authorization(authorization)
    secret = _secret_for(access_key, credentials)

    # "When an x-amz-date header is present ... use the empty string for the Date."
    amz_date = first_header(headers, "x-amz-date")
    date = first_header(headers, "date")
    sent = amz_date if amz_date is not None else date
    when = None if sent is None else _parse_http_date(sent)
    if sent is None or when is None:
        raise S3Error(
            "AccessDenied", "AWS authentication requires a valid Date or x-amz-date header"
        )
    if abs(now - when) > MAX_SKEW:
        raise S3Error(
            "RequestTimeTooSkewed",
            RequestTime=sent.strip(),
            ServerTime=_iso(now),
            MaxAllowedSkewMilliseconds=str(int(MAX_SKEW.total_seconds() * 1000)),
        )
    if amz_date is None:
        date_lines = [sent.strip()]
    else:
        # botocore's HmacV1Auth always signs the Date header, even next to an
        # x-amz-date a caller added; accept that as well as the documented empty line.
        date_lines = [""] if date is None else ["", date.strip()]
    _check(req, headers, [], date_lines, access_key, secret, signature)
    return AuthResult(access_key, "sigv2-header", None)


def verify_query(
    req: RequestParts,
    headers: HeaderMap,
    params: Mapping[str, str],
    credentials: Mapping[str, str],
    now: datetime,
) -> AuthResult:
    """Verify a SigV2 presigned URL: ``AWSAccessKeyId``, ``Signature`` and ``Expires`` in the query.

    ``params`` holds those three (percent-decoded, first occurrence of each) when present.
    """
    access_key = params.get("AWSAccessKeyId")
    signature = params.get("Signature")
    expires_text = params.get("Expires")
    if not access_key or not signature or expires_text is None:
        raise S3Error("AccessDenied", _QUERY_REQUIRED)
    # Sixteen digits of seconds reach past the year 31 million: longer is junk, not a date.
    if not (expires_text.isascii() and expires_text.isdigit()) or len(expires_text) > 15:
        raise S3Error(
            "AccessDenied", f"Invalid date (should be seconds since epoch): {expires_text}"
        )
    secret = _secret_for(access_key, credentials)
    # No clock-skew allowance here: the docs apply that to header-signed requests only,
    # and an Expires in the past is what the URL's creator asked for.
    expires = int(expires_text)
    if now.timestamp() > expires:
        raise S3Error(
            "AccessDenied",
            "Request has expired",
            Expires=_iso(datetime.fromtimestamp(expires, UTC)),
            ServerTime=_iso(now),
        )
    # x-amz-* query parameters are signed as if they were headers (botocore moves
    # x-amz-* headers, e.g. x-amz-security-token, into the presigned URL).
    amz_params = [
        (name.lower(), value or "")
        for name, value in _raw_items(req.raw_query)
        if name.lower().startswith("x-amz-")
    ]
    _check(req, headers, amz_params, [expires_text], access_key, secret, signature)
    return AuthResult(access_key, "sigv2-query", None)


# --- the string to sign -------------------------------------------------------------


def _check(
    req: RequestParts,
    headers: HeaderMap,
    amz_params: list[tuple[str, str]],
    date_lines: list[str],
    access_key: str,
    secret: str,
    provided: str,
) -> None:
    """Compare the signature with each accepted canonical form; raise SignatureDoesNotMatch."""
    key = utf8(secret)
    provided_ok = provided.isascii()
    first = ""
    for string_to_sign in _strings_to_sign(req, headers, amz_params, date_lines):
        first = first or string_to_sign
        expected = base64.b64encode(hmac.digest(key, utf8(string_to_sign), "sha1")).decode()
        if provided_ok and hmac.compare_digest(expected, provided):
            return
    raise S3Error(
        "SignatureDoesNotMatch",
        AWSAccessKeyId=access_key,
        StringToSign=first,
        SignatureProvided=provided,
        StringToSignBytes=utf8(first).hex(" "),
    )


def _strings_to_sign(
    req: RequestParts,
    headers: HeaderMap,
    amz_params: list[tuple[str, str]],
    date_lines: list[str],
) -> Iterator[str]:
    """Every accepted StringToSign, the documented canonical form first, without repeats."""
    content_md5 = (first_header(headers, "content-md5") or "").strip()
    content_type = (first_header(headers, "content-type") or "").strip()
    head = f"{req.method}\n{content_md5}\n{content_type}\n"
    amz_forms = _unique([_amz_headers(headers, amz_params, fold) for fold in (False, True)])
    resources = _resources(req)
    seen: set[str] = set()
    for date, amz, resource in itertools.product(date_lines, amz_forms, resources):
        text = f"{head}{date}\n{amz}{resource}"
        if text not in seen:
            seen.add(text)
            yield text


def _amz_headers(headers: HeaderMap, amz_params: list[tuple[str, str]], fold: bool) -> str:
    """CanonicalizedAmzHeaders: ``name:v1,v2\\n`` for each x-amz-* header, sorted by name.

    Values are trimmed; ``fold`` also collapses inner whitespace runs (the documented
    unfolding, as some servers apply it) where botocore and boto 2 only trim.
    """
    grouped: dict[str, list[str]] = {
        name: list(values) for name, values in headers.items() if name.startswith("x-amz-")
    }
    for name, value in amz_params:
        grouped.setdefault(name, []).append(value)
    lines = []
    for name in sorted(grouped):
        values = [" ".join(v.split()) if fold else v.strip() for v in grouped[name]]
        lines.append(f"{name}:{','.join(values)}\n")
    return "".join(lines)


def _resources(req: RequestParts) -> list[str]:
    """CanonicalizedResource candidates: path as sent (or fully re-encoded) + signed sub-resources.

    The path is signed "literally as it appears in the HTTP request"; the re-encoded form
    covers clients that sign more escapes than they send, as for SigV4; a bucket-only path
    is also tried with the trailing slash SigV2 clients add. Path-style only:
    aios3 has no virtual-hosted buckets, so the bucket is always in the path already.
    """
    raw_path = req.raw_path or "/"
    paths = [raw_path, encoded_path(raw_path)]
    if raw_path.count("/") == 1 and len(raw_path) > 1:
        # botocore and boto 2 sign a bucket-only path as "/bucket/" (botocore: "the
        # auth_path must be terminated with a '/' ... that the server will accept").
        paths += [path + "/" for path in paths]
    paths = _unique(paths)
    items = _raw_items(req.raw_query) if req.raw_query else []
    suffixes = _unique(
        [
            _subresources(items, names, keep_equals)
            for names in _SUBRESOURCE_SETS
            for keep_equals in (True, False)
        ]
    )
    return [path + suffix for path in paths for suffix in suffixes]


def _subresources(items: list[tuple[str, str | None]], names: frozenset[str], keep: bool) -> str:
    """``?a&b=value`` of the signed sub-resources, sorted by name, values decoded.

    botocore and boto 2 keep an ``=`` that was sent with an empty value (``uploads=``);
    the docs append a value only "if it has one". ``keep`` picks between the two.
    """
    signed = sorted(
        [(name, value) for name, value in items if name in names], key=lambda item: item[0]
    )
    if not signed:
        return ""
    parts = [
        name if value is None or (not value and not keep) else f"{name}={value}"
        for name, value in signed
    ]
    return "?" + "&".join(parts)


def _raw_items(raw_query: str) -> list[tuple[str, str | None]]:
    """Query items as decoded ``(name, value)``; value None when no ``=`` was sent.

    Unlike ``parse_query`` this keeps whether ``=`` was present; ``+`` stays a plus.
    """
    items: list[tuple[str, str | None]] = []
    for item in raw_query.split("&"):
        if item:
            name, eq, value = item.partition("=")
            items.append((_decode(name), _decode(value) if eq else None))
    return items


# --- parsing and small helpers ------------------------------------------------------


def _parse_authorization(value: str) -> tuple[str, str]:
    """Split ``AWS AKID:signature``; anything else is the InvalidArgument S3 answers."""
    _, _, rest = value.strip().partition(" ")
    access_key, colon, signature = rest.strip().partition(":")
    if not colon or not access_key or not signature or " " in access_key:
        raise S3Error(
            "InvalidArgument",
            "AWS authorization header is invalid.  Expected AwsAccessKeyId:signature",
            ArgumentName="Authorization",
            ArgumentValue=value,
        )
    return access_key, signature.strip()


def _secret_for(access_key: str, credentials: Mapping[str, str]) -> str:
    secret = credentials.get(access_key)
    if secret is None:
        raise S3Error("InvalidAccessKeyId", AWSAccessKeyId=access_key)
    return secret


def _parse_http_date(text: str) -> datetime | None:
    """An RFC 1123 date (RFC 2616's other forms too), or a SigV4-style basic ISO 8601 stamp."""
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        try:
            when = datetime.strptime(text.strip(), "%Y%m%dT%H%M%SZ")
        except ValueError:
            return None
    return when.replace(tzinfo=UTC) if when.tzinfo is None else when.astimezone(UTC)


def _decode(text: str) -> str:
    """Percent-decode to text; bytes that are not UTF-8 survive through surrogateescape."""
    return unquote_to_bytes(text).decode("utf-8", "surrogateescape")


def _unique(values: list[str]) -> list[str]:
    return list(dict.fromkeys(values))


def _iso(when: datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")
