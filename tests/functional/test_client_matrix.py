"""Client settings and upload forms beyond the defaults: boto3 computing checksums only
when required, and checksums carried in a presigned URL's query."""

from __future__ import annotations

import base64
import urllib.error
import urllib.request
import zlib
from typing import Any

import pytest
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.support import RunningServer


def _crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def test_put_object_boto3_checksums_when_required(server: RunningServer, bucket: str) -> None:
    s3 = server.boto3_client(
        request_checksum_calculation="when_required", response_checksum_validation="when_required"
    )
    s3.put_object(Bucket=bucket, Key="plain", Body=b"no checksum sent")
    got = s3.get_object(Bucket=bucket, Key="plain")
    assert got["Body"].read() == b"no checksum sent"
    head = s3.head_object(Bucket=bucket, Key="plain", ChecksumMode="ENABLED")
    # Nothing was sent, so the server computed its default full-object CRC64NVME.
    assert "ChecksumCRC64NVME" in head
    assert "ChecksumCRC32" not in head
    s3.put_object(Bucket=bucket, Key="explicit", Body=b"abc", ChecksumAlgorithm="SHA256")
    head = s3.head_object(Bucket=bucket, Key="explicit", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == "ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0="


def _presigned_put(server: RunningServer, bucket: str, key: str, query: str) -> str:
    url = f"{server.endpoint_url}/{bucket}/{key}?{query}"
    request = AWSRequest(method="PUT", url=url)
    credentials = Credentials(server.config.access_key, server.config.secret_key)
    S3SigV4QueryAuth(credentials, "s3", server.config.region, expires=300).add_auth(request)
    return str(request.url)


def _put(url: str, body: bytes) -> int:
    request = urllib.request.Request(url, data=body, method="PUT")
    request.add_header("Content-Type", "")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status: int = response.status
            return status
    except urllib.error.HTTPError as error:
        return error.code


def test_put_object_presigned_checksum_in_query_is_verified_and_stored(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    body = b"checksum signed into the URL"
    url = _presigned_put(server, bucket, "signed-crc", f"x-amz-checksum-crc32={_crc32(body)}")
    assert _put(url, body) == 200
    head = s3.head_object(Bucket=bucket, Key="signed-crc", ChecksumMode="ENABLED")
    assert head["ChecksumCRC32"] == _crc32(body)


@pytest.mark.parametrize("sent", [b"a different body", b""])
def test_put_object_presigned_checksum_in_query_mismatch_stores_nothing(
    server: RunningServer, s3: Any, bucket: str, sent: bytes
) -> None:
    url = _presigned_put(server, bucket, "bad-crc", f"x-amz-checksum-crc32={_crc32(b'expected')}")
    assert _put(url, sent) == 400
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
