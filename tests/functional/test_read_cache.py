"""The read cache of hot rows and small bodies never answers with a replaced version.

Each test first reads a key twice (so its row and body are cached), then changes it
through one of the writes that can, and reads it back at once.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aios3.storage.cache import ANY, ReadCache
from aios3.storage.models import ObjectInfo
from tests.functional.admin_client import reset
from tests.support import RunningServer, error_of, read, run_server, test_config


def _warm(s3: Any, bucket: str, key: str) -> None:
    for _ in range(2):
        read(s3, bucket, key)
        s3.head_object(Bucket=bucket, Key=key)


def _assert_reads(s3: Any, bucket: str, key: str, body: bytes) -> None:
    assert read(s3, bucket, key) == body
    head = s3.head_object(Bucket=bucket, Key=key)
    assert head["ContentLength"] == len(body)


def _assert_gone(s3: Any, bucket: str, key: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key=key)
    assert error_of(caught) == (404, "NoSuchKey")
    with pytest.raises(ClientError) as caught:
        s3.head_object(Bucket=bucket, Key=key)
    assert error_of(caught)[0] == 404


def test_overwrite_is_read_back(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"first")
    _warm(s3, bucket, "k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"second, longer")
    _assert_reads(s3, bucket, "k", b"second, longer")


def test_metadata_change_is_read_back(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"same", Metadata={"v": "1"})
    _warm(s3, bucket, "k")
    s3.put_object(Bucket=bucket, Key="k", Body=b"same", Metadata={"v": "2"})
    assert s3.head_object(Bucket=bucket, Key="k")["Metadata"] == {"v": "2"}
    assert s3.get_object(Bucket=bucket, Key="k")["Metadata"] == {"v": "2"}


def test_delete_is_read_back(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"doomed")
    _warm(s3, bucket, "k")
    s3.delete_object(Bucket=bucket, Key="k")
    _assert_gone(s3, bucket, "k")


def test_conditional_delete_is_read_back(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="k", Body=b"doomed")["ETag"]
    _warm(s3, bucket, "k")
    s3.delete_object(Bucket=bucket, Key="k", IfMatch=etag)
    _assert_gone(s3, bucket, "k")


def test_batch_delete_is_read_back(s3: Any, bucket: str) -> None:
    for key in ("a", "b"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"doomed")
        _warm(s3, bucket, key)
    s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": "a"}, {"Key": "b"}]})
    _assert_gone(s3, bucket, "a")
    _assert_gone(s3, bucket, "b")


def test_copy_onto_a_cached_key_is_read_back(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="source", Body=b"copied bytes")
    s3.put_object(Bucket=bucket, Key="target", Body=b"old")
    _warm(s3, bucket, "target")
    s3.copy_object(Bucket=bucket, Key="target", CopySource={"Bucket": bucket, "Key": "source"})
    _assert_reads(s3, bucket, "target", b"copied bytes")


def test_multipart_completion_onto_a_cached_key_is_read_back(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"small and cached")
    _warm(s3, bucket, "k")
    upload = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    etag = s3.upload_part(Bucket=bucket, Key="k", UploadId=upload, PartNumber=1, Body=b"mp")["ETag"]
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="k",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag}]},
    )
    _assert_reads(s3, bucket, "k", b"mp")


def test_a_refused_write_changes_nothing_read(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"kept")
    _warm(s3, bucket, "k")
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=bucket, Key="k", Body=b"refused", IfNoneMatch="*")
    assert error_of(caught) == (412, "PreconditionFailed")
    _assert_reads(s3, bucket, "k", b"kept")
    s3.put_object(Bucket=bucket, Key="k", Body=b"later")  # the key is cacheable again
    _warm(s3, bucket, "k")
    _assert_reads(s3, bucket, "k", b"later")


def test_reset_forgets_cached_objects(tmp_path: Path) -> None:
    with run_server(test_config(tmp_path / "data")) as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket="reset-me")
        s3.put_object(Bucket="reset-me", Key="k", Body=b"cached")
        _warm(s3, "reset-me", "k")
        reset(server)
        with pytest.raises(ClientError) as caught:
            s3.get_object(Bucket="reset-me", Key="k")
        assert error_of(caught) == (404, "NoSuchBucket")


async def test_readers_never_go_back_while_a_key_is_rewritten(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    """Readers hammer one key while it is overwritten 200 times: each reader sees the
    versions in order, and a read that starts after a write was acknowledged sees that
    version or a later one."""
    s3.put_object(Bucket=bucket, Key="hot", Body=b"0")
    acknowledged = 0
    done = False

    async def reader(client: Any) -> int:
        seen, reads = 0, 0
        while not done:
            floor = acknowledged
            response = await client.get_object(Bucket=bucket, Key="hot")
            version = int(await response["Body"].read())
            assert version >= floor, f"read {version} after {floor} was acknowledged"
            assert version >= seen, f"read {version} after {seen}"
            seen, reads = version, reads + 1
        return reads

    async with server.aio_client() as client:
        readers = [asyncio.create_task(reader(client)) for _ in range(8)]
        for version in range(1, 201):
            await client.put_object(Bucket=bucket, Key="hot", Body=str(version).encode())
            acknowledged = version
            await asyncio.sleep(0)
        done = True
        reads = await asyncio.gather(*readers)
    assert sum(reads) > 200
    assert read(s3, bucket, "hot") == b"200"


def _info(key: str, size: int = 1) -> ObjectInfo:
    return ObjectInfo(
        bucket="b", key=key, size=size, etag="e", last_modified=0.0, body_id="i", owner="o"
    )


def test_a_busy_key_is_neither_answered_nor_filled() -> None:
    cache = ReadCache()
    cache.fill(_info("k"), b"x")
    writing = cache.begin([("b", "k")])
    assert cache.get("b", "k") is None
    cache.fill(_info("k"), b"stale")  # a read racing the write
    cache.end(writing)
    assert cache.get("b", "k") is None
    cache.fill(_info("k"), b"new")
    assert cache.get("b", "k") == (_info("k"), b"new")


def test_a_write_to_any_key_empties_and_pauses_the_cache() -> None:
    cache = ReadCache()
    cache.fill(_info("k"), None)
    writing = cache.begin(ANY)
    assert cache.get("b", "k") is None
    cache.fill(_info("other"), None)
    assert cache.get("b", "other") is None
    cache.end(writing)
    cache.fill(_info("other"), None)
    assert cache.get("b", "other") is not None


def test_the_cache_is_bounded_in_entries_and_body_bytes() -> None:
    cache = ReadCache(max_entries=3, max_body_bytes=10)
    for name in "abcd":
        cache.fill(_info(name), None)
    assert cache.get("b", "a") is None
    assert all(cache.get("b", name) for name in "bcd")
    cache.fill(_info("big", 8), b"x" * 8)
    cache.fill(_info("big2", 8), b"y" * 8)
    assert cache.get("b", "big") is None
    assert cache.get("b", "big2") == (_info("big2", 8), b"y" * 8)
