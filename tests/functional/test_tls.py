"""HTTPS: SDK clients over TLS against a server with a throwaway certificate, and the
CLI's --tls-cert/--tls-key.

Over HTTPS botocore stops signing bodies and sends uploads in their aws-chunked trailer
form, so these tests reach client code paths plain HTTP never does.
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest
import trustme
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import SSLError

from aios3.config import Config
from tests.support import Certificates, RunningServer, read, temporary_bucket
from tests.test_cli import BANNER_TIMEOUT, running_server

BIG = 20 * 1024**2


def test_tls_endpoint_is_https(tls_server: RunningServer) -> None:
    assert tls_server.endpoint_url.startswith("https://127.0.0.1:")


def test_tls_create_bucket_and_list(tls_s3: Any) -> None:
    with temporary_bucket(tls_s3, "tls") as name:
        assert name in {b["Name"] for b in tls_s3.list_buckets()["Buckets"]}
        assert tls_s3.list_objects_v2(Bucket=name)["KeyCount"] == 0


def test_tls_put_object_default_checksum_trailer(tls_s3: Any) -> None:
    # boto3's default over HTTPS: STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC trailer.
    with temporary_bucket(tls_s3, "tls") as name:
        tls_s3.put_object(Bucket=name, Key="hello.txt", Body=b"hello over tls")
        assert read(tls_s3, name, "hello.txt") == b"hello over tls"
        listed = tls_s3.list_objects_v2(Bucket=name)["Contents"]
        assert [(item["Key"], item["Size"]) for item in listed] == [("hello.txt", 14)]


def test_tls_upload_file_multipart_parts_in_trailer_form(
    tls_server: RunningServer, tmp_path: Path
) -> None:
    # upload_file over HTTPS sends every UploadPart as aws-chunked with a CRC trailer.
    tls_s3 = tls_server.boto3_client()
    source = tmp_path / "source.bin"
    body = os.urandom(12 * 1024**2 + 3)
    source.write_bytes(body)
    config = TransferConfig(multipart_threshold=5 * 1024**2, multipart_chunksize=5 * 1024**2)
    with temporary_bucket(tls_s3, "tls-mp") as name:
        tls_s3.upload_file(str(source), name, "parts.bin", Config=config)
        head = tls_s3.head_object(Bucket=name, Key="parts.bin", ChecksumMode="ENABLED")
        assert head["ETag"].endswith('-3"')
        assert head["ContentLength"] == len(body)
        assert hashlib.sha256(read(tls_s3, name, "parts.bin")).digest() == (
            hashlib.sha256(body).digest()
        )
        tls_s3.delete_object(Bucket=name, Key="parts.bin")
    # Its pool of TLS connections closes now, not half-way through server shutdown.
    tls_s3.close()


def test_tls_get_large_object_byte_exact(tls_server: RunningServer) -> None:
    # Signed-body upload (no checksum asked for), so this tests the GET path alone:
    # loop.sendfile cannot hand a TLS socket to the kernel and falls back to copying.
    s3 = tls_server.boto3_client(request_checksum_calculation="when_required")
    body = os.urandom(BIG)
    with temporary_bucket(s3, "tls-big") as name:
        s3.put_object(Bucket=name, Key="big", Body=body)
        got = read(s3, name, "big")
        assert len(got) == BIG
        assert hashlib.sha256(got).digest() == hashlib.sha256(body).digest()
        ranged = s3.get_object(Bucket=name, Key="big", Range="bytes=1000000-1999999")
        assert ranged["Body"].read() == body[1_000_000:2_000_000]
        s3.delete_object(Bucket=name, Key="big")


async def test_tls_aiobotocore(tls_server: RunningServer) -> None:
    async with tls_server.aio_client(request_checksum_calculation="when_required") as s3:
        await s3.create_bucket(Bucket="tls-aiobotocore")
        try:
            await s3.put_object(Bucket="tls-aiobotocore", Key="k", Body=b"async over tls")
            response = await s3.get_object(Bucket="tls-aiobotocore", Key="k")
            async with response["Body"] as stream:
                assert await stream.read() == b"async over tls"
            listed = await s3.list_objects_v2(Bucket="tls-aiobotocore")
            assert [item["Key"] for item in listed["Contents"]] == ["k"]
            await s3.delete_object(Bucket="tls-aiobotocore", Key="k")
        finally:
            await s3.delete_bucket(Bucket="tls-aiobotocore")


async def test_tls_aiobotocore_put_object_default_checksum_trailer(
    tls_server: RunningServer,
) -> None:
    async with tls_server.aio_client() as s3:
        await s3.create_bucket(Bucket="tls-aiobotocore-trailer")
        try:
            await s3.put_object(Bucket="tls-aiobotocore-trailer", Key="k", Body=b"trailer")
            response = await s3.get_object(Bucket="tls-aiobotocore-trailer", Key="k")
            async with response["Body"] as stream:
                assert await stream.read() == b"trailer"
            await s3.delete_object(Bucket="tls-aiobotocore-trailer", Key="k")
        finally:
            await s3.delete_bucket(Bucket="tls-aiobotocore-trailer")


def test_tls_client_without_the_ca_refuses_the_server(tls_server: RunningServer) -> None:
    untrusting = RunningServer(tls_server.config, tls_server.endpoint_url)  # system CAs only
    with pytest.raises(SSLError):
        untrusting.boto3_client(retries={"max_attempts": 1}).list_buckets()


def test_tls_plain_http_to_the_https_port_gets_no_s3_answer(tls_server: RunningServer) -> None:
    url = tls_server.endpoint_url.replace("https://", "http://") + "/"
    with pytest.raises((OSError, ConnectionError)):
        urllib.request.urlopen(url, timeout=10).read()


# -- the CLI ---------------------------------------------------------------------------------


def _tls_args(tmp_path: Path, certificates: Certificates) -> list[str]:
    return [
        "--root",
        str(tmp_path / "data"),
        "--port",
        "0",
        "--tls-cert",
        str(certificates.cert),
        "--tls-key",
        str(certificates.key),
    ]


def test_cli_tls_serves_https(tmp_path: Path, certificates: Certificates) -> None:
    with running_server(tmp_path, *_tls_args(tmp_path, certificates)) as server:
        assert server.endpoint.startswith("https://127.0.0.1:")
        assert f"aws --endpoint-url {server.endpoint} s3 ls" in server.banner["try"]
        running = RunningServer(
            config=_banner_config(server.banner),
            endpoint_url=server.endpoint,
            ca_file=certificates.ca,
        )
        s3 = running.boto3_client(request_checksum_calculation="when_required")
        body = os.urandom(BIG)
        s3.create_bucket(Bucket="cli-tls")
        s3.put_object(Bucket="cli-tls", Key="big", Body=body)
        # The CLI runs on uvloop when it is installed: its sendfile path over TLS too.
        assert read(s3, "cli-tls", "big") == body
        assert server.stop() == 0
    assert "Traceback" not in server.stderr()


def _banner_config(banner: dict[str, str]) -> Config:
    """Just enough config for a client to sign as the banner's user."""
    return Config(
        region=banner["region"],
        access_key=banner["access key"],
        secret_key=banner["secret key"],
    )


def _run(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS3_")}
    return subprocess.run(
        [sys.executable, "-m", "aios3", *args],
        cwd=tmp_path,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BANNER_TIMEOUT,
        check=False,
    )


def test_cli_tls_cert_without_key_exits_2(tmp_path: Path, certificates: Certificates) -> None:
    result = _run(tmp_path, "--port", "0", "--tls-cert", str(certificates.cert))
    assert result.returncode == 2
    assert "--tls-cert and --tls-key go together" in result.stderr
    assert result.stdout == ""


def test_cli_tls_key_that_does_not_match_exits_1(
    tmp_path: Path, certificates: Certificates
) -> None:
    other = tmp_path / "other.key"
    other.write_bytes(_other_key())
    args = _tls_args(tmp_path, certificates)
    args[args.index(str(certificates.key))] = str(other)
    result = _run(tmp_path, *args)
    assert result.returncode == 1
    assert "cannot load TLS certificate" in result.stderr
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_cli_tls_missing_certificate_exits_1(tmp_path: Path, certificates: Certificates) -> None:
    args = _tls_args(tmp_path, certificates)
    args[args.index(str(certificates.cert))] = str(tmp_path / "missing.pem")
    result = _run(tmp_path, *args)
    assert result.returncode == 1
    assert f"TLS certificate file {tmp_path / 'missing.pem'} does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def _other_key() -> bytes:
    return trustme.CA().issue_cert("127.0.0.1").private_key_pem.bytes()
