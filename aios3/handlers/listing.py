"""ListObjects (v1) and ListObjectsV2: the request's arguments in, the XML page out."""

from __future__ import annotations

import base64
import binascii
import functools
from typing import Any

from aiohttp import web

from aios3 import xml
from aios3.errors import S3Error
from aios3.handlers.context import S3Request
from aios3.storage import ListedRow, ListPage

_XML = "application/xml"
_MAX_KEYS = 1000
_INT_MAX = 2**31 - 1


def count_argument(
    s3: S3Request, name: str = "max-keys", *, default: int = _MAX_KEYS, cap: int = _MAX_KEYS
) -> int:
    """A non-negative count parameter (max-keys, max-uploads, max-parts, ...), at most
    ``cap``; anything but plain digits within a signed 32-bit int is InvalidArgument."""
    raw = s3.query.get(name)
    if raw is None:
        return default
    # int() alone would also take " 5", "+5" and "1_000", which S3 refuses.
    digits = raw.isascii() and raw.isdigit() and len(raw) <= 10
    value = int(raw) if digits else -1
    if not 0 <= value <= _INT_MAX:
        raise S3Error(
            "InvalidArgument",
            f"Provided {name} not an integer or within integer range",
            ArgumentName=name,
            ArgumentValue=raw,
        )
    return min(value, cap)


def url_encoding(s3: S3Request) -> bool:
    encoding = s3.query.get("encoding-type")
    if encoding is None:
        return False
    if encoding.lower() != "url":
        raise S3Error(
            "InvalidArgument",
            "Invalid Encoding Method specified in Request",
            ArgumentName="encoding-type",
            ArgumentValue=encoding,
        )
    return True


def _contents(rows: list[ListedRow], url: bool) -> xml.Fragment:
    """The page's ``Contents`` elements, written directly (a page holds up to 1,000):
    the same markup ``xml.render`` writes for Key, LastModified, ETag, checksums, Size,
    Owner (when it was read) and StorageClass in that order. As little as possible is
    done per key: a key is only encoded if it needs it, and the checksum elements are
    written again only when they differ from the previous key's."""
    plain = xml.is_plain_url if url else xml.is_plain_text
    encode = xml.url_encode if url else xml.text
    iso8601 = xml.iso8601
    previous = checks = ""
    parts = []
    for key, size, etag, modified, owner, checksums in rows:  # ListedObject's fields
        if checksums != previous:
            previous, checks = checksums, _checksums(checksums)
        # ETags are hex digests (with "-N" for multipart): nothing to escape.
        parts.append(
            f"<Contents><Key>{key if plain(key) else encode(key)}</Key><LastModified>"
            f'{iso8601(modified)}</LastModified><ETag>"{etag}"</ETag>{checks}<Size>{size}'
            f"</Size>{'' if owner is None else _owner(owner)}"
            "<StorageClass>STANDARD</StorageClass></Contents>"
        )
    return xml.Fragment("".join(parts))


@functools.lru_cache(maxsize=64)
def _checksums(checksums: str) -> str:
    """``ChecksumAlgorithm`` elements and ``ChecksumType`` (see ListedObject.checksums)."""
    if not checksums:
        return ""
    *names, checksum_type = checksums.split()
    algorithms = "".join(
        f"<ChecksumAlgorithm>{xml.text(name)}</ChecksumAlgorithm>" for name in names
    )
    return f"{algorithms}<ChecksumType>{xml.text(checksum_type)}</ChecksumType>"


@functools.lru_cache(maxsize=64)
def _owner(access_key: str) -> str:
    owner = xml.owner(access_key)
    return (
        f"<Owner><ID>{xml.text(owner['ID'])}</ID>"
        f"<DisplayName>{xml.text(owner['DisplayName'])}</DisplayName></Owner>"
    )


def _page_body(page: ListPage, url: bool) -> dict[str, Any]:
    body: dict[str, Any] = {}
    if page.rows:
        body["Contents"] = _contents(page.rows, url)
    if page.common_prefixes:
        encode = xml.url_encode if url else xml.text
        body["CommonPrefixes"] = xml.Fragment(
            "".join(
                f"<CommonPrefixes><Prefix>{encode(prefix)}</Prefix></CommonPrefixes>"
                for prefix in page.common_prefixes
            )
        )
    if url:
        body["EncodingType"] = "url"
    return body


async def list_objects(s3: S3Request) -> web.StreamResponse:
    url = url_encoding(s3)
    max_keys = count_argument(s3)
    prefix = s3.query.get("prefix", "")
    delimiter = s3.query.get("delimiter", "")
    marker = s3.query.get("marker", "")
    page = await s3.storage.list_objects(
        s3.bucket, prefix=prefix, delimiter=delimiter, start_after=marker, max_keys=max_keys
    )
    body: dict[str, Any] = {
        "Name": s3.bucket,
        "Prefix": xml.encoded(prefix, url),
        "Marker": xml.encoded(marker, url),
    }
    # NextMarker is only returned with a delimiter; without one, clients resume after
    # the last key (ListObjects reference).
    if delimiter and page.is_truncated and page.last is not None:
        body["NextMarker"] = xml.encoded(page.last, url)
    body["MaxKeys"] = str(max_keys)
    if delimiter:
        body["Delimiter"] = xml.encoded(delimiter, url)
    body["IsTruncated"] = "true" if page.is_truncated else "false"
    body.update(_page_body(page, url))
    return web.Response(body=xml.render("ListBucketResult", body), content_type=_XML)


def encode_token(last: str) -> str:
    """An opaque continuation token naming where the next page starts after."""
    return base64.urlsafe_b64encode(last.encode("utf-8")).decode("ascii")


def decode_token(token: str) -> str:
    try:
        return base64.urlsafe_b64decode(token.encode("ascii")).decode("utf-8")
    except (binascii.Error, ValueError, UnicodeError):
        raise S3Error(
            "InvalidArgument",
            "The continuation token provided is incorrect",
            ArgumentName="continuation-token",
            ArgumentValue=token,
        ) from None


async def list_objects_v2(s3: S3Request) -> web.StreamResponse:
    url = url_encoding(s3)
    max_keys = count_argument(s3)
    prefix = s3.query.get("prefix", "")
    delimiter = s3.query.get("delimiter", "")
    token = s3.query.get("continuation-token")
    start_after = s3.query.get("start-after", "")
    fetch_owner = (s3.query.get("fetch-owner") or "").lower() == "true"
    resume = decode_token(token) if token is not None else start_after
    page = await s3.storage.list_objects(
        s3.bucket,
        prefix=prefix,
        delimiter=delimiter,
        start_after=resume,
        max_keys=max_keys,
        fetch_owner=fetch_owner,
    )
    body: dict[str, Any] = {"Name": s3.bucket, "Prefix": xml.encoded(prefix, url)}
    if token is not None:
        body["ContinuationToken"] = token
    if page.is_truncated and page.last is not None:
        body["NextContinuationToken"] = encode_token(page.last)
    body["KeyCount"] = str(len(page.rows) + len(page.common_prefixes))
    body["MaxKeys"] = str(max_keys)
    if delimiter:
        body["Delimiter"] = xml.encoded(delimiter, url)
    body["IsTruncated"] = "true" if page.is_truncated else "false"
    if start_after:
        body["StartAfter"] = xml.encoded(start_after, url)
    body.update(_page_body(page, url))
    return web.Response(body=xml.render("ListBucketResult", body), content_type=_XML)
