"""CopyObject: within and across buckets; the kernel moves the bytes, never Python."""

from __future__ import annotations

from urllib.parse import unquote_to_bytes

from aiohttp import web

from aios3 import xml
from aios3.errors import S3Error
from aios3.handlers.conditions import check_conditions
from aios3.handlers.context import S3Request
from aios3.handlers.headers import new_object

_XML = "application/xml"
_SELF_COPY = (
    "This copy request is illegal because it is trying to copy an object to itself without "
    "changing the object's metadata, storage class, website redirect location or encryption "
    "attributes."
)


def parse_copy_source(value: str) -> tuple[str, str]:
    """Bucket and key of ``x-amz-copy-source`` (``[/]bucket/key[?versionId=...]``,
    percent-encoded)."""
    source = value.split("?", 1)[0]
    try:
        # aiohttp decodes header bytes that are not UTF-8 with surrogateescape: undo that
        # first, so such a header is an invalid copy source, not an encoding crash.
        raw = source.encode("utf-8", "surrogateescape")
        decoded = unquote_to_bytes(raw).decode("utf-8")
    except UnicodeError:
        raise S3Error("InvalidArgument", "Invalid copy source encoding") from None
    bucket, _, key = decoded.lstrip("/").partition("/")
    if not bucket or not key:
        raise S3Error(
            "InvalidArgument",
            "Copy Source must mention the source bucket and key: sourcebucket/sourcekey",
            ArgumentName="x-amz-copy-source",
            ArgumentValue=value,
        )
    return bucket, key


async def copy_object(s3: S3Request) -> web.StreamResponse:
    source_bucket, source_key = parse_copy_source(s3.header("x-amz-copy-source") or "")
    directive = (s3.header("x-amz-metadata-directive") or "COPY").upper()
    if directive not in ("COPY", "REPLACE"):
        raise S3Error(
            "InvalidArgument",
            "Unknown metadata directive.",
            ArgumentName="x-amz-metadata-directive",
            ArgumentValue=directive,
        )
    if (source_bucket, source_key) == (s3.bucket, s3.key) and directive == "COPY":
        raise S3Error("InvalidRequest", _SELF_COPY)
    source = await s3.storage.head_object(source_bucket, source_key)
    check_conditions(source, s3.header, prefix="x-amz-copy-source-")
    new = new_object(s3.headers, s3.principal) if directive == "REPLACE" else None
    info = await s3.storage.copy_object(source, s3.bucket, s3.key, new)
    body = xml.render(
        "CopyObjectResult",
        {
            "LastModified": xml.iso8601(info.last_modified),
            "ETag": f'"{info.etag}"',
            **xml.checksum_elements(info.checksums),
        },
    )
    return web.Response(body=body, content_type=_XML)
