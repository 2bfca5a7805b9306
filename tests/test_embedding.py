"""The embedding API: ``aios3.serve`` on the running loop and the threaded ``aios3.Server``,
driven by boto3 and aiobotocore."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path
from typing import Any

import boto3
import pytest

import aios3
from aios3.storage import DataDirectoryLocked
from aios3.testing import CONFLICTING_ENV, AsyncServer, Server, serve
from tests.support import make_certificates


def _round_trip(client: Any, bucket: str = "round-trip") -> bytes:
    client.create_bucket(Bucket=bucket)
    client.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
    body: bytes = client.get_object(Bucket=bucket, Key="a/b.txt")["Body"].read()
    return body


async def _aio_round_trip(s3: AsyncServer | Server, bucket: str = "round-trip") -> bytes:
    async with s3.aiobotocore_client() as client:
        await client.create_bucket(Bucket=bucket)
        await client.put_object(Bucket=bucket, Key="a/b.txt", Body=b"hello")
        got = await client.get_object(Bucket=bucket, Key="a/b.txt")
        async with got["Body"] as stream:
            body: bytes = await stream.read()
        return body


def test_import_aios3_stays_cheap() -> None:
    code = "import sys, aios3; print('aiohttp' in sys.modules, 'aios3.testing' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]
    assert aios3.serve is serve
    assert aios3.Server is Server


async def test_serve_aiobotocore_round_trip() -> None:
    async with aios3.serve() as s3:
        assert s3.endpoint_url == f"http://127.0.0.1:{s3.config.port}"
        assert s3.config.port != 0
        assert await _aio_round_trip(s3) == b"hello"


async def test_serve_boto3_client_from_a_worker_thread() -> None:
    # A blocking client must not run on the loop that serves it: give it a thread.
    async with aios3.serve() as s3:
        assert await asyncio.to_thread(_round_trip, s3.boto3_client()) == b"hello"


def test_server_boto3_round_trip() -> None:
    with aios3.Server() as s3:
        assert _round_trip(s3.boto3_client()) == b"hello"


async def test_server_aiobotocore_round_trip_from_another_loop() -> None:
    with aios3.Server() as s3:
        assert await _aio_round_trip(s3) == b"hello"


async def test_serve_options_are_config_fields(tmp_path: Path) -> None:
    async with serve(tmp_path, region="eu-west-3", access_key="ak", secret_key="sk-1") as s3:
        assert s3.region == "eu-west-3"
        assert s3.credentials == ("ak", "sk-1")
        assert s3.credentials.access_key == "ak"
        assert s3.root == tmp_path
        assert s3.config.fsync is False  # tests do not pay for durability by default
        async with s3.aiobotocore_client() as client:
            await client.create_bucket(Bucket="located")
            location = await client.get_bucket_location(Bucket="located")
        assert location["LocationConstraint"] == "eu-west-3"


async def test_serve_unknown_option_raises_on_enter() -> None:
    with pytest.raises(TypeError, match="no_such_option"):
        async with serve(no_such_option=1):
            pass


async def test_serve_temporary_root_removed_on_exit() -> None:
    async with serve() as s3:
        root = s3.root
        await _aio_round_trip(s3)
        assert (root / "index.sqlite3").is_file()
    assert not root.exists()


def test_server_temporary_root_removed_on_exit() -> None:
    with Server() as s3:
        root = s3.root
        _round_trip(s3.boto3_client())
    assert not root.exists()


def test_server_given_root_kept_with_its_objects(tmp_path: Path) -> None:
    with Server(tmp_path) as s3:
        _round_trip(s3.boto3_client())
    assert (tmp_path / "index.sqlite3").is_file()
    with Server(str(tmp_path)) as s3:
        got = s3.boto3_client().get_object(Bucket="round-trip", Key="a/b.txt")
        assert got["Body"].read() == b"hello"


def test_server_two_at_once_are_separate(tmp_path: Path) -> None:
    with Server(tmp_path / "one") as one, Server(tmp_path / "two") as two:
        assert one.endpoint_url != two.endpoint_url
        one.boto3_client().create_bucket(Bucket="only-in-one")
        assert [b["Name"] for b in one.boto3_client().list_buckets()["Buckets"]] == ["only-in-one"]
        assert two.boto3_client().list_buckets()["Buckets"] == []


def test_server_env_reaches_a_client_built_without_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with Server() as s3:
        env = s3.env()
        assert env["AWS_ENDPOINT_URL"] == s3.endpoint_url
        assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == s3.region
        assert env["AWS_EC2_METADATA_DISABLED"] == "true"
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        for name in CONFLICTING_ENV:
            monkeypatch.delenv(name, raising=False)
        # The default session caches credentials from whatever environment it saw first.
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
        client = boto3.client("s3")
        client.create_bucket(Bucket="from-env")
        assert [b["Name"] for b in client.list_buckets()["Buckets"]] == ["from-env"]


def test_server_locked_root_raises_on_enter(tmp_path: Path) -> None:
    with Server(tmp_path) as first:
        with pytest.raises(DataDirectoryLocked), Server(tmp_path):
            pass
        # The failed start left the running server alone.
        assert _round_trip(first.boto3_client()) == b"hello"


async def test_serve_locked_root_raises_on_enter(tmp_path: Path) -> None:
    async with serve(tmp_path) as first:
        with pytest.raises(DataDirectoryLocked):
            async with serve(tmp_path):
                pass
        assert await _aio_round_trip(first) == b"hello"
    # Everything the failed start opened was closed: the directory can be used again.
    async with serve(tmp_path) as again:
        assert again.root == tmp_path


async def test_serve_tls_options(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path / "tls")
    async with serve(
        tmp_path / "data",
        tls_cert=certificates.cert,
        tls_key=certificates.key,
        ca_bundle=certificates.ca,
    ) as s3:
        assert s3.endpoint_url.startswith("https://127.0.0.1:")
        assert s3.env()["AWS_CA_BUNDLE"] == str(certificates.ca)
        assert await _aio_round_trip(s3) == b"hello"
        assert await asyncio.to_thread(_round_trip, s3.boto3_client(), "over-tls") == b"hello"


async def test_serve_bad_certificate_raises_on_enter(tmp_path: Path) -> None:
    missing = tmp_path / "missing.pem"
    with pytest.raises(Exception, match="does not exist"):
        async with serve(tls_cert=missing, tls_key=missing):
            pass


def test_server_not_running_has_no_endpoint() -> None:
    s3 = Server()
    with pytest.raises(RuntimeError, match="not running"):
        _ = s3.endpoint_url
    with s3, pytest.raises(RuntimeError, match="already running"):
        s3.start()
    s3.stop()  # stopping twice is harmless
    with pytest.raises(RuntimeError, match="not running"):
        _ = s3.config


def test_server_start_and_stop_without_a_block() -> None:
    s3 = Server().start()
    try:
        assert _round_trip(s3.boto3_client()) == b"hello"
    finally:
        s3.stop()


def test_server_requests_record_what_the_client_did() -> None:
    with Server() as s3:
        client = s3.boto3_client()
        client.create_bucket(Bucket="journaled")
        client.put_object(Bucket="journaled", Key="k", Body=b"12345")
        with pytest.raises(client.exceptions.NoSuchKey):
            client.get_object(Bucket="journaled", Key="missing")
        (put,) = s3.requests(op="PutObject", bucket="journaled")
        assert (put.key, put.status, put.bytes_in) == ("k", 200, 5)
        (missing,) = s3.requests(error_code="NoSuchKey")
        assert (missing.op, missing.key, missing.status) == ("GetObject", "missing", 404)
        s3.journal.clear()
        assert s3.requests() == []


async def test_serve_faults_are_retried_by_aiobotocore() -> None:
    async with serve() as s3:
        async with s3.aiobotocore_client(retries={"mode": "standard", "max_attempts": 3}) as c:
            await c.create_bucket(Bucket="flaky")
            fault = s3.faults.add(op="PutObject", error="SlowDown", status=503, times=2)
            await c.put_object(Bucket="flaky", Key="k", Body=b"eventually")
        assert [r.status for r in s3.requests(op="PutObject")] == [503, 503, 200]
        assert [f.id for f in s3.faults.list()] == [fault.id]
        s3.faults.remove(fault.id)
        assert s3.faults.list() == []


def test_server_faults_added_from_the_test_thread() -> None:
    with Server() as s3:
        client = s3.boto3_client(retries={"mode": "standard", "total_max_attempts": 1})
        s3.faults.add(op="ListBuckets", error="InternalError", times=1)
        with pytest.raises(client.exceptions.ClientError, match="InternalError"):
            client.list_buckets()
        assert client.list_buckets()["Buckets"] == []


def test_server_reset_empties_everything() -> None:
    with Server() as s3:
        client = s3.boto3_client()
        _round_trip(client)
        client.create_multipart_upload(Bucket="round-trip", Key="unfinished")
        s3.faults.add(op="GetObject", error="SlowDown", status=503)
        s3.reset()
        assert s3.faults.list() == []
        assert client.list_buckets()["Buckets"] == []
        assert [r.op for r in s3.requests()] == ["ListBuckets"]
        assert _round_trip(client) == b"hello"  # usable again at once


async def test_serve_reset_empties_everything() -> None:
    async with serve() as s3:
        await _aio_round_trip(s3)
        await s3.reset()
        async with s3.aiobotocore_client() as client:
            assert (await client.list_buckets())["Buckets"] == []


def test_server_can_start_after_a_failed_start(tmp_path: Path) -> None:
    blocked = Server(tmp_path)
    with Server(tmp_path), pytest.raises(DataDirectoryLocked):
        blocked.start()
    with blocked:  # the directory is free now
        assert _round_trip(blocked.boto3_client()) == b"hello"
