"""SigV2 clients against a real server: boto3's default presigned URLs, boto3 with
``signature_version="s3"``, and boto 2 (the SigV2-era SDK) when it is installed."""

from __future__ import annotations

import gc
import importlib
import urllib.error
import urllib.request
import warnings
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.support import RunningServer


def _fetch(url: str, method: str = "GET", data: bytes | None = None, **headers: str) -> bytes:
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:
        body: bytes = response.read()
        return body


def test_presigned_default_get_and_put_with_urllib(s3: Any, bucket: str) -> None:
    put_url = s3.generate_presigned_url(
        "put_object",
        Params={"Bucket": bucket, "Key": "dir/ä b+c.txt", "ContentType": "text/plain"},
        ExpiresIn=300,
    )
    assert "AWSAccessKeyId=" in put_url  # boto3 still presigns with SigV2 by default
    _fetch(put_url, "PUT", b"hello sigv2", **{"Content-Type": "text/plain"})
    stored = s3.get_object(Bucket=bucket, Key="dir/ä b+c.txt")
    assert stored["Body"].read() == b"hello sigv2"
    assert stored["ContentType"] == "text/plain"

    get_url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "dir/ä b+c.txt"}, ExpiresIn=300
    )
    assert _fetch(get_url) == b"hello sigv2"


def test_presigned_default_expired_is_access_denied(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    url = s3.generate_presigned_url(
        "get_object", Params={"Bucket": bucket, "Key": "k"}, ExpiresIn=-5
    )
    with pytest.raises(urllib.error.HTTPError) as info:
        _fetch(url)
    assert info.value.code == 403
    body = info.value.read()
    info.value.close()
    assert b"<Code>AccessDenied</Code>" in body
    assert b"Request has expired" in body


def test_presigned_default_tampered_is_signature_mismatch(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a", Body=b"x")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "a"})
    with pytest.raises(urllib.error.HTTPError) as info:
        _fetch(url.replace(f"/{bucket}/a?", f"/{bucket}/b?"))
    assert info.value.code == 403
    assert b"<Code>SignatureDoesNotMatch</Code>" in info.value.read()
    info.value.close()


def test_boto3_sigv2_header_put_get_list_delete(server: RunningServer, bucket: str) -> None:
    client = server.boto3_client(signature_version="s3", s3={"addressing_style": "path"})
    key = "nested/ü key+plus"
    client.put_object(
        Bucket=bucket, Key=key, Body=b"payload", ContentType="a/b", Metadata={"m": "v"}
    )
    got = client.get_object(Bucket=bucket, Key=key)
    assert got["Body"].read() == b"payload"
    assert got["Metadata"] == {"m": "v"}
    listed = client.list_objects(Bucket=bucket, Prefix="nested/")
    assert [item["Key"] for item in listed["Contents"]] == [key]
    assert [item["Key"] for item in client.list_objects_v2(Bucket=bucket)["Contents"]] == [key]
    assert bucket in [b["Name"] for b in client.list_buckets()["Buckets"]]
    client.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": key}]})
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    client.put_object(Bucket=bucket, Key="gone", Body=b"")
    client.delete_object(Bucket=bucket, Key="gone")
    assert client.list_objects_v2(Bucket=bucket)["KeyCount"] == 0
    client.close()


# boto 2 predates Python 3.11: it warns on import and leaves pooled sockets to the GC.
@pytest.mark.filterwarnings(
    "ignore::DeprecationWarning",
    "ignore::ImportWarning",
    "ignore::ResourceWarning",
    "ignore::pytest.PytestUnraisableExceptionWarning",
)
def test_boto2_put_get_list_delete(server: RunningServer, bucket: str) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pytest.importorskip("boto")
        s3conn = importlib.import_module("boto.s3.connection")

    endpoint = urlsplit(server.endpoint_url)
    conn = s3conn.S3Connection(
        aws_access_key_id=server.config.access_key,
        aws_secret_access_key=server.config.secret_key,
        host=endpoint.hostname,
        port=endpoint.port,
        is_secure=False,
        calling_format=s3conn.OrdinaryCallingFormat(),
    )
    remote = conn.get_bucket(bucket)
    key = remote.new_key("boto2/ä b+c.txt")
    key.set_metadata("origin", "boto2")
    key.set_contents_from_string(b"from boto 2", headers={"Content-Type": "text/plain"})

    fetched = remote.get_key("boto2/ä b+c.txt")
    assert fetched is not None
    assert fetched.get_contents_as_string() == b"from boto 2"
    assert fetched.get_metadata("origin") == "boto2"
    assert [k.name for k in remote.list(prefix="boto2/")] == ["boto2/ä b+c.txt"]

    url = fetched.generate_url(60)
    assert "AWSAccessKeyId=" in url
    assert _fetch(url) == b"from boto 2"

    remote.delete_key("boto2/ä b+c.txt")
    assert list(remote.list()) == []
    conn.close()
    del conn, remote, key, fetched
    gc.collect()  # finalise boto 2's unclosed sockets now, under this test's filters
