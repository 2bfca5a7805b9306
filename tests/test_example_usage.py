"""Using aios3 in your tests: the example README.md shows, run as part of our own suite."""

from pathlib import Path
from typing import Any

import boto3
import pytest

import aios3


def test_upload_with_boto3(aios3_boto3_client: Any, aios3_bucket: str) -> None:
    # aios3_bucket: a fresh, empty bucket for this test, removed afterwards.
    aios3_boto3_client.put_object(Bucket=aios3_bucket, Key="hello.txt", Body=b"hello")
    got = aios3_boto3_client.get_object(Bucket=aios3_bucket, Key="hello.txt")
    assert got["Body"].read() == b"hello"


@pytest.mark.asyncio  # needed in pytest-asyncio's strict mode, harmless in auto mode
async def test_upload_with_aiobotocore(aios3_aiobotocore_client: Any, aios3_bucket: str) -> None:
    await aios3_aiobotocore_client.put_object(Bucket=aios3_bucket, Key="k", Body=b"async")
    got = await aios3_aiobotocore_client.get_object(Bucket=aios3_bucket, Key="k")
    async with got["Body"] as body:
        assert await body.read() == b"async"


def save_report(bucket: str, text: str) -> None:
    """Code under test that builds its own client from the environment."""
    boto3.client("s3").put_object(Bucket=bucket, Key="report.txt", Body=text.encode())


def test_code_that_builds_its_own_client(
    aios3_env: dict[str, str], aios3_boto3_client: Any, aios3_bucket: str
) -> None:
    # aios3_env: AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, ... point at the test server.
    save_report(aios3_bucket, "all good")
    got = aios3_boto3_client.get_object(Bucket=aios3_bucket, Key="report.txt")
    assert got["Body"].read() == b"all good"


def test_what_the_client_sent(
    aios3_server: aios3.Server, aios3_boto3_client: Any, aios3_bucket: str
) -> None:
    # The request journal: what the server saw, for assertions.
    aios3_boto3_client.put_object(Bucket=aios3_bucket, Key="k", Body=b"12345")
    (put,) = aios3_server.requests(op="PutObject", bucket=aios3_bucket)
    assert (put.status, put.bytes_in) == (200, 5)


def test_client_retries_on_slow_down(
    aios3_server: aios3.Server, aios3_boto3_client: Any, aios3_bucket: str
) -> None:
    # Fault injection: the next two PutObjects answer 503 SlowDown; boto3 retries.
    # Faults are removed after each test.
    aios3_server.faults.add(op="PutObject", error="SlowDown", status=503, times=2)
    aios3_boto3_client.put_object(Bucket=aios3_bucket, Key="k", Body=b"eventually")
    statuses = [r.status for r in aios3_server.requests(op="PutObject", bucket=aios3_bucket)]
    assert statuses == [503, 503, 200]


@pytest.mark.asyncio
async def test_a_server_of_your_own() -> None:
    # A private server on this test's event loop, on a temporary data directory that is
    # removed when the block ends. Options are aios3.config.Config fields.
    async with aios3.serve(region="eu-west-1") as s3, s3.aiobotocore_client() as client:
        await client.create_bucket(Bucket="mine")
        location = await client.get_bucket_location(Bucket="mine")
        assert location["LocationConstraint"] == "eu-west-1"


def test_a_server_of_your_own_from_sync_code(tmp_path: Path) -> None:
    # The same from synchronous code: the server runs on a background thread. A data
    # directory you give is kept afterwards.
    with aios3.Server(root=tmp_path) as s3:
        client = s3.boto3_client()
        client.create_bucket(Bucket="kept")
        s3.reset()  # empty everything: buckets, objects, uploads, journal, faults
        assert client.list_buckets()["Buckets"] == []
