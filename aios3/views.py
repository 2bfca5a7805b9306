"""The three views of the route table: service root, bucket, object.

Each view turns the raw request into an ``S3Request``: bucket and key from the raw,
still-encoded path, the operation from the routing table, the principal from auth;
then it calls the operation's handler. Operations that routing knows but no handler
implements answer NotImplemented.

Access control lives here too, once for every operation: a bucket belongs to the user
who created it, and nobody else may do anything with it or its objects.

So do injected faults (see ``aios3.faults``): they act once the operation is known and
its caller authenticated, before the handler runs. And the view tells the request
journal what it learnt (operation, names, signing form) through the request's trace.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote_to_bytes

from aiohttp import HttpVersion11, hdrs, web
from multidict import MultiDict
from yarl import URL

from aios3.auth import AuthResult, RequestParts, authenticate, is_anonymous
from aios3.auth.request import parse_query
from aios3.config import Config
from aios3.errors import S3Error
from aios3.faults import Fault
from aios3.handlers import buckets, copy, listing, multi_delete, multipart, objects
from aios3.handlers.context import S3Request, effective_headers
from aios3.journal import Trace, checksum_algorithm
from aios3.keys import CONFIG, FAULTS, STORAGE, TRACE
from aios3.routing import Level, Op, resolve
from aios3.storage import Storage

Handler = Callable[[S3Request], Awaitable[web.StreamResponse]]

HANDLERS: dict[Op, Handler] = {
    Op.ListBuckets: buckets.list_buckets,
    Op.CreateBucket: buckets.create_bucket,
    Op.DeleteBucket: buckets.delete_bucket,
    Op.HeadBucket: buckets.head_bucket,
    Op.GetBucketLocation: buckets.get_bucket_location,
    Op.ListObjects: listing.list_objects,
    Op.ListObjectsV2: listing.list_objects_v2,
    Op.DeleteObjects: multi_delete.delete_objects,
    Op.PutObject: objects.put_object,
    Op.GetObject: objects.get_object,
    Op.HeadObject: objects.head_object,
    Op.DeleteObject: objects.delete_object,
    Op.CopyObject: copy.copy_object,
    Op.CreateMultipartUpload: multipart.create_multipart_upload,
    Op.UploadPart: multipart.upload_part,
    Op.UploadPartCopy: multipart.upload_part_copy,
    Op.CompleteMultipartUpload: multipart.complete_multipart_upload,
    Op.AbortMultipartUpload: multipart.abort_multipart_upload,
    Op.ListParts: multipart.list_parts,
    Op.ListMultipartUploads: multipart.list_multipart_uploads,
}

MAX_KEY_BYTES = 1024

_UPLOADS = frozenset({"PUT", "POST"})

# Operations that read another bucket named by ``x-amz-copy-source``.
_COPIES = frozenset({Op.CopyObject, Op.UploadPartCopy})


def split_path(raw_path: str) -> tuple[str, str]:
    """Bucket and key of a path-style request, from the raw (encoded) path.

    ``a%2Fb`` and ``a/b`` differ only in encoding and name the same key, as in S3; dot
    segments and empty segments are part of the key. Invalid UTF-8 is InvalidURI, and so
    is NUL (``%00``), which no XML document could ever name back: other control
    characters are valid in keys, as in S3.
    """
    path = raw_path.split("?", 1)[0]
    bucket_part, _, key_part = path[1:].partition("/")
    try:
        bucket = _unquote(bucket_part)
        key = _unquote(key_part)
    except UnicodeDecodeError:
        raise S3Error("InvalidURI") from None
    if "\x00" in key or "\x00" in bucket:
        raise S3Error("InvalidURI")
    if len(key) * 4 > MAX_KEY_BYTES and len(key.encode("utf-8")) > MAX_KEY_BYTES:
        raise S3Error("KeyTooLongError", Size=str(len(key.encode("utf-8"))), MaxSizeAllowed="1024")
    return bucket, key


def _unquote(part: str) -> str:
    """Percent-decode a path segment as UTF-8 (plain ASCII segments are common and
    need nothing)."""
    if "%" not in part and part.isascii():
        return part
    return unquote_to_bytes(part).decode("utf-8")


def parse_arguments(raw_query: str) -> MultiDict[str]:
    """Query parameters, percent-decoded as SigV4 does (``+`` stays a plus, so what is
    verified is what is used); invalid UTF-8 is InvalidURI."""
    try:
        return MultiDict(
            [
                (name.decode("utf-8"), value.decode("utf-8"))
                for name, value in parse_query(raw_query)
            ]
        )
    except UnicodeDecodeError:
        raise S3Error("InvalidURI") from None


def authenticate_request(parts: RequestParts, config: Config) -> AuthResult:
    """The verified signer, or with ``no_auth`` the default user for a request that
    carries no credentials at all. A request that is signed is always verified, so a
    wrong key or signature is still refused when unsigned ones are welcome."""
    if config.no_auth and is_anonymous(parts):
        return AuthResult(access_key=config.access_key, signing="anonymous", content_sha256=None)
    return authenticate(parts, config.credentials, datetime.fromtimestamp(config.now(), UTC))


def check_access(storage: Storage, bucket: str, principal: str) -> None:
    """AccessDenied unless ``principal`` owns ``bucket``.

    The lookup is in memory (no thread hop). A bucket that does not exist passes, so
    the handler answers NoSuchBucket as S3 does to its own account.
    """
    try:
        owner = storage.bucket(bucket).owner
    except S3Error as error:
        if error.code == "NoSuchBucket":
            return
        raise
    if owner != principal:
        raise S3Error("AccessDenied")


async def _apply_fault(request: web.Request, fault: Fault) -> bool:
    """Delay the request, answer the fault's error, or cut the connection (False); a
    truncating fault is the GetObject handler's to apply."""
    if fault.latency:
        await asyncio.sleep(fault.latency)
    if fault.error is not None:
        error = S3Error(fault.error)
        if fault.status is not None:
            error.status = fault.status
        raise error
    if fault.reset_connection:
        _reset(request)
        return False
    return True


def _reset(request: web.Request) -> None:
    """Drop the connection with a TCP reset, as a crashed server or a middlebox does.

    A zero linger time makes closing send RST instead of FIN, so the client sees
    ECONNRESET; where the socket cannot be tuned it still sees the connection close.
    """
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError, AttributeError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


async def expect_continue(request: web.Request) -> None:
    """The routes' ``Expect`` handler: 100 Continue for ``100-continue``, as aiohttp's
    own does, and 417 for anything else without echoing the value (aiohttp's echoes it,
    and a value that is not UTF-8 turned that into a 500)."""
    if request.version != HttpVersion11:
        return
    if request.headers.get("Expect", "").lower() != "100-continue":
        raise web.HTTPExpectationFailed(text="Unknown Expect")
    await request.writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
    request.writer.output_size = 0  # the interim response is not part of the body


class _Unrouted(web.AbstractRoute):
    """The route of a request no resource matches (an empty bucket segment, or a CONNECT,
    whose target has no path): it raises aiohttp's 404 or 405 for the error middleware
    to answer in S3 form, and its ``Expect`` handler is ours. aiohttp's own route for
    these runs its default handler, which answers an ``Expect`` value that is not
    UTF-8 with a bare 500, before any middleware sees the request."""

    def __init__(self, error: web.HTTPException) -> None:
        async def refuse(request: web.Request) -> web.StreamResponse:
            raise error

        super().__init__(hdrs.METH_ANY, refuse, expect_handler=expect_continue)

    @property
    def name(self) -> str | None:
        return None

    def get_info(self) -> dict[str, Any]:  # type: ignore[override]
        return {}

    def url_for(self, *args: str, **kwargs: str) -> URL:
        raise RuntimeError("an unrouted request has no URL to build")


class S3Router(web.UrlDispatcher):
    """aiohttp's router, with ``_Unrouted`` for the requests it matches to nothing."""

    async def resolve(self, request: web.Request) -> web.UrlMappingMatchInfo:
        found = await super().resolve(request)
        if found.http_exception is None:
            return found
        return web.UrlMappingMatchInfo({}, _Unrouted(found.http_exception))


class S3View(web.View):
    """Shared request flow of the three views."""

    async def _dispatch(self) -> web.StreamResponse:
        request = self.request
        trace = request.get(TRACE) or Trace()
        raw_path, _, raw_query = request.raw_path.partition("?")
        bucket, key = split_path(raw_path)
        trace.bucket, trace.key = bucket or None, key or None
        level = Level.OBJECT if key else Level.BUCKET if bucket else Level.ROOT
        query = parse_arguments(raw_query)
        headers = effective_headers(request.headers, query)
        if request.method in _UPLOADS:  # only writes name a checksum algorithm
            trace.checksum_algorithm = checksum_algorithm(headers.get)
        resolved = resolve(
            level, request.method, query, copy_source="x-amz-copy-source" in request.headers
        )
        if resolved is None:
            raise S3Error(
                "MethodNotAllowed", Method=request.method, ResourceType=level.value.upper()
            )
        trace.op = resolved.name
        app = request.app
        config = app[CONFIG]
        parts = RequestParts(
            method=request.method,
            raw_path=raw_path,
            raw_query=raw_query,
            headers=tuple(request.headers.items()),
        )
        auth = authenticate_request(parts, config)
        trace.signing = auth.signing
        storage = app[STORAGE]
        # Before NotImplemented: someone else's bucket tells a caller nothing at all.
        if bucket and resolved.op is not Op.CreateBucket:
            # CreateBucket of a taken name is storage's BucketAlreadyExists instead.
            check_access(storage, bucket, auth.access_key)
        source = headers.get("x-amz-copy-source")
        if resolved.op in _COPIES and source is not None:
            check_access(storage, copy.parse_copy_source(source)[0], auth.access_key)
        fault = app[FAULTS].pick(resolved.name, trace.bucket, trace.key)
        if fault is not None:
            trace.fault = fault.id
            if not await _apply_fault(request, fault):
                trace.dropped = True
                return web.Response()  # never sent: the connection is gone
        handler = HANDLERS.get(resolved.op)
        if handler is None:
            raise S3Error("NotImplemented", f"{resolved.name} is not implemented by aios3 yet.")
        s3 = S3Request(
            request=request,
            op=resolved,
            bucket=bucket,
            key=key,
            query=query,
            auth=auth,
            storage=storage,
            config=config,
            headers=headers,
            truncate_body_after=fault.truncate_body_after if fault is not None else None,
        )
        try:
            return await handler(s3)
        finally:
            trace.bytes_out = s3.bytes_sent

    async def get(self) -> web.StreamResponse:
        return await self._dispatch()

    async def head(self) -> web.StreamResponse:
        return await self._dispatch()

    async def put(self) -> web.StreamResponse:
        return await self._dispatch()

    async def post(self) -> web.StreamResponse:
        return await self._dispatch()

    async def delete(self) -> web.StreamResponse:
        return await self._dispatch()


class RootView(S3View):
    """``/``: the service (ListBuckets)."""


class BucketView(S3View):
    """``/{bucket}``: bucket operations and listings."""


class ObjectView(S3View):
    """``/{bucket}/{key}``: object operations."""
