"""Raw HTTP for functional tests: exact headers, exact paths, malformed input.

``signed_request`` signs with botocore's own SigV4 signer and sends exactly the path it
signed through ``http.client``, which neither re-encodes nor normalises it. Callers pass
paths already percent-encoded the AWS way (every byte but ``A-Za-z0-9-_.~/`` escaped),
because that is the form both botocore and the server build the canonical request from.
``unsigned_request`` sends the same shape of request without credentials.
"""

from __future__ import annotations

import http.client
import xml.etree.ElementTree as ET
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support import RunningServer

UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"


class RawResponse(NamedTuple):
    """Status, headers (case-insensitive lookups) and the whole body."""

    status: int
    headers: http.client.HTTPMessage
    body: bytes


def signed_request(
    server: RunningServer,
    method: str,
    path_and_query: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> RawResponse:
    """Sign with SigV4 (header form) and send. An ``X-Amz-Content-SHA256`` among
    ``headers`` is signed as given (``UNSIGNED-PAYLOAD``, or a hash that does not match
    the body); otherwise botocore signs the SHA-256 of ``body``."""
    config = server.config
    request = AWSRequest(
        method=method,
        url=server.endpoint_url + path_and_query,
        headers=dict(headers or {}),
        data=body,
    )
    request.headers["Host"] = _netloc(server)
    payload_hash = request.headers.get("X-Amz-Content-SHA256")
    credentials = Credentials(config.access_key, config.secret_key)
    signer = S3SigV4Auth(credentials, "s3", config.region)
    if payload_hash is not None:
        # botocore always replaces X-Amz-Content-SHA256 with its own hash of the body.
        signer.payload = lambda _request: payload_hash
    signer.add_auth(request)
    return _send(server, method, path_and_query, list(request.headers.items()), body)


def unsigned_request(
    server: RunningServer,
    method: str,
    path_and_query: str,
    headers: Mapping[str, str] | None = None,
    body: bytes = b"",
) -> RawResponse:
    """Send a request with no credentials, exactly as given."""
    sent = [("Host", _netloc(server)), *(headers or {}).items()]
    return _send(server, method, path_and_query, sent, body)


def error_code(body: bytes) -> str | None:
    """The ``<Code>`` of an S3 error document."""
    return ET.fromstring(body).findtext("Code")


def error_field(body: bytes, name: str) -> str | None:
    """Any child element of an S3 error document (``Key``, ``Resource``, ...)."""
    return ET.fromstring(body).findtext(name)


def _netloc(server: RunningServer) -> str:
    return urlsplit(server.endpoint_url).netloc


def _send(
    server: RunningServer,
    method: str,
    path_and_query: str,
    headers: list[tuple[str, str]],
    body: bytes,
) -> RawResponse:
    """Send with ``http.client``: the request line carries ``path_and_query`` as is.
    With ``Transfer-Encoding: chunked`` among the headers the body is framed in one
    chunk and no Content-Length is sent; otherwise Content-Length is added when absent."""
    parts = urlsplit(server.endpoint_url)
    assert parts.hostname is not None
    names = {name.lower() for name, _ in headers}
    chunked = any(
        name.lower() == "transfer-encoding" and "chunked" in value.lower()
        for name, value in headers
    )
    payload = body
    if chunked:
        payload = (f"{len(body):x}\r\n".encode() + body + b"\r\n") if body else b""
        payload += b"0\r\n\r\n"
    elif "content-length" not in names and (body or method in ("PUT", "POST")):
        headers = [*headers, ("Content-Length", str(len(body)))]
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.putrequest(method, path_and_query, skip_host=True, skip_accept_encoding=True)
        for name, value in headers:
            connection.putheader(name, value)
        connection.endheaders()
        if payload:
            connection.send(payload)
        response = connection.getresponse()
        data = response.read()
        return RawResponse(response.status, response.headers, data)
    finally:
        connection.close()
