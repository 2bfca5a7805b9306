"""Multipart uploads: Create, UploadPart, UploadPartCopy, Complete, Abort, ListParts,
ListMultipartUploads (the "Multipart upload" pages of the S3 API reference)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from aiohttp import web

from aios3 import checksums, xml
from aios3.errors import S3Error
from aios3.handlers.conditions import check_conditions
from aios3.handlers.context import S3Request
from aios3.handlers.copy import parse_copy_source
from aios3.handlers.headers import body_checks, checksum_headers, new_object
from aios3.handlers.listing import count_argument, url_encoding
from aios3.handlers.objects import exactly, part_number_argument, write_condition
from aios3.storage import BodyChecks, CompletedPart, ObjectInfo, Part, UploadInfo, pieces_of

_XML = "application/xml"
_MAX_COMPLETE_BODY = 4 * 1024 * 1024  # 10,000 parts with checksums fit well within this
_MAX_PART_SIZE = 5 * 1024**3


def _checksum_settings(s3: S3Request) -> tuple[str | None, str | None]:
    """The upload's checksum algorithm and type ("Checking object integrity"): CRC64NVME
    exists only as FULL_OBJECT, SHA-1/SHA-256 only as COMPOSITE, the CRC32s as either."""
    algorithm = s3.header("x-amz-checksum-algorithm")
    kind = s3.header("x-amz-checksum-type")
    if algorithm is None:
        if kind is not None:
            raise S3Error(
                "InvalidRequest",
                "The x-amz-checksum-type header can only be used with the x-amz-checksum-algorithm header.",
            )
        return None, None
    algorithm = algorithm.upper()
    if algorithm not in checksums.ALGORITHMS:
        raise S3Error("InvalidRequest", "Checksum algorithm provided is unsupported.")
    default = "FULL_OBJECT" if algorithm == "CRC64NVME" else "COMPOSITE"
    kind = (kind or default).upper()
    if (
        kind not in ("COMPOSITE", "FULL_OBJECT")
        or (kind == "FULL_OBJECT" and algorithm not in checksums.FULL_OBJECT_ALGORITHMS)
        or (kind == "COMPOSITE" and algorithm == "CRC64NVME")
    ):
        raise S3Error(
            "InvalidRequest",
            f"The {kind} checksum type cannot be used with the {algorithm} checksum algorithm.",
        )
    return algorithm, kind


def _checksum_type_headers(upload: UploadInfo) -> dict[str, str]:
    if upload.checksum_algorithm is None:
        return {}
    return {
        "x-amz-checksum-algorithm": upload.checksum_algorithm,
        "x-amz-checksum-type": upload.checksum_type or "COMPOSITE",
    }


async def create_multipart_upload(s3: S3Request) -> web.StreamResponse:
    algorithm, kind = _checksum_settings(s3)
    upload = await s3.storage.uploads.create(
        s3.bucket,
        s3.key,
        new_object(s3.headers, s3.principal),
        checksum_algorithm=algorithm,
        checksum_type=kind,
    )
    body = xml.render(
        "InitiateMultipartUploadResult",
        {"Bucket": s3.bucket, "Key": s3.key, "UploadId": upload.upload_id},
    )
    return web.Response(body=body, content_type=_XML, headers=_checksum_type_headers(upload))


def _part_number(s3: S3Request) -> int:
    return part_number_argument(s3.query.get("partNumber", ""))


def _upload_id(s3: S3Request) -> str:
    return s3.query.get("uploadId", "")


async def _part_checks(s3: S3Request, upload_id: str) -> BodyChecks:
    """The part's digests to verify, plus the upload's own algorithm, always computed
    so that completion can combine the parts' checksums. An upload created without an
    algorithm still ends with a full-object CRC64NVME (as S3 does since December 2024),
    so its parts always get one too, whatever checksum the client sent with them."""
    upload = await s3.storage.uploads.get(upload_id, s3.bucket, s3.key)
    checks = body_checks(s3.headers)
    checks.checksums.setdefault(upload.checksum_algorithm or "CRC64NVME", None)
    return checks


def _part_headers(part: Part) -> dict[str, str]:
    return {"ETag": f'"{part.etag}"', **checksum_headers(part.checksums)}


async def upload_part(s3: S3Request) -> web.StreamResponse:
    number = _part_number(s3)
    upload_id = _upload_id(s3)
    length = s3.body_length()
    if length is not None and length > _MAX_PART_SIZE:
        raise S3Error(
            "EntityTooLarge", ProposedSize=str(length), MaxSizeAllowed=str(_MAX_PART_SIZE)
        )
    checks = await _part_checks(s3, upload_id)
    body = s3.body()
    part = await s3.storage.uploads.upload_part(
        upload_id,
        s3.bucket,
        s3.key,
        number,
        body if length is None else exactly(body, length),
        checks,
    )
    return web.Response(headers=_part_headers(part))


def _copy_range(value: str | None, size: int) -> tuple[int, int]:
    """Start and length of ``x-amz-copy-source-range: bytes=first-last``."""
    if value is None:
        return 0, size
    unit, _, spec = value.partition("=")
    first, _, last = spec.partition("-")
    if unit.strip() != "bytes" or not first.isdigit() or not last.isdigit():
        raise S3Error(
            "InvalidArgument",
            "The x-amz-copy-source-range value must be of the form bytes=first-last where "
            "first and last are the zero-based offsets of the first and last bytes to copy",
            ArgumentName="x-amz-copy-source-range",
            ArgumentValue=value,
        )
    start, end = int(first), int(last)
    if end < start or end >= size:
        raise S3Error("InvalidRange", RangeRequested=value, ActualObjectSize=str(size))
    return start, end - start + 1


async def upload_part_copy(s3: S3Request) -> web.StreamResponse:
    number = _part_number(s3)
    upload_id = _upload_id(s3)
    source_bucket, source_key = parse_copy_source(s3.header("x-amz-copy-source") or "")
    source: ObjectInfo = await s3.storage.head_object(source_bucket, source_key)
    check_conditions(source, s3.header, prefix="x-amz-copy-source-")
    start, length = _copy_range(s3.header("x-amz-copy-source-range"), source.size)
    if length > _MAX_PART_SIZE:
        raise S3Error(
            "EntityTooLarge", ProposedSize=str(length), MaxSizeAllowed=str(_MAX_PART_SIZE)
        )
    checks = await _part_checks(s3, upload_id)
    part = await s3.storage.uploads.upload_part_copy(
        upload_id, s3.bucket, s3.key, number, pieces_of(source, start, length), checks
    )
    body = xml.render(
        "CopyPartResult",
        {
            "LastModified": xml.iso8601(part.last_modified),
            "ETag": f'"{part.etag}"',
            **xml.checksum_elements(part.checksums),
        },
    )
    return web.Response(body=body, content_type=_XML)


def _requested_parts(document: dict[str, Any]) -> list[CompletedPart]:
    parts: list[CompletedPart] = []
    for entry in xml.as_list(document.get("Part")):
        if not isinstance(entry, dict):
            raise S3Error("MalformedXML")
        number, etag = entry.get("PartNumber"), entry.get("ETag")
        if not isinstance(number, str) or not number.strip().isdigit() or not isinstance(etag, str):
            raise S3Error("MalformedXML")
        sums = {
            algorithm: value
            for algorithm in checksums.ALGORITHMS
            if isinstance(value := entry.get(f"Checksum{algorithm}"), str)
        }
        parts.append(CompletedPart(int(number), etag.strip().strip('"'), sums))
    if not parts or len(parts) > 10_000:
        raise S3Error("MalformedXML")
    return parts


def _expected_object(s3: S3Request) -> Callable[[ObjectInfo], None] | None:
    """What CompleteMultipartUpload's headers say the object must be: its size
    (``x-amz-mp-object-size``: InvalidRequest), its checksum type and its whole-object
    checksum (``x-amz-checksum-type`` / ``x-amz-checksum-<algorithm>``: BadDigest),
    as the CompleteMultipartUpload reference describes them."""
    raw_size = s3.header("x-amz-mp-object-size")
    if raw_size is not None and not raw_size.strip().isdigit():
        raise S3Error(
            "InvalidArgument",
            "The x-amz-mp-object-size header must be a non-negative integer.",
            ArgumentName="x-amz-mp-object-size",
            ArgumentValue=raw_size,
        )
    size = int(raw_size) if raw_size is not None else None
    kind = s3.header("x-amz-checksum-type")
    sent = {
        algorithm: checksums.validate(algorithm, value.partition("-")[0])
        for algorithm in checksums.ALGORITHMS
        if (value := s3.header(f"x-amz-checksum-{algorithm.lower()}")) is not None
    }
    if size is None and kind is None and not sent:
        return None

    def check(info: ObjectInfo) -> None:
        if size is not None and size != info.size:
            raise S3Error(
                "InvalidRequest",
                f"The provided 'x-amz-mp-object-size' header value {size} does not match "
                f"what was computed: {info.size}",
            )
        if kind is not None and kind.strip().upper() != info.checksum_type:
            raise S3Error(
                "BadDigest",
                f"The checksum type {kind} does not match the upload's {info.checksum_type}.",
            )
        for algorithm, value in sent.items():
            stored = info.checksums.get(algorithm)
            if stored is None:
                raise S3Error(
                    "InvalidRequest",
                    f"The upload was not created with the {algorithm} checksum algorithm.",
                )
            if value != stored.partition("-")[0]:
                raise S3Error(
                    "BadDigest",
                    f"The {algorithm} you specified did not match the calculated checksum.",
                )

    return check


async def complete_multipart_upload(s3: S3Request) -> web.StreamResponse:
    upload_id = _upload_id(s3)
    expected = _expected_object(s3)
    document = xml.parse(await s3.small_body(_MAX_COMPLETE_BODY), "CompleteMultipartUpload")
    info = await s3.storage.uploads.complete(
        upload_id,
        s3.bucket,
        s3.key,
        _requested_parts(document),
        precondition=write_condition(s3),
        verify=expected,
    )
    result: dict[str, Any] = {
        "Location": f"{s3.request.scheme}://{s3.request.host}/{s3.bucket}/{s3.key}",
        "Bucket": s3.bucket,
        "Key": s3.key,
        "ETag": f'"{info.etag}"',
        **xml.checksum_elements(info.checksums),
    }
    if info.checksums:
        result["ChecksumType"] = info.checksum_type
    return web.Response(body=xml.render("CompleteMultipartUploadResult", result), content_type=_XML)


async def abort_multipart_upload(s3: S3Request) -> web.StreamResponse:
    await s3.storage.uploads.abort(_upload_id(s3), s3.bucket, s3.key)
    return web.Response(status=204)


async def list_parts(s3: S3Request) -> web.StreamResponse:
    marker = count_argument(s3, "part-number-marker", default=0, cap=10_000)
    max_parts = count_argument(s3, "max-parts")
    page = await s3.storage.uploads.list_parts(
        _upload_id(s3), s3.bucket, s3.key, marker=marker, max_parts=max_parts
    )
    upload = page.upload
    body: dict[str, Any] = {
        "Bucket": s3.bucket,
        "Key": s3.key,
        "UploadId": upload.upload_id,
        "PartNumberMarker": str(marker),
    }
    if page.next_marker is not None:
        body["NextPartNumberMarker"] = str(page.next_marker)
    body["MaxParts"] = str(max_parts)
    body["IsTruncated"] = "true" if page.is_truncated else "false"
    if page.parts:
        body["Part"] = [
            {
                "PartNumber": str(part.number),
                "LastModified": xml.iso8601(part.last_modified),
                "ETag": f'"{part.etag}"',
                "Size": str(part.size),
                **xml.checksum_elements(part.checksums),
            }
            for part in page.parts
        ]
    body["Initiator"] = xml.owner(upload.owner)
    body["Owner"] = xml.owner(upload.owner)
    body["StorageClass"] = "STANDARD"
    if upload.checksum_algorithm is not None:
        body["ChecksumAlgorithm"] = upload.checksum_algorithm
        body["ChecksumType"] = upload.checksum_type or "COMPOSITE"
    return web.Response(body=xml.render("ListPartsResult", body), content_type=_XML)


async def list_multipart_uploads(s3: S3Request) -> web.StreamResponse:
    url = url_encoding(s3)
    max_uploads = count_argument(s3, "max-uploads")
    prefix = s3.query.get("prefix", "")
    delimiter = s3.query.get("delimiter", "")
    key_marker = s3.query.get("key-marker", "")
    upload_id_marker = s3.query.get("upload-id-marker", "") if key_marker else ""
    page = await s3.storage.uploads.list_uploads(
        s3.bucket,
        prefix=prefix,
        delimiter=delimiter,
        key_marker=key_marker,
        upload_id_marker=upload_id_marker,
        max_uploads=max_uploads,
    )
    body: dict[str, Any] = {
        "Bucket": s3.bucket,
        "KeyMarker": xml.encoded(key_marker, url),
        "UploadIdMarker": upload_id_marker,
    }
    if page.is_truncated:
        body["NextKeyMarker"] = xml.encoded(page.next_key or "", url)
        body["NextUploadIdMarker"] = page.next_upload_id or ""
    body["Prefix"] = xml.encoded(prefix, url)
    if delimiter:
        body["Delimiter"] = xml.encoded(delimiter, url)
    body["MaxUploads"] = str(max_uploads)
    body["IsTruncated"] = "true" if page.is_truncated else "false"
    if page.uploads:
        body["Upload"] = [_upload_entry(upload, url) for upload in page.uploads]
    if page.common_prefixes:
        body["CommonPrefixes"] = xml.prefixes(page.common_prefixes, url)
    if url:
        body["EncodingType"] = "url"
    return web.Response(body=xml.render("ListMultipartUploadsResult", body), content_type=_XML)


def _upload_entry(upload: UploadInfo, url: bool) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "Key": xml.encoded(upload.key, url),
        "UploadId": upload.upload_id,
        "Initiator": xml.owner(upload.owner),
        "Owner": xml.owner(upload.owner),
        "StorageClass": "STANDARD",
        "Initiated": xml.iso8601(upload.initiated),
    }
    if upload.checksum_algorithm is not None:
        entry["ChecksumAlgorithm"] = upload.checksum_algorithm
        entry["ChecksumType"] = upload.checksum_type or "COMPOSITE"
    return entry
