"""Small bodies kept in the index, at the storage facade: start-up recovery of damaged
inline rows, copies whose inline source went meanwhile, and the room kept free."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from aios3.errors import S3Error
from aios3.storage import BodyChecks, NewObject, Storage, inline, pieces_of

OWNER = "owner"


def _inline_rows(root: Path) -> dict[str, bytes]:
    with contextlib.closing(sqlite3.connect(root / "index.sqlite3")) as db:
        return {i: bytes(data) for i, data in db.execute("SELECT body_id, data FROM inline_bodies")}


def _change(root: Path, sql: str, *args: object) -> None:
    with contextlib.closing(sqlite3.connect(root / "index.sqlite3")) as db, db:
        db.execute(sql, args)


async def _open(root: Path) -> Storage:
    return await asyncio.to_thread(Storage, root, fsync=False)


async def _put(storage: Storage, key: str, body: bytes) -> str:
    info = await storage.put_object("bkt", key, body, NewObject(owner=OWNER), BodyChecks())
    return info.body_id


async def _keys(storage: Storage) -> list[str]:
    page = await storage.list_objects("bkt", prefix="", delimiter="", start_after="", max_keys=100)
    return [listed.key for listed in page.objects]


@pytest.fixture
async def storage(tmp_path: Path) -> AsyncIterator[Storage]:
    opened = await _open(tmp_path)
    await opened.create_bucket("bkt", OWNER, "us-east-1", legacy_ok=False)
    yield opened
    opened.close()


async def test_inline_ids_are_told_apart_from_file_ids(storage: Storage) -> None:
    small = await _put(storage, "small", b"x" * 100)
    large = await _put(storage, "large", b"x" * (64 * 1024 + 1))
    assert inline.is_inline(small)
    assert not inline.is_inline(large)
    assert all(c in "0123456789abcdef" for c in large)
    assert not inline.is_inline("")  # a multipart object's body_id


async def test_inline_ids_grow_in_the_order_bodies_are_stored(storage: Storage) -> None:
    # The index keeps inline bodies in id order: ids that grow put each new body at the
    # end of the table instead of on a random page of it (a quarter of a small PUT's CPU).
    ids = [await _put(storage, f"k{n}", b"x" * n) for n in range(200)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {len(i) for i in ids} == {33}
    source = await storage.head_object("bkt", "k5")
    copied = await storage.copy_object(source, "bkt", "copy", None)
    assert copied.body_id > ids[-1]


async def test_cancelled_inline_put_still_unlinks_the_file_it_replaced(storage: Storage) -> None:
    old_id = await _put(storage, "key", b"x" * (64 * 1024 + 1))
    old_file = storage.blobs.path_of(old_id)
    assert old_file.exists()
    put = asyncio.create_task(_put(storage, "key", b"small"))
    for _ in range(3):  # until it waits for its commit
        await asyncio.sleep(0)
    put.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await put
    for _ in range(200):  # the commit stands; the replaced body must go too
        info = await storage.head_object("bkt", "key")
        if inline.is_inline(info.body_id) and not old_file.exists():
            break
        await asyncio.sleep(0.01)
    assert inline.is_inline(info.body_id)
    assert not old_file.exists()


async def test_recovery_drops_rows_whose_inline_body_is_missing_or_torn(tmp_path: Path) -> None:
    storage = await _open(tmp_path)
    await storage.create_bucket("bkt", OWNER, "us-east-1", legacy_ok=False)
    kept = await _put(storage, "kept", b"kept")
    missing = await _put(storage, "missing", b"missing")
    torn = await _put(storage, "torn", b"torn body")
    storage.close()
    _change(tmp_path, "DELETE FROM inline_bodies WHERE body_id = ?", missing)
    _change(tmp_path, "UPDATE inline_bodies SET data = ? WHERE body_id = ?", b"to", torn)
    orphan = "i" + "0" * 32
    _change(tmp_path, "INSERT INTO inline_bodies VALUES (?, ?)", orphan, b"nobody's")

    storage = await _open(tmp_path)
    try:
        assert await _keys(storage) == ["kept"]
        assert _inline_rows(tmp_path) == {kept: b"kept"}
    finally:
        storage.close()
    before = _inline_rows(tmp_path)
    (await _open(tmp_path)).close()  # recovering twice is recovering once
    assert _inline_rows(tmp_path) == before


async def test_copy_object_from_an_inline_source_deleted_meanwhile(storage: Storage) -> None:
    await _put(storage, "src", b"source")
    source = await storage.head_object("bkt", "src")
    await storage.delete_object("bkt", "src")
    with pytest.raises(S3Error) as caught:
        await storage.copy_object(source, "bkt", "dst", None)
    assert caught.value.code == "NoSuchKey"
    assert await _keys(storage) == []
    assert _inline_rows(storage.root) == {}


async def test_upload_part_copy_from_an_inline_source_deleted_meanwhile(
    storage: Storage,
) -> None:
    await _put(storage, "src", b"source")
    source = await storage.head_object("bkt", "src")
    upload = await storage.uploads.create(
        "bkt", "dst", NewObject(owner=OWNER), checksum_algorithm=None, checksum_type=None
    )
    await _put(storage, "src", b"replaced")
    with pytest.raises(S3Error) as caught:
        await storage.uploads.upload_part_copy(
            upload.upload_id, "bkt", "dst", 1, pieces_of(source, 0, 6), BodyChecks()
        )
    assert caught.value.code == "NoSuchKey"
    assert list((storage.root / "tmp").iterdir()) == []


async def test_failed_precondition_stores_no_inline_body(storage: Storage) -> None:
    def refuse(current: object) -> None:
        raise S3Error("PreconditionFailed")

    with pytest.raises(S3Error):
        await storage.put_object(
            "bkt", "k", b"body", NewObject(owner=OWNER), BodyChecks(), precondition=refuse
        )
    assert _inline_rows(storage.root) == {}


def test_room_refuses_bodies_that_would_eat_the_reserve(tmp_path: Path) -> None:
    with contextlib.closing(sqlite3.connect(tmp_path / "index.sqlite3")) as db:
        inline.Room(tmp_path, reserve=0).claim(db, 1024)
        with pytest.raises(S3Error) as caught:
            inline.Room(tmp_path, reserve=1 << 60).claim(db, 1024)
        assert caught.value.code == "InsufficientStorage"
