"""Raw HTTP for functional tests: exact headers, exact bytes on the wire, malformed input.

botocore signs (``S3SigV4Auth``, as every boto3 request is signed); ``http.client``
sends. The path and query go out exactly as given and as signed: nothing is re-encoded
or normalised on the way, so a test controls every byte. Build paths with :func:`path`
and queries with :func:`query` / :func:`query_pairs` to get the AWS-canonical encoding
(every byte but ``A-Za-z0-9-_.~`` escaped, ``/`` kept in keys), which is the form both
botocore and the server build the canonical request from; or pass raw strings to send
something unusual.

- :func:`signed_request` signs with SigV4 (header form) and sends;
  :func:`unsigned_request` sends without credentials, headers exactly as given.
- :func:`signed_head` is the request line and signed headers alone, for a body written
  by hand on a socket from :func:`connect`.
- :func:`put_objects` fills a bucket fast.
- :func:`aws_chunked` frames a body as aws-chunked, signed by a :class:`ChunkSigner`
  computed here with hmac/hashlib; :func:`send_raw` sends it on a socket (with HTTP
  chunked transfer, with ``Expect: 100-continue``).
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import http.client
import socket
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

import aiohttp
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from yarl import URL

from tests.support import RunningServer

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


@dataclass(frozen=True)
class RawResponse:
    """Status, headers (case-insensitive lookups) and the whole body."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def error_code(self) -> str | None:
        """``<Code>`` of an S3 error document (None when there is no body)."""
        return self.error_field("Code")

    def error_field(self, name: str) -> str | None:
        """Any child element of an S3 error document (``Key``, ``Resource``, ...)."""
        if not self.body:
            return None
        return self.xml().findtext(name)


# -- Paths and queries ----------------------------------------------------------------


def path(bucket: str = "", key: str | None = None) -> str:
    """``/bucket/key`` percent-encoded the way AWS canonicalises it (``/`` kept)."""
    result = "/" + quote(bucket, safe="")
    if key is not None:
        result += "/" + quote(key, safe="/~")
    return result


def query(*flags: str, **params: str) -> str:
    """``?flag&name=value...`` with AWS-canonical encoding, in canonical (sorted) order.

    Use ``query_pairs`` for names that are not Python identifiers (``max-keys``)."""
    return query_pairs([(flag, None) for flag in flags] + list(params.items()))


def query_pairs(pairs: list[tuple[str, str | None]]) -> str:
    items = sorted(
        (quote(name, safe="-_.~"), None if value is None else quote(value, safe="-_.~"))
        for name, value in pairs
    )
    if not items:
        return ""
    return "?" + "&".join(name if value is None else f"{name}={value}" for name, value in items)


# -- Signing and sending --------------------------------------------------------------


def signed_headers(
    server: RunningServer,
    method: str,
    path_and_query: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> dict[str, str]:
    """``headers`` plus Host and the SigV4 headers (Authorization, X-Amz-Date, ...) that
    sign ``method path_and_query``, with the server's credentials unless others are
    given. An ``X-Amz-Content-SHA256`` among ``headers`` is signed as given
    (``UNSIGNED-PAYLOAD``, or a hash that does not match the body); otherwise botocore
    signs the SHA-256 of ``body``."""
    config = server.config
    request = AWSRequest(
        method=method,
        url=server.endpoint_url + path_and_query,
        headers=dict(headers or {}),
        data=body,
    )
    request.headers["Host"] = urlsplit(server.endpoint_url).netloc
    payload_hash = request.headers.get("X-Amz-Content-SHA256")
    credentials = Credentials(
        config.access_key if access_key is None else access_key,
        config.secret_key if secret_key is None else secret_key,
    )
    signer = S3SigV4Auth(credentials, "s3", config.region)
    if payload_hash is not None:
        # botocore always replaces X-Amz-Content-SHA256 with its own hash of the body.
        signer.payload = lambda _request: payload_hash
    signer.add_auth(request)
    return dict(request.headers.items())


def signed_request(
    server: RunningServer,
    method: str,
    path_and_query: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
    *,
    access_key: str | None = None,
    secret_key: str | None = None,
) -> RawResponse:
    """Sign ``method path_and_query`` as :func:`signed_headers` does, send it as
    :func:`unsigned_request` does; the whole answer."""
    signed = signed_headers(
        server,
        method,
        path_and_query,
        headers,
        body,
        access_key=access_key,
        secret_key=secret_key,
    )
    return unsigned_request(server, method, path_and_query, signed, body)


def unsigned_request(
    server: RunningServer,
    method: str,
    path_and_query: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> RawResponse:
    """Send without signing: the request line carries ``path_and_query`` as is and the
    headers go exactly as given, plus Host when absent. With ``Transfer-Encoding:
    chunked`` among the headers the body is framed in one chunk and no Content-Length
    is sent; otherwise Content-Length is added when absent (and there is a body, or the
    method is PUT or POST)."""
    headers = dict(headers or {})
    parts = urlsplit(server.endpoint_url)
    assert parts.hostname is not None
    names = {name.lower() for name in headers}
    chunked = any(
        name.lower() == "transfer-encoding" and "chunked" in value.lower()
        for name, value in headers.items()
    )
    if "host" not in names:
        headers = {"Host": parts.netloc, **headers}
    payload = body
    if chunked:
        payload = (f"{len(body):x}\r\n".encode() + body + b"\r\n") if body else b""
        payload += b"0\r\n\r\n"
    elif "content-length" not in names and (body or method in ("PUT", "POST")):
        headers["Content-Length"] = str(len(body))
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, path_and_query, skip_host=True, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders(payload or None)
        response = connection.getresponse()
        data = response.read()
        return RawResponse(response.status, response.headers, data)
    finally:
        connection.close()


# -- Hand-written bodies ----------------------------------------------------------------


def signed_head(
    server: RunningServer, method: str, path_and_query: str, headers: Mapping[str, str]
) -> bytes:
    """Request line and signed headers (from :func:`signed_headers`, over an empty body)
    of a request whose body the caller writes by hand: pass ``Content-Length`` and an
    ``X-Amz-Content-SHA256`` such as ``UNSIGNED-PAYLOAD`` among ``headers``."""
    signed = signed_headers(server, method, path_and_query, headers)
    lines = [f"{method} {path_and_query} HTTP/1.1"]
    lines += [f"{name}: {value}" for name, value in signed.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def connect(server: RunningServer) -> socket.socket:
    """A plain socket to the server, to write a request on by hand."""
    parts = urlsplit(server.endpoint_url)
    assert parts.hostname is not None
    assert parts.port is not None
    return socket.create_connection((parts.hostname, parts.port), timeout=10)


# -- Filling buckets --------------------------------------------------------------------


async def put_objects(
    server: RunningServer,
    bucket: str,
    keys: Sequence[str],
    body: bytes = b"",
    *,
    concurrency: int = 32,
) -> None:
    """PutObject every key, many at a time: a fast way to fill a bucket for a test
    (about four times the rate of an SDK client, whose own overhead dominates)."""
    async with aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=concurrency),
        skip_auto_headers=("Content-Type",),
    ) as session:

        async def put(key: str) -> None:
            target = path(bucket, key)
            headers = signed_headers(server, "PUT", target, body=body)
            url = server.endpoint_url + target
            async with session.put(URL(url, encoded=True), headers=headers, data=body) as response:
                if response.status != 200:
                    raise AssertionError(f"PUT {target}: {response.status} {await response.text()}")

        await asyncio.gather(*[put(key) for key in keys])


# -- aws-chunked bodies, signed by hand ---------------------------------------------------

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclass(frozen=True)
class ChunkSigner:
    """What signing an aws-chunked body takes, computed from the signed request's
    headers with hmac/hashlib alone (independent of the server's code)."""

    key: bytes
    amz_date: str
    scope: str
    seed: str

    @classmethod
    def of(cls, server: RunningServer, signed: Mapping[str, str]) -> ChunkSigner:
        """The chain of a request signed by :func:`signed_headers` with the server's keys."""
        amz_date = signed["X-Amz-Date"]
        seed = signed["Authorization"].rpartition("Signature=")[2].strip()
        date, region = amz_date[:8], server.config.region
        key = _hmac(("AWS4" + server.config.secret_key).encode(), date)
        for part in (region, "s3", "aws4_request"):
            key = _hmac(key, part)
        return cls(key, amz_date, f"{date}/{region}/s3/aws4_request", seed)

    def sign(self, previous: str, data: bytes) -> str:
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                self.amz_date,
                self.scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(data).hexdigest(),
            ]
        )
        return _hmac(self.key, string_to_sign).hex()

    def sign_trailer(self, previous: str, lines: str) -> str:
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-TRAILER",
                self.amz_date,
                self.scope,
                previous,
                hashlib.sha256(lines.encode()).hexdigest(),
            ]
        )
        return _hmac(self.key, string_to_sign).hex()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.digest(key, text.encode(), "sha256")


def aws_chunked(
    data: bytes,
    chunk_size: int,
    *,
    signer: ChunkSigner | None = None,
    trailer: tuple[str, str] | None = None,
    sign_trailer: bool = True,
) -> bytes:
    """``data`` framed as aws-chunked: chunk signatures when there is a ``signer``; a
    ``(name, value)`` trailer line, with its signature when signed and ``sign_trailer``."""
    previous = signer.seed if signer is not None else ""
    out = bytearray()
    for start in [*range(0, len(data), chunk_size), len(data)]:
        piece = data[start : start + chunk_size]
        if signer is not None:
            previous = signer.sign(previous, piece)
            out += f"{len(piece):x};chunk-signature={previous}\r\n".encode()
        else:
            out += f"{len(piece):x}\r\n".encode()
        out += piece + b"\r\n" if piece else b""
    if trailer is not None:
        line = f"{trailer[0]}:{trailer[1]}\n"
        out += f"{trailer[0]}:{trailer[1]}\r\n".encode()
        if signer is not None and sign_trailer:
            out += f"x-amz-trailer-signature:{signer.sign_trailer(previous, line)}\r\n".encode()
    out += b"\r\n"
    return bytes(out)


def send_raw(
    server: RunningServer,
    method: str,
    path_and_query: str,
    headers: Mapping[str, str],
    body: bytes,
    *,
    http_chunks: int | None = None,
    expect_continue: bool = False,
) -> RawResponse:
    """Send on a plain socket exactly these headers (plus Host), then ``body``.

    With ``http_chunks`` the body goes as HTTP/1.1 ``Transfer-Encoding: chunked`` in
    that many pieces (add the header yourself). With ``expect_continue`` the body is
    only sent after the server's ``100 Continue``, which must come first."""
    lines = [f"{method} {path_and_query} HTTP/1.1"]
    if not any(name.lower() == "host" for name in headers):
        lines.append(f"Host: {urlsplit(server.endpoint_url).netloc}")
    lines += [f"{name}: {value}" for name, value in headers.items()]
    payload = body
    if http_chunks is not None:
        size = max(1, -(-len(body) // http_chunks))
        framed = bytearray()
        for start in range(0, len(body), size):
            piece = body[start : start + size]
            framed += f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
        payload = bytes(framed) + b"0\r\n\r\n"
    with connect(server) as sock:
        sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        if expect_continue:
            interim = b""
            while not interim.endswith(b"\r\n\r\n"):
                byte = sock.recv(1)
                if not byte:
                    raise AssertionError("connection closed before 100 Continue")
                interim += byte
            if not interim.startswith(b"HTTP/1.1 100"):
                raise AssertionError(f"expected 100 Continue, got {interim!r}")
        sock.sendall(payload)
        response = http.client.HTTPResponse(sock, method=method)
        response.begin()
        data = response.read()
        return RawResponse(response.status, response.headers, data)
