"""Small bodies kept in the index (storage/inline.py), through a real server: where they
live, that every read and copy serves them, and that every write that replaces or
deletes their object takes them along (nothing left in the index or on disk)."""

from __future__ import annotations

import contextlib
import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aios3.storage.index import _SCHEMA as SCHEMA_BEFORE_INLINE_BODIES
from tests.functional.admin_client import reset
from tests.functional.test_upload_forms import SIGNED, put_streaming
from tests.support import RunningServer, error_of, read, run_server, test_config

SMALL = bytes(range(256)) * 16  # 4 KiB
LIMIT = 64 * 1024  # SMALL_BODY: the biggest body kept in the index
LARGE = b"L" * (LIMIT + 1)


@pytest.fixture
def private(tmp_path: Path) -> Iterator[RunningServer]:
    """A server of its own, so that its data directory holds only this test's bodies."""
    with run_server(test_config(tmp_path / "root")) as running:
        running.boto3_client().create_bucket(Bucket="bkt")
        yield running


def _files(root: Path) -> list[bytes]:
    """The contents of every body file."""
    data = root / "data"
    return sorted(p.read_bytes() for p in data.rglob("*") if p.is_file())


def _inline(root: Path) -> list[bytes]:
    """The contents of every body kept in the index."""
    with contextlib.closing(sqlite3.connect(root / "index.sqlite3")) as db:
        return sorted(bytes(row[0]) for row in db.execute("SELECT data FROM inline_bodies"))


def _where(server: RunningServer) -> tuple[list[bytes], list[bytes]]:
    """(bodies in the index, body files)."""
    return _inline(server.root), _files(server.root)


def test_put_object_small_body_is_kept_in_the_index(private: RunningServer) -> None:
    s3 = private.boto3_client()
    etag = s3.put_object(Bucket="bkt", Key="k", Body=SMALL)["ETag"]
    assert _where(private) == ([SMALL], [])
    assert etag == f'"{hashlib.md5(SMALL).hexdigest()}"'
    assert read(s3, "bkt", "k") == SMALL
    ranged = s3.get_object(Bucket="bkt", Key="k", Range="bytes=100-299")
    assert ranged["ContentRange"] == f"bytes 100-299/{len(SMALL)}"
    assert ranged["Body"].read() == SMALL[100:300]
    head = s3.head_object(Bucket="bkt", Key="k")
    assert (head["ContentLength"], head["ETag"]) == (len(SMALL), etag)
    first_part = s3.get_object(Bucket="bkt", Key="k", PartNumber=1)
    assert first_part["Body"].read() == SMALL
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket="bkt", Key="k", IfNoneMatch=etag)
    assert error_of(caught)[0] == 304


@pytest.mark.parametrize(
    ("size", "inline"), [(0, True), (LIMIT, True), (LIMIT + 1, False)], ids=str
)
def test_put_object_up_to_64k_in_the_index_bigger_in_a_file(
    private: RunningServer, size: int, inline: bool
) -> None:
    s3 = private.boto3_client()
    body = b"s" * size
    s3.put_object(Bucket="bkt", Key="k", Body=body)
    assert _where(private) == (([body], []) if inline else ([], [body]))
    assert read(s3, "bkt", "k") == body


def test_put_object_streamed_small_body_is_kept_in_the_index(private: RunningServer) -> None:
    """An aws-chunked body arrives through the streaming path: still no file."""
    answer = put_streaming(private, "bkt", "chunked", SIGNED, SMALL)
    assert answer.status == 200, answer.body
    assert _where(private) == ([SMALL], [])
    assert read(private.boto3_client(), "bkt", "chunked") == SMALL
    assert list((private.root / "tmp").iterdir()) == []


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_inline_bodies_survive_a_restart(tmp_path: Path, fsync: bool) -> None:
    with run_server(test_config(tmp_path, fsync=fsync)) as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket="bkt")
        s3.put_object(Bucket="bkt", Key="k", Body=SMALL, Metadata={"m": "v"})
    with run_server(test_config(tmp_path, fsync=fsync)) as server:
        got = server.boto3_client().get_object(Bucket="bkt", Key="k")
        assert (got["Body"].read(), got["Metadata"]) == (SMALL, {"m": "v"})
        assert _where(server) == ([SMALL], [])


def test_copy_object_between_inline_and_file_bodies(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.put_object(Bucket="bkt", Key="small", Body=SMALL)
    s3.put_object(Bucket="bkt", Key="large", Body=LARGE)
    s3.copy_object(Bucket="bkt", Key="small-copy", CopySource="bkt/small")
    s3.copy_object(Bucket="bkt", Key="large-copy", CopySource="bkt/large")
    assert _where(private) == ([SMALL, SMALL], [LARGE, LARGE])
    # Each copy over the other kind: the replaced body goes, from the index or the disk.
    s3.copy_object(Bucket="bkt", Key="small-copy", CopySource="bkt/large")
    s3.copy_object(Bucket="bkt", Key="large-copy", CopySource="bkt/small")
    assert _where(private) == ([SMALL, SMALL], [LARGE, LARGE])
    assert read(s3, "bkt", "small-copy") == LARGE
    assert read(s3, "bkt", "large-copy") == SMALL
    # A copy over itself (new metadata) keeps one body.
    s3.copy_object(
        Bucket="bkt",
        Key="small",
        CopySource="bkt/small",
        Metadata={"m": "2"},
        MetadataDirective="REPLACE",
    )
    assert _where(private) == ([SMALL, SMALL], [LARGE, LARGE])
    assert read(s3, "bkt", "small") == SMALL


def test_put_object_overwrites_between_inline_and_file_bodies(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.put_object(Bucket="bkt", Key="k", Body=SMALL)
    s3.put_object(Bucket="bkt", Key="k", Body=LARGE)
    assert _where(private) == ([], [LARGE])
    s3.put_object(Bucket="bkt", Key="k", Body=b"again")
    assert _where(private) == ([b"again"], [])
    s3.put_object(Bucket="bkt", Key="k", Body=b"and again")
    assert _where(private) == ([b"and again"], [])
    assert read(s3, "bkt", "k") == b"and again"


def test_deletes_take_inline_bodies_along(private: RunningServer) -> None:
    s3 = private.boto3_client()
    for key in ("one", "two", "three", "four"):
        s3.put_object(Bucket="bkt", Key=key, Body=key.encode())
    etag = s3.head_object(Bucket="bkt", Key="four")["ETag"]
    s3.delete_object(Bucket="bkt", Key="one")
    assert _inline(private.root) == [b"four", b"three", b"two"]
    s3.delete_objects(Bucket="bkt", Delete={"Objects": [{"Key": "two"}, {"Key": "three"}]})
    assert _inline(private.root) == [b"four"]
    s3.delete_object(Bucket="bkt", Key="four", IfMatch=etag)
    assert _where(private) == ([], [])
    s3.delete_bucket(Bucket="bkt")
    assert _where(private) == ([], [])


def test_reset_takes_inline_bodies_along(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.put_object(Bucket="bkt", Key="small", Body=SMALL)
    s3.put_object(Bucket="bkt", Key="large", Body=LARGE)
    reset(private)
    assert _inline(private.root) == []
    s3.create_bucket(Bucket="bkt")
    s3.put_object(Bucket="bkt", Key="small", Body=b"after")
    assert read(s3, "bkt", "small") == b"after"
    assert _inline(private.root) == [b"after"]


def test_complete_multipart_upload_over_an_inline_body_removes_it(
    private: RunningServer,
) -> None:
    s3 = private.boto3_client()
    s3.put_object(Bucket="bkt", Key="k", Body=SMALL)
    upload = s3.create_multipart_upload(Bucket="bkt", Key="k")["UploadId"]
    etag = s3.upload_part(Bucket="bkt", Key="k", UploadId=upload, PartNumber=1, Body=b"part")
    s3.complete_multipart_upload(
        Bucket="bkt",
        Key="k",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": etag["ETag"]}]},
    )
    assert _where(private) == ([], [b"part"])  # parts stay files
    assert read(s3, "bkt", "k") == b"part"


def test_upload_part_copy_from_an_inline_body(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.put_object(Bucket="bkt", Key="src", Body=SMALL)
    upload = s3.create_multipart_upload(Bucket="bkt", Key="dst")["UploadId"]
    copied = s3.upload_part_copy(
        Bucket="bkt",
        Key="dst",
        UploadId=upload,
        PartNumber=1,
        CopySource="bkt/src",
        CopySourceRange="bytes=10-1009",
    )
    part_etag = copied["CopyPartResult"]["ETag"]
    assert part_etag == f'"{hashlib.md5(SMALL[10:1010]).hexdigest()}"'
    assert _where(private) == ([SMALL], [SMALL[10:1010]])
    s3.complete_multipart_upload(
        Bucket="bkt",
        Key="dst",
        UploadId=upload,
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part_etag}]},
    )
    assert read(s3, "bkt", "dst") == SMALL[10:1010]


def test_index_from_before_inline_bodies_opens_and_keeps_its_files(tmp_path: Path) -> None:
    """A data directory written before this change: its small bodies are files."""
    body_id = "ab" + "0" * 30
    body = tmp_path / "data" / "ab" / "00" / body_id
    body.parent.mkdir(parents=True)
    body.write_bytes(b"old small body")
    with contextlib.closing(sqlite3.connect(tmp_path / "index.sqlite3")) as db, db:
        db.executescript(SCHEMA_BEFORE_INLINE_BODIES)
        db.execute("INSERT INTO buckets VALUES ('bkt', ?, 'us-east-1', 0)", (_owner(),))
        db.execute(
            "INSERT INTO objects VALUES ('bkt', CAST('old' AS BLOB), 14, ?, 0, ?, ?,"
            " '{}', '{}', '{}', '[]', 'FULL_OBJECT')",
            (hashlib.md5(b"old small body").hexdigest(), body_id, _owner()),
        )
        assert "inline_bodies" not in _tables(db)
    with run_server(test_config(tmp_path)) as server:
        s3 = server.boto3_client()
        assert read(s3, "bkt", "old") == b"old small body"
        s3.copy_object(Bucket="bkt", Key="copy", CopySource="bkt/old")
        s3.put_object(Bucket="bkt", Key="new", Body=b"new small body")
        assert _where(server) == ([b"new small body"], [b"old small body"] * 2)
        s3.put_object(Bucket="bkt", Key="old", Body=b"replaced")  # its file goes
        assert _where(server) == ([b"new small body", b"replaced"], [b"old small body"])


def _owner() -> str:
    return test_config(Path()).access_key


def _tables(db: sqlite3.Connection) -> set[str]:
    return {row[0] for row in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def test_read_cache_serves_an_inline_body_replaced_by_a_file(private: RunningServer) -> None:
    s3: Any = private.boto3_client()
    s3.put_object(Bucket="bkt", Key="k", Body=SMALL)
    for _ in range(2):
        assert read(s3, "bkt", "k") == SMALL
    s3.put_object(Bucket="bkt", Key="k", Body=LARGE)
    assert read(s3, "bkt", "k") == LARGE
    s3.put_object(Bucket="bkt", Key="k", Body=SMALL[:10])
    assert read(s3, "bkt", "k") == SMALL[:10]
