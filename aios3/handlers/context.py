"""What every handler receives: the parsed request, who sent it, and the storage."""

from __future__ import annotations

import asyncio
import email.utils
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

from aiohttp import StreamReader, web
from multidict import CIMultiDict, CIMultiDictProxy, MultiDict

from aios3.auth import (
    AuthResult,
    check_sha256,
    decoded_length,
    is_aws_chunked,
    verified_body,
)
from aios3.config import Config
from aios3.errors import S3Error
from aios3.routing import Resolved
from aios3.storage import Storage

_CHUNK = 256 * 1024


@dataclass(slots=True)
class S3Request:
    """One authenticated S3 request, resolved to its operation."""

    request: web.Request
    op: Resolved
    bucket: str
    key: str
    query: MultiDict[str]
    auth: AuthResult
    storage: Storage
    config: Config

    headers: CIMultiDictProxy[str]

    truncate_body_after: int | None = None
    """Set by an injected fault: send only this many body bytes, then cut the
    connection (the headers still announce the whole length)."""
    bytes_sent: int | None = None
    """Body bytes a handler that streams its own body sent, for the request journal."""

    @property
    def principal(self) -> str:
        return self.auth.access_key

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def body(self) -> AsyncIterator[bytes]:
        """The request body as the operation sees it, whichever form it came in.

        aws-chunked bodies arrive decoded, their chunk signatures, decoded length and
        trailer checksum checked as bytes arrive; plain ones checked against the signed
        payload hash. Every failure is raised before the stream ends, so storage keeps
        nothing. Call this before reading: header problems are raised right away.
        """
        chunks = _IdleGuard(self.request.content, self.config.body_timeout).chunks()
        return verified_body(chunks, self.auth, self.headers.get)

    def arrived_body(self, limit: int) -> bytes | None:
        """The whole body, checked, when it is plain (not aws-chunked), at most ``limit``
        bytes and has all arrived already; else None, and ``body()`` streams it.

        Most small uploads arrive with their headers: taking them whole spares storage
        the streaming machinery (and its thread hops) that big bodies need.
        """
        content = self.request.content
        length = self.request.content_length
        if (
            length is None
            or length > limit
            or not content.is_eof()
            or content.exception() is not None
            or is_aws_chunked(self.auth, self.headers.get)
        ):
            return None
        data = content.read_nowait()
        if len(data) != length:
            raise S3Error("IncompleteBody")
        check_sha256(data, self.auth.content_sha256)
        return data

    def body_length(self) -> int | None:
        """The body's length once decoded, as the client announced it.

        ``x-amz-decoded-content-length`` for aws-chunked bodies (None when a client sent
        none: the decoder then takes the length from the framing), Content-Length
        otherwise. A plain body with no length at all (HTTP chunked transfer without
        aws-chunked) is MissingContentLength, as in S3.
        """
        if is_aws_chunked(self.auth, self.headers.get):
            return decoded_length(self.headers.get)
        length = self.request.content_length
        if length is None:
            raise S3Error("MissingContentLength")
        return length

    async def small_body(self, limit: int) -> bytes:
        """A whole (XML) body of at most ``limit`` bytes; larger ones are refused
        without being buffered."""
        body = self.body()
        declared = (
            decoded_length(self.headers.get)
            if is_aws_chunked(self.auth, self.headers.get)
            else self.request.content_length
        )
        if declared is not None and declared > limit:
            raise S3Error("MaxMessageLengthExceeded", "Your request was too big.")
        parts: list[bytes] = []
        size = 0
        async for chunk in body:
            size += len(chunk)
            if size > limit:
                raise S3Error("MaxMessageLengthExceeded", "Your request was too big.")
            parts.append(chunk)
        return b"".join(parts)


class _BodyIdle(asyncio.TimeoutError):
    """Set on a stalled request's stream. A TimeoutError, so that aiohttp, finding the
    body unfinished after the response, closes the connection at once instead of
    waiting for more of it."""


class _IdleGuard:
    """Body chunks, with a limit on how long any one read may wait for bytes.

    A client that stops sending mid-body would otherwise hold a handler, a temp file
    and a connection for as long as it likes. One timer per body (re-armed only when it
    fires, so a fast body pays two clock reads per chunk) fails the waiting read with
    RequestTimeout, as S3 does; storage then discards what it received.
    """

    __slots__ = ("_content", "_since", "_timeout", "_timer")

    def __init__(self, content: StreamReader, timeout: float) -> None:
        self._content = content
        self._timeout = timeout
        self._since: float | None = None
        self._timer: asyncio.TimerHandle | None = None

    async def chunks(self) -> AsyncIterator[bytes]:
        content = self._content
        if content.is_eof() and not content.exception():
            # Nothing left to wait for (a whole small body is already buffered).
            async for chunk in content.iter_chunked(_CHUNK):
                yield chunk
            return
        loop = asyncio.get_running_loop()
        self._timer = loop.call_at(loop.time() + self._timeout, self._check)
        try:
            while True:
                self._since = loop.time()
                chunk = await content.read(_CHUNK)
                self._since = None
                if not chunk:
                    return
                yield chunk
        except _BodyIdle:
            raise S3Error("RequestTimeout") from None
        finally:
            self._since = None
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _check(self) -> None:
        content = self._content
        if content.is_eof() or content.exception() is not None:
            self._timer = None  # all received, or the request is over
            return
        loop = asyncio.get_running_loop()
        since = self._since
        now = loop.time()
        if since is not None and now - since >= self._timeout:
            self._timer = None
            content.set_exception(_BodyIdle())
            return
        start = now if since is None else since
        self._timer = loop.call_at(start + self._timeout, self._check)


# Query parameters of a presigned URL that carry its signature, not request headers.
_SIGNING_PARAMETERS = frozenset(
    {
        "x-amz-algorithm",
        "x-amz-credential",
        "x-amz-date",
        "x-amz-expires",
        "x-amz-signedheaders",
        "x-amz-signature",
    }
)


# The same, spelt as SDKs send them: most queries skip the lowercasing.
_SIGNING_AS_SENT = frozenset(
    {
        "X-Amz-Algorithm",
        "X-Amz-Credential",
        "X-Amz-Date",
        "X-Amz-Expires",
        "X-Amz-SignedHeaders",
        "X-Amz-Signature",
    }
)


def effective_headers(
    headers: CIMultiDictProxy[str], query: MultiDict[str]
) -> CIMultiDictProxy[str]:
    """The request's headers plus the ``x-amz-*`` ones a presigned URL carries in its
    query (SDKs move metadata, checksums and the like there when presigning, and S3
    applies them as if they were headers)."""
    extra = [
        (name, value)
        for name, value in query.items()
        if name not in _SIGNING_AS_SENT
        and name[:6].lower() == "x-amz-"
        and name.lower() not in _SIGNING_PARAMETERS
    ]
    if not extra:
        return headers
    merged = CIMultiDict(headers)
    for name, value in extra:
        if name not in merged:
            merged.add(name, value)
    return CIMultiDictProxy(merged)


def http_date(seconds: float) -> str:
    """RFC 7231 date, as in Last-Modified (the last few formatted are kept: a GET
    formats one per request, and formatdate is slow)."""
    whole = int(seconds)
    text = _HTTP_DATES.get(whole)
    if text is None:
        if len(_HTTP_DATES) >= 1024:
            _HTTP_DATES.clear()
        text = _HTTP_DATES[whole] = email.utils.formatdate(whole, usegmt=True)
    return text


_HTTP_DATES: dict[int, str] = {}


def parse_http_date(value: str | None) -> float | None:
    """Seconds since the epoch of an HTTP date; None when absent or unparseable
    (S3 ignores conditional headers it cannot parse)."""
    if not value:
        return None
    try:
        parsed: datetime = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return None
    return parsed.timestamp()
