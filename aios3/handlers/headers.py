"""Object headers in both directions: what a writer sends, what a reader gets back."""

from __future__ import annotations

from collections.abc import Mapping

from multidict import CIMultiDictProxy

from aios3 import checksums
from aios3.auth.chunked import trailer_algorithm
from aios3.errors import S3Error
from aios3.handlers.context import http_date
from aios3.storage import BodyChecks, NewObject, ObjectInfo

# Stored as sent and returned on GET/HEAD (PutObject reference).
CONTENT_HEADERS = (
    "Content-Type",
    "Content-Encoding",
    "Content-Disposition",
    "Content-Language",
    "Cache-Control",
    "Expires",
)
DEFAULT_CONTENT_TYPE = "binary/octet-stream"
_META = "x-amz-meta-"
_MAX_METADATA = 2048  # bytes of keys + values, UTF-8 ("Working with object metadata")


def new_object(headers: CIMultiDictProxy[str], owner: str) -> NewObject:
    """Content headers and user metadata of a PutObject / CopyObject REPLACE request."""
    content = {name: headers[name] for name in CONTENT_HEADERS if name in headers}
    content.setdefault("Content-Type", DEFAULT_CONTENT_TYPE)
    encoding = content.get("Content-Encoding")
    if encoding is not None:
        # aws-chunked is transfer framing, never part of the stored object.
        kept = [e.strip() for e in encoding.split(",") if e.strip() and e.strip() != "aws-chunked"]
        if kept:
            content["Content-Encoding"] = ", ".join(kept)
        else:
            del content["Content-Encoding"]
    metadata: dict[str, str] = {}
    for name, value in headers.items():
        lower = name.lower()
        if lower.startswith(_META):
            field = lower[len(_META) :]
            metadata[field] = f"{metadata[field]},{value}" if field in metadata else value
    try:
        size = sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())
        for value in content.values():
            value.encode()
    except UnicodeEncodeError:
        # Header bytes that are not UTF-8 (aiohttp hands them over surrogate-escaped):
        # nothing could store them or give them back.
        raise S3Error(
            "InvalidArgument", "Content headers and user metadata must be valid UTF-8."
        ) from None
    if size > _MAX_METADATA:
        raise S3Error("MetadataTooLarge", Size=str(size), MaxSizeAllowed=str(_MAX_METADATA))
    return NewObject(owner=owner, content_headers=content, metadata=metadata)


def body_checks(headers: CIMultiDictProxy[str]) -> BodyChecks:
    """The digests a writer sent: Content-MD5 and at most one x-amz-checksum-*, as a
    header or announced by ``x-amz-trailer`` for an aws-chunked body's trailer.

    A trailer's value only arrives after the data: the aws-chunked decoder compares it,
    so here its algorithm is only asked for (computed and stored). With no checksum at
    all we compute CRC64NVME, as S3 has done for every new object since December 2024
    ("Checking object integrity").
    """
    md5_header = headers.get("Content-MD5")
    content_md5 = checksums.decode_md5(md5_header) if md5_header is not None else None
    sent = {
        algorithm: headers[f"x-amz-checksum-{algorithm.lower()}"]
        for algorithm in checksums.ALGORITHMS
        if f"x-amz-checksum-{algorithm.lower()}" in headers
    }
    if len(sent) > 1:
        raise S3Error(
            "InvalidRequest",
            "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
        )
    wanted: dict[str, str | None] = {
        algorithm: checksums.validate(algorithm, value) for algorithm, value in sent.items()
    }
    trailer = headers.get("x-amz-trailer")
    if trailer is not None and trailer.strip():
        algorithm = trailer_algorithm(trailer.strip().lower())
        if wanted and algorithm not in wanted:
            raise S3Error(
                "InvalidRequest",
                "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.",
            )
        wanted.setdefault(algorithm, None)
    declared = headers.get("x-amz-sdk-checksum-algorithm") or headers.get(
        "x-amz-checksum-algorithm"
    )
    if declared is not None:
        algorithm = declared.upper()
        if algorithm not in checksums.ALGORITHMS:
            raise S3Error(
                "InvalidRequest",
                "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]",
            )
        if wanted and algorithm not in wanted:
            raise S3Error(
                "InvalidRequest", "Value for x-amz-sdk-checksum-algorithm header is invalid."
            )
        wanted.setdefault(algorithm, None)
    if not wanted:
        wanted["CRC64NVME"] = None
    return BodyChecks(content_md5=content_md5, checksums=wanted)


def object_headers(info: ObjectInfo, *, with_checksums: bool) -> dict[str, str]:
    """Response headers describing a stored object (GetObject / HeadObject)."""
    headers = {
        "ETag": f'"{info.etag}"',
        "Last-Modified": http_date(info.last_modified),
        "Accept-Ranges": "bytes",
    }
    headers.update(info.content_headers)
    headers.setdefault("Content-Type", DEFAULT_CONTENT_TYPE)
    for name, value in info.metadata.items():
        headers[_META + name] = value
    if with_checksums and info.checksums:
        headers.update(checksum_headers(info.checksums))
        headers["x-amz-checksum-type"] = info.checksum_type
    return headers


def checksum_headers(values: Mapping[str, str]) -> dict[str, str]:
    return {f"x-amz-checksum-{name.lower()}": value for name, value in values.items()}
