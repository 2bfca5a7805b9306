"""Every upload form real clients send, against a real server: signed and unsigned
aws-chunked bodies with and without trailers, HTTP chunked transfer, 100-continue,
boto3 over HTTPS; and each forged or broken variant refused with nothing stored.

Streaming requests are built here: botocore signs the headers (the seed signature) and
the chunk and trailer signatures are computed with hmac/hashlib (``raw.ChunkSigner``),
independently of the server's code.
"""

from __future__ import annotations

import base64
import hashlib
import io
import zlib
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from tests.functional.raw import (
    ChunkSigner,
    RawResponse,
    aws_chunked,
    path,
    send_raw,
    signed_headers,
    unsigned_request,
)
from tests.support import RunningServer, error_of, read, temporary_bucket

SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
DATA = bytes(range(256)) * 1000  # 256,000 bytes: several 64 KiB chunks and a short one
CHUNK = 65536


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def crc64nvme(data: bytes) -> str:
    return base64.b64encode(crt.crc64nvme(data).to_bytes(8, "big")).decode()


def streaming_headers(
    server: RunningServer,
    target: str,
    mode: str,
    *,
    decoded_length: int | None,
    trailer: str | None = None,
    content_length: int | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """Signed headers of a streaming PutObject (every one of them signed, as SDKs do)."""
    headers = {"X-Amz-Content-SHA256": mode, "Content-Encoding": "aws-chunked"}
    if decoded_length is not None:
        headers["X-Amz-Decoded-Content-Length"] = str(decoded_length)
    if trailer is not None:
        headers["X-Amz-Trailer"] = trailer
    if content_length is not None:
        headers["Content-Length"] = str(content_length)
    headers.update(extra or {})
    return signed_headers(server, "PUT", target, headers)


def put_streaming(
    server: RunningServer,
    bucket: str,
    key: str,
    mode: str,
    data: bytes = DATA,
    *,
    trailer: tuple[str, str] | None = None,
    transfer: str = "content-length",
    tamper: Any = None,
    decoded_length: int | None = -1,
    sign_trailer: bool = True,
    extra: dict[str, str] | None = None,
) -> RawResponse:
    """PutObject ``data`` in the streaming ``mode``; ``transfer`` is ``content-length``,
    ``chunked`` (HTTP chunked, no Content-Length) or ``expect`` (chunked after a
    100 Continue); ``tamper`` rewrites the framed body before it is sent."""
    target = path(bucket, key)
    length = len(data) if decoded_length == -1 else decoded_length
    trailer_name = trailer[0] if trailer is not None else None
    # The framed length does not depend on the signature values, only on their presence.
    probe = aws_chunked(
        data,
        CHUNK,
        signer=ChunkSigner(b"k", "d", "s", "0" * 64) if mode != UNSIGNED_TRAILER else None,
        trailer=trailer,
        sign_trailer=sign_trailer and mode == SIGNED_TRAILER,
    )
    framed_length = len(tamper(probe)) if tamper is not None else len(probe)
    headers = streaming_headers(
        server,
        target,
        mode,
        decoded_length=length,
        trailer=trailer_name,
        content_length=framed_length if transfer == "content-length" else None,
        extra=extra,
    )
    signer = ChunkSigner.of(server, headers) if mode != UNSIGNED_TRAILER else None
    body = aws_chunked(
        data,
        CHUNK,
        signer=signer,
        trailer=trailer,
        sign_trailer=sign_trailer and mode == SIGNED_TRAILER,
    )
    if tamper is not None:
        body = tamper(body)
    assert len(body) == framed_length
    if transfer == "content-length":
        return send_raw(server, "PUT", target, headers, body)
    headers["Transfer-Encoding"] = "chunked"
    if transfer == "expect":
        headers["Expect"] = "100-continue"
    return send_raw(
        server, "PUT", target, headers, body, http_chunks=5, expect_continue=transfer == "expect"
    )


def nothing_left(server: RunningServer, s3: Any, bucket: str, key: str) -> None:
    """The key does not exist and no temp file remains."""
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key=key)
    assert error_of(caught)[0] == 404
    temp = Path(server.root) / "tmp"
    assert [p for p in temp.rglob("*") if p.is_file()] == []


# -- positive: every streaming form, every transfer ----------------------------------------


@pytest.mark.parametrize("transfer", ["content-length", "chunked", "expect"])
@pytest.mark.parametrize("mode", [SIGNED, SIGNED_TRAILER, UNSIGNED_TRAILER])
def test_put_object_streaming_forms(
    server: RunningServer, s3: Any, bucket: str, mode: str, transfer: str
) -> None:
    trailer = None if mode == SIGNED else ("x-amz-checksum-crc32", crc32(DATA))
    response = put_streaming(server, bucket, "k", mode, trailer=trailer, transfer=transfer)
    assert response.status == 200, response.body
    assert response.headers["ETag"] == f'"{hashlib.md5(DATA).hexdigest()}"'
    assert read(s3, bucket, "k") == DATA
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    assert "ContentEncoding" not in head
    assert head["ContentLength"] == len(DATA)
    if trailer is not None:
        assert head["ChecksumCRC32"] == crc32(DATA)
        assert response.headers["x-amz-checksum-crc32"] == crc32(DATA)
    else:
        assert head["ChecksumCRC64NVME"] == crc64nvme(DATA)


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("x-amz-checksum-crc32c", base64.b64encode(crt.crc32c(DATA).to_bytes(4, "big")).decode()),
        ("x-amz-checksum-crc64nvme", crc64nvme(DATA)),
        ("x-amz-checksum-sha1", base64.b64encode(hashlib.sha1(DATA).digest()).decode()),
        ("x-amz-checksum-sha256", base64.b64encode(hashlib.sha256(DATA).digest()).decode()),
    ],
)
def test_put_object_trailer_checksum_algorithms(
    server: RunningServer, s3: Any, bucket: str, name: str, value: str
) -> None:
    response = put_streaming(server, bucket, "k", UNSIGNED_TRAILER, trailer=(name, value))
    assert response.status == 200, response.body
    head = s3.head_object(Bucket=bucket, Key="k", ChecksumMode="ENABLED")
    field = "Checksum" + name.removeprefix("x-amz-checksum-").upper()
    assert head[field] == value


def test_put_object_streaming_empty_body(server: RunningServer, s3: Any, bucket: str) -> None:
    response = put_streaming(
        server, bucket, "empty", SIGNED_TRAILER, b"", trailer=("x-amz-checksum-crc32", crc32(b""))
    )
    assert response.status == 200, response.body
    assert read(s3, bucket, "empty") == b""


def test_put_object_streaming_keeps_other_content_encoding(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    response = put_streaming(
        server, bucket, "gz", SIGNED, extra={"Content-Encoding": "gzip,aws-chunked"}
    )
    assert response.status == 200, response.body
    assert s3.head_object(Bucket=bucket, Key="gz")["ContentEncoding"] == "gzip"


def test_put_object_streaming_without_decoded_length(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    # Deliberately lenient: botocore leaves the header out for bodies of unknown length.
    response = put_streaming(
        server,
        bucket,
        "k",
        UNSIGNED_TRAILER,
        trailer=("x-amz-checksum-crc32", crc32(DATA)),
        transfer="chunked",
        decoded_length=None,
    )
    assert response.status == 200, response.body
    assert read(s3, bucket, "k") == DATA


def test_put_object_plain_http_chunked_without_length_is_missing_content_length(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    target = path(bucket, "k")
    headers = signed_headers(server, "PUT", target, {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"})
    headers["Transfer-Encoding"] = "chunked"
    response = unsigned_request(server, "PUT", target, headers, b"hello")
    assert (response.status, response.error_code()) == (411, "MissingContentLength")
    nothing_left(server, s3, bucket, "k")


def test_put_object_plain_body_with_expect_continue(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    target = path(bucket, "k")
    headers = signed_headers(
        server, "PUT", target, {"Content-Length": str(len(DATA)), "Expect": "100-continue"}, DATA
    )
    response = send_raw(server, "PUT", target, headers, DATA, expect_continue=True)
    assert response.status == 200, response.body
    assert read(s3, bucket, "k") == DATA


# -- boto3's own aws-chunked path: the trailer form, which it only uses over HTTPS -------


def test_boto3_https_put_object_sends_trailer_checksum(tls_s3: Any) -> None:
    sent: list[dict[str, str]] = []

    def record(request: Any, **_: Any) -> None:
        sent.append(
            {
                name.lower(): value.decode() if isinstance(value, bytes) else value
                for name, value in request.headers.items()
            }
        )

    tls_s3.meta.events.register("before-send.s3.PutObject", record)
    with temporary_bucket(tls_s3) as name:
        tls_s3.put_object(Bucket=name, Key="k", Body=DATA)
        # What boto3 sends over HTTPS (FIELD-NOTES): the unsigned trailer form.
        assert sent[0]["x-amz-content-sha256"] == UNSIGNED_TRAILER
        assert sent[0]["x-amz-trailer"] == "x-amz-checksum-crc32"
        assert sent[0]["transfer-encoding"] == "chunked"
        assert "content-length" not in sent[0]
        head = tls_s3.head_object(Bucket=name, Key="k", ChecksumMode="ENABLED")
        assert head["ChecksumCRC32"] == crc32(DATA)
        assert "ContentEncoding" not in head
        assert read(tls_s3, name, "k") == DATA
        tls_s3.upload_fileobj(io.BytesIO(DATA * 20), name, "big", ExtraArgs={})
        assert read(tls_s3, name, "big") == DATA * 20
        tls_s3.put_object(
            Bucket=name, Key="sha", Body=DATA, ChecksumAlgorithm="SHA256", ContentEncoding="gzip"
        )
        head = tls_s3.head_object(Bucket=name, Key="sha", ChecksumMode="ENABLED")
        assert head["ChecksumSHA256"] == base64.b64encode(hashlib.sha256(DATA).digest()).decode()
        assert head["ContentEncoding"] == "gzip"


def test_boto3_https_unseekable_body_without_decoded_length(tls_s3: Any) -> None:
    class Unseekable(io.RawIOBase):
        def __init__(self, data: bytes) -> None:
            self._data = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, size: int = -1) -> bytes:
            return self._data.read(size)

    with temporary_bucket(tls_s3) as name:
        tls_s3.put_object(Bucket=name, Key="k", Body=Unseekable(DATA))
        assert read(tls_s3, name, "k") == DATA


# -- negative matrix -----------------------------------------------------------------------


def _flip_byte(body: bytes) -> bytes:
    at = body.index(b"\r\n") + 1000
    return body[:at] + bytes([body[at] ^ 1]) + body[at + 1 :]


def _forge_signature(body: bytes) -> bytes:
    at = body.index(b"chunk-signature=", 200) + len(b"chunk-signature=")
    return body[:at] + b"0" * 64 + body[at + 64 :]


def _truncate(body: bytes) -> bytes:
    return body[: len(body) // 2]


def _forge_trailer_signature(body: bytes) -> bytes:
    at = body.index(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
    return body[:at] + b"f" * 64 + body[at + 64 :]


def _drop_trailer(body: bytes) -> bytes:
    return body[: body.rindex(b"0\r\n") + 3] + b"\r\n"


NEGATIVE = {
    # name: (mode, trailer value, tamper, decoded length, expected status, code)
    "forged-chunk-signature": (SIGNED, None, _forge_signature, -1, 403, "SignatureDoesNotMatch"),
    "tampered-chunk-data": (SIGNED, None, _flip_byte, -1, 403, "SignatureDoesNotMatch"),
    "truncated-chunk": (SIGNED, None, _truncate, -1, 400, "IncompleteBody"),
    "decoded-length-short": (SIGNED, None, None, len(DATA) + 1, 400, "IncompleteBody"),
    "decoded-length-long": (SIGNED, None, None, len(DATA) - 1, 400, "IncompleteBody"),
    "wrong-trailer-checksum": (UNSIGNED_TRAILER, crc32(b"x"), None, -1, 400, "BadDigest"),
    "wrong-trailer-checksum-signed": (SIGNED_TRAILER, crc32(b"x"), None, -1, 400, "BadDigest"),
    "wrong-trailer-signature": (
        SIGNED_TRAILER,
        crc32(DATA),
        _forge_trailer_signature,
        -1,
        403,
        "SignatureDoesNotMatch",
    ),
    "missing-trailer": (UNSIGNED_TRAILER, crc32(DATA), _drop_trailer, -1, 400, "InvalidRequest"),
    "tampered-unsigned-trailer-data": (
        UNSIGNED_TRAILER,
        crc32(DATA),
        _flip_byte,
        -1,
        400,
        "BadDigest",
    ),
}


@pytest.mark.parametrize("transfer", ["content-length", "chunked"])
@pytest.mark.parametrize("case", NEGATIVE)
def test_put_object_streaming_refused(
    server: RunningServer, s3: Any, bucket: str, case: str, transfer: str
) -> None:
    mode, checksum, tamper, length, status, code = NEGATIVE[case]
    trailer = ("x-amz-checksum-crc32", checksum) if checksum is not None else None
    response = put_streaming(
        server,
        bucket,
        "k",
        mode,
        trailer=trailer,
        tamper=tamper,
        decoded_length=length,
        transfer=transfer,
    )
    assert (response.status, response.error_code()) == (status, code), response.body
    nothing_left(server, s3, bucket, "k")


def test_put_object_streaming_missing_trailer_signature(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    response = put_streaming(
        server,
        bucket,
        "k",
        SIGNED_TRAILER,
        trailer=("x-amz-checksum-crc32", crc32(DATA)),
        sign_trailer=False,
    )
    assert (response.status, response.error_code()) == (403, "SignatureDoesNotMatch")
    nothing_left(server, s3, bucket, "k")


def test_put_object_streaming_replacing_keeps_old_version_on_failure(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"old")
    response = put_streaming(server, bucket, "k", SIGNED, tamper=_flip_byte)
    assert response.status == 403
    assert read(s3, bucket, "k") == b"old"


def test_put_object_streaming_unknown_trailer_algorithm(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    response = put_streaming(
        server, bucket, "k", UNSIGNED_TRAILER, trailer=("x-amz-checksum-md5", "x")
    )
    assert (response.status, response.error_code()) == (400, "InvalidRequest")
    nothing_left(server, s3, bucket, "k")


def test_put_object_sigv4a_streaming_not_implemented(server: RunningServer, bucket: str) -> None:
    target = path(bucket, "k")
    headers = streaming_headers(
        server, target, "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", decoded_length=3
    )
    response = send_raw(server, "PUT", target, {**headers, "Content-Length": "0"}, b"")
    assert (response.status, response.error_code()) == (501, "NotImplemented")


# -- x-amz-* headers must be signed (SigV4; SigV2 signs every x-amz-* header anyway) -------


def test_presigned_put_with_unsigned_amz_header_is_access_denied(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    url = server.boto3_client(signature_version="s3v4").generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=300
    )
    target = url[len(server.endpoint_url) :]
    response = unsigned_request(server, "PUT", target, {"x-amz-meta-evil": "1"}, b"data")
    assert (response.status, response.error_code()) == (403, "AccessDenied")
    assert response.error_field("HeadersNotSigned") == "x-amz-meta-evil"
    nothing_left(server, s3, bucket, "k")
    # The same URL without the extra header works from a plain HTTP client.
    assert unsigned_request(server, "PUT", target, {}, b"data").status == 200
    assert read(s3, bucket, "k") == b"data"


def test_presigned_put_with_signed_amz_header_works(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    url = server.boto3_client(signature_version="s3v4").generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "k", "Metadata": {"a": "b"}}
    )
    target = url[len(server.endpoint_url) :]
    response = unsigned_request(server, "PUT", target, {"x-amz-meta-a": "b"}, b"data")
    assert response.status == 200, response.body
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"a": "b"}


def test_header_auth_with_unsigned_amz_header_is_access_denied(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    target = path(bucket, "k")
    headers = signed_headers(server, "PUT", target, body=b"data")
    headers["x-amz-meta-evil"] = "1"
    headers["X-Amz-Storage-Class"] = "STANDARD"
    response = unsigned_request(server, "PUT", target, headers, b"data")
    assert (response.status, response.error_code()) == (403, "AccessDenied")
    assert response.error_field("HeadersNotSigned") == "x-amz-meta-evil, x-amz-storage-class"
    nothing_left(server, s3, bucket, "k")
