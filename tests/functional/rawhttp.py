"""Raw, SigV4-signed HTTP requests for tests that need exact bytes on the wire.

botocore signs (``S3SigV4Auth``, as every boto3 request is signed); ``http.client``
sends. The path and query go out exactly as given and as signed: nothing is re-encoded
on the way, so a test controls every byte. Build paths with :func:`path` and queries
with :func:`query` to get the AWS-canonical encoding, or pass raw strings to send
something unusual.
"""

from __future__ import annotations

import asyncio
import http.client
import xml.etree.ElementTree as ET
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import Message
from urllib.parse import quote, urlsplit

import aiohttp
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from yarl import URL

from tests.support import RunningServer

NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


@dataclass(frozen=True)
class RawResponse:
    status: int
    headers: Message
    body: bytes

    def xml(self) -> ET.Element:
        return ET.fromstring(self.body)

    def error_code(self) -> str | None:
        """``<Code>`` of an S3 error document (None when there is none)."""
        if not self.body:
            return None
        return self.xml().findtext("Code")


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
    """Sign ``method path_and_query`` with SigV4 and send it as is; the whole answer."""
    url = server.endpoint_url + path_and_query
    host = urlsplit(server.endpoint_url).netloc
    request = AWSRequest(method=method, url=url, data=body, headers=dict(headers or {}))
    request.headers["Host"] = host
    credentials = Credentials(
        access_key or server.config.access_key, secret_key or server.config.secret_key
    )
    S3SigV4Auth(credentials, "s3", server.config.region).add_auth(request)
    return send(server, method, path_and_query, dict(request.headers.items()), body)


def signed_headers(
    server: RunningServer, method: str, path_and_query: str, body: bytes = b""
) -> dict[str, str]:
    """The headers (Authorization, X-Amz-Date, ...) that sign ``method path_and_query``."""
    request = AWSRequest(method=method, url=server.endpoint_url + path_and_query, data=body)
    request.headers["Host"] = urlsplit(server.endpoint_url).netloc
    credentials = Credentials(server.config.access_key, server.config.secret_key)
    S3SigV4Auth(credentials, "s3", server.config.region).add_auth(request)
    return dict(request.headers.items())


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
            headers = signed_headers(server, "PUT", target, body)
            url = server.endpoint_url + target
            async with session.put(URL(url, encoded=True), headers=headers, data=body) as response:
                if response.status != 200:
                    raise AssertionError(f"PUT {target}: {response.status} {await response.text()}")

        await asyncio.gather(*[put(key) for key in keys])


def send(
    server: RunningServer,
    method: str,
    path_and_query: str,
    headers: Mapping[str, str],
    body: bytes = b"",
) -> RawResponse:
    """Send a request without signing it (headers exactly as given, plus Host)."""
    parts = urlsplit(server.endpoint_url)
    assert parts.hostname is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, path_and_query, skip_host=True, skip_accept_encoding=True)
        sent = {name.lower() for name in headers}
        if "host" not in sent:
            connection.putheader("Host", parts.netloc)
        for name, value in headers.items():
            connection.putheader(name, value)
        if "content-length" not in sent and (body or method in ("PUT", "POST")):
            connection.putheader("Content-Length", str(len(body)))
        connection.endheaders(body or None)
        response = connection.getresponse()
        data = response.read()
        return RawResponse(response.status, response.headers, data)
    finally:
        connection.close()
