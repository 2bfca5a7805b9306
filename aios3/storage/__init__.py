"""Storage facade: buckets and objects in S3 nouns; the only layer that touches disk.

Layout of a data directory::

    <root>/lock              held (flock) by the one server using the directory
    <root>/index.sqlite3     the SQLite index, WAL mode, with the bodies of small
                             objects (up to SMALL_BODY bytes; see inline.py)
    <root>/data/ab/cd/<id>   the other object bodies and every multipart part,
                             under opaque ids
    <root>/tmp/              uploads in progress, swept at start-up
    <root>/trash-<id>/       bodies of a reset, being deleted (swept at start-up)

A write streams to a temp file, renames it into place and then commits the index row:
that commit is the moment the object becomes visible. The body it replaced is removed
after the commit. A small body skips the file: it is inserted into the index in the
same transaction as its row (and goes with it when the row is replaced or deleted).
"""

from __future__ import annotations

import asyncio
import dataclasses
import fcntl
import functools
import os
import sqlite3
import threading
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any, BinaryIO

from aios3.checksums import encode
from aios3.errors import S3Error
from aios3.storage import fileops, inline, trash
from aios3.storage.blobs import BlobStore, HeldBody, ReceivedBody
from aios3.storage.diskerrors import UncertainCommit
from aios3.storage.index import (
    OBJECT_COLUMNS,
    OBJECT_PLACEHOLDERS,
    Index,
    NewerIndexSchema,
    object_to_row,
    row_to_bucket,
)
from aios3.storage.index import row_to_object as _row_to_object
from aios3.storage.listing import list_page
from aios3.storage.models import (
    BodyChecks,
    BucketInfo,
    ListedObject,
    ListedRow,
    ListPage,
    NewObject,
    ObjectInfo,
    OpenObject,
    Part,
    PartPage,
    UploadInfo,
    UploadPage,
)
from aios3.storage.recovery import recover
from aios3.storage.uploads import CompletedPart, Uploads

__all__ = [
    "BodyChecks",
    "BucketInfo",
    "CompletedPart",
    "DataDirectoryLocked",
    "ListPage",
    "ListedObject",
    "ListedRow",
    "NewObject",
    "NewerIndexSchema",
    "ObjectInfo",
    "OpenObject",
    "Part",
    "PartPage",
    "Storage",
    "UploadInfo",
    "UploadPage",
]

MAX_OBJECT_SIZE = 5 * 1024**3  # PutObject's limit: 5 GiB
# How often a reader retries when the body it looked up was replaced before it opened it.
_OPEN_ATTEMPTS = 5
# Bodies up to this size that PutObject receives are kept in the index (inline.py), and
# are read whole on the loop thread when opened (see open_object).
SMALL_BODY = 64 * 1024

Precondition = Callable[[ObjectInfo | None], None]


class DataDirectoryLocked(Exception):
    """Another server process already uses this data directory."""


class Storage:
    """Buckets and objects of one data directory."""

    def __init__(
        self,
        root: Path,
        *,
        bucket_depth: int = 2,
        fsync: bool = True,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        root.mkdir(parents=True, exist_ok=True)
        self.root = root
        # Every timestamp storage records (Last-Modified, CreationDate) comes from here,
        # so a test can pin them.
        self._clock = clock
        self._removers: list[threading.Thread] = []
        self._lock_fd = _lock_directory(root)
        files = fileops.installed()  # every change to the directory goes through it
        try:
            trash.sweep(root, files)
            self.blobs = BlobStore(root, depth=bucket_depth, fsync=fsync, files=files)
            self.index = Index(root / "index.sqlite3", durable=fsync, files=files)
            self._room = inline.Room(root)
            recover(self.index, self.blobs)
            # Bucket rows are few and read by nearly every request: this process owns
            # the directory (see the lock), so it keeps them in memory.
            self._buckets = {b.name: b for b in self.index.read_now(_all_buckets)}
            self.uploads = Uploads(
                self.index, self.blobs, self.bucket, _verify, clock=clock, seed=seed
            )
            self.uploads.forget_completed()
        except BaseException:
            os.close(self._lock_fd)
            raise

    def close(self) -> None:
        self.index.close()
        for remover in self._removers:
            remover.join()
        os.close(self._lock_fd)

    async def reset(self) -> None:
        """Forget every bucket, object, upload and part, and their bodies, at once.

        One transaction empties the index; the body files go with one rename of the data
        directory (deleted on a thread), so they cost the same for any amount of data.
        Bodies kept in the index are freed page by page in that transaction: measured
        ~1.5 s for 100,000 bodies of 4 KiB (0.03 s for as many rows alone), fine for the
        test suites resets serve. Readers that already opened a body finish reading it.
        """

        def wipe(db: sqlite3.Connection) -> None:
            for table in ("inline_bodies", "parts", "uploads", "objects", "buckets"):
                db.execute(f"DELETE FROM {table}")

        await self.index.write(wipe)
        self._buckets.clear()
        remover = await asyncio.to_thread(self.blobs.empty)
        self._removers = [r for r in self._removers if r.is_alive()] + [remover]

    # -- buckets -----------------------------------------------------------------

    async def list_buckets(self, owner: str) -> list[BucketInfo]:
        return sorted((b for b in self._buckets.values() if b.owner == owner), key=lambda b: b.name)

    def bucket(self, name: str) -> BucketInfo:
        """The bucket, or NoSuchBucket; answered from memory, without a thread hop."""
        found = self._buckets.get(name)
        if found is None:
            raise S3Error("NoSuchBucket", BucketName=name)
        return found

    async def get_bucket(self, name: str) -> BucketInfo:
        """The bucket, or NoSuchBucket."""
        return self.bucket(name)

    async def create_bucket(self, name: str, owner: str, region: str, *, legacy_ok: bool) -> None:
        """Create a bucket; ``legacy_ok`` answers a repeat by its owner with success
        (us-east-1's legacy behaviour) instead of BucketAlreadyOwnedByYou."""

        def create(db: sqlite3.Connection) -> BucketInfo | None:
            row = db.execute("SELECT owner FROM buckets WHERE name = ?", (name,)).fetchone()
            if row is not None:
                if row[0] != owner:
                    raise S3Error("BucketAlreadyExists", BucketName=name)
                if legacy_ok:
                    return None
                raise S3Error("BucketAlreadyOwnedByYou", BucketName=name)
            info = BucketInfo(name=name, owner=owner, region=region, created=self._clock())
            db.execute(
                "INSERT INTO buckets (name, owner, region, created) VALUES (?, ?, ?, ?)",
                (info.name, info.owner, info.region, info.created),
            )
            return info

        created = await self.index.write(create, touches=())
        if created is not None:
            self._buckets[name] = created

    async def delete_bucket(self, name: str) -> None:
        def delete(db: sqlite3.Connection) -> list[str]:
            _bucket(db, name)
            if db.execute("SELECT 1 FROM objects WHERE bucket = ? LIMIT 1", (name,)).fetchone():
                raise S3Error("BucketNotEmpty", BucketName=name)
            db.execute("DELETE FROM buckets WHERE name = ?", (name,))
            # Unfinished multipart uploads do not keep a bucket alive; they go with it.
            parts = db.execute(
                "DELETE FROM parts WHERE upload_id IN"
                " (SELECT upload_id FROM uploads WHERE bucket = ?) RETURNING body_id",
                (name,),
            ).fetchall()
            db.execute("DELETE FROM uploads WHERE bucket = ?", (name,))
            return [row[0] for row in parts]

        leftovers = await self.index.write(delete)
        self._buckets.pop(name, None)
        await self.blobs.remove(leftovers)

    # -- objects -----------------------------------------------------------------

    async def head_object(self, bucket: str, key: str) -> ObjectInfo:
        """The object's row, or NoSuchBucket / NoSuchKey (a point lookup, on the loop
        thread: see ``Index.read_inline``)."""
        cached = self.index.cache.get(bucket, key)
        if cached is not None:
            return cached.info
        info = self.index.read_inline(lambda db: _object(db, bucket, key))
        self.index.cache.fill(info, None)
        return info

    async def open_object(self, bucket: str, key: str) -> OpenObject:
        """Look the object up and open its body. If an overwrite removed the body in
        between, look again: the reader gets a whole version.

        A body of at most ``SMALL_BODY`` bytes is looked up and read whole on the loop
        thread (a page-cached read of a few KiB, from the index or a file, costs less
        than any thread hop); anything else is looked up and opened in one thread hop,
        then streamed.
        """
        cached = self.index.cache.get(bucket, key)
        if cached is not None and cached.data is not None:
            return OpenObject(info=cached.info, file=None, data=cached.data)
        small = self.index.read_inline(lambda db: self._open_small(db, bucket, key))
        if small is not None:
            self.index.cache.fill(small.info, small.data)
            return small
        return await self.index.read(lambda db: self._open(db, bucket, key))

    def _open_small(self, db: sqlite3.Connection, bucket: str, key: str) -> OpenObject | None:
        """The object with its body read, or None when it is a big file or multipart."""
        for _ in range(_OPEN_ATTEMPTS):
            info = _object(db, bucket, key)
            if inline.is_inline(info.body_id):
                # Its own statement: the row may have been replaced since, body and all.
                data = inline.read(db, info.body_id)
                if data is None:
                    continue
            elif info.parts or info.size > SMALL_BODY:
                return None
            else:
                try:
                    fd = os.open(self.blobs.path_of(info.body_id), os.O_RDONLY)
                except FileNotFoundError:
                    continue
                try:
                    data = os.pread(fd, info.size, 0) if info.size else b""
                finally:
                    os.close(fd)
            if len(data) != info.size:
                raise S3Error("InternalError", "The object's body is shorter than its index row.")
            return OpenObject(info=info, file=None, data=data)
        raise S3Error("InternalError", "The object changed too often while being opened.")

    def _open(self, db: sqlite3.Connection, bucket: str, key: str) -> OpenObject:
        for _ in range(_OPEN_ATTEMPTS):
            info = _object(db, bucket, key)
            if info.parts:
                ids = info.body_ids
                if self.blobs.pin(ids):
                    release = functools.partial(self.blobs.unpin, ids)
                    return OpenObject(info=info, file=None, release=release)
                continue
            try:
                file = open(self.blobs.path_of(info.body_id), "rb")  # noqa: SIM115
            except FileNotFoundError:
                continue
            return OpenObject(info=info, file=file)
        raise S3Error("InternalError", "The object changed too often while being opened.")

    async def read_pieces(
        self, opened: OpenObject, start: int, length: int
    ) -> AsyncIterator[tuple[BinaryIO, int, int]]:
        """The open files, offsets and byte counts that make up ``length`` bytes from
        ``start``: one piece for a single body, one per part crossed for multipart."""
        if opened.file is not None:
            yield opened.file, start, length
            return
        for body_id, offset, count in pieces_of(opened.info, start, length):
            file = await asyncio.to_thread(open, self.blobs.path_of(body_id), "rb")
            try:
                yield file, offset, count
            finally:
                file.close()

    async def put_object(
        self,
        bucket: str,
        key: str,
        body: AsyncIterator[bytes] | bytes,
        new: NewObject,
        checks: BodyChecks,
        *,
        precondition: Precondition | None = None,
    ) -> ObjectInfo:
        """Store a body under ``key``: visible only once it is whole and checked. A
        small body that already arrived whole may come as bytes. A body of at most
        ``SMALL_BODY`` bytes, however it came, is kept in the index, in the transaction
        that commits its row; a bigger one becomes a file first."""
        self.bucket(bucket)  # fail before receiving a body nobody can keep
        algorithms = checks.checksums.keys()
        if isinstance(body, bytes):
            got: ReceivedBody | HeldBody = self.blobs.hold(body, algorithms=algorithms)
        else:
            got = await self.blobs.receive(body, algorithms=algorithms, max_size=MAX_OBJECT_SIZE)
        try:
            checksums = _verify(got, checks)
        except BaseException:
            if isinstance(got, ReceivedBody):
                await self.blobs.discard(got.temp_path)
            raise
        if isinstance(got, HeldBody) and got.size <= SMALL_BODY:
            info = self._new_info(bucket, key, got, checksums, new, inline=True)
            store = functools.partial(self._store_inline, info.body_id, got.data)
            # _finish: a file body this one replaces is unlinked even if the caller is
            # cancelled while the commit runs (the commit itself stands either way).
            return await _finish(self._commit_row(info, precondition, store))
        received = await self.blobs.spill(got)
        info = self._new_info(bucket, key, received, checksums, new)
        return await _finish(self._commit_new(received.temp_path, info, precondition))

    def _new_info(
        self,
        bucket: str,
        key: str,
        body: ReceivedBody | HeldBody,
        checksums: dict[str, str],
        new: NewObject,
        *,
        inline: bool = False,
    ) -> ObjectInfo:
        return ObjectInfo(
            bucket=bucket,
            key=key,
            size=body.size,
            etag=body.md5.hex(),
            last_modified=self._clock(),
            body_id=self.blobs.new_id(inline=inline),
            owner=new.owner,
            content_headers=new.content_headers,
            metadata=new.metadata,
            checksums=checksums,
        )

    async def _commit_new(
        self, temp_path: Path, info: ObjectInfo, precondition: Precondition | None
    ) -> ObjectInfo:
        try:
            await self.blobs.place(temp_path, info.body_id)
        except BaseException:
            await self.blobs.discard(temp_path)
            raise
        return await self._commit_row(info, precondition)

    async def _commit_row(
        self,
        info: ObjectInfo,
        precondition: Precondition | None,
        store_inline: Callable[[sqlite3.Connection], object] | None = None,
    ) -> ObjectInfo:
        """Insert or replace the row (the visibility point), then drop the old body.
        ``store_inline`` stores the row's inline body in the same transaction; an inline
        body the row replaces goes with it (the triggers of inline.py)."""

        def upsert(db: sqlite3.Connection) -> list[str]:
            _bucket(db, info.bucket)
            old = _find_object(db, info.bucket, info.key)
            if precondition is not None:
                precondition(old)
            if store_inline is not None:
                store_inline(db)
            db.execute(
                f"INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES ({OBJECT_PLACEHOLDERS})",
                object_to_row(info),
            )
            return old.body_ids if old is not None else []

        try:
            replaced = await self.index.write(upsert, touches=[(info.bucket, info.key)])
        except UncertainCommit:
            raise  # the row may yet surface after a crash: its body stays for the sweep
        except BaseException:
            await self.blobs.remove(info.body_ids)
            raise
        await self.blobs.remove(set(replaced) - set(info.body_ids))
        return info

    async def copy_object(
        self,
        source: ObjectInfo,
        bucket: str,
        key: str,
        new: NewObject | None,
        *,
        precondition: Precondition | None = None,
    ) -> ObjectInfo:
        """Copy ``source`` (as looked up by the caller) to ``bucket/key``; ``new`` replaces
        its headers and metadata. The bytes are linked or copied by the kernel, or for
        a body kept in the index, copied inside the transaction that commits the row."""
        self.bucket(bucket)
        # Each body file of the source gets a second name; a multipart source stays
        # multipart, so even a 5 TB copy moves no data.
        renamed = {
            body_id: self.blobs.new_id(inline=inline.is_inline(body_id))
            for body_id in source.body_ids
        }
        store_inline = None
        if inline.is_inline(source.body_id):
            store_inline = functools.partial(self._copy_inline, source, renamed[source.body_id])
        done: list[str] = []
        try:
            for old_id, new_id in renamed.items():
                if inline.is_inline(old_id):
                    continue
                await self.blobs.duplicate(old_id, new_id)
                done.append(new_id)
        except BaseException as exc:
            await self.blobs.remove(done)
            if isinstance(exc, FileNotFoundError):
                # The source was replaced or deleted since the caller looked it up.
                raise S3Error("NoSuchKey", Key=source.key) from None
            raise
        info = dataclasses.replace(
            source,
            bucket=bucket,
            key=key,
            last_modified=self._clock(),
            body_id=renamed.get(source.body_id, ""),
            parts=tuple(
                dataclasses.replace(part, body_id=renamed[part.body_id]) for part in source.parts
            ),
            owner=new.owner if new is not None else source.owner,
            content_headers=new.content_headers if new is not None else source.content_headers,
            metadata=new.metadata if new is not None else source.metadata,
        )
        return await _finish(self._commit_row(info, precondition, store_inline))

    def _store_inline(self, body_id: str, data: bytes, db: sqlite3.Connection) -> None:
        self._room.claim(db, len(data))
        inline.insert(db, body_id, data)

    def _copy_inline(self, source: ObjectInfo, body_id: str, db: sqlite3.Connection) -> None:
        self._room.claim(db, source.size)
        if not inline.copy(db, source.body_id, body_id):
            # The source was replaced or deleted since the caller looked it up.
            raise S3Error("NoSuchKey", Key=source.key)

    async def delete_object(
        self, bucket: str, key: str, *, precondition: Precondition | None = None
    ) -> None:
        """Remove a key; a missing key is not an error (S3 answers 204 either way).
        ``precondition`` sees the current version inside the deleting transaction."""
        if precondition is None:
            await self.delete_objects(bucket, [key])
            return

        def delete(db: sqlite3.Connection) -> list[str]:
            _bucket(db, bucket)
            current = _find_object(db, bucket, key)
            precondition(current)
            if current is None:
                return []
            db.execute(
                "DELETE FROM objects WHERE bucket = ? AND key = ?", (bucket, key.encode("utf-8"))
            )
            return current.body_ids

        await self.blobs.remove(await self.index.write(delete, touches=[(bucket, key)]))

    async def delete_objects(self, bucket: str, keys: Sequence[str]) -> None:
        def delete(db: sqlite3.Connection) -> list[str]:
            _bucket(db, bucket)
            gone: list[str] = []
            for key in keys:
                row = db.execute(
                    f"DELETE FROM objects WHERE bucket = ? AND key = ? RETURNING {OBJECT_COLUMNS}",
                    (bucket, key.encode("utf-8")),
                ).fetchone()
                if row is not None:
                    gone.extend(_row_to_object(row).body_ids)
            return gone

        touches = [(bucket, key) for key in keys]
        await self.blobs.remove(await self.index.write(delete, touches=touches))

    async def list_objects(
        self,
        bucket: str,
        *,
        prefix: str,
        delimiter: str,
        start_after: str,
        max_keys: int,
        fetch_owner: bool = True,
    ) -> ListPage:
        """One page, read on the loop thread (see Index.read_inline): a page is at most
        ~2 x max_keys index steps, a few milliseconds, and the thread hop cost more
        than that (the sqlite3 module hands the GIL back and forth on every row)."""
        self.bucket(bucket)
        return self.index.read_inline(
            lambda db: list_page(
                db,
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                start_after=start_after,
                max_keys=max_keys,
                fetch_owner=fetch_owner,
            )
        )


async def _finish(commit: Coroutine[Any, Any, ObjectInfo]) -> ObjectInfo:
    """Let a commit run to its end even if the request is cancelled, so that a body
    renamed into place always ends up either indexed or removed."""
    return await asyncio.shield(asyncio.ensure_future(commit))


def _verify(received: ReceivedBody | HeldBody, checks: BodyChecks) -> dict[str, str]:
    """Compare the body's digests with what the client sent; return those to store."""
    if checks.content_md5 is not None and checks.content_md5 != received.md5:
        raise S3Error("BadDigest", ExpectedDigest=encode(checks.content_md5))
    stored: dict[str, str] = {}
    for algorithm, expected in checks.checksums.items():
        actual = encode(received.checksums[algorithm])
        if expected is not None and expected != actual:
            raise S3Error(
                "BadDigest",
                f"The {algorithm} you specified did not match the calculated checksum.",
            )
        stored[algorithm] = actual
    return stored


def pieces_of(info: ObjectInfo, start: int, length: int) -> list[tuple[str, int, int]]:
    """(body id, offset, count) runs covering ``length`` bytes of ``info`` from ``start``."""
    if not info.parts:
        return [(info.body_id, start, length)]
    runs: list[tuple[str, int, int]] = []
    part_start = 0
    for part in info.parts:
        part_end = part_start + part.size
        if length > 0 and start < part_end:
            offset = start - part_start
            count = min(part.size - offset, length)
            runs.append((part.body_id, offset, count))
            start += count
            length -= count
        part_start = part_end
    return runs


def _all_buckets(db: sqlite3.Connection) -> list[BucketInfo]:
    rows = db.execute("SELECT name, owner, region, created FROM buckets")
    return [row_to_bucket(row) for row in rows]


def _bucket(db: sqlite3.Connection, name: str) -> BucketInfo:
    row = db.execute(
        "SELECT name, owner, region, created FROM buckets WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        raise S3Error("NoSuchBucket", BucketName=name)
    return row_to_bucket(row)


def _find_object(db: sqlite3.Connection, bucket: str, key: str) -> ObjectInfo | None:
    row = db.execute(
        f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?",
        (bucket, key.encode("utf-8")),
    ).fetchone()
    return _row_to_object(row) if row is not None else None


def _object(db: sqlite3.Connection, bucket: str, key: str) -> ObjectInfo:
    info = _find_object(db, bucket, key)
    if info is None:
        _bucket(db, bucket)
        raise S3Error("NoSuchKey", Key=key)
    return info


def _lock_directory(root: Path) -> int:
    fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise DataDirectoryLocked(f"another aios3 server is already using {root}") from None
    return fd
