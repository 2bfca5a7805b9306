"""Object keys: any UTF-8 up to 1,024 bytes is its own key, whatever it looks like.

Keys never become file paths, so slashes, dot segments, percent signs and control
characters are just bytes of a name. Raw HTTP checks how the path is decoded.
"""

from __future__ import annotations

import unicodedata
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.raw import signed_request
from tests.support import RunningServer, error_of, read

NFC_E = unicodedata.normalize("NFC", "caf\u00e9")
NFD_E = unicodedata.normalize("NFD", "caf\u00e9")

KEYS = [
    "a/b",
    "a/b/",
    "a/b/c",
    "a",
    "a/../b",
    "a/./b",
    "a//b",
    "/leading",
    "%",
    "%25",
    "a%2Fb",
    "+",
    "a+b",
    "with space",
    " padded ",
    NFC_E,
    NFD_E,
    "ctl\x01\x02\x1f\x7f",
    "tab\there",
    "carriage\rreturn",
    "q?x=1&y=2#frag",
    "日本語/ключ/🙂",
    "~!@$^*()[]{}'\",;:=",
    "x%FFy",
]


def test_keys_nfc_and_nfd_differ() -> None:
    # Guards the fixture data: the two spellings of "café" are different bytes.
    assert NFC_E != NFD_E
    assert NFC_E.encode() != NFD_E.encode()


@pytest.mark.parametrize("key", KEYS, ids=[repr(key) for key in KEYS])
def test_keys_roundtrip(s3: Any, bucket: str, key: str) -> None:
    body = key.encode("utf-8")
    s3.put_object(Bucket=bucket, Key=key, Body=body)
    assert read(s3, bucket, key) == body
    assert s3.head_object(Bucket=bucket, Key=key)["ContentLength"] == len(body)
    s3.delete_object(Bucket=bucket, Key=key)
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key=key)
    assert error_of(caught)[0] == 404


def test_keys_roundtrip_newline(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="new\nline", Body=b"lf")
    try:
        assert read(s3, bucket, "new\nline") == b"lf"
    finally:
        s3.delete_object(Bucket=bucket, Key="new\nline")


def test_keys_are_distinct(s3: Any, bucket: str) -> None:
    try:
        for index, key in enumerate(KEYS):
            s3.put_object(Bucket=bucket, Key=key, Body=f"{index}".encode())
        for index, key in enumerate(KEYS):
            assert read(s3, bucket, key) == f"{index}".encode(), key
        listed = [item["Key"] for item in s3.list_objects_v2(Bucket=bucket)["Contents"]]
        assert sorted(listed, key=str.encode) == sorted(KEYS, key=str.encode)
    finally:
        # One by one: control characters cannot travel in a DeleteObjects XML document
        # (XML 1.0 forbids them), which is how the bucket fixture cleans up.
        for key in KEYS:
            s3.delete_object(Bucket=bucket, Key=key)


def test_keys_delete_one_of_nested_keeps_others(s3: Any, bucket: str) -> None:
    for key in ("a/b", "a/b/", "a/b/c"):
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    s3.delete_object(Bucket=bucket, Key="a/b/")
    assert read(s3, bucket, "a/b") == b"a/b"
    assert read(s3, bucket, "a/b/c") == b"a/b/c"


@pytest.mark.parametrize(
    "key",
    ["k" * 1024, "\u00e9" * 512, "\U0001f642" * 256, "k" + "\u20ac" * 341],
    ids=["ascii", "2-byte", "4-byte", "3-byte"],
)
def test_keys_1024_bytes_accepted(s3: Any, bucket: str, key: str) -> None:
    assert len(key.encode("utf-8")) == 1024
    s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert read(s3, bucket, key) == b"long"


@pytest.mark.parametrize(
    "key", ["k" * 1025, "\u00e9" * 512 + "k", "\U0001f642" * 257], ids=["ascii", "2-byte", "4-byte"]
)
def test_keys_over_1024_bytes_is_key_too_long(s3: Any, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key=key, Body=b"long")
    assert error_of(caught) == (400, "KeyTooLongError")


def test_keys_encoded_slash_in_raw_path_names_the_slash_key(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    # S3 percent-decodes the path: /bucket/a%2Fb addresses the key "a/b". The literal key
    # "a%2Fb" is sent as a%252Fb and stays a key of its own.
    response = signed_request(server, "PUT", f"/{bucket}/a%2Fb", body=b"raw")
    assert response.status == 200
    assert read(s3, bucket, "a/b") == b"raw"
    s3.put_object(Bucket=bucket, Key="a%2Fb", Body=b"literal")
    assert read(s3, bucket, "a/b") == b"raw"
    assert read(s3, bucket, "a%2Fb") == b"literal"
    literal = signed_request(server, "GET", f"/{bucket}/a%252Fb")
    assert literal.body == b"literal"


def test_keys_invalid_utf8_in_path_is_invalid_uri(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    response = signed_request(server, "PUT", f"/{bucket}/x%FFy", body=b"bad")
    assert response.status == 400
    assert response.error_code() == "InvalidURI"
    got = signed_request(server, "GET", f"/{bucket}/x%FFy")
    assert got.status == 400
    assert got.error_code() == "InvalidURI"
    assert s3.list_objects_v2(Bucket=bucket).get("KeyCount") == 0


def test_keys_literal_percent_ff_works(server: RunningServer, s3: Any, bucket: str) -> None:
    response = signed_request(server, "PUT", f"/{bucket}/x%25FFy", body=b"literal")
    assert response.status == 200
    assert read(s3, bucket, "x%FFy") == b"literal"
    assert signed_request(server, "GET", f"/{bucket}/x%25FFy").body == b"literal"


def test_keys_dot_segments_in_raw_path_not_normalised(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    response = signed_request(server, "PUT", f"/{bucket}/a/../b", body=b"dots")
    assert response.status == 200
    assert read(s3, bucket, "a/../b") == b"dots"
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key="b")
    assert error_of(caught)[0] == 404


def test_keys_traversal_stays_inside_bucket(server: RunningServer, s3: Any, bucket: str) -> None:
    key = "../../../../etc/passwd"
    response = signed_request(server, "GET", f"/{bucket}/{key}")
    assert response.status == 404
    assert response.error_code() == "NoSuchKey"
    s3.put_object(Bucket=bucket, Key=key, Body=b"harmless")
    assert read(s3, bucket, key) == b"harmless"
    assert not (server.root.parent / "etc").exists()
