"""Single-object operations: PutObject, GetObject, HeadObject, DeleteObject."""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator, Callable
from typing import BinaryIO

from aiohttp import web
from aiohttp.abc import AbstractStreamWriter

from aios3.errors import S3Error
from aios3.handlers.conditions import ByteRange, check_conditions, etag_matches, parse_range
from aios3.handlers.context import S3Request
from aios3.handlers.headers import body_checks, checksum_headers, new_object, object_headers
from aios3.storage import SMALL_BODY, ObjectInfo

# response-* query parameters and the header each one overrides (GetObject reference).
_OVERRIDES = {
    "response-content-type": "Content-Type",
    "response-content-language": "Content-Language",
    "response-expires": "Expires",
    "response-cache-control": "Cache-Control",
    "response-content-disposition": "Content-Disposition",
    "response-content-encoding": "Content-Encoding",
}
_NOT_IN_HEADERS = re.compile("[\x00-\x08\x0a-\x1f\x7f]")
# A big body is sent in reads of this size when the loop has no sendfile (uvloop has
# none). Measured for 4 parallel 64 MiB GETs on one core (with cli.prime_allocator):
# 1 MiB, 2,010-2,150 MiB/s at 0.37-0.39 ms of CPU per MiB; 512 KiB, 1,940; 256 KiB, 1,500.
_FALLBACK_CHUNK = 1 << 20


async def put_object(s3: S3Request) -> web.StreamResponse:
    length = s3.body_length()
    new = new_object(s3.headers, s3.principal)
    checks = body_checks(s3.headers)
    if length is not None and length > 5 * 1024**3:
        raise S3Error("EntityTooLarge", ProposedSize=str(length), MaxSizeAllowed=str(5 * 1024**3))
    arrived = s3.arrived_body(SMALL_BODY)
    if arrived is not None:
        body: AsyncIterator[bytes] | bytes = arrived
    else:
        stream = s3.body()
        body = stream if length is None else exactly(stream, length)
    info = await s3.storage.put_object(
        s3.bucket, s3.key, body, new, checks, precondition=write_condition(s3)
    )
    headers = {"ETag": f'"{info.etag}"', **checksum_headers(info.checksums)}
    if info.checksums:
        headers["x-amz-checksum-type"] = "FULL_OBJECT"
    return web.Response(headers=headers)


def write_condition(s3: S3Request) -> Callable[[ObjectInfo | None], None] | None:
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


async def exactly(body: AsyncIterator[bytes], length: int) -> AsyncIterator[bytes]:
    """The body, which must be exactly as long as announced (Content-Length, or
    x-amz-decoded-content-length, which the aws-chunked decoder also enforces)."""
    received = 0
    async for chunk in body:
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
            if _NOT_IN_HEADERS.search(value):
                # A CR/LF here would be header injection (aiohttp refuses to send it and
                # drops the connection); other controls have no place in a header.
                raise S3Error(
                    "InvalidArgument",
                    "Header values may not contain control characters.",
                    ArgumentName=param,
                )
            headers[header] = value
    return headers


def _not_modified(error: S3Error, info: ObjectInfo) -> S3Error:
    if error.code == "NotModified":
        error.headers.update({"ETag": f'"{info.etag}"'})
    return error


def part_number_argument(raw: str) -> int:
    """A ``partNumber`` query value: ASCII digits from 1 to 10,000, else InvalidArgument
    (shared by reads of one part and by UploadPart)."""
    number = int(raw) if raw.isascii() and raw.isdigit() and len(raw) <= 5 else 0
    if not 1 <= number <= 10_000:
        raise S3Error(
            "InvalidArgument",
            "Part number must be an integer between 1 and 10000, inclusive",
            ArgumentName="partNumber",
            ArgumentValue=raw,
        )
    return number


def _selection(s3: S3Request, info: ObjectInfo) -> tuple[ByteRange | None, dict[str, str]]:
    """The bytes a read asks for: a Range, a ``partNumber`` (a ranged read of one part,
    GetObject reference), or everything (None); plus headers describing a part read."""
    requested_part = s3.query.get("partNumber")
    if requested_part is None:
        return parse_range(s3.header("Range"), info.size), {}
    if s3.header("Range") is not None:
        raise S3Error(
            "InvalidRequest", "Cannot specify both Range header and partNumber query parameter"
        )
    number = part_number_argument(requested_part)
    if not info.parts:
        # A single-part object answers partNumber=1 with all of itself.
        if number != 1:
            raise S3Error(
                "InvalidPartNumber", PartNumberRequested=requested_part, ActualPartCount="1"
            )
        return (ByteRange(0, info.size - 1) if info.size else None), {}
    if number > len(info.parts):
        raise S3Error(
            "InvalidPartNumber",
            PartNumberRequested=requested_part,
            ActualPartCount=str(len(info.parts)),
        )
    start = sum(part.size for part in info.parts[: number - 1])
    size = info.parts[number - 1].size
    return ByteRange(start, start + size - 1), {"x-amz-mp-parts-count": str(len(info.parts))}


def _read_status(s3: S3Request, info: ObjectInfo) -> tuple[int, dict[str, str], ByteRange]:
    """Status, headers and selected bytes of a GET or HEAD, after its conditions held."""
    try:
        check_conditions(info, s3.header)
    except S3Error as error:
        raise _not_modified(error, info) from None
    selected, extra = _selection(s3, info)
    headers = _read_headers(s3, info, ranged=selected is not None)
    headers.update(extra)
    if selected is None or selected.length <= 0:
        # The whole object, or an empty part: no byte range to name (RFC 9110 14.4).
        selected = ByteRange(0, info.size - 1) if selected is None else selected
        return 200, headers, selected
    headers["Content-Range"] = f"bytes {selected.start}-{selected.end}/{info.size}"
    return 206, headers, selected


def _read_response(s3: S3Request, info: ObjectInfo) -> tuple[web.StreamResponse, ByteRange]:
    """A streamed GET's (or a HEAD's) response, after its conditions held."""
    status, headers, selected = _read_status(s3, info)
    response = web.StreamResponse(status=status, headers=headers)
    response.content_length = max(selected.length, 0)
    return response, selected


async def head_object(s3: S3Request) -> web.StreamResponse:
    info = await s3.storage.head_object(s3.bucket, s3.key)
    response, _ = _read_response(s3, info)
    return response


async def get_object(s3: S3Request) -> web.StreamResponse:
    opened = await s3.storage.open_object(s3.bucket, s3.key)
    if opened.data is not None and s3.truncate_body_after is None:
        # A small body, already read: one plain response, nothing to stream.
        status, headers, selected = _read_status(s3, opened.info)
        body = opened.data[selected.start : selected.start + max(selected.length, 0)]
        s3.bytes_sent = len(body)
        return web.Response(status=status, headers=headers, body=body)
    try:
        response, selected = _read_response(s3, opened.info)
        writer = await response.prepare(s3.request)
        count = max(selected.length, 0)
        # A truncating fault sends fewer bytes than Content-Length announces.
        limit = count if s3.truncate_body_after is None else min(count, s3.truncate_body_after)
        s3.bytes_sent = 0
        if limit and writer is not None and opened.data is not None:
            await response.write(opened.data[selected.start : selected.start + limit])
            s3.bytes_sent = limit
        elif limit and writer is not None:
            pieces = s3.storage.read_pieces(opened, selected.start, limit)
            async for file, offset, length in pieces:
                await _send_file(s3.request, response, writer, file, offset, length)
                s3.bytes_sent += length
        if limit < count:
            _cut_short(s3.request)
            return response
        await response.write_eof()
        return response
    finally:
        opened.close()


def _cut_short(request: web.Request) -> None:
    """End a response before its announced length: close the connection once the
    bytes already written are flushed, so the client reads them and then end of file,
    as from a server that died mid-body. aiohttp's own attempt to finish the response
    then meets a closed connection, which it expects."""
    if request.transport is not None:
        request.transport.close()


async def _send_file(
    request: web.Request,
    response: web.StreamResponse,
    writer: AbstractStreamWriter,
    file: BinaryIO,
    offset: int,
    count: int,
) -> None:
    """Send part of an open body file: the kernel copies it with ``loop.sendfile`` where
    the event loop supports that, else it is read in pieces off the event loop."""
    transport = request.transport
    if transport is None:
        raise ConnectionResetError("client went away")
    await writer.drain()
    try:
        await asyncio.get_running_loop().sendfile(transport, file, offset, count)
    except NotImplementedError:
        await _send_by_reading(response, file, offset, count)


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
    await s3.storage.delete_object(s3.bucket, s3.key, precondition=_delete_condition(s3))
    return web.Response(status=204)


def _delete_condition(s3: S3Request) -> Callable[[ObjectInfo | None], None] | None:
    """DeleteObject's If-Match (DeleteObject reference): decided in the deleting
    transaction; a missing object fails it with NoSuchKey, as AWS answers."""
    if_match = s3.header("If-Match")
    if if_match is None:
        return None

    def check(current: ObjectInfo | None) -> None:
        if current is None:
            raise S3Error("NoSuchKey", Key=s3.key)
        if not etag_matches(if_match, current.etag):
            raise S3Error("PreconditionFailed", Condition="If-Match")

    return check
