"""CopyObject against a real server: boto3 for the flows, raw HTTP for the exact XML
and for copy sources spelled by hand."""

from __future__ import annotations

import hashlib
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from tests.functional.raw import NS, signed_request
from tests.support import RunningServer, error_of, read, temporary_bucket

BODY = b"copy me, please"


@pytest.fixture
def other_bucket(s3: Any) -> Iterator[str]:
    with temporary_bucket(s3, "test-other") as name:
        yield name


@pytest.fixture
def source(s3: Any, bucket: str) -> str:
    """Key of a source object with content headers and metadata; its ETag is the MD5."""
    s3.put_object(
        Bucket=bucket,
        Key="src",
        Body=BODY,
        ContentType="text/plain",
        CacheControl="max-age=5",
        ContentDisposition="inline",
        Metadata={"origin": "source", "Shade": "dark"},
    )
    return "src"


def copy(s3: Any, bucket: str, key: str, src_bucket: str, src_key: str, **kwargs: Any) -> Any:
    return s3.copy_object(
        Bucket=bucket, Key=key, CopySource={"Bucket": src_bucket, "Key": src_key}, **kwargs
    )


def test_copy_object_within_bucket(s3: Any, bucket: str, source: str) -> None:
    response = copy(s3, bucket, "dst", bucket, source)
    assert response["CopyObjectResult"]["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'
    assert read(s3, bucket, "dst") == BODY
    assert read(s3, bucket, source) == BODY


def test_copy_object_across_buckets(s3: Any, bucket: str, other_bucket: str, source: str) -> None:
    copy(s3, other_bucket, "elsewhere/dst", bucket, source)
    got = s3.get_object(Bucket=other_bucket, Key="elsewhere/dst")
    assert got["Body"].read() == BODY
    assert got["ETag"] == f'"{hashlib.md5(BODY).hexdigest()}"'


def test_copy_object_directive_copy_keeps_source_headers(s3: Any, bucket: str, source: str) -> None:
    # Without REPLACE, the request's headers and metadata are ignored.
    copy(s3, bucket, "dst", bucket, source, ContentType="image/png", Metadata={"new": "1"})
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "text/plain"
    assert head["CacheControl"] == "max-age=5"
    assert head["ContentDisposition"] == "inline"
    assert head["Metadata"] == {"origin": "source", "shade": "dark"}


def test_copy_object_directive_replace_takes_request_headers(
    s3: Any, bucket: str, source: str
) -> None:
    copy(
        s3,
        bucket,
        "dst",
        bucket,
        source,
        MetadataDirective="REPLACE",
        ContentType="image/png",
        ContentLanguage="en",
        Metadata={"New": "1"},
    )
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "image/png"
    assert head["ContentLanguage"] == "en"
    assert "CacheControl" not in head
    assert "ContentDisposition" not in head
    assert head["Metadata"] == {"new": "1"}
    # The source keeps its own.
    assert s3.head_object(Bucket=bucket, Key=source)["Metadata"] == {
        "origin": "source",
        "shade": "dark",
    }


def test_copy_object_directive_replace_without_content_type_gets_default(
    s3: Any, bucket: str, source: str
) -> None:
    copy(s3, bucket, "dst", bucket, source, MetadataDirective="REPLACE")
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert head["ContentType"] == "binary/octet-stream"
    assert head["Metadata"] == {}


def test_copy_object_directive_invalid(server: RunningServer, bucket: str, source: str) -> None:
    headers = {"x-amz-copy-source": f"/{bucket}/{source}", "x-amz-metadata-directive": "MERGE"}
    response = signed_request(server, "PUT", f"/{bucket}/dst", headers)
    assert response.status == 400
    assert response.error_code() == "InvalidArgument"


def test_copy_object_self_without_replace_is_invalid_request(
    s3: Any, bucket: str, source: str
) -> None:
    with pytest.raises(ClientError) as caught:
        copy(s3, bucket, source, bucket, source)
    assert error_of(caught) == (400, "InvalidRequest")
    assert s3.head_object(Bucket=bucket, Key=source)["Metadata"]["origin"] == "source"


def test_copy_object_self_with_replace_updates_metadata(s3: Any, bucket: str, source: str) -> None:
    copy(s3, bucket, source, bucket, source, MetadataDirective="REPLACE", Metadata={"v": "2"})
    got = s3.get_object(Bucket=bucket, Key=source)
    assert got["Metadata"] == {"v": "2"}
    assert got["Body"].read() == BODY


@pytest.mark.parametrize(
    ("condition", "passes"),
    [
        ("CopySourceIfMatch", "etag"),
        ("CopySourceIfNoneMatch", "other"),
        ("CopySourceIfModifiedSince", "past"),
        ("CopySourceIfUnmodifiedSince", "future"),
    ],
)
def test_copy_object_source_condition_holds(
    s3: Any, bucket: str, source: str, condition: str, passes: str
) -> None:
    values = _condition_values(s3, bucket, source)
    copy(s3, bucket, "dst", bucket, source, **{condition: values[passes]})
    assert read(s3, bucket, "dst") == BODY


@pytest.mark.parametrize(
    ("condition", "fails"),
    [
        ("CopySourceIfMatch", "other"),
        ("CopySourceIfNoneMatch", "etag"),
        ("CopySourceIfModifiedSince", "same"),
        ("CopySourceIfUnmodifiedSince", "past"),
    ],
)
def test_copy_object_source_condition_fails_412(
    s3: Any, bucket: str, source: str, condition: str, fails: str
) -> None:
    values = _condition_values(s3, bucket, source)
    with pytest.raises(ClientError) as caught:
        copy(s3, bucket, "dst", bucket, source, **{condition: values[fails]})
    assert error_of(caught) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as missing:
        s3.head_object(Bucket=bucket, Key="dst")
    assert error_of(missing)[0] == 404


def _condition_values(s3: Any, bucket: str, key: str) -> dict[str, Any]:
    head = s3.head_object(Bucket=bucket, Key=key)
    return {
        "etag": head["ETag"],
        "same": head["LastModified"],
        "other": '"00000000000000000000000000000000"',
        "past": datetime.fromtimestamp(time.time() - 3600, UTC),
        "future": datetime.fromtimestamp(time.time() + 3600, UTC),
    }


def test_copy_object_if_match_true_and_unmodified_since_false_copies(
    s3: Any, bucket: str, source: str
) -> None:
    values = _condition_values(s3, bucket, source)
    copy(
        s3,
        bucket,
        "dst",
        bucket,
        source,
        CopySourceIfMatch=values["etag"],
        CopySourceIfUnmodifiedSince=values["past"],
    )
    assert read(s3, bucket, "dst") == BODY


def test_copy_object_if_none_match_false_and_modified_since_true_is_412(
    s3: Any, bucket: str, source: str
) -> None:
    values = _condition_values(s3, bucket, source)
    with pytest.raises(ClientError) as caught:
        copy(
            s3,
            bucket,
            "dst",
            bucket,
            source,
            CopySourceIfNoneMatch=values["etag"],
            CopySourceIfModifiedSince=values["past"],
        )
    assert error_of(caught) == (412, "PreconditionFailed")


@pytest.mark.parametrize(
    "key",
    ["with space", "ünïcödé/ключ/键", "a+b", "100%", "a%2Fb", "x%FFy", "q?x=1&y", "t~e:s;t,@$!"],
)
def test_copy_object_percent_encoded_source(s3: Any, bucket: str, key: str) -> None:
    s3.put_object(Bucket=bucket, Key=key, Body=key.encode())
    copy(s3, bucket, "dst", bucket, key)
    assert read(s3, bucket, "dst") == key.encode()


@pytest.mark.parametrize("leading_slash", ["/", ""])
def test_copy_object_raw_copy_source_header(
    server: RunningServer, s3: Any, bucket: str, leading_slash: str
) -> None:
    key = "dir/a b+c%d é"
    s3.put_object(Bucket=bucket, Key=key, Body=BODY)
    header = leading_slash + quote(f"{bucket}/{key}", safe="/")
    response = signed_request(server, "PUT", f"/{bucket}/dst", {"x-amz-copy-source": header})
    assert response.status == 200, response.body
    assert read(s3, bucket, "dst") == BODY


def test_copy_object_result_xml(server: RunningServer, bucket: str, source: str) -> None:
    before = time.time()
    response = signed_request(
        server, "PUT", f"/{bucket}/dst", {"x-amz-copy-source": f"/{bucket}/{source}"}
    )
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(response.body)
    assert root.tag == f"{NS}CopyObjectResult"
    assert root.findtext(f"{NS}ETag") == f'"{hashlib.md5(BODY).hexdigest()}"'
    modified = root.findtext(f"{NS}LastModified")
    assert modified is not None
    stamp = datetime.strptime(modified, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before - 1 <= stamp.timestamp() <= time.time() + 1


def test_copy_object_missing_source_key(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        copy(s3, bucket, "dst", bucket, "no-such-source")
    assert error_of(caught) == (404, "NoSuchKey")


def test_copy_object_missing_source_bucket(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        copy(s3, bucket, "dst", "no-such-bucket-aios3", "src")
    assert error_of(caught) == (404, "NoSuchBucket")


def test_copy_object_missing_destination_bucket(s3: Any, bucket: str, source: str) -> None:
    with pytest.raises(ClientError) as caught:
        copy(s3, "no-such-bucket-aios3", "dst", bucket, source)
    assert error_of(caught) == (404, "NoSuchBucket")


@pytest.mark.parametrize("value", ["/only-a-bucket", "/", "bucket-without-key/"])
def test_copy_object_malformed_source_is_invalid_argument(
    server: RunningServer, bucket: str, value: str
) -> None:
    response = signed_request(server, "PUT", f"/{bucket}/dst", {"x-amz-copy-source": value})
    assert response.status == 400
    assert response.error_code() == "InvalidArgument"


def test_copy_object_is_independent_of_source(s3: Any, bucket: str, source: str) -> None:
    copy(s3, bucket, "dst", bucket, source)
    s3.put_object(Bucket=bucket, Key=source, Body=b"overwritten")
    assert read(s3, bucket, "dst") == BODY
    s3.delete_object(Bucket=bucket, Key=source)
    assert read(s3, bucket, "dst") == BODY
    # ... and the other way round.
    s3.put_object(Bucket=bucket, Key=source, Body=BODY)
    copy(s3, bucket, "dst2", bucket, source)
    s3.put_object(Bucket=bucket, Key="dst2", Body=b"changed copy")
    assert read(s3, bucket, source) == BODY


def test_copy_object_overwrites_destination(s3: Any, bucket: str, source: str) -> None:
    s3.put_object(Bucket=bucket, Key="dst", Body=b"old destination", Metadata={"old": "1"})
    copy(s3, bucket, "dst", bucket, source)
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["Body"].read() == BODY
    assert got["Metadata"] == {"origin": "source", "shade": "dark"}


def test_copy_object_keeps_checksum(s3: Any, bucket: str) -> None:
    put = s3.put_object(Bucket=bucket, Key="src", Body=BODY, ChecksumAlgorithm="SHA256")
    response = copy(s3, bucket, "dst", bucket, "src")
    assert response["CopyObjectResult"]["ChecksumSHA256"] == put["ChecksumSHA256"]
    head = s3.head_object(Bucket=bucket, Key="dst", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == put["ChecksumSHA256"]


def test_copy_object_empty_source(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="empty", Body=b"")
    copy(s3, bucket, "dst", bucket, "empty")
    got = s3.get_object(Bucket=bucket, Key="dst")
    assert got["ContentLength"] == 0
    assert got["Body"].read() == b""


def test_copy_object_new_last_modified(s3: Any, bucket: str, source: str) -> None:
    source_modified = s3.head_object(Bucket=bucket, Key=source)["LastModified"]
    response = copy(s3, bucket, "dst", bucket, source)
    assert response["CopyObjectResult"]["LastModified"] >= source_modified
    head = s3.head_object(Bucket=bucket, Key="dst")
    assert (
        abs((head["LastModified"] - response["CopyObjectResult"]["LastModified"]).total_seconds())
        < 1
    )
