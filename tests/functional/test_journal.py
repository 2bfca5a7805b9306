"""The request journal: every S3 request recorded, served as JSON by the admin endpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.admin_client import admin, journal
from tests.functional.raw import path, unsigned_request
from tests.support import RunningServer, error_of, run_server, test_config


def _only(records: list[dict[str, Any]]) -> dict[str, Any]:
    assert len(records) == 1, records
    return records[0]


def test_journal_records_a_put(server: RunningServer, bucket: str) -> None:
    body = b"x" * 1000
    s3 = server.boto3_client(request_checksum_calculation="when_required")
    s3.put_object(Bucket=bucket, Key="a/b.txt", Body=body)

    record = _only(journal(server, op="PutObject", bucket=bucket))
    assert record["method"] == "PUT"
    assert record["path"] == f"/{bucket}/a/b.txt"
    assert record["key"] == "a/b.txt"
    assert record["status"] == 200
    assert record["error_code"] is None
    assert record["bytes_in"] == len(body)
    assert record["bytes_out"] == 0
    assert record["signing"] == "sigv4-header"
    assert "Boto3" in record["user_agent"]
    assert record["duration"] >= 0
    assert len(record["request_id"]) == 16
    assert record["fault"] is None


def test_journal_records_the_checksum_algorithm(server: RunningServer, bucket: str) -> None:
    body = b"y" * 5000
    server.boto3_client().put_object(
        Bucket=bucket, Key="summed", Body=body, ChecksumAlgorithm="SHA256"
    )

    record = _only(journal(server, op="PutObject", bucket=bucket, key="summed"))
    assert record["checksum_algorithm"] == "SHA256"
    # However the SDK framed it (aws-chunked with a trailer, or a header), the whole body
    # arrived.
    assert record["bytes_in"] >= len(body)


def test_journal_records_a_get_with_the_bytes_sent(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    body = bytes(range(256)) * 300
    s3.put_object(Bucket=bucket, Key="k", Body=body)
    assert s3.get_object(Bucket=bucket, Key="k")["Body"].read() == body
    s3.get_object(Bucket=bucket, Key="k", Range="bytes=10-19")["Body"].read()
    s3.head_object(Bucket=bucket, Key="k")

    whole, ranged = journal(server, op="GetObject", bucket=bucket)
    assert (whole["status"], whole["bytes_out"], whole["bytes_in"]) == (200, len(body), 0)
    assert (ranged["status"], ranged["bytes_out"]) == (206, 10)
    head = _only(journal(server, op="HeadObject", bucket=bucket))
    assert (head["status"], head["bytes_out"]) == (200, 0)


def test_journal_records_a_404_with_its_error_code(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="missing")
    assert error_of(caught) == (404, "NoSuchKey")

    record = _only(journal(server, op="GetObject", bucket=bucket, key="missing"))
    assert record["status"] == 404
    assert record["error_code"] == "NoSuchKey"
    assert record["bytes_out"] > 0  # the XML error document
    assert journal(server, bucket=bucket, error_code="NoSuchKey") == [record]
    assert journal(server, bucket=bucket, status="404") == [record]


def test_journal_records_a_501_under_its_operation_name(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_tagging(Bucket=bucket)
    assert error_of(caught) == (501, "NotImplemented")

    record = _only(journal(server, bucket=bucket, status="501"))
    assert record["op"] == "GetBucketTagging"
    assert record["error_code"] == "NotImplemented"
    assert record["key"] is None


def test_journal_records_an_unsigned_request_as_refused(server: RunningServer, bucket: str) -> None:
    response = unsigned_request(server, "GET", path(bucket, "k"), {"User-Agent": "curl/8"})
    assert response.status == 403

    record = _only(journal(server, bucket=bucket, key="k"))
    assert record["op"] == "GetObject"
    assert record["error_code"] == "AccessDenied"
    assert record["signing"] is None
    assert record["user_agent"] == "curl/8"


@pytest.mark.parametrize(
    ("signature_version", "signing"), [("s3v4", "sigv4-query"), ("s3", "sigv2-query")]
)
def test_journal_records_presigned_requests_as_query_signed(
    server: RunningServer, bucket: str, signature_version: str, signing: str
) -> None:
    s3 = server.boto3_client(signature_version=signature_version)
    s3.put_object(Bucket=bucket, Key="p", Body=b"data")
    url = s3.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "p"})
    response = unsigned_request(server, "GET", url.removeprefix(server.endpoint_url))
    assert response.status == 200

    record = journal(server, op="GetObject", bucket=bucket)[-1]
    assert record["signing"] == signing


def test_journal_filters_combine(server: RunningServer, s3: Any, bucket: str) -> None:
    for key in ("one", "two"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"1")
        s3.get_object(Bucket=bucket, Key=key)["Body"].read()

    assert [r["op"] for r in journal(server, bucket=bucket, key="two")] == [
        "PutObject",
        "GetObject",
    ]
    assert [r["key"] for r in journal(server, bucket=bucket, op="GetObject")] == ["one", "two"]


def test_journal_leaves_out_admin_requests(server: RunningServer) -> None:
    journal(server)
    assert not [r for r in journal(server) if r["path"].startswith("/_aios3")]


def test_journal_delete_clears_it(tmp_path: Path) -> None:
    with run_server(test_config(tmp_path)) as running:
        running.boto3_client().list_buckets()
        assert [r["op"] for r in journal(running)] == ["ListBuckets"]
        assert admin(running, "DELETE", "requests").status == 204
        assert journal(running) == []


def test_journal_refuses_a_bad_status_filter(server: RunningServer) -> None:
    response = admin(server, "GET", "requests", params={"status": "teapot"})
    assert (response.status, response.error_code()) == (400, "InvalidArgument")
