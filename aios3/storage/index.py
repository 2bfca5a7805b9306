"""The SQLite index: buckets and object rows (and small objects' bodies, see inline.py),
with one writer and group commit.

Writes are small functions run by a single writer thread. Every function that arrives
while a transaction is running joins the next one, so many requests share one commit
(and one fsync). Each function runs inside its own SAVEPOINT: one that raises is rolled
back alone and its error goes to its own caller. Reads use per-thread connections; WAL
lets them run while a write is in progress, and they never see a half-done write.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
import threading
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

from aios3.storage.cache import ANY, Key, ReadCache, Writing
from aios3.storage.diskerrors import disk_error
from aios3.storage.fileops import PLAIN, FileOps
from aios3.storage.inline import SCHEMA as _INLINE_SCHEMA
from aios3.storage.models import BucketInfo, ObjectInfo, Part

T = TypeVar("T")

SCHEMA_VERSION = 1
"""The index's schema, kept in SQLite's ``user_version``: 1 has small bodies inline
(inline.py); 0 is an index from before the marker, which this version upgrades. An
older aios3 would misread a newer index (it takes an inline body for a missing file
and drops its row at start-up), so a version that finds a higher number refuses to
open it rather than lose data. Change it with every incompatible schema change."""


class NewerIndexSchema(Exception):
    """The index was written by a newer aios3, with a schema this one does not know."""


_SCHEMA = """
CREATE TABLE IF NOT EXISTS buckets (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL,
    region TEXT NOT NULL,
    created REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS objects (
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified REAL NOT NULL,
    body_id TEXT NOT NULL,
    owner TEXT NOT NULL,
    content_headers TEXT NOT NULL,
    metadata TEXT NOT NULL,
    checksums TEXT NOT NULL,
    parts TEXT NOT NULL,
    checksum_type TEXT NOT NULL,
    PRIMARY KEY (bucket, key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    bucket TEXT NOT NULL,
    key BLOB NOT NULL,
    owner TEXT NOT NULL,
    initiated REAL NOT NULL,
    content_headers TEXT NOT NULL,
    metadata TEXT NOT NULL,
    checksum_algorithm TEXT,
    checksum_type TEXT,
    -- Set once completed: the part list it was completed with and the resulting ETag,
    -- so that a repeated CompleteMultipartUpload answers the same (as S3 does).
    completed_parts TEXT,
    completed_etag TEXT
);
CREATE INDEX IF NOT EXISTS uploads_by_key ON uploads (bucket, key, upload_id);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    number INTEGER NOT NULL,
    body_id TEXT NOT NULL,
    size INTEGER NOT NULL,
    etag TEXT NOT NULL,
    last_modified REAL NOT NULL,
    checksums TEXT NOT NULL,
    PRIMARY KEY (upload_id, number)
) WITHOUT ROWID;
"""

# Keys are stored as UTF-8 BLOBs so that SQLite's memcmp order is S3's byte order.
_OBJECT_COLUMNS = (
    "bucket, key, size, etag, last_modified, body_id, owner, content_headers, metadata, "
    "checksums, parts, checksum_type"
)
OBJECT_PLACEHOLDERS = ",".join("?" * 12)


def row_to_object(row: tuple[Any, ...]) -> ObjectInfo:
    """Turn a row of ``_OBJECT_COLUMNS`` into an ObjectInfo."""
    return ObjectInfo(
        bucket=row[0],
        key=bytes(row[1]).decode("utf-8"),
        size=row[2],
        etag=row[3],
        last_modified=row[4],
        body_id=row[5],
        owner=row[6],
        content_headers=_shared_json_dict(row[7]),
        metadata=_shared_json_dict(row[8]),
        checksums=_json_dict(row[9]),
        parts=tuple(part_from_json(item) for item in json.loads(row[10]))
        if row[10] != "[]"
        else (),
        checksum_type=row[11],
    )


def _json_dict(text: str) -> Any:
    # Most objects have no metadata: skip the JSON decoder for the empty ones.
    return {} if text == "{}" else json.loads(text)


def _shared_json_dict(text: str) -> Any:
    """A flat ``{str: str}`` column that many rows share word for word (content
    headers, metadata): decoded once, then copied (a listing decodes 1,000 rows)."""
    if text == "{}":
        return {}
    parsed = _DECODED.get(text)
    if parsed is None:
        if len(_DECODED) >= 256:
            _DECODED.clear()
        parsed = _DECODED[text] = json.loads(text)
    return dict(parsed)


_DECODED: dict[str, dict[str, str]] = {}


def part_from_json(item: list[Any]) -> Part:
    number, body_id, size, etag, checksums = item
    return Part(number=number, body_id=body_id, size=size, etag=etag, checksums=checksums)


def part_to_json(part: Part) -> list[Any]:
    return [part.number, part.body_id, part.size, part.etag, part.checksums]


def object_to_row(info: ObjectInfo) -> tuple[Any, ...]:
    return (
        info.bucket,
        info.key.encode("utf-8"),
        info.size,
        info.etag,
        info.last_modified,
        info.body_id,
        info.owner,
        json.dumps(info.content_headers),
        json.dumps(info.metadata),
        json.dumps(info.checksums),
        json.dumps([part_to_json(part) for part in info.parts]),
        info.checksum_type,
    )


def row_to_bucket(row: tuple[Any, ...]) -> BucketInfo:
    return BucketInfo(name=row[0], owner=row[1], region=row[2], created=row[3])


_Pending = tuple[Callable[[sqlite3.Connection], Any], "asyncio.Future[Any]", Writing]
"""A queued write: its function, its caller's future, what it keeps out of the cache."""


class Index:
    """Owns the database file; hands out connections to the writer and reader threads."""

    def __init__(self, path: Path, *, durable: bool, files: FileOps = PLAIN) -> None:
        self._path = path
        self._files = files  # commits go through it, so a test can see each one land
        # FULL makes each commit durable (fsync of the WAL); NORMAL survives a process
        # crash but may lose the last commits on power loss, which --no-fsync accepts.
        self._synchronous = "FULL" if durable else "NORMAL"
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="aios3-index-writer")
        self._readers = ThreadPoolExecutor(4, thread_name_prefix="aios3-index-reader")
        self._local = threading.local()
        self._connections: list[sqlite3.Connection] = []
        self._connections_lock = threading.Lock()
        self._pending: list[_Pending] = []
        self.cache = ReadCache()
        self._flushing: asyncio.Task[None] | None = None
        db = self._connect()
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > SCHEMA_VERSION:
            self.close()
            raise NewerIndexSchema(
                f"{path} was written by a newer aios3 (index schema {version}; this"
                f" version knows {SCHEMA_VERSION}): run that version or a later one"
            )
        db.executescript(_SCHEMA + _INLINE_SCHEMA + f"PRAGMA user_version={SCHEMA_VERSION};")

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute(f"PRAGMA synchronous={self._synchronous}")
        db.execute("PRAGMA busy_timeout=10000")
        # So that an INSERT OR REPLACE fires the triggers that delete a replaced
        # object's inline body (see inline.py).
        db.execute("PRAGMA recursive_triggers=ON")
        with self._connections_lock:
            self._connections.append(db)
        return db

    def _thread_connection(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = self._local.db = self._connect()
        return db

    # -- reads -------------------------------------------------------------------

    async def read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on a reader thread with that thread's connection."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._readers, self._read, fn)

    def _read(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        return fn(self._thread_connection())

    def read_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` on the calling (non-loop) thread; for start-up and other threads."""
        return self._read(fn)

    def read_inline(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run a point lookup (one row by primary key) on the event loop's own thread.

        The deliberate exception to "the loop never blocks on disk": a WAL read of one
        row of a hot, page-cached index takes microseconds, while the executor hop that
        ``read`` makes costs tens of them (two thread switches and the GIL handed back
        and forth), which measured GET/HEAD at ~2.3k req/s against ~10k+ inline. WAL
        readers never wait for the writer. Listing pages (bounded range scans) run
        here too, for the same reason (see Storage.list_objects).
        """
        return self._read(fn)

    # -- writes ------------------------------------------------------------------

    async def write(
        self, fn: Callable[[sqlite3.Connection], T], *, touches: Collection[Key] | None = ANY
    ) -> T:
        """Run ``fn`` in the next group-committed transaction; its result once durable.

        ``touches``: the (bucket, key) object rows ``fn`` may change, kept out of the
        read cache until the transaction is over (by default, every row).
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._pending.append((fn, future, self.cache.begin(touches)))
        if self._flushing is None or self._flushing.done():
            self._flushing = loop.create_task(self._flush())
        return await future

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        while self._pending:
            batch, self._pending = self._pending, []
            try:
                outcomes = await loop.run_in_executor(self._writer, self._commit, batch)
            except BaseException as exc:  # the whole transaction failed
                self._settle(batch)
                # A full disk is InsufficientStorage; an I/O error, UncertainCommit.
                exc = disk_error(exc) or exc
                for _, future, _ in batch:
                    if not future.done():
                        future.set_exception(exc)
                if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                    raise
                continue
            self._settle(batch)
            for (_, future, _), (ok, value) in zip(batch, outcomes, strict=True):
                if future.done():  # its caller was cancelled; the write stands
                    continue
                if ok:
                    future.set_result(value)
                else:
                    future.set_exception(value)

    def _settle(self, batch: list[_Pending]) -> None:
        for _, _, writing in batch:
            self.cache.end(writing)

    def _commit(self, batch: list[_Pending]) -> list[tuple[bool, Any]]:
        db = self._thread_connection()
        outcomes: list[tuple[bool, Any]] = []
        db.execute("BEGIN IMMEDIATE")
        try:
            for fn, _, _ in batch:
                db.execute("SAVEPOINT op")
                try:
                    outcomes.append((True, fn(db)))
                except Exception as exc:
                    db.execute("ROLLBACK TO op")
                    outcomes.append((False, exc))
                db.execute("RELEASE op")
            self._files.commit(db)
        except BaseException:
            if db.in_transaction:
                db.execute("ROLLBACK")
            raise
        return outcomes

    def write_now(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        """Run ``fn`` in its own transaction on the calling thread (start-up only)."""
        db = self._thread_connection()
        db.execute("BEGIN IMMEDIATE")
        try:
            result = fn(db)
            self._files.commit(db)
        except BaseException:
            db.execute("ROLLBACK")
            raise
        return result

    def close(self) -> None:
        self._writer.shutdown(wait=True)
        self._readers.shutdown(wait=True)
        with self._connections_lock:
            for db in self._connections:
                db.close()
            self._connections.clear()


OBJECT_COLUMNS = _OBJECT_COLUMNS
