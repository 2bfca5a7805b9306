"""Single-object operations: PutObject, GetObject, HeadObject, DeleteObject."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO

from aiohttp import web

from aios3.errors import S3Error
from aios3.handlers.conditions import ByteRange, check_conditions, etag_matches, parse_range
from aios3.handlers.context import S3Request
from aios3.handlers.headers import body_checks, checksum_headers, new_object, object_headers
from aios3.storage import ObjectInfo

# response-* query parameters and the header each one overrides (GetObject reference).
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
_FALLBACK_CHUNK = 1 << 20


async def put_object(s3: S3Request) -> web.StreamResponse:
    length = s3.request.content_length
    if length is None:
        raise S3Error("MissingContentLength")
    new = new_object(s3.headers, s3.principal)
    checks = body_checks(s3.headers)
    if length > 5 * 1024**3:
        raise S3Error("EntityTooLarge", ProposedSize=str(length), MaxSizeAllowed=str(5 * 1024**3))
    info = await s3.storage.put_object(
        s3.bucket,
        s3.key,
        _exactly(s3, length),
        new,
        checks,
        precondition=_write_condition(s3),
    )
    headers = {"ETag": f'"{info.etag}"', **checksum_headers(info.checksums)}
    if info.checksums:
        headers["x-amz-checksum-type"] = "FULL_OBJECT"
    return web.Response(headers=headers)


def _write_condition(s3: S3Request) -> Callable[[ObjectInfo | None], None] | None:
    """Conditional writes (PutObject reference, If-Match / If-None-Match): checked by
    storage against the current version inside the commit, so two racing writers
    cannot both pass an If-None-Match: *."""
    if_match = s3.header("If-Match")
    if_none_match = s3.header("If-None-Match")
    if if_match is None and if_none_match is None:
        return None
    if if_none_match is not None and if_none_match.strip() != "*":
        # S3 only supports ``*`` here.
        raise S3Error("NotImplemented", Header="If-None-Match")

    def check(current: ObjectInfo | None) -> None:
        if if_none_match is not None and current is not None:
            raise S3Error("PreconditionFailed", Condition="If-None-Match")
        if if_match is not None:
            if current is None:
                raise S3Error("NoSuchKey", Key=s3.key)
            if not etag_matches(if_match, current.etag):
                raise S3Error("PreconditionFailed", Condition="If-Match")

    return check


async def _exactly(s3: S3Request, length: int) -> AsyncIterator[bytes]:
    """The body, which must be exactly Content-Length bytes long."""
    received = 0
    async for chunk in s3.body():
        received += len(chunk)
        yield chunk
    if received != length:
        raise S3Error("IncompleteBody")


def _read_headers(s3: S3Request, info: ObjectInfo, *, ranged: bool) -> dict[str, str]:
    # A whole-object checksum says nothing about a range, so S3 leaves it out there.
    with_checksums = not ranged and (s3.header("x-amz-checksum-mode") or "").upper() == "ENABLED"
    headers = object_headers(info, with_checksums=with_checksums)
    for param, header in _OVERRIDES.items():
        value = s3.query.get(param)
        if value is not None:
            headers[header] = value
    return headers


def _not_modified(error: S3Error, info: ObjectInfo) -> S3Error:
    if error.code == "NotModified":
        error.headers.update({"ETag": f'"{info.etag}"'})
    return error


async def head_object(s3: S3Request) -> web.StreamResponse:
    info = await s3.storage.head_object(s3.bucket, s3.key)
    try:
        check_conditions(info, s3.header)
    except S3Error as error:
        raise _not_modified(error, info) from None
    byte_range = parse_range(s3.header("Range"), info.size)
    headers = _read_headers(s3, info, ranged=byte_range is not None)
    if byte_range is None:
        return _head(headers, info.size)
    headers["Content-Range"] = f"bytes {byte_range.start}-{byte_range.end}/{info.size}"
    response = _head(headers, byte_range.length)
    response.set_status(206)
    return response


def _head(headers: dict[str, str], length: int) -> web.StreamResponse:
    response = web.StreamResponse(headers=headers)
    response.content_length = length
    return response


async def get_object(s3: S3Request) -> web.StreamResponse:
    opened = await s3.storage.open_object(s3.bucket, s3.key)
    try:
        info = opened.info
        try:
            check_conditions(info, s3.header)
        except S3Error as error:
            raise _not_modified(error, info) from None
        byte_range = parse_range(s3.header("Range"), info.size)
        headers = _read_headers(s3, info, ranged=byte_range is not None)
        response = web.StreamResponse(headers=headers)
        if byte_range is None:
            byte_range = ByteRange(0, info.size - 1)
        else:
            response.set_status(206)
            response.headers["Content-Range"] = (
                f"bytes {byte_range.start}-{byte_range.end}/{info.size}"
            )
        response.content_length = max(byte_range.length, 0)
        await _send_file(s3.request, response, opened.file, byte_range)
        return response
    finally:
        opened.close()


async def _send_file(
    request: web.Request, response: web.StreamResponse, file: BinaryIO, byte_range: ByteRange
) -> None:
    """Send part of an open body: the kernel copies it with ``loop.sendfile`` where the
    event loop supports that, else it is read in 1 MiB pieces off the event loop."""
    writer = await response.prepare(request)
    count = max(byte_range.length, 0)
    if count and writer is not None:
        transport = request.transport
        if transport is None:
            raise ConnectionResetError("client went away")
        loop = asyncio.get_running_loop()
        await writer.drain()
        try:
            await loop.sendfile(transport, file, byte_range.start, count)
        except NotImplementedError:
            await _send_by_reading(response, file, byte_range.start, count)
    await response.write_eof()


async def _send_by_reading(
    response: web.StreamResponse, file: BinaryIO, offset: int, count: int
) -> None:
    fd = file.fileno()
    while count > 0:
        chunk = await asyncio.to_thread(os.pread, fd, min(count, _FALLBACK_CHUNK), offset)
        if not chunk:
            raise ConnectionResetError("body file ended early")
        await response.write(chunk)
        offset += len(chunk)
        count -= len(chunk)


async def delete_object(s3: S3Request) -> web.StreamResponse:
    await s3.storage.delete_object(s3.bucket, s3.key)
    return web.Response(status=204)
