"""Errors every operation shares: authentication, unknown operations, unexpected faults.
Each is the S3 XML error document with the right status, and every response carries a
request id."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from tests.functional.raw import signed_request, unsigned_request
from tests.support import RunningServer, run_server, test_config


def _client(server: RunningServer, access_key: str, secret_key: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        config=BotoConfig(retries={"max_attempts": 1}),
    )


def test_any_operation_unknown_access_key_is_invalid_access_key_id(server: RunningServer) -> None:
    client = _client(server, "nobody", server.config.secret_key)
    with pytest.raises(ClientError) as info:
        client.list_buckets()
    assert info.value.response["Error"]["Code"] == "InvalidAccessKeyId"
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403


def test_any_operation_wrong_secret_is_signature_does_not_match(
    server: RunningServer, bucket: str
) -> None:
    client = _client(server, server.config.access_key, "wrong-secret")
    with pytest.raises(ClientError) as info:
        client.put_object(Bucket=bucket, Key="k", Body=b"x")
    assert info.value.response["Error"]["Code"] == "SignatureDoesNotMatch"
    assert server.boto3_client().list_objects_v2(Bucket=bucket)["KeyCount"] == 0


def test_any_operation_without_credentials_is_access_denied(server: RunningServer) -> None:
    response = unsigned_request(server, "GET", "/")
    assert response.status == 403
    assert response.error_code() == "AccessDenied"


def test_error_document_has_code_message_resource_and_request_id(
    server: RunningServer,
) -> None:
    response = signed_request(server, "GET", "/no-such-bucket-here/some%20key")
    assert response.status == 404
    assert response.headers["Content-Type"] == "application/xml"
    root = ET.fromstring(response.body)
    assert root.tag == "Error"
    assert root.findtext("Code") == "NoSuchBucket"
    assert root.findtext("Message")
    assert root.findtext("BucketName") == "no-such-bucket-here"
    assert root.findtext("Resource") == "/no-such-bucket-here/some%20key"
    assert root.findtext("RequestId") == response.headers["x-amz-request-id"]


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/"), ("PUT", "/request-id-bucket"), ("HEAD", "/request-id-bucket"), ("GET", "/x/y")],
)
def test_every_response_has_a_request_id(server: RunningServer, method: str, path: str) -> None:
    response = signed_request(server, method, path)
    assert len(response.headers["x-amz-request-id"]) == 16


@pytest.mark.parametrize(
    ("method", "path_and_query", "operation"),
    [
        ("GET", "/{bucket}?acl", "GetBucketAcl"),
        ("PUT", "/{bucket}?versioning", "PutBucketVersioning"),
        ("PUT", "/{bucket}?lifecycle", "PutBucketLifecycleConfiguration"),
        ("GET", "/{bucket}?versions", "ListObjectVersions"),
        ("DELETE", "/{bucket}?tagging", "DeleteBucketTagging"),
        ("GET", "/{bucket}/key?tagging", "GetObjectTagging"),
        ("POST", "/{bucket}/key?select&select-type=2", "SelectObjectContent"),
        ("GET", "/{bucket}/key?acl", "GetObjectAcl"),
        ("GET", "/{bucket}/key?attributes", "GetObjectAttributes"),
        ("POST", "/{bucket}/key?restore", "RestoreObject"),
    ],
)
def test_known_sub_resource_not_implemented_answers_501(
    server: RunningServer, bucket: str, method: str, path_and_query: str, operation: str
) -> None:
    s3 = server.boto3_client()
    s3.put_object(Bucket=bucket, Key="key", Body=b"untouched")
    response = signed_request(server, method, path_and_query.format(bucket=bucket), body=b"")
    assert response.status == 501
    assert response.error_code() == "NotImplemented"
    assert operation.encode() in response.body
    # Nothing fell through to another operation: the bucket and object are as they were.
    assert s3.get_object(Bucket=bucket, Key="key")["Body"].read() == b"untouched"


@pytest.mark.parametrize(("method", "path"), [("POST", "/"), ("PATCH", "/bkt/k"), ("DELETE", "/")])
def test_method_not_allowed_is_405(server: RunningServer, method: str, path: str) -> None:
    response = signed_request(server, method, path)
    assert response.status == 405
    assert response.error_code() == "MethodNotAllowed"


def test_unexpected_fault_is_internal_error_without_details(tmp_path: Path) -> None:
    with run_server(test_config(tmp_path)) as server:
        s3 = server.boto3_client(retries={"max_attempts": 1})
        s3.create_bucket(Bucket="broken")
        # Big enough for a file of its own (smaller bodies are kept in the index).
        s3.put_object(Bucket="broken", Key="k", Body=b"data" * 20_000)
        # Damage the store behind the server's back: the body file becomes a directory.
        (body,) = [p for p in (tmp_path / "data").rglob("*") if p.is_file()]
        body.unlink()
        body.mkdir()
        response = signed_request(server, "GET", "/broken/k")
        assert response.status == 500
        assert response.error_code() == "InternalError"
        assert b"Traceback" not in response.body
        assert str(tmp_path).encode() not in response.body
        # The server keeps serving.
        assert s3.list_objects_v2(Bucket="broken")["KeyCount"] == 1
