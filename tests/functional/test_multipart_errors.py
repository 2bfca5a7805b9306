"""Multipart upload errors against a real server: what CompleteMultipartUpload refuses,
unknown and foreign upload ids, malformed bodies (raw HTTP), bad checksum settings."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.raw import path, query, query_pairs, signed_request
from tests.functional.test_multipart import (
    PART,
    checksum,
    complete,
    composite,
    random_bytes,
    upload_parts,
)
from tests.support import RunningServer, error_of, read

NS_ATTR = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'


def _still_open(s3: Any, bucket: str, key: str, upload_id: str, parts: int) -> None:
    """The upload survived a refused Complete: same parts, no object."""
    listed = s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id).get("Parts", [])
    assert len(listed) == parts
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key=key)
    assert error_of(caught)[0] == 404


def _refused(s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]]) -> Any:
    with pytest.raises(ClientError) as caught:
        complete(s3, bucket, key, upload_id, parts)
    return caught


# -- CompleteMultipartUpload: the part list --------------------------------------------------


def test_complete_multipart_upload_unknown_part_number(s3: Any, bucket: str) -> None:
    upload_id, listed = upload_parts(s3, bucket, "k", [random_bytes(PART, 1), b"end"])
    caught = _refused(s3, bucket, "k", upload_id, [*listed, {"PartNumber": 3, "ETag": '"00"'}])
    assert error_of(caught) == (400, "InvalidPart")
    _still_open(s3, bucket, "k", upload_id, 2)


def test_complete_multipart_upload_wrong_etag(s3: Any, bucket: str) -> None:
    upload_id, listed = upload_parts(s3, bucket, "k", [random_bytes(PART, 2), b"end"])
    wrong = [listed[0], {"PartNumber": 2, "ETag": f'"{hashlib.md5(b"other").hexdigest()}"'}]
    caught = _refused(s3, bucket, "k", upload_id, wrong)
    assert error_of(caught) == (400, "InvalidPart")
    _still_open(s3, bucket, "k", upload_id, 2)
    # The right list still completes.
    complete(s3, bucket, "k", upload_id, listed)
    assert read(s3, bucket, "k").endswith(b"end")


def test_complete_multipart_upload_etag_without_quotes_is_accepted(s3: Any, bucket: str) -> None:
    upload_id, listed = upload_parts(s3, bucket, "k", [b"only"])
    bare = [{"PartNumber": 1, "ETag": listed[0]["ETag"].strip('"')}]
    assert complete(s3, bucket, "k", upload_id, bare)["ResponseMetadata"]["HTTPStatusCode"] == 200


def test_complete_multipart_upload_wrong_part_checksum(s3: Any, bucket: str) -> None:
    upload_id, listed = upload_parts(s3, bucket, "k", [b"only"], ChecksumAlgorithm="CRC32")
    listed[0]["ChecksumCRC32"] = "AAAAAA=="
    caught = _refused(s3, bucket, "k", upload_id, listed)
    assert error_of(caught) == (400, "InvalidPart")
    _still_open(s3, bucket, "k", upload_id, 1)


@pytest.mark.parametrize("order", [[2, 1], [1, 1], [1, 3, 2]])
def test_complete_multipart_upload_invalid_part_order(
    s3: Any, bucket: str, order: list[int]
) -> None:
    parts = [random_bytes(PART, 3), random_bytes(PART, 4), b"end"]
    upload_id, listed = upload_parts(s3, bucket, "k", parts)
    by_number = {entry["PartNumber"]: entry for entry in listed}
    caught = _refused(s3, bucket, "k", upload_id, [by_number[n] for n in order])
    assert error_of(caught) == (400, "InvalidPartOrder")
    _still_open(s3, bucket, "k", upload_id, 3)


def test_complete_multipart_upload_entity_too_small(s3: Any, bucket: str) -> None:
    parts = [random_bytes(PART - 1, 5), b"end"]
    upload_id, listed = upload_parts(s3, bucket, "k", parts)
    caught = _refused(s3, bucket, "k", upload_id, listed)
    assert error_of(caught) == (400, "EntityTooSmall")
    _still_open(s3, bucket, "k", upload_id, 2)


def test_complete_multipart_upload_small_middle_part_too_small(s3: Any, bucket: str) -> None:
    parts = [random_bytes(PART, 6), b"tiny", random_bytes(PART, 7)]
    upload_id, listed = upload_parts(s3, bucket, "k", parts)
    caught = _refused(s3, bucket, "k", upload_id, listed)
    assert error_of(caught) == (400, "EntityTooSmall")
    # Leaving the small part out is fine: only listed, non-last parts count.
    complete(s3, bucket, "k", upload_id, [listed[0], listed[2]])
    assert read(s3, bucket, "k") == parts[0] + parts[2]


# -- NoSuchUpload ------------------------------------------------------------------------


def test_complete_multipart_upload_unknown_upload_id(s3: Any, bucket: str) -> None:
    caught = _refused(s3, bucket, "k", "no-such-upload", [{"PartNumber": 1, "ETag": '"00"'}])
    assert error_of(caught) == (404, "NoSuchUpload")


def test_complete_multipart_upload_after_abort(s3: Any, bucket: str) -> None:
    upload_id, listed = upload_parts(s3, bucket, "k", [b"data"])
    s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    caught = _refused(s3, bucket, "k", upload_id, listed)
    assert error_of(caught) == (404, "NoSuchUpload")
    with pytest.raises(ClientError) as again:
        s3.abort_multipart_upload(Bucket=bucket, Key="k", UploadId=upload_id)
    assert error_of(again) == (404, "NoSuchUpload")


def test_repeated_complete_with_other_parts_is_no_such_upload(s3: Any, bucket: str) -> None:
    upload_id, listed = upload_parts(s3, bucket, "k", [random_bytes(PART, 8), b"b"])
    complete(s3, bucket, "k", upload_id, listed)
    caught = _refused(s3, bucket, "k", upload_id, listed[:1])
    assert error_of(caught) == (404, "NoSuchUpload")


def test_upload_ids_belong_to_their_key(s3: Any, bucket: str) -> None:
    upload_id, listed = upload_parts(s3, bucket, "mine", [b"data"])
    same = {"Bucket": bucket, "Key": "other", "UploadId": upload_id}
    calls: list[tuple[Callable[..., Any], dict[str, Any]]] = [
        (s3.upload_part, {**same, "PartNumber": 1, "Body": b"x"}),
        (s3.list_parts, same),
        (s3.complete_multipart_upload, {**same, "MultipartUpload": {"Parts": listed}}),
        (s3.abort_multipart_upload, same),
    ]
    for call, arguments in calls:
        with pytest.raises(ClientError) as caught:
            call(**arguments)
        assert error_of(caught) == (404, "NoSuchUpload"), call
    # Nothing happened to the real upload.
    parts = s3.list_parts(Bucket=bucket, Key="mine", UploadId=upload_id)["Parts"]
    assert [p["ETag"] for p in parts] == [listed[0]["ETag"]]
    assert "Contents" not in s3.list_objects_v2(Bucket=bucket)


def test_upload_ids_belong_to_their_bucket(s3: Any, bucket: str) -> None:
    upload_id, _ = upload_parts(s3, bucket, "k", [b"data"])
    other = bucket + "-b"
    s3.create_bucket(Bucket=other)
    try:
        with pytest.raises(ClientError) as caught:
            s3.list_parts(Bucket=other, Key="k", UploadId=upload_id)
        assert error_of(caught) == (404, "NoSuchUpload")
    finally:
        s3.delete_bucket(Bucket=other)


def test_upload_part_unknown_upload(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.upload_part(Bucket=bucket, Key="k", UploadId="nope", PartNumber=1, Body=b"x")
    assert error_of(caught) == (404, "NoSuchUpload")


def test_upload_part_copy_unknown_upload(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="src", Body=b"source")
    with pytest.raises(ClientError) as caught:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="k",
            UploadId="nope",
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "src"},
        )
    assert error_of(caught) == (404, "NoSuchUpload")


def test_upload_part_copy_missing_source(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="k",
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "absent"},
        )
    assert error_of(caught) == (404, "NoSuchKey")


def test_multipart_in_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_multipart_upload(Bucket="no-such-bucket-mp", Key="k")
    assert error_of(caught) == (404, "NoSuchBucket")
    with pytest.raises(ClientError) as caught:
        s3.list_multipart_uploads(Bucket="no-such-bucket-mp")
    assert error_of(caught) == (404, "NoSuchBucket")


# -- malformed Complete bodies (raw HTTP) --------------------------------------------------


def _complete_raw(server: RunningServer, bucket: str, key: str, upload_id: str, body: bytes) -> Any:
    return signed_request(server, "POST", path(bucket, key) + query(uploadId=upload_id), body=body)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        f"<CompleteMultipartUpload {NS_ATTR}></CompleteMultipartUpload>".encode(),
        b"<CompleteMultipartUpload/>",
        b"this is not xml",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber>",
        b"<SomethingElse><Part><PartNumber>1</PartNumber><ETag>x</ETag></Part></SomethingElse>",
        b"<CompleteMultipartUpload><Part><ETag>x</ETag></Part></CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>one</PartNumber><ETag>x</ETag></Part>"
        b"</CompleteMultipartUpload>",
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber></Part>"
        b"</CompleteMultipartUpload>",
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]>'
        b"<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&lol;</ETag></Part>"
        b"</CompleteMultipartUpload>",
    ],
    ids=[
        "empty-body",
        "no-parts",
        "self-closing",
        "garbage",
        "truncated",
        "wrong-root",
        "no-number",
        "bad-number",
        "no-etag",
        "doctype",
    ],
)
def test_complete_multipart_upload_malformed_xml(
    server: RunningServer, s3: Any, bucket: str, body: bytes
) -> None:
    upload_id, _ = upload_parts(s3, bucket, "k", [b"data"])
    answer = _complete_raw(server, bucket, "k", upload_id, body)
    assert answer.status == 400
    assert answer.error_code() == "MalformedXML"
    _still_open(s3, bucket, "k", upload_id, 1)


def test_complete_multipart_upload_xml_with_namespace_and_declaration(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    upload_id, listed = upload_parts(s3, bucket, "k", [b"data"])
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<CompleteMultipartUpload {NS_ATTR}>\n'
        f"  <Part>\n    <PartNumber>1</PartNumber>\n    <ETag>{listed[0]['ETag']}</ETag>\n"
        f"  </Part>\n</CompleteMultipartUpload>\n"
    ).encode()
    answer = _complete_raw(server, bucket, "k", upload_id, body)
    assert answer.status == 200, answer.body
    assert read(s3, bucket, "k") == b"data"


# -- checksum settings -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("algorithm", "kind"),
    [
        ("CRC64NVME", "COMPOSITE"),
        ("SHA256", "FULL_OBJECT"),
        ("SHA1", "FULL_OBJECT"),
        ("CRC32", "SOMETHING"),
        ("MD5", "COMPOSITE"),
    ],
)
def test_create_multipart_upload_invalid_checksum_settings(
    server: RunningServer, bucket: str, algorithm: str, kind: str
) -> None:
    answer = signed_request(
        server,
        "POST",
        path(bucket, "k") + query("uploads"),
        {"x-amz-checksum-algorithm": algorithm, "x-amz-checksum-type": kind},
    )
    assert answer.status == 400
    assert answer.error_code() == "InvalidRequest"


def test_create_multipart_upload_invalid_combination_boto3(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_multipart_upload(
            Bucket=bucket, Key="k", ChecksumAlgorithm="CRC64NVME", ChecksumType="COMPOSITE"
        )
    assert error_of(caught) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as caught:
        s3.create_multipart_upload(
            Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256", ChecksumType="FULL_OBJECT"
        )
    assert error_of(caught) == (400, "InvalidRequest")
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)


def test_create_multipart_upload_checksum_type_without_algorithm(
    server: RunningServer, bucket: str
) -> None:
    answer = signed_request(
        server, "POST", path(bucket, "k") + query("uploads"), {"x-amz-checksum-type": "COMPOSITE"}
    )
    assert answer.status == 400
    assert answer.error_code() == "InvalidRequest"


# -- reads and listings --------------------------------------------------------------------


@pytest.mark.parametrize("number", ["0", "10001", "x"])
def test_get_object_part_number_invalid(
    server: RunningServer, s3: Any, bucket: str, number: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    answer = signed_request(server, "GET", path(bucket, "k") + query(partNumber=number))
    assert answer.status == 400
    assert answer.error_code() == "InvalidArgument"


def test_get_object_part_number_with_range(server: RunningServer, s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"body")
    answer = signed_request(
        server, "GET", path(bucket, "k") + query(partNumber="1"), {"Range": "bytes=0-1"}
    )
    assert answer.status == 400
    assert answer.error_code() == "InvalidRequest"


@pytest.mark.parametrize(
    ("name", "value"),
    [("max-parts", "-1"), ("max-parts", "abc"), ("part-number-marker", "x")],
)
def test_list_parts_invalid_arguments(
    server: RunningServer, s3: Any, bucket: str, name: str, value: str
) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    answer = signed_request(
        server, "GET", path(bucket, "k") + query_pairs([("uploadId", upload_id), (name, value)])
    )
    assert answer.status == 400
    assert answer.error_code() == "InvalidArgument"


def test_list_parts_unknown_upload(s3: Any, bucket: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="k", UploadId="nope")
    assert error_of(caught) == (404, "NoSuchUpload")


# -- what Complete's headers say the object must be ------------------------------------------


def _crc32_upload(s3: Any, bucket: str, kind: str) -> tuple[str, list[dict[str, Any]], bytes]:
    parts = [random_bytes(PART, 9), b"the end"]
    upload_id, listed = upload_parts(
        s3, bucket, "k", parts, ChecksumAlgorithm="CRC32", ChecksumType=kind
    )
    return upload_id, listed, b"".join(parts)


def test_complete_multipart_upload_full_object_checksum_header_checked(
    server: RunningServer, bucket: str
) -> None:
    s3 = server.boto3_client(retries={"total_max_attempts": 1})  # botocore retries BadDigest
    upload_id, listed, whole = _crc32_upload(s3, bucket, "FULL_OBJECT")
    arguments = {
        "Bucket": bucket,
        "Key": "k",
        "UploadId": upload_id,
        "MultipartUpload": {"Parts": listed},
        "ChecksumType": "FULL_OBJECT",
    }
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(**arguments, ChecksumCRC32=checksum("CRC32", b"other"))
    assert error_of(caught) == (400, "BadDigest")
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(**arguments, MpuObjectSize=len(whole) + 1)
    assert error_of(caught) == (400, "InvalidRequest")
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(**{**arguments, "ChecksumType": "COMPOSITE"})
    assert error_of(caught) == (400, "BadDigest")
    _still_open(s3, bucket, "k", upload_id, 2)
    done = s3.complete_multipart_upload(
        **arguments, ChecksumCRC32=checksum("CRC32", whole), MpuObjectSize=len(whole)
    )
    assert done["ChecksumCRC32"] == checksum("CRC32", whole)
    assert read(s3, bucket, "k") == whole


def test_complete_multipart_upload_composite_checksum_header_checked(
    server: RunningServer, bucket: str
) -> None:
    s3 = server.boto3_client(retries={"total_max_attempts": 1})
    upload_id, listed, _ = _crc32_upload(s3, bucket, "COMPOSITE")
    parts = [random_bytes(PART, 9), b"the end"]
    arguments = {
        "Bucket": bucket,
        "Key": "k",
        "UploadId": upload_id,
        "MultipartUpload": {"Parts": listed},
    }
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(**arguments, ChecksumCRC32=composite("CRC32", parts[:1]))
    assert error_of(caught) == (400, "BadDigest")
    with pytest.raises(ClientError) as caught:
        s3.complete_multipart_upload(**arguments, ChecksumSHA256=checksum("SHA256", b"x"))
    assert error_of(caught) == (400, "InvalidRequest")
    _still_open(s3, bucket, "k", upload_id, 2)
    done = s3.complete_multipart_upload(**arguments, ChecksumCRC32=composite("CRC32", parts))
    assert done["ChecksumCRC32"] == composite("CRC32", parts)
