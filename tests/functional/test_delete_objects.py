"""DeleteObjects against a real server: boto3 for the flows, raw HTTP for digests,
limits and malformed documents."""

from __future__ import annotations

import base64
import hashlib
import xml.etree.ElementTree as ET
import zlib
from typing import Any
from xml.sax.saxutils import escape

import pytest
from botocore.exceptions import ClientError

from tests.functional.raw import NS, RawResponse, signed_request
from tests.support import RunningServer


def document(keys: list[str], quiet: bool | None = None) -> bytes:
    objects = "".join(f"<Object><Key>{escape(key)}</Key></Object>" for key in keys)
    quiet_element = "" if quiet is None else f"<Quiet>{str(quiet).lower()}</Quiet>"
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<Delete xmlns="http://s3.amazonaws.com/doc/2006-03-01/">{quiet_element}{objects}</Delete>'
    ).encode()


def post_delete(
    server: RunningServer, bucket: str, body: bytes, headers: dict[str, str] | None = None
) -> RawResponse:
    return signed_request(server, "POST", f"/{bucket}?delete", headers, body)


def md5_header(body: bytes) -> dict[str, str]:
    return {"Content-MD5": base64.b64encode(hashlib.md5(body).digest()).decode()}


def keys_in(s3: Any, bucket: str) -> list[str]:
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def fill(s3: Any, bucket: str, keys: list[str]) -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())


def test_delete_objects_per_key_results(s3: Any, bucket: str) -> None:
    fill(s3, bucket, ["a", "b", "keep"])
    response = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}, {"Key": "missing"}]}
    )
    assert sorted(item["Key"] for item in response["Deleted"]) == ["a", "b", "missing"]
    assert "Errors" not in response
    assert keys_in(s3, bucket) == ["keep"]


def test_delete_objects_quiet(s3: Any, bucket: str) -> None:
    fill(s3, bucket, ["a", "b"])
    response = s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}], "Quiet": True}
    )
    assert "Deleted" not in response
    assert "Errors" not in response
    assert keys_in(s3, bucket) == []


def test_delete_objects_result_xml(server: RunningServer, s3: Any, bucket: str) -> None:
    keys = ["a&b", "<tag>", "ünï/ключ", "quote\"'"]
    fill(s3, bucket, keys)
    response = post_delete(server, bucket, document(keys))
    assert response.status == 200
    root = ET.fromstring(response.body)
    assert root.tag == f"{NS}DeleteResult"
    deleted = [element.findtext(f"{NS}Key") for element in root.findall(f"{NS}Deleted")]
    assert sorted(deleted) == sorted(keys)  # type: ignore[type-var]
    assert keys_in(s3, bucket) == []


def test_delete_objects_quiet_false_element_lists_keys(server: RunningServer, bucket: str) -> None:
    response = post_delete(server, bucket, document(["x"], quiet=False))
    root = ET.fromstring(response.body)
    assert [element.findtext(f"{NS}Key") for element in root.findall(f"{NS}Deleted")] == ["x"]


def test_delete_objects_without_content_md5(server: RunningServer, s3: Any, bucket: str) -> None:
    fill(s3, bucket, ["a"])
    response = post_delete(server, bucket, document(["a"]))
    assert response.status == 200
    assert keys_in(s3, bucket) == []


def test_delete_objects_right_content_md5(server: RunningServer, s3: Any, bucket: str) -> None:
    fill(s3, bucket, ["a"])
    body = document(["a"])
    response = post_delete(server, bucket, body, md5_header(body))
    assert response.status == 200
    assert keys_in(s3, bucket) == []


def test_delete_objects_wrong_content_md5_is_bad_digest(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    fill(s3, bucket, ["a"])
    response = post_delete(server, bucket, document(["a"]), md5_header(b"other"))
    assert response.status == 400
    assert response.error_code() == "BadDigest"
    assert keys_in(s3, bucket) == ["a"]


def test_delete_objects_malformed_content_md5_is_invalid_digest(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    fill(s3, bucket, ["a"])
    response = post_delete(server, bucket, document(["a"]), {"Content-MD5": "nope"})
    assert response.status == 400
    assert response.error_code() == "InvalidDigest"
    assert keys_in(s3, bucket) == ["a"]


def test_delete_objects_checksum_crc32(server: RunningServer, s3: Any, bucket: str) -> None:
    fill(s3, bucket, ["a", "b"])
    body = document(["a"])
    right = base64.b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    wrong = base64.b64encode(zlib.crc32(b"x").to_bytes(4, "big")).decode()
    failed = post_delete(server, bucket, body, {"x-amz-checksum-crc32": wrong})
    assert failed.status == 400
    assert failed.error_code() == "BadDigest"
    assert keys_in(s3, bucket) == ["a", "b"]
    passed = post_delete(server, bucket, body, {"x-amz-checksum-crc32": right})
    assert passed.status == 200
    assert keys_in(s3, bucket) == ["b"]


def test_delete_objects_thousand_keys(server: RunningServer, s3: Any, bucket: str) -> None:
    fill(s3, bucket, ["k0", "k999"])
    response = post_delete(server, bucket, document([f"k{i}" for i in range(1000)], quiet=True))
    assert response.status == 200
    assert keys_in(s3, bucket) == []


def test_delete_objects_over_thousand_keys_is_malformed_xml(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    fill(s3, bucket, ["k0"])
    response = post_delete(server, bucket, document([f"k{i}" for i in range(1001)]))
    assert response.status == 400
    assert response.error_code() == "MalformedXML"
    assert keys_in(s3, bucket) == ["k0"]


@pytest.mark.parametrize(
    "body",
    [
        b"<Delete><Object><Key>a</Key></Object>",  # not well-formed
        b"not xml at all",
        b"",
        b"<Delete></Delete>",  # no Object
        b"<Delete><Object></Object></Delete>",  # Object without Key
        b"<Delete><Object><Key></Key></Object></Delete>",  # empty Key
        b"<Remove><Object><Key>a</Key></Object></Remove>",  # wrong root
        b"<Delete><Object><Key>a</Key></Object></Delete><Delete/>",  # two roots
    ],
)
def test_delete_objects_malformed_xml(
    server: RunningServer, s3: Any, bucket: str, body: bytes
) -> None:
    fill(s3, bucket, ["a"])
    response = post_delete(server, bucket, body)
    assert response.status == 400
    assert response.error_code() == "MalformedXML"
    assert keys_in(s3, bucket) == ["a"]


@pytest.mark.parametrize(
    "body",
    [
        b'<?xml version="1.0"?><!DOCTYPE Delete [<!ENTITY k "a">]>'
        b"<Delete><Object><Key>&k;</Key></Object></Delete>",
        b'<?xml version="1.0"?><!DOCTYPE Delete SYSTEM "file:///etc/passwd">'
        b"<Delete><Object><Key>a</Key></Object></Delete>",
        b'<?xml version="1.0"?><!DOCTYPE Delete [<!ENTITY x SYSTEM "file:///etc/hostname">]>'
        b"<Delete><Object><Key>&x;</Key></Object></Delete>",
    ],
)
def test_delete_objects_doctype_is_malformed_xml(
    server: RunningServer, s3: Any, bucket: str, body: bytes
) -> None:
    fill(s3, bucket, ["a"])
    response = post_delete(server, bucket, body)
    assert response.status == 400
    assert response.error_code() == "MalformedXML"
    assert keys_in(s3, bucket) == ["a"]


def test_delete_objects_no_such_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.delete_objects(Bucket="no-such-bucket-aios3", Delete={"Objects": [{"Key": "a"}]})
    response: Any = caught.value.response
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 404
    assert response["Error"]["Code"] == "NoSuchBucket"


async def test_delete_objects_aiobotocore(aio_s3: Any, bucket: str) -> None:
    for key in ("x", "y"):
        await aio_s3.put_object(Bucket=bucket, Key=key, Body=b"1")
    response = await aio_s3.delete_objects(
        Bucket=bucket, Delete={"Objects": [{"Key": "x"}, {"Key": "y"}]}
    )
    assert sorted(item["Key"] for item in response["Deleted"]) == ["x", "y"]
    listed = await aio_s3.list_objects_v2(Bucket=bucket)
    assert listed.get("Contents", []) == []
