"""ListObjects (v1) and ListObjectsV2 through real clients, and their exact XML.

Facts from the Amazon S3 API reference: keys are listed in UTF-8 binary order; a page
holds at most 1,000 keys and common prefixes together; v1 returns NextMarker only when
a delimiter was given; with ``encoding-type=url`` the keys, prefixes, delimiter and
markers of the response are URL-encoded (boto3 always asks for it and decodes them).
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import unquote_plus

import pytest
from botocore.exceptions import ClientError

from aios3.xml import owner_id
from tests.functional.raw import (
    NS,
    RawResponse,
    path,
    put_objects,
    query_pairs,
    signed_request,
)
from tests.support import RunningServer, error_of

BYTE_ORDER_KEYS = ["a", "B", "é", "\u00ff", "\U0001f600", "a/b", "a/b/", "a/b/c", "a!"]
ODD_KEYS = [
    "with space",
    "dir with space/file name",
    "plus+sign",
    "percent%41",
    "100%",
    "amp&lt;",
    "<tag>",
    "quote\"'",
    "ünïcödé/ключ/鍵",
    "emoji\U0001f600",
    "ctl\x01\x02\x1f",
    "tab\tand\rreturn",
    "query?x=1#frag",
    "semi;colon,comma=eq",
    "tilde~star*",
]


def sort_bytes(keys: Sequence[str]) -> list[str]:
    return sorted(keys, key=lambda key: key.encode("utf-8"))


def put_keys(s3: Any, bucket: str, keys: Sequence[str]) -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode("utf-8"))


def keys_of(response: dict[str, Any]) -> list[str]:
    return [item["Key"] for item in response.get("Contents", [])]


def prefixes_of(response: dict[str, Any]) -> list[str]:
    return [item["Prefix"] for item in response.get("CommonPrefixes", [])]


def raw_list(server: RunningServer, bucket: str, **params: str) -> RawResponse:
    pairs: list[tuple[str, str | None]] = [
        (name.replace("_", "-"), value) for name, value in params.items()
    ]
    return signed_request(server, "GET", path(bucket) + query_pairs(pairs))


def children(element: Any) -> list[str]:
    return [child.tag.removeprefix(NS) for child in element]


# -- A bucket with 2,500 keys, shared by the pagination tests --------------------------

BIG_PREFIXES = 1200  # p0000/ .. p1199/, two keys each
BIG_TOP = list(range(0, BIG_PREFIXES, 12))  # 100 top-level keys p0000, p0012, ...


def big_keys() -> list[str]:
    keys = [f"p{i:04d}/{leaf}" for i in range(BIG_PREFIXES) for leaf in ("a", "b")]
    keys += [f"p{i:04d}" for i in BIG_TOP]
    return keys


@pytest.fixture(scope="module")
def big_bucket(server: RunningServer) -> Iterator[str]:
    s3 = server.boto3_client()
    name = f"big-{uuid.uuid4().hex[:16]}"
    s3.create_bucket(Bucket=name)
    keys = big_keys()
    # Its own thread and loop: the test's event loop (if any) is not disturbed.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, put_objects(server, name, keys)).result()
    yield name
    for start in range(0, len(keys), 1000):
        batch = [{"Key": key} for key in keys[start : start + 1000]]
        s3.delete_objects(Bucket=name, Delete={"Objects": batch, "Quiet": True})
    s3.delete_bucket(Bucket=name)


def test_list_objects_v2_paginator_over_2500_keys(s3: Any, big_bucket: str) -> None:
    pages = list(s3.get_paginator("list_objects_v2").paginate(Bucket=big_bucket))
    assert [page["KeyCount"] for page in pages] == [1000, 1000, 500]
    assert [page["IsTruncated"] for page in pages] == [True, True, False]
    listed = [key for page in pages for key in keys_of(page)]
    assert listed == sort_bytes(big_keys())


def test_list_objects_paginator_over_2500_keys(s3: Any, big_bucket: str) -> None:
    pages = list(s3.get_paginator("list_objects").paginate(Bucket=big_bucket))
    assert [len(page["Contents"]) for page in pages] == [1000, 1000, 500]
    assert all("NextMarker" not in page for page in pages)
    listed = [key for page in pages for key in keys_of(page)]
    assert listed == sort_bytes(big_keys())


def test_list_objects_v2_paginator_small_pages(s3: Any, big_bucket: str) -> None:
    paginator = s3.get_paginator("list_objects_v2")
    pages = list(
        paginator.paginate(Bucket=big_bucket, Prefix="p00", PaginationConfig={"PageSize": 7})
    )
    listed = [key for page in pages for key in keys_of(page)]
    assert listed == sort_bytes([k for k in big_keys() if k.startswith("p00")])
    assert all(page["KeyCount"] <= 7 for page in pages)


@pytest.mark.parametrize("operation", ["list_objects", "list_objects_v2"])
def test_list_objects_delimiter_many_common_prefixes_across_pages(
    s3: Any, big_bucket: str, operation: str
) -> None:
    pages = list(s3.get_paginator(operation).paginate(Bucket=big_bucket, Delimiter="/"))
    assert len(pages) == 2
    prefixes = [p for page in pages for p in prefixes_of(page)]
    keys = [k for page in pages for k in keys_of(page)]
    assert len(prefixes) == len(set(prefixes))
    assert prefixes == [f"p{i:04d}/" for i in range(BIG_PREFIXES)]
    assert keys == [f"p{i:04d}" for i in BIG_TOP]
    first = pages[0]
    assert len(keys_of(first)) + len(prefixes_of(first)) == 1000
    if operation == "list_objects":
        # v1 with a delimiter names where to resume; the last entry may be a prefix.
        entries = sort_bytes(keys_of(first) + prefixes_of(first))
        assert first["NextMarker"] == entries[-1]


@pytest.mark.parametrize("max_keys", [1001, 5000, 2147483647])
def test_list_objects_v2_max_keys_above_1000_is_capped(
    s3: Any, big_bucket: str, max_keys: int
) -> None:
    response = s3.list_objects_v2(Bucket=big_bucket, MaxKeys=max_keys)
    assert response["KeyCount"] == 1000
    assert len(response["Contents"]) == 1000
    assert response["IsTruncated"] is True
    assert "NextContinuationToken" in response


def test_list_objects_max_keys_1000(s3: Any, big_bucket: str) -> None:
    response = s3.list_objects(Bucket=big_bucket, MaxKeys=1000)
    assert len(response["Contents"]) == 1000
    assert response["IsTruncated"] is True
    assert response["MaxKeys"] == 1000


def test_list_objects_v2_prefix_in_big_bucket(s3: Any, big_bucket: str) -> None:
    response = s3.list_objects_v2(Bucket=big_bucket, Prefix="p0012", Delimiter="/")
    assert keys_of(response) == ["p0012"]
    assert prefixes_of(response) == ["p0012/"]
    assert response["KeyCount"] == 2


# -- Order, prefixes and delimiters -----------------------------------------------------


@pytest.mark.parametrize("operation", ["list_objects", "list_objects_v2"])
def test_list_objects_utf8_byte_order(s3: Any, bucket: str, operation: str) -> None:
    put_keys(s3, bucket, BYTE_ORDER_KEYS)
    response = getattr(s3, operation)(Bucket=bucket)
    assert keys_of(response) == [
        "B",
        "a",
        "a!",
        "a/b",
        "a/b/",
        "a/b/c",
        "\u00e9",
        "\u00ff",
        "\U0001f600",
    ]


def test_list_objects_v2_slash_keys_are_distinct(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a/b", "a/b/", "a/b/c"])
    assert keys_of(s3.list_objects_v2(Bucket=bucket)) == ["a/b", "a/b/", "a/b/c"]
    top = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert keys_of(top) == []
    assert prefixes_of(top) == ["a/"]
    level = s3.list_objects_v2(Bucket=bucket, Prefix="a/", Delimiter="/")
    assert keys_of(level) == ["a/b"]
    assert prefixes_of(level) == ["a/b/"]
    assert level["KeyCount"] == 2
    inner = s3.list_objects_v2(Bucket=bucket, Prefix="a/b/", Delimiter="/")
    assert keys_of(inner) == ["a/b/", "a/b/c"]
    assert prefixes_of(inner) == []


def test_list_objects_v2_prefix(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["photos/2006/jan.jpg", "photos/2007/feb.jpg", "photographs", "x"])
    response = s3.list_objects_v2(Bucket=bucket, Prefix="photos/")
    assert keys_of(response) == ["photos/2006/jan.jpg", "photos/2007/feb.jpg"]
    assert response["Prefix"] == "photos/"
    assert response["KeyCount"] == 2
    assert keys_of(s3.list_objects_v2(Bucket=bucket, Prefix="nothing")) == []


def test_list_objects_v2_prefix_that_is_not_a_directory(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["photos/2006/jan.jpg", "photos/2007/feb.jpg", "photographs", "phone"])
    response = s3.list_objects_v2(Bucket=bucket, Prefix="photo", Delimiter="/")
    assert keys_of(response) == ["photographs"]
    assert prefixes_of(response) == ["photos/"]


@pytest.mark.parametrize("operation", ["list_objects", "list_objects_v2"])
def test_list_objects_delimiter_common_prefixes(s3: Any, bucket: str, operation: str) -> None:
    put_keys(s3, bucket, ["sample.jpg", "photos/2006/January/sample.jpg", "photos/2006/x", "z/1"])
    response = getattr(s3, operation)(Bucket=bucket, Delimiter="/")
    assert keys_of(response) == ["sample.jpg"]
    assert prefixes_of(response) == ["photos/", "z/"]
    assert response["Delimiter"] == "/"
    nested = getattr(s3, operation)(Bucket=bucket, Delimiter="/", Prefix="photos/2006/")
    assert keys_of(nested) == ["photos/2006/x"]
    assert prefixes_of(nested) == ["photos/2006/January/"]


def test_list_objects_v2_multi_character_delimiter(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a::b::c", "a::d", "a:e", "b", "x::"])
    response = s3.list_objects_v2(Bucket=bucket, Delimiter="::")
    assert keys_of(response) == ["a:e", "b"]
    assert prefixes_of(response) == ["a::", "x::"]
    assert response["Delimiter"] == "::"
    nested = s3.list_objects_v2(Bucket=bucket, Delimiter="::", Prefix="a::")
    assert keys_of(nested) == ["a::d"]
    assert prefixes_of(nested) == ["a::b::"]


def test_list_objects_v2_delimiter_that_is_not_slash(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["2024-01-a", "2024-02-b", "2025", "2025-x"])
    response = s3.list_objects_v2(Bucket=bucket, Delimiter="-")
    assert keys_of(response) == ["2025"]
    assert prefixes_of(response) == ["2024-", "2025-"]


# -- Markers, continuation, max-keys ----------------------------------------------------


def test_list_objects_marker_resumes_after_key(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a", "b", "c", "d"])
    response = s3.list_objects(Bucket=bucket, Marker="b")
    assert keys_of(response) == ["c", "d"]
    assert response["Marker"] == "b"
    assert keys_of(s3.list_objects(Bucket=bucket, Marker="bb")) == ["c", "d"]
    assert keys_of(s3.list_objects(Bucket=bucket, Marker="d")) == []


def test_list_objects_next_marker_only_with_delimiter(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a", "b/1", "b/2", "c"])
    plain = s3.list_objects(Bucket=bucket, MaxKeys=1)
    assert plain["IsTruncated"] is True
    assert keys_of(plain) == ["a"]
    assert "NextMarker" not in plain
    grouped = s3.list_objects(Bucket=bucket, MaxKeys=2, Delimiter="/")
    assert grouped["IsTruncated"] is True
    assert keys_of(grouped) == ["a"]
    assert prefixes_of(grouped) == ["b/"]
    assert grouped["NextMarker"] == "b/"
    rest = s3.list_objects(Bucket=bucket, MaxKeys=2, Delimiter="/", Marker=grouped["NextMarker"])
    assert keys_of(rest) == ["c"]
    assert prefixes_of(rest) == []
    assert rest["IsTruncated"] is False
    assert "NextMarker" not in rest


def test_list_objects_v2_start_after(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a", "b", "c", "d"])
    response = s3.list_objects_v2(Bucket=bucket, StartAfter="b")
    assert keys_of(response) == ["c", "d"]
    assert response["StartAfter"] == "b"
    assert keys_of(s3.list_objects_v2(Bucket=bucket, StartAfter="0")) == ["a", "b", "c", "d"]
    assert keys_of(s3.list_objects_v2(Bucket=bucket, StartAfter="z")) == []


def test_list_objects_v2_continuation_token(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a", "b", "c", "d", "e"])
    first = s3.list_objects_v2(Bucket=bucket, MaxKeys=2)
    assert keys_of(first) == ["a", "b"]
    assert first["IsTruncated"] is True
    assert "ContinuationToken" not in first
    token = first["NextContinuationToken"]
    second = s3.list_objects_v2(Bucket=bucket, MaxKeys=2, ContinuationToken=token)
    assert keys_of(second) == ["c", "d"]
    assert second["ContinuationToken"] == token
    third = s3.list_objects_v2(
        Bucket=bucket, MaxKeys=2, ContinuationToken=second["NextContinuationToken"]
    )
    assert keys_of(third) == ["e"]
    assert third["IsTruncated"] is False
    assert "NextContinuationToken" not in third


def test_list_objects_v2_continuation_token_wins_over_start_after(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a", "b", "c", "d"])
    token = s3.list_objects_v2(Bucket=bucket, MaxKeys=1)["NextContinuationToken"]
    response = s3.list_objects_v2(Bucket=bucket, StartAfter="c", ContinuationToken=token)
    assert keys_of(response) == ["b", "c", "d"]


def test_list_objects_v2_continuation_after_common_prefix(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a/1", "a/2", "a0", "b/1", "b/2", "c"])
    seen: list[str] = []
    pages = s3.get_paginator("list_objects_v2").paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 1}
    )
    for page in pages:
        assert page["KeyCount"] == 1
        seen.extend(keys_of(page) + prefixes_of(page))
    assert seen == ["a/", "a0", "b/", "c"]


def test_list_objects_v2_invalid_continuation_token(server: RunningServer, bucket: str) -> None:
    response = raw_list(server, bucket, list_type="2", continuation_token="not-a-token!")
    assert response.status == 400
    assert response.error_code() == "InvalidArgument"


@pytest.mark.parametrize("operation", ["list_objects", "list_objects_v2"])
def test_list_objects_max_keys_zero(s3: Any, bucket: str, operation: str) -> None:
    put_keys(s3, bucket, ["a", "b"])
    response = getattr(s3, operation)(Bucket=bucket, MaxKeys=0)
    assert keys_of(response) == []
    assert prefixes_of(response) == []
    assert response["MaxKeys"] == 0
    if operation == "list_objects_v2":
        assert response["KeyCount"] == 0


@pytest.mark.parametrize("operation", ["list_objects", "list_objects_v2"])
def test_list_objects_max_keys_one(s3: Any, bucket: str, operation: str) -> None:
    put_keys(s3, bucket, ["a", "b"])
    response = getattr(s3, operation)(Bucket=bucket, MaxKeys=1)
    assert keys_of(response) == ["a"]
    assert response["IsTruncated"] is True
    assert response["MaxKeys"] == 1


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "1_000", " 5", "+5", "", "99999999999"])
@pytest.mark.parametrize("list_type", [None, "2"])
def test_list_objects_invalid_max_keys(
    server: RunningServer, bucket: str, value: str, list_type: str | None
) -> None:
    params = {"max_keys": value} if list_type is None else {"max_keys": value, "list_type": "2"}
    response = raw_list(server, bucket, **params)
    assert response.status == 400
    assert response.error_code() == "InvalidArgument"
    assert response.xml().findtext("ArgumentName") == "max-keys"


def test_list_objects_v2_key_count_counts_prefixes(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a", "b/1", "b/2", "c/1"])
    response = s3.list_objects_v2(Bucket=bucket, Delimiter="/")
    assert response["KeyCount"] == 3
    assert s3.list_objects_v2(Bucket=bucket)["KeyCount"] == 4


def test_list_objects_v2_empty_bucket(s3: Any, bucket: str) -> None:
    response = s3.list_objects_v2(Bucket=bucket)
    assert response["KeyCount"] == 0
    assert response["IsTruncated"] is False
    assert "Contents" not in response
    assert response["Name"] == bucket


def test_list_objects_v2_fetch_owner(s3: Any, bucket: str, server: RunningServer) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    without = s3.list_objects_v2(Bucket=bucket)
    assert "Owner" not in without["Contents"][0]
    with_owner = s3.list_objects_v2(Bucket=bucket, FetchOwner=True)
    assert with_owner["Contents"][0]["Owner"]["ID"] == owner_id(server.config.access_key)
    v1 = s3.list_objects(Bucket=bucket)
    assert v1["Contents"][0]["Owner"]["ID"] == owner_id(server.config.access_key)


def test_list_objects_v2_entry_fields(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="k", Body=b"hello")
    head = s3.head_object(Bucket=bucket, Key="k")
    (entry,) = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert entry["ETag"] == put["ETag"] == '"5d41402abc4b2a76b9719d911017c592"'
    assert entry["Size"] == 5
    assert entry["StorageClass"] == "STANDARD"
    assert abs((entry["LastModified"] - head["LastModified"]).total_seconds()) < 1


def test_list_objects_missing_bucket(s3: Any) -> None:
    name = f"missing-{uuid.uuid4().hex[:12]}"
    for operation in (s3.list_objects, s3.list_objects_v2):
        with pytest.raises(ClientError) as caught:
            operation(Bucket=name)
        assert error_of(caught)[1] == "NoSuchBucket"
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404


# -- EncodingType=url -----------------------------------------------------------------


@pytest.mark.parametrize("operation", ["list_objects", "list_objects_v2"])
def test_list_objects_odd_keys_round_trip_through_boto3(
    s3: Any, bucket: str, operation: str
) -> None:
    put_keys(s3, bucket, ODD_KEYS)
    try:
        response = getattr(s3, operation)(Bucket=bucket)
        assert response["EncodingType"] == "url"
        assert keys_of(response) == sort_bytes(ODD_KEYS)
        for key in ODD_KEYS:
            body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
            assert body == key.encode("utf-8")
    finally:
        # One by one: DeleteObjects cannot carry control characters (XML 1.0 has no
        # \x01, and a raw \r is read as \n), so the bucket fixture could not remove them.
        for key in ODD_KEYS:
            s3.delete_object(Bucket=bucket, Key=key)


def test_list_objects_v2_key_with_newline(s3: Any, bucket: str) -> None:
    keys = ["line\nbreak", "line\nbreak/more\n"]
    put_keys(s3, bucket, keys)
    try:
        response = s3.list_objects_v2(Bucket=bucket)
        assert keys_of(response) == keys
        assert s3.get_object(Bucket=bucket, Key=keys[0])["Body"].read() == keys[0].encode()
    finally:
        for key in keys:
            s3.delete_object(Bucket=bucket, Key=key)


def test_list_objects_v2_odd_prefix_and_delimiter_round_trip(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a b+c/d e", "a b+c/x+y/z", "a b+c%/q", "ü ß/1"])
    response = s3.list_objects_v2(Bucket=bucket, Prefix="a b+c/", Delimiter="/")
    assert response["Prefix"] == "a b+c/"
    assert keys_of(response) == ["a b+c/d e"]
    assert prefixes_of(response) == ["a b+c/x+y/"]
    odd_delimiter = s3.list_objects_v2(Bucket=bucket, Delimiter=" ")
    assert odd_delimiter["Delimiter"] == " "
    assert prefixes_of(odd_delimiter) == ["a ", "ü "]
    after = s3.list_objects_v2(Bucket=bucket, StartAfter="a b+c/d e")
    assert after["StartAfter"] == "a b+c/d e"
    assert keys_of(after) == ["a b+c/x+y/z", "ü ß/1"]


def test_list_objects_odd_marker_round_trip(s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["x y/1", "x y/2", "x+y", "x%y", "ü/1", "ü/2"])
    response = s3.list_objects(Bucket=bucket, Marker="x y/1", Delimiter="/", MaxKeys=2)
    assert response["Marker"] == "x y/1"
    assert keys_of(response) == ["x%y", "x+y"]
    assert response["NextMarker"] == "x+y"
    rest = s3.list_objects(Bucket=bucket, Marker=response["NextMarker"], Delimiter="/")
    assert prefixes_of(rest) == ["ü/"]
    assert keys_of(rest) == []


def test_list_objects_v2_url_encoding_raw_xml(server: RunningServer, s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["p q/a b", "p q/c+d/e", "p q/ü%", "p q/ctl\x01"])
    try:
        _check_v2_url_encoding(server, bucket)
    finally:
        s3.delete_object(Bucket=bucket, Key="p q/ctl\x01")  # DeleteObjects cannot carry it


def _check_v2_url_encoding(server: RunningServer, bucket: str) -> None:
    response = raw_list(
        server,
        bucket,
        list_type="2",
        encoding_type="url",
        prefix="p q/",
        delimiter="/",
        start_after="p q/",
    )
    assert response.status == 200
    root = response.xml()
    assert root.findtext(f"{NS}EncodingType") == "url"
    raw_keys = [e.text or "" for e in root.iterfind(f"{NS}Contents/{NS}Key")]
    raw_prefixes = [e.text or "" for e in root.iterfind(f"{NS}CommonPrefixes/{NS}Prefix")]
    assert [unquote_plus(k) for k in raw_keys] == ["p q/a b", "p q/ctl\x01", "p q/ü%"]
    assert [unquote_plus(p) for p in raw_prefixes] == ["p q/c+d/"]
    for text in [*raw_keys, *raw_prefixes]:
        assert text.isascii()
        assert " " not in text
        assert "+" not in text
        assert "\x01" not in text
    for element in ("Prefix", "StartAfter"):
        echoed = root.findtext(f"{NS}{element}")
        assert echoed is not None
        assert unquote_plus(echoed) == "p q/"
        assert " " not in echoed


def test_list_objects_url_encoding_raw_xml(server: RunningServer, s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["é a", "é b+/1", "é c"])
    response = raw_list(
        server, bucket, encoding_type="url", prefix="é ", marker="é", delimiter="+/", max_keys="2"
    )
    assert response.status == 200
    root = response.xml()
    assert root.findtext(f"{NS}EncodingType") == "url"
    assert root.findtext(f"{NS}IsTruncated") == "true"
    expected = {"Prefix": "é ", "Marker": "é", "Delimiter": "+/", "NextMarker": "é b+/"}
    for element, value in expected.items():
        text = root.findtext(f"{NS}{element}")
        assert text is not None, element
        assert text.isascii(), element
        assert " " not in text, element
        assert "+" not in text, element
        assert unquote_plus(text) == value, element
    keys = [e.text or "" for e in root.iterfind(f"{NS}Contents/{NS}Key")]
    assert [unquote_plus(k) for k in keys] == ["é a"]
    prefixes = [e.text or "" for e in root.iterfind(f"{NS}CommonPrefixes/{NS}Prefix")]
    assert [unquote_plus(p) for p in prefixes] == ["é b+/"]
    assert all(p.isascii() and "+" not in p for p in prefixes)


def test_list_objects_v2_without_encoding_keys_are_plain(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    put_keys(s3, bucket, ["a b+c%20ü"])
    root = raw_list(server, bucket, list_type="2").xml()
    assert root.findtext(f"{NS}Contents/{NS}Key") == "a b+c%20ü"
    assert root.find(f"{NS}EncodingType") is None


def test_list_objects_invalid_encoding_type(server: RunningServer, bucket: str) -> None:
    response = raw_list(server, bucket, encoding_type="base64")
    assert response.status == 400
    assert response.error_code() == "InvalidArgument"


# -- Exact XML ---------------------------------------------------------------------------


def test_list_objects_xml_shape(server: RunningServer, s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a", "d/x"])
    response = raw_list(server, bucket, delimiter="/")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = response.xml()
    assert root.tag == f"{NS}ListBucketResult"
    assert children(root) == [
        "Name",
        "Prefix",
        "Marker",
        "MaxKeys",
        "Delimiter",
        "IsTruncated",
        "Contents",
        "CommonPrefixes",
    ]
    assert root.findtext(f"{NS}Name") == bucket
    assert root.findtext(f"{NS}Prefix") == ""
    assert root.findtext(f"{NS}Marker") == ""
    assert root.findtext(f"{NS}MaxKeys") == "1000"
    assert root.findtext(f"{NS}IsTruncated") == "false"
    contents = root.find(f"{NS}Contents")
    assert contents is not None
    names = children(contents)
    assert names[:3] == ["Key", "LastModified", "ETag"]
    assert {"Size", "StorageClass", "Owner"} <= set(names)
    assert contents.findtext(f"{NS}Key") == "a"
    assert contents.findtext(f"{NS}Size") == "1"
    assert contents.findtext(f"{NS}ETag") == '"0cc175b9c0f1b6a831c399e269772661"'
    assert contents.findtext(f"{NS}StorageClass") == "STANDARD"
    last_modified = contents.findtext(f"{NS}LastModified")
    assert last_modified is not None
    assert len(last_modified) == len("2009-10-12T17:50:30.000Z")
    assert last_modified.endswith("Z")
    owner = contents.find(f"{NS}Owner")
    assert owner is not None
    assert children(owner) == ["ID", "DisplayName"]
    assert root.findtext(f"{NS}CommonPrefixes/{NS}Prefix") == "d/"


def test_list_objects_v2_xml_shape(server: RunningServer, s3: Any, bucket: str) -> None:
    put_keys(s3, bucket, ["a", "b", "d/x"])
    response = raw_list(server, bucket, list_type="2", delimiter="/", max_keys="2")
    assert response.status == 200
    root = response.xml()
    assert root.tag == f"{NS}ListBucketResult"
    names = children(root)
    assert names == [
        "Name",
        "Prefix",
        "NextContinuationToken",
        "KeyCount",
        "MaxKeys",
        "Delimiter",
        "IsTruncated",
        "Contents",
        "Contents",
    ]
    assert root.findtext(f"{NS}KeyCount") == "2"
    assert root.findtext(f"{NS}MaxKeys") == "2"
    assert root.findtext(f"{NS}IsTruncated") == "true"
    contents = root.find(f"{NS}Contents")
    assert contents is not None
    assert "Owner" not in children(contents)
    token = root.findtext(f"{NS}NextContinuationToken")
    assert token
    rest = raw_list(server, bucket, list_type="2", delimiter="/", continuation_token=token)
    rest_root = rest.xml()
    assert rest_root.findtext(f"{NS}ContinuationToken") == token
    assert rest_root.find(f"{NS}NextContinuationToken") is None
    assert rest_root.findtext(f"{NS}CommonPrefixes/{NS}Prefix") == "d/"
    assert rest_root.findtext(f"{NS}KeyCount") == "1"


def test_list_objects_missing_bucket_error_document(server: RunningServer) -> None:
    name = f"missing-{uuid.uuid4().hex[:12]}"
    response = raw_list(server, name, list_type="2")
    assert response.status == 404
    root = response.xml()
    assert root.findtext("Code") == "NoSuchBucket"
    assert root.findtext("BucketName") == name


# -- The async client ---------------------------------------------------------------


async def test_list_objects_v2_aiobotocore_paginator(aio_s3: Any, bucket: str) -> None:
    keys = [f"k{i:03d}" for i in range(25)] + ["dir/x", "é"]
    await asyncio.gather(*[aio_s3.put_object(Bucket=bucket, Key=k, Body=b"x") for k in keys])
    paginator = aio_s3.get_paginator("list_objects_v2")
    listed: list[str] = []
    prefixes: list[str] = []
    async for page in paginator.paginate(
        Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 10}
    ):
        listed.extend(keys_of(page))
        prefixes.extend(prefixes_of(page))
    assert listed == sort_bytes([k for k in keys if "/" not in k])
    assert prefixes == ["dir/"]
