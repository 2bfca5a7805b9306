"""What storage promises, checked through a real server: atomic writes, no leftovers,
readers that keep their version, start-up sweeping, one server per data directory."""

from __future__ import annotations

import asyncio
import hashlib
import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aios3.storage import DataDirectoryLocked, Storage
from tests.functional.raw import UNSIGNED_PAYLOAD, connect, path, signed_head
from tests.support import RunningServer, run_server, test_config


def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _body_files(root: Path) -> list[Path]:
    return _files(root / "data")


def _file_sized(text: bytes) -> bytes:
    """A body too big to be kept in the index (SMALL_BODY): it gets a file."""
    return text * (64 * 1024 // len(text) + 1)


def _wait_until(condition: Any, timeout: float = 10.0) -> None:
    """Poll a condition the server reaches asynchronously (after a disconnect)."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("condition not reached in time")
        time.sleep(0.02)


def _signed_put_head(server: RunningServer, bucket: str, key: str, length: int) -> bytes:
    """Request line and headers of a signed PutObject whose body we send by hand."""
    headers = {"Content-Length": str(length), "X-Amz-Content-SHA256": UNSIGNED_PAYLOAD}
    return signed_head(server, "PUT", path(bucket, key), headers)


def test_put_object_client_disconnect_leaves_no_object_and_no_temp_file(
    tmp_path: Path,
) -> None:
    with run_server(test_config(tmp_path)) as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket="bkt")
        with connect(server) as sock:
            sock.sendall(_signed_put_head(server, "b", "partial", 4 * 1024 * 1024))
            sock.sendall(b"x" * 300_000)
        _wait_until(lambda: not any((tmp_path / "tmp").iterdir()))
        with pytest.raises(ClientError) as info:
            s3.head_object(Bucket="bkt", Key="partial")
        assert info.value.response["Error"]["Code"] == "404"
        assert _body_files(tmp_path) == []


def test_put_object_failed_overwrite_keeps_previous_version(server: RunningServer) -> None:
    s3 = server.boto3_client()
    s3.create_bucket(Bucket="keep-previous")
    s3.put_object(Bucket="keep-previous", Key="k", Body=b"first version")
    with connect(server) as sock:
        sock.sendall(_signed_put_head(server, "keep-previous", "k", 1000))
        sock.sendall(b"y" * 10)
    # A second, successful request on a new connection proves the server moved on.
    assert s3.get_object(Bucket="keep-previous", Key="k")["Body"].read() == b"first version"
    s3.delete_object(Bucket="keep-previous", Key="k")
    s3.delete_bucket(Bucket="keep-previous")


def test_get_object_started_before_overwrite_finishes_with_old_body(
    server: RunningServer, bucket: str
) -> None:
    s3 = server.boto3_client()
    old = os.urandom(32 * 1024 * 1024)
    new = os.urandom(1024)
    s3.put_object(Bucket=bucket, Key="big", Body=old)
    presigner = server.boto3_client(signature_version="s3v4")
    url = presigner.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": "big"})
    path = url.removeprefix(server.endpoint_url)
    host = server.endpoint_url.removeprefix("http://")
    with connect(server) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        received = b""
        while b"\r\n\r\n" not in received:
            received += sock.recv(65536)
        head, _, body = received.partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200")
        s3.put_object(Bucket=bucket, Key="big", Body=new)
        assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == new
        chunks = [body]
        remaining = len(old) - len(body)
        while remaining > 0:
            chunk = sock.recv(min(remaining, 1 << 20))
            assert chunk, "connection closed early"
            chunks.append(chunk)
            remaining -= len(chunk)
    assert hashlib.sha256(b"".join(chunks)).digest() == hashlib.sha256(old).digest()


def test_start_up_sweeps_temp_files_and_unreferenced_bodies(tmp_path: Path) -> None:
    with run_server(test_config(tmp_path)) as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket="bkt")
        s3.put_object(Bucket="bkt", Key="kept", Body=_file_sized(b"kept body"))
    (kept,) = _body_files(tmp_path)
    orphan = tmp_path / "data" / "ab" / "cd" / ("abcd" + "0" * 28)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"nobody points here")
    (tmp_path / "tmp" / "upload.part").write_bytes(b"half an upload")
    with run_server(test_config(tmp_path)) as server:
        assert _body_files(tmp_path) == [kept]
        assert list((tmp_path / "tmp").iterdir()) == []
        body = server.boto3_client().get_object(Bucket="bkt", Key="kept")["Body"].read()
        assert body == _file_sized(b"kept body")


def test_objects_survive_a_restart(tmp_path: Path) -> None:
    with run_server(test_config(tmp_path, fsync=True)) as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket="bkt")
        s3.put_object(Bucket="bkt", Key="k", Body=b"durable", Metadata={"m": "v"})
    with run_server(test_config(tmp_path)) as server:
        got = server.boto3_client().get_object(Bucket="bkt", Key="k")
        assert got["Body"].read() == b"durable"
        assert got["Metadata"] == {"m": "v"}


def test_second_server_on_the_same_data_directory_is_refused(tmp_path: Path) -> None:
    with (
        run_server(test_config(tmp_path)),
        pytest.raises(DataDirectoryLocked, match="already using"),
    ):
        Storage(tmp_path)
    Storage(tmp_path).close()  # free again once the first server has stopped


@pytest.mark.parametrize("depth", [0, 1, 3])
def test_bucket_depth_spreads_bodies_over_hex_levels(tmp_path: Path, depth: int) -> None:
    with run_server(test_config(tmp_path, bucket_depth=depth)) as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket="bkt")
        s3.put_object(Bucket="bkt", Key="some/key", Body=_file_sized(b"x"))
        (body,) = _body_files(tmp_path)
        levels = body.relative_to(tmp_path / "data").parts
        assert len(levels) == depth + 1
        assert all(levels[i] == body.name[2 * i : 2 * i + 2] for i in range(depth))


def test_keys_never_become_file_paths(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    root = tmp_path / "root"
    with run_server(test_config(root)) as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket="bkt")
        for key in ["../../outside/escape", "../index.sqlite3", "/etc/passwd", "a/../../x"]:
            body = _file_sized(key.encode())
            s3.put_object(Bucket="bkt", Key=key, Body=body)
            assert s3.get_object(Bucket="bkt", Key=key)["Body"].read() == body
        names = {p.name for p in _body_files(root)}
        assert len(names) == 4
        assert all(len(name) == 32 and int(name, 16) >= 0 for name in names)
    assert not outside.exists()


async def test_put_object_concurrent_overwrites_leave_one_whole_winner(
    server: RunningServer, aio_s3: Any, bucket: str
) -> None:
    bodies = [bytes([i]) * (64 * 1024 + i) for i in range(40)]
    await asyncio.gather(
        *(aio_s3.put_object(Bucket=bucket, Key="hot", Body=body) for body in bodies)
    )
    got = await aio_s3.get_object(Bucket=bucket, Key="hot")
    async with got["Body"] as stream:
        data = await stream.read()
    assert data in bodies
    # Every superseded body was removed: one file per live object in this bucket.
    listing = await aio_s3.list_objects_v2(Bucket=bucket)
    assert listing["KeyCount"] == 1
