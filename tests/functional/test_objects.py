"""PutObject, GetObject, HeadObject and DeleteObject against a real server, with boto3,
aiobotocore and raw HTTP (for exact headers and malformed input)."""

from __future__ import annotations

import base64
import email.utils
import gzip
import hashlib
import socket
import time
import urllib.request
import zlib
from datetime import UTC, datetime
from typing import Any

import pytest
from awscrt import checksums as crt
from botocore.exceptions import ClientError

from tests.functional.raw import (
    UNSIGNED_PAYLOAD,
    connect,
    path,
    signed_head,
    signed_request,
)
from tests.support import RunningServer, error_of

BODY = b"0123456789abcdefghij"  # 20 bytes
MD5_EMPTY = "d41d8cd98f00b204e9800998ecf8427e"


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def expected_checksum(algorithm: str, data: bytes) -> str:
    if algorithm == "CRC32":
        return b64(zlib.crc32(data).to_bytes(4, "big"))
    if algorithm == "CRC32C":
        return b64(crt.crc32c(data).to_bytes(4, "big"))
    if algorithm == "CRC64NVME":
        return b64(crt.crc64nvme(data).to_bytes(8, "big"))
    return b64(hashlib.new(algorithm.lower(), data).digest())


def assert_absent(s3: Any, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key=key)
    assert error_of(caught)[0] == 404


def put(s3: Any, bucket: str, key: str = "obj", body: bytes = BODY, **kwargs: Any) -> Any:
    return s3.put_object(Bucket=bucket, Key=key, Body=body, **kwargs)


# -- PutObject ------------------------------------------------------------------------


def test_put_object_etag_is_quoted_md5(s3: Any, bucket: str) -> None:
    response = put(s3, bucket)
    assert response["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    assert s3.head_object(Bucket=bucket, Key="obj")["ETag"] == response["ETag"]


def test_put_object_default_client_checksum_crc32_stored(s3: Any, bucket: str) -> None:
    response = put(s3, bucket)
    assert response["ChecksumCRC32"] == expected_checksum("CRC32", BODY)


def test_put_object_content_md5_right(s3: Any, bucket: str) -> None:
    response = put(s3, bucket, ContentMD5=b64(hashlib.md5(BODY).digest()))
    assert response["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == BODY


@pytest.fixture
def s3_once(server: RunningServer) -> Any:
    """A boto3 client that does not retry: botocore retries BadDigest as it would
    a transmission error on AWS, which only slows these tests down."""
    return server.boto3_client(retries={"total_max_attempts": 1})


def test_put_object_content_md5_wrong_is_bad_digest_and_keeps_prior(
    s3: Any, s3_once: Any, bucket: str
) -> None:
    put(s3, bucket, body=b"version one")
    with pytest.raises(ClientError) as caught:
        put(s3_once, bucket, body=b"version two", ContentMD5=b64(hashlib.md5(b"other").digest()))
    assert error_of(caught) == (400, "BadDigest")
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"version one"


def test_put_object_content_md5_wrong_stores_nothing(s3: Any, s3_once: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        put(s3_once, bucket, ContentMD5=b64(hashlib.md5(b"other").digest()))
    assert error_of(caught) == (400, "BadDigest")
    assert_absent(s3, bucket, "obj")


@pytest.mark.parametrize("value", ["not-base64!!", b64(b"sixteen?"), hashlib.md5(BODY).hexdigest()])
def test_put_object_content_md5_malformed_is_invalid_digest(
    server: RunningServer, s3: Any, bucket: str, value: str
) -> None:
    response = signed_request(server, "PUT", path(bucket, "obj"), {"Content-MD5": value}, body=BODY)
    assert response.status == 400
    assert response.error_code() == "InvalidDigest"
    assert_absent(s3, bucket, "obj")


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_put_object_checksum_algorithm(s3: Any, bucket: str, algorithm: str) -> None:
    expected = expected_checksum(algorithm, BODY)
    response = put(s3, bucket, ChecksumAlgorithm=algorithm)
    assert response[f"Checksum{algorithm}"] == expected
    got = s3.get_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert got[f"Checksum{algorithm}"] == expected
    assert got["Body"].read() == BODY
    head = s3.head_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_put_object_checksum_header_wrong_is_bad_digest(
    server: RunningServer, s3: Any, bucket: str, algorithm: str
) -> None:
    put(s3, bucket, body=b"prior")
    wrong = expected_checksum(algorithm, b"something else")
    header = f"x-amz-checksum-{algorithm.lower()}"
    response = signed_request(server, "PUT", path(bucket, "obj"), {header: wrong}, body=BODY)
    assert response.status == 400
    assert response.error_code() == "BadDigest"
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"prior"
    response = signed_request(server, "PUT", path(bucket, "new"), {header: wrong}, body=BODY)
    assert response.error_code() == "BadDigest"
    assert_absent(s3, bucket, "new")


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_put_object_checksum_header_right_returned(
    server: RunningServer, bucket: str, algorithm: str
) -> None:
    header = f"x-amz-checksum-{algorithm.lower()}"
    value = expected_checksum(algorithm, BODY)
    response = signed_request(server, "PUT", path(bucket, "obj"), {header: value}, body=BODY)
    assert response.status == 200
    assert response.headers[header] == value


def test_put_object_two_checksum_headers_is_invalid_request(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    headers = {
        "x-amz-checksum-crc32": expected_checksum("CRC32", BODY),
        "x-amz-checksum-sha1": expected_checksum("SHA1", BODY),
    }
    response = signed_request(server, "PUT", path(bucket, "obj"), headers, body=BODY)
    assert response.status == 400
    assert response.error_code() == "InvalidRequest"
    assert_absent(s3, bucket, "obj")


def test_put_object_content_headers_and_metadata_returned(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    expires = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    put(
        s3,
        bucket,
        ContentType="text/plain; charset=utf-8",
        ContentEncoding="compress",
        ContentDisposition='attachment; filename="x.txt"',
        ContentLanguage="de-CH",
        CacheControl="max-age=60, private",
        Expires=expires,
        Metadata={"Color": "Blue", "Two-Words": "a b"},
    )
    for response in (
        s3.head_object(Bucket=bucket, Key="obj"),
        s3.get_object(Bucket=bucket, Key="obj"),
    ):
        assert response["ContentType"] == "text/plain; charset=utf-8"
        assert response["ContentEncoding"] == "compress"
        assert response["ContentDisposition"] == 'attachment; filename="x.txt"'
        assert response["ContentLanguage"] == "de-CH"
        assert response["CacheControl"] == "max-age=60, private"
        assert response["ResponseMetadata"]["HTTPHeaders"]["expires"] == (
            "Wed, 02 Jan 2030 03:04:05 GMT"
        )
        assert response["Metadata"] == {"color": "Blue", "two-words": "a b"}
    raw = signed_request(server, "HEAD", path(bucket, "obj"))
    names = [name for name in raw.headers if name.lower().startswith("x-amz-meta-")]
    assert sorted(names) == ["x-amz-meta-color", "x-amz-meta-two-words"]


def test_put_object_content_encoding_gzip_stored_verbatim(s3: Any, bucket: str) -> None:
    body = gzip.compress(b"hello " * 100)
    put(s3, bucket, body=body, ContentEncoding="gzip")
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["ContentEncoding"] == "gzip"
    assert got["Body"].read() == body
    assert got["ETag"] == f'"{hashlib.md5(body).hexdigest()}"'


def test_put_object_default_content_type(s3: Any, bucket: str) -> None:
    put(s3, bucket)
    assert s3.head_object(Bucket=bucket, Key="obj")["ContentType"] == "binary/octet-stream"


def test_put_object_metadata_at_limit_accepted(s3: Any, bucket: str) -> None:
    # 2 KB of user metadata: bytes of every key (without x-amz-meta-) and value.
    put(s3, bucket, Metadata={"k": "v" * 2047})
    assert s3.head_object(Bucket=bucket, Key="obj")["Metadata"] == {"k": "v" * 2047}


def test_put_object_metadata_too_large(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        put(s3, bucket, Metadata={"k": "v" * 2048})
    assert error_of(caught) == (400, "MetadataTooLarge")
    assert_absent(s3, bucket, "obj")


def test_put_object_chunked_without_content_length_is_missing_content_length(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    headers = {"Transfer-Encoding": "chunked", "X-Amz-Content-SHA256": UNSIGNED_PAYLOAD}
    response = signed_request(server, "PUT", path(bucket, "obj"), headers, body=BODY)
    assert response.status == 411
    assert response.error_code() == "MissingContentLength"
    assert_absent(s3, bucket, "obj")


def test_put_object_unsigned_payload_with_content_length(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    headers = {"X-Amz-Content-SHA256": UNSIGNED_PAYLOAD}
    response = signed_request(server, "PUT", path(bucket, "obj"), headers, body=BODY)
    assert response.status == 200
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == BODY


def test_put_object_content_sha256_mismatch_stores_nothing(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    put(s3, bucket, body=b"prior")
    headers = {"X-Amz-Content-SHA256": hashlib.sha256(b"another body").hexdigest()}
    response = signed_request(server, "PUT", path(bucket, "obj"), headers, body=BODY)
    assert response.status == 400
    assert response.error_code() == "XAmzContentSHA256Mismatch"
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"prior"
    response = signed_request(server, "PUT", path(bucket, "new"), headers, body=BODY)
    assert response.error_code() == "XAmzContentSHA256Mismatch"
    assert_absent(s3, bucket, "new")


def test_put_object_truncated_body_stores_nothing(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    put(s3, bucket, body=b"prior")
    headers = {"Content-Length": "100", "X-Amz-Content-SHA256": UNSIGNED_PAYLOAD}
    head = signed_head(server, "PUT", path(bucket, "obj"), headers)
    with connect(server) as sock:
        sock.sendall(head + b"x" * 50)  # half the promised body
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(65536):
            pass
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"prior"


def test_put_object_overwrite_replaces(s3: Any, bucket: str) -> None:
    put(s3, bucket, body=b"first version, longer", Metadata={"a": "1"}, ContentType="text/a")
    put(s3, bucket, body=b"second", Metadata={"b": "2"})
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["Body"].read() == b"second"
    assert got["ContentLength"] == 6
    assert got["ETag"] == f'"{hashlib.md5(b"second").hexdigest()}"'
    assert got["Metadata"] == {"b": "2"}
    assert got["ContentType"] == "binary/octet-stream"


def test_put_object_empty(s3: Any, bucket: str) -> None:
    response = put(s3, bucket, body=b"")
    assert response["ETag"] == f'"{MD5_EMPTY}"'
    got = s3.get_object(Bucket=bucket, Key="obj")
    assert got["ContentLength"] == 0
    assert got["Body"].read() == b""
    assert s3.head_object(Bucket=bucket, Key="obj")["ContentLength"] == 0


def test_put_object_if_none_match_star(s3: Any, s3_once: Any, bucket: str) -> None:
    put(s3, bucket, key="new", body=b"first", IfNoneMatch="*")
    with pytest.raises(ClientError) as caught:
        put(s3_once, bucket, key="new", body=b"second", IfNoneMatch="*")
    assert error_of(caught) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="new")["Body"].read() == b"first"


def test_put_object_if_match(s3: Any, s3_once: Any, bucket: str) -> None:
    etag = put(s3, bucket, body=b"first")["ETag"]
    with pytest.raises(ClientError) as caught:
        put(s3_once, bucket, body=b"second", IfMatch='"00000000000000000000000000000000"')
    assert error_of(caught) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"first"
    put(s3, bucket, body=b"third", IfMatch=etag)
    assert s3.get_object(Bucket=bucket, Key="obj")["Body"].read() == b"third"


def test_put_object_if_match_missing_key(s3: Any, s3_once: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        put(s3_once, bucket, key="absent", IfMatch='"00000000000000000000000000000000"')
    assert error_of(caught) == (404, "NoSuchKey")
    assert_absent(s3, bucket, "absent")


def test_put_object_no_such_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket="no-such-bucket-aios3", Key="obj", Body=BODY)
    assert error_of(caught) == (404, "NoSuchBucket")


# -- GetObject / HeadObject: ranges ---------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=2-5", 2, 5),
        ("bytes=0-0", 0, 0),
        ("bytes=15-", 15, 19),
        ("bytes=-3", 17, 19),
        ("bytes=-100", 0, 19),
        ("bytes=10-1000", 10, 19),
    ],
)
def test_get_object_range(s3: Any, bucket: str, spec: str, start: int, end: int) -> None:
    put(s3, bucket)
    got = s3.get_object(Bucket=bucket, Key="obj", Range=spec)
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["ContentRange"] == f"bytes {start}-{end}/20"
    assert got["ContentLength"] == end - start + 1
    assert got["Body"].read() == BODY[start : end + 1]


def test_head_object_range(s3: Any, bucket: str) -> None:
    put(s3, bucket)
    head = s3.head_object(Bucket=bucket, Key="obj", Range="bytes=2-5")
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["ContentRange"] == "bytes 2-5/20"
    assert head["ContentLength"] == 4


def test_get_object_multi_range_is_whole_object(s3: Any, bucket: str) -> None:
    put(s3, bucket)
    got = s3.get_object(Bucket=bucket, Key="obj", Range="bytes=0-1,5-6")
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert "ContentRange" not in got
    assert got["Body"].read() == BODY


def test_get_object_range_unsatisfiable(server: RunningServer, s3: Any, bucket: str) -> None:
    put(s3, bucket)
    response = signed_request(server, "GET", path(bucket, "obj"), {"Range": "bytes=20-"})
    assert response.status == 416
    assert response.error_code() == "InvalidRange"
    assert response.headers["Content-Range"] == "bytes */20"


def test_head_object_range_unsatisfiable_has_no_body(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    put(s3, bucket)
    response = signed_request(server, "HEAD", path(bucket, "obj"), {"Range": "bytes=50-60"})
    assert response.status == 416
    assert response.body == b""
    assert response.headers["Content-Range"] == "bytes */20"


@pytest.mark.parametrize("spec", ["bytes=0-", "bytes=0-0", "bytes=-1"])
def test_get_object_range_on_empty_object(
    server: RunningServer, s3: Any, bucket: str, spec: str
) -> None:
    put(s3, bucket, body=b"")
    response = signed_request(server, "GET", path(bucket, "obj"), {"Range": spec})
    assert response.status == 416
    assert response.error_code() == "InvalidRange"
    assert response.headers["Content-Range"] == "bytes */0"


# -- GetObject / HeadObject: conditionals ---------------------------------------------


def _date(seconds: float) -> str:
    return email.utils.formatdate(seconds, usegmt=True)


@pytest.fixture
def stored(s3: Any, bucket: str) -> tuple[str, str]:
    """A stored object: its bucket and quoted ETag."""
    etag: str = put(s3, bucket)["ETag"]
    return bucket, etag


def test_get_object_if_match(s3: Any, stored: tuple[str, str]) -> None:
    bucket, etag = stored
    assert s3.get_object(Bucket=bucket, Key="obj", IfMatch=etag)["Body"].read() == BODY
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="obj", IfMatch='"0123"')
    assert error_of(caught) == (412, "PreconditionFailed")


def test_get_object_if_none_match_is_304_with_etag_and_no_body(
    server: RunningServer, stored: tuple[str, str]
) -> None:
    bucket, etag = stored
    response = signed_request(server, "GET", path(bucket, "obj"), {"If-None-Match": etag})
    assert response.status == 304
    assert response.headers["ETag"] == etag
    assert response.body == b""


def test_get_object_if_none_match_other_etag(s3: Any, stored: tuple[str, str]) -> None:
    bucket, _ = stored
    assert s3.get_object(Bucket=bucket, Key="obj", IfNoneMatch='"0123"')["Body"].read() == BODY


def test_get_object_if_modified_since(server: RunningServer, stored: tuple[str, str]) -> None:
    bucket, etag = stored
    modified = signed_request(server, "HEAD", path(bucket, "obj")).headers["Last-Modified"]
    later = signed_request(server, "GET", path(bucket, "obj"), {"If-Modified-Since": modified})
    assert later.status == 304
    assert later.headers["ETag"] == etag
    assert later.body == b""
    earlier = signed_request(
        server, "GET", path(bucket, "obj"), {"If-Modified-Since": _date(time.time() - 3600)}
    )
    assert earlier.status == 200
    assert earlier.body == BODY


def test_get_object_if_unmodified_since(s3: Any, stored: tuple[str, str]) -> None:
    bucket, _ = stored
    past = datetime.fromtimestamp(time.time() - 3600, UTC)
    future = datetime.fromtimestamp(time.time() + 3600, UTC)
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="obj", IfUnmodifiedSince=past)
    assert error_of(caught) == (412, "PreconditionFailed")
    assert s3.get_object(Bucket=bucket, Key="obj", IfUnmodifiedSince=future)["Body"].read() == BODY


def test_get_object_if_match_true_beats_unmodified_since_false(
    s3: Any, stored: tuple[str, str]
) -> None:
    bucket, etag = stored
    past = datetime.fromtimestamp(time.time() - 3600, UTC)
    got = s3.get_object(Bucket=bucket, Key="obj", IfMatch=etag, IfUnmodifiedSince=past)
    assert got["Body"].read() == BODY


def test_get_object_if_none_match_false_with_modified_since_true_is_304(
    server: RunningServer, stored: tuple[str, str]
) -> None:
    bucket, etag = stored
    headers = {"If-None-Match": etag, "If-Modified-Since": _date(time.time() - 3600)}
    response = signed_request(server, "GET", path(bucket, "obj"), headers)
    assert response.status == 304


def test_get_object_if_match_failure_beats_if_none_match(
    server: RunningServer, stored: tuple[str, str]
) -> None:
    bucket, etag = stored
    headers = {"If-Match": '"0123"', "If-None-Match": etag}
    response = signed_request(server, "GET", path(bucket, "obj"), headers)
    assert response.status == 412
    assert response.error_code() == "PreconditionFailed"


def test_head_object_conditionals(server: RunningServer, stored: tuple[str, str]) -> None:
    bucket, etag = stored
    not_modified = signed_request(server, "HEAD", path(bucket, "obj"), {"If-None-Match": etag})
    assert not_modified.status == 304
    assert not_modified.headers["ETag"] == etag
    failed = signed_request(server, "HEAD", path(bucket, "obj"), {"If-Match": '"0123"'})
    assert failed.status == 412
    assert failed.body == b""


# -- GetObject / HeadObject: headers and overrides ------------------------------------


def test_get_object_response_overrides(s3: Any, bucket: str) -> None:
    put(s3, bucket, ContentType="text/plain")
    expires = datetime(2031, 5, 6, 7, 8, 9, tzinfo=UTC)
    got = s3.get_object(
        Bucket=bucket,
        Key="obj",
        ResponseContentType="application/json",
        ResponseContentLanguage="fr",
        ResponseExpires=expires,
        ResponseCacheControl="no-cache",
        ResponseContentDisposition="inline",
        ResponseContentEncoding="identity",
    )
    headers = got["ResponseMetadata"]["HTTPHeaders"]
    assert got["ContentType"] == "application/json"
    assert got["ContentLanguage"] == "fr"
    assert headers["expires"] == "Tue, 06 May 2031 07:08:09 GMT"
    assert got["CacheControl"] == "no-cache"
    assert got["ContentDisposition"] == "inline"
    assert got["ContentEncoding"] == "identity"
    assert got["Body"].read() == BODY
    # Overrides change one response only.
    assert s3.head_object(Bucket=bucket, Key="obj")["ContentType"] == "text/plain"


def test_head_object_response_content_type(server: RunningServer, s3: Any, bucket: str) -> None:
    put(s3, bucket)
    query = "?response-content-type=text%2Fhtml"
    response = signed_request(server, "HEAD", path(bucket, "obj") + query)
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html"


def test_get_object_headers(server: RunningServer, s3: Any, bucket: str) -> None:
    before = int(time.time())
    etag = put(s3, bucket)["ETag"]
    after = time.time()
    for method in ("GET", "HEAD"):
        response = signed_request(server, method, path(bucket, "obj"))
        assert response.status == 200
        assert response.headers["ETag"] == etag
        assert response.headers["Content-Length"] == "20"
        assert response.headers["Accept-Ranges"] == "bytes"
        modified = email.utils.parsedate_to_datetime(response.headers["Last-Modified"])
        assert before <= modified.timestamp() <= after
        assert response.body == (BODY if method == "GET" else b"")


def test_get_object_carries_request_id(server: RunningServer, s3: Any, bucket: str) -> None:
    put(s3, bucket)
    head = signed_request(server, "HEAD", path(bucket, "obj"))
    assert head.headers["x-amz-request-id"]
    got = signed_request(server, "GET", path(bucket, "obj"))
    assert got.status == 200
    assert got.headers["x-amz-request-id"]


def test_get_object_checksum_only_with_checksum_mode(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    put(s3, bucket, ChecksumAlgorithm="SHA256")
    name = "x-amz-checksum-sha256"
    enabled = {"x-amz-checksum-mode": "ENABLED"}
    for method in ("GET", "HEAD"):
        plain = signed_request(server, method, path(bucket, "obj"))
        assert name not in plain.headers
        with_mode = signed_request(server, method, path(bucket, "obj"), enabled)
        assert with_mode.headers[name] == expected_checksum("SHA256", BODY)
        ranged = signed_request(
            server, method, path(bucket, "obj"), {**enabled, "Range": "bytes=0-3"}
        )
        assert ranged.status == 206
        assert not [h for h in ranged.headers if h.lower().startswith("x-amz-checksum-")]


def test_get_object_default_checksum_is_crc64nvme(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    # A PutObject that names no checksum still gets a CRC64NVME, as S3 does.
    response = signed_request(server, "PUT", path(bucket, "obj"), body=BODY)
    assert response.status == 200
    got = s3.get_object(Bucket=bucket, Key="obj", ChecksumMode="ENABLED")
    assert got["ChecksumCRC64NVME"] == expected_checksum("CRC64NVME", BODY)
    assert got["Body"].read() == BODY


def test_get_object_no_such_key_names_key(server: RunningServer, s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="missing/ké y")
    assert error_of(caught) == (404, "NoSuchKey")
    assert caught.value.response["Error"]["Key"] == "missing/ké y"
    response = signed_request(server, "GET", path(bucket, "missing/ké y"))
    assert response.status == 404
    assert response.error_code() == "NoSuchKey"
    assert response.error_field("Key") == "missing/ké y"


def test_get_object_no_such_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket="no-such-bucket-aios3", Key="obj")
    assert error_of(caught) == (404, "NoSuchBucket")


def test_head_object_errors_have_no_body(server: RunningServer, bucket: str) -> None:
    missing_key = signed_request(server, "HEAD", path(bucket, "missing"))
    assert missing_key.status == 404
    assert missing_key.body == b""
    missing_bucket = signed_request(server, "HEAD", path("no-such-bucket-aios3", "obj"))
    assert missing_bucket.status == 404
    assert missing_bucket.body == b""


# -- DeleteObject -------------------------------------------------------------------


def test_delete_object_existing(s3: Any, bucket: str) -> None:
    put(s3, bucket)
    response = s3.delete_object(Bucket=bucket, Key="obj")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert_absent(s3, bucket, "obj")


def test_delete_object_missing_key_is_204(s3: Any, bucket: str) -> None:
    response = s3.delete_object(Bucket=bucket, Key="never-existed")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_object_raw_204_without_body(server: RunningServer, s3: Any, bucket: str) -> None:
    put(s3, bucket)
    response = signed_request(server, "DELETE", path(bucket, "obj"))
    assert response.status == 204
    assert response.body == b""


def test_delete_object_no_such_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.delete_object(Bucket="no-such-bucket-aios3", Key="obj")
    assert error_of(caught) == (404, "NoSuchBucket")


def test_delete_object_leaves_other_keys(s3: Any, bucket: str) -> None:
    put(s3, bucket, key="a")
    put(s3, bucket, key="a/b")
    s3.delete_object(Bucket=bucket, Key="a")
    assert s3.get_object(Bucket=bucket, Key="a/b")["Body"].read() == BODY
    assert_absent(s3, bucket, "a")


# -- aiobotocore ----------------------------------------------------------------------


async def test_put_object_aiobotocore_roundtrip(aio_s3: Any, bucket: str) -> None:
    response = await aio_s3.put_object(Bucket=bucket, Key="async", Body=BODY)
    assert response["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    got = await aio_s3.get_object(Bucket=bucket, Key="async")
    async with got["Body"] as stream:
        assert await stream.read() == BODY
    head = await aio_s3.head_object(Bucket=bucket, Key="async")
    assert head["ContentLength"] == len(BODY)


async def test_get_object_aiobotocore_streams_body(aio_s3: Any, bucket: str) -> None:
    body = bytes(range(256)) * 4096  # 1 MiB
    await aio_s3.put_object(Bucket=bucket, Key="big", Body=body)
    got = await aio_s3.get_object(Bucket=bucket, Key="big")
    pieces: list[bytes] = []
    async with got["Body"] as stream:
        async for piece in stream.iter_chunks(64 * 1024):
            pieces.append(piece)
    assert len(pieces) > 1
    assert b"".join(pieces) == body


async def test_get_object_aiobotocore_range(aio_s3: Any, bucket: str) -> None:
    await aio_s3.put_object(Bucket=bucket, Key="r", Body=BODY)
    got = await aio_s3.get_object(Bucket=bucket, Key="r", Range="bytes=3-6")
    async with got["Body"] as stream:
        assert await stream.read() == BODY[3:7]
    assert got["ContentRange"] == "bytes 3-6/20"


async def test_delete_object_aiobotocore(aio_s3: Any, bucket: str) -> None:
    await aio_s3.put_object(Bucket=bucket, Key="gone", Body=BODY)
    response = await aio_s3.delete_object(Bucket=bucket, Key="gone")
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        await aio_s3.get_object(Bucket=bucket, Key="gone")
    assert error_of(caught) == (404, "NoSuchKey")


def test_put_object_presigned_url_applies_metadata_from_its_query(
    server: RunningServer, bucket: str
) -> None:
    # boto3's default presigner (SigV2 query form) moves x-amz-* headers into the query.
    presigner = server.boto3_client()
    url = presigner.generate_presigned_url(
        "put_object", Params={"Bucket": bucket, "Key": "presigned", "Metadata": {"origin": "url"}}
    )
    assert "x-amz-meta-origin=url" in url
    request = urllib.request.Request(url, data=b"via url", method="PUT")
    request.add_header("Content-Type", "")
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200
    head = server.boto3_client().head_object(Bucket=bucket, Key="presigned")
    assert head["Metadata"] == {"origin": "url"}
