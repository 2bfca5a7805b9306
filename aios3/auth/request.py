"""The framework-free view of an HTTP request, and the canonical forms signatures are built on.

The web layer copies the few things auth needs into ``RequestParts`` so that ``auth``
never imports aiohttp and can be tested with plain values. The helpers below turn its raw
parts into the pieces of a SigV4 canonical request ("Create a canonical request" in the
AWS Signature Version 4 docs); they are shared by every signature scheme in ``auth``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple
from urllib.parse import quote, unquote_to_bytes

Pairs = list[tuple[bytes, bytes]]
"""Query parameters as percent-decoded ``(name, value)`` bytes, in arrival order."""
HeaderMap = dict[str, list[str]]
"""Lowercased header name -> its values in arrival order."""


@dataclass(frozen=True, slots=True)
class ChunkChain:
    """What verifying an aws-chunked body's chunk signatures needs from its SigV4 request.

    Each chunk's signature signs the previous one, starting from the request's own
    (the seed), with the request's signing key, timestamp and scope.
    """

    key: bytes
    amz_date: str
    scope: str
    seed: str


class AuthResult(NamedTuple):
    """Who signed the request, how, and which body hash the signature vouches for.
    (Immutable, and a named tuple because one is made per request: a frozen
    dataclass sets each field through ``object.__setattr__``.)"""

    access_key: str
    signing: str
    """``"sigv4-header"``, ``"sigv4-query"``, ``"sigv2-header"`` or ``"sigv2-query"``."""
    content_sha256: str | None
    """Lowercase hex SHA-256 the body must have, or None when the payload is unsigned.

    Always None for SigV2, which does not sign the body, and for streaming bodies.
    """
    streaming: str | None = None
    """The ``STREAMING-...`` value of x-amz-content-sha256 for an aws-chunked body."""
    chain: ChunkChain | None = None
    """Set for the signed streaming forms: what their chunk signatures chain from."""


class RequestParts(NamedTuple):
    """What signature verification needs from an HTTP request, free of any web framework
    (a named tuple, made per request like AuthResult)."""

    method: str
    """HTTP method as sent: ``"GET"``, ``"PUT"``, ..."""
    raw_path: str
    """Path exactly as sent on the wire, still percent-encoded, without the query."""
    raw_query: str
    """Query string exactly as sent (without ``?``), still percent-encoded."""
    headers: tuple[tuple[str, str], ...]
    """Every header ``(name, value)`` in arrival order; names in any case; repeats allowed."""


def utf8(text: str) -> bytes:
    """Encode for hashing; surrogateescape restores the exact bytes of text decoded that way.

    aiohttp decodes header bytes that are not UTF-8 with surrogateescape; signatures are
    over the original bytes.
    """
    return text.encode("utf-8", "surrogateescape")


def parse_query(raw_query: str) -> Pairs:
    """Split and percent-decode a raw query string.

    ``+`` stays a plus: SigV4 percent-decodes only, it is not form encoding. A missing
    ``=`` means an empty value; empty items (``a=1&&b=2``) carry nothing and are skipped.
    """
    global _last_query
    last_query, last_pairs = _last_query
    if raw_query == last_query:
        # The web layer and auth both parse each request's query: parse it once.
        return list(last_pairs)
    pairs: Pairs = []
    for item in raw_query.split("&"):
        if item:
            name, _, value = item.partition("=")
            pairs.append((_unquote(name), _unquote(value) if value else b""))
    _last_query = (raw_query, tuple(pairs))
    return pairs


_last_query: tuple[str, tuple[tuple[bytes, bytes], ...]] = ("", ())


def _unquote(text: str) -> bytes:
    """``unquote_to_bytes``, without its cost for the many parts that hold no escape."""
    return unquote_to_bytes(text) if "%" in text else text.encode("utf-8")


def canonical_query(pairs: Pairs, skip: bytes | None = None) -> str:
    """AWS-encode every name and value, sort by name then value, join ``name=value`` with ``&``.

    ``skip`` names a parameter left out (``X-Amz-Signature`` of a presigned URL).
    """
    if not pairs:
        return ""
    encoded = sorted(
        [(_aws_quote(name), _aws_quote(value)) for name, value in pairs if name != skip]
    )
    return "&".join([f"{name}={value}" for name, value in encoded])


def _aws_quote(raw: bytes) -> str:
    """quote() leaves only A-Za-z0-9-_.~ alone with safe="", and uses uppercase hex.
    Parameter names and most values (algorithm, credential, signed headers) repeat
    from request to request, and quote() costs a Python call per byte: keep them."""
    text = _QUOTED.get(raw)
    if text is None:
        if len(_QUOTED) >= 1024:
            _QUOTED.clear()
        text = _QUOTED[raw] = quote(raw, safe="")
    return text


_QUOTED: dict[bytes, str] = {}


def encoded_path(raw_path: str) -> str:
    """The path re-encoded the AWS way: every byte but unreserved characters and ``/`` escaped.

    S3 does not normalise the canonical URI, and clients disagree on which characters to
    escape on the wire; this is the form a client that escapes everything signed.
    """
    return quote(unquote_to_bytes(utf8(raw_path)), safe="/")


def header_map(headers: tuple[tuple[str, str], ...]) -> HeaderMap:
    """Group headers by lowercased name, keeping repeats in arrival order."""
    out: HeaderMap = {}
    for name, value in headers:
        key = name.lower()
        values = out.get(key)
        if values is None:
            out[key] = [value]
        else:
            values.append(value)
    return out


def first_header(headers: HeaderMap, name: str) -> str | None:
    """The first value of a (lowercase) header, or None when absent."""
    values = headers.get(name)
    return None if values is None else values[0]


def canonical_header_value(values: list[str] | None) -> str:
    """Trim each value, collapse inner whitespace runs to one space, join repeats with commas."""
    if values is None:
        return ""
    if len(values) == 1:
        return " ".join(values[0].split())
    return ",".join([" ".join(value.split()) for value in values])
