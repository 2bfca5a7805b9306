"""Small object bodies kept in the index (``inline_bodies``) instead of files.

A body of at most ``SMALL_BODY`` bytes that a PutObject (or a copy of such an object)
stores is one row of ``inline_bodies``, inserted in the same transaction as the object
row that names it: it is durable exactly when that row is, and costs no temp file,
rename, fan-out directory or fsync of its own. Many small bodies per page also read
back faster than one file each (a point lookup on the loop thread, see
``Storage.open_object``).

An inline body's id is ``INLINE`` followed by hex digits, growing from one body to the
next (see ``BlobStore.new_id``); a file body's id is hex digits only. So every site
tells where a body lives from its id alone (``is_inline``).

Triggers on ``objects`` delete an inline body with the last row naming it, whatever
deletes or replaces that row: DeleteObject(s), an overwrite, CopyObject or
CompleteMultipartUpload over it, recovery or fsck dropping a row. Every writer gets that
from the schema rather than from code it must remember to call; the one condition is
``PRAGMA recursive_triggers`` on the connection, without which an ``INSERT OR REPLACE``
deletes the replaced row without firing delete triggers (SQLite "ON CONFLICT clause",
REPLACE). The index sets it on every connection it opens. Multipart parts stay files.

Small PUTs fill the disk through the index, and an SQLite write needs free space even
to delete (WAL frames, and checkpoints that grow the database file to take in the
pages written since the last one): a disk filled to the last block by inline bodies
could then not be emptied through the API. So inline bodies stop at ``RESERVE`` bytes
of room (free space plus the index's free pages, which new bodies reuse), and a PUT
past it answers InsufficientStorage (``Room``).
"""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from aios3.errors import S3Error

# Room left for the index's own writes (deletes, checkpoints) when inline bodies stop;
# the WAL is checkpointed at ~4 MiB (1,000 pages), more while readers hold it back.
RESERVE = 16 * 1024 * 1024
# Room is measured once per this many inline bytes, and for every body once near it.
_CHECK_EVERY = 1024 * 1024

INLINE = "i"
"""First character of every inline body id (file body ids are hex digits only)."""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS inline_bodies (
    body_id TEXT PRIMARY KEY,
    data BLOB NOT NULL
) WITHOUT ROWID;
CREATE TRIGGER IF NOT EXISTS inline_body_deleted AFTER DELETE ON objects
WHEN substr(old.body_id, 1, 1) = '{INLINE}'
BEGIN
    DELETE FROM inline_bodies WHERE body_id = old.body_id;
END;
CREATE TRIGGER IF NOT EXISTS inline_body_replaced AFTER UPDATE OF body_id ON objects
WHEN substr(old.body_id, 1, 1) = '{INLINE}' AND old.body_id <> new.body_id
BEGIN
    DELETE FROM inline_bodies WHERE body_id = old.body_id;
END;
"""


def is_inline(body_id: str) -> bool:
    """Whether this body lives in the index (else it is a file, or "" for multipart)."""
    return body_id[:1] == INLINE


def insert(db: sqlite3.Connection, body_id: str, data: bytes) -> None:
    """Store a new inline body (in the caller's transaction, with its object row)."""
    db.execute("INSERT INTO inline_bodies (body_id, data) VALUES (?, ?)", (body_id, data))


def copy(db: sqlite3.Connection, source_id: str, body_id: str) -> bool:
    """Store a copy of an inline body under a new id, inside SQLite; False when the
    source is gone (its object was replaced or deleted since it was looked up)."""
    cursor = db.execute(
        "INSERT INTO inline_bodies (body_id, data) SELECT ?, data FROM inline_bodies"
        " WHERE body_id = ?",
        (body_id, source_id),
    )
    return cursor.rowcount == 1


def read(db: sqlite3.Connection, body_id: str) -> bytes | None:
    """The whole body, or None when no such body is stored (any more)."""
    row = db.execute("SELECT data FROM inline_bodies WHERE body_id = ?", (body_id,)).fetchone()
    return None if row is None else bytes(row[0])


def read_range(db: sqlite3.Connection, body_id: str, offset: int, count: int) -> bytes | None:
    """``count`` bytes from ``offset``, or None when no such body is stored."""
    row = db.execute(
        "SELECT substr(data, ?, ?) FROM inline_bodies WHERE body_id = ?",
        (offset + 1, count, body_id),
    ).fetchone()
    return None if row is None else bytes(row[0])


def sizes(db: sqlite3.Connection) -> dict[str, int]:
    """Every stored inline body's id and length (length() reads no body bytes)."""
    return dict(db.execute("SELECT body_id, length(data) FROM inline_bodies"))


def drop(db: sqlite3.Connection, body_ids: list[str]) -> None:
    """Delete inline bodies no object row names (orphans: recovery, fsck --repair)."""
    db.executemany("DELETE FROM inline_bodies WHERE body_id = ?", [(i,) for i in body_ids])


class Room:
    """Whether the disk has room for one more inline body beyond ``reserve``: called in
    the write transaction that would store it, on the index's one writer thread."""

    def __init__(self, root: Path, reserve: int = RESERVE) -> None:
        self._root = root
        self._reserve = reserve
        self._unmeasured = _CHECK_EVERY  # bytes stored since room was last measured
        self._near = True  # measure before every body (until measured far from full)

    def claim(self, db: sqlite3.Connection, size: int) -> None:
        """Raise InsufficientStorage when storing ``size`` bytes would eat the reserve."""
        self._unmeasured += size
        if not self._near and self._unmeasured < _CHECK_EVERY:
            return
        self._unmeasured = 0
        stats = os.statvfs(self._root)
        (page_size,) = db.execute("PRAGMA page_size").fetchone()
        (free_pages,) = db.execute("PRAGMA freelist_count").fetchone()
        room = stats.f_bavail * stats.f_frsize + free_pages * page_size - size
        self._near = room < self._reserve + 2 * _CHECK_EVERY
        if room < self._reserve:
            raise S3Error("InsufficientStorage")
