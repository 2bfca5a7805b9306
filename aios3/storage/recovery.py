"""Start-up recovery: after any stop, make the index and the body files agree again.

A write goes: temp file -> fsync -> rename into ``data/`` -> fsync of that directory ->
index commit -> unlink of the body it replaced (the fsyncs only with fsync on). So a
process that stopped anywhere (kill -9, a crash, a power cut) leaves, beside whole
objects:

- temp files in ``tmp/``, and bodies no index row names (renamed but never committed,
  or replaced but not yet unlinked): they are deleted;
- after a power cut without fsync (``--no-fsync``, or an earlier process that ran with
  it), index rows whose body is missing or cut short: nothing orders the body files'
  write-back before SQLite's, so the index may survive the body it names. Such a row
  could only ever answer 500; it is dropped, with a warning, as a write lost to the
  power cut (which ``--no-fsync`` allows). With fsync on it cannot happen: a body and
  the directory entries leading to it are durable before the row naming it commits.

Small bodies kept in the index (``inline``) commit with their rows, so a power cut
cannot separate them; a row whose inline body is missing or of the wrong length (a
damaged or hand-edited index) is dropped all the same, and inline bodies no row names
are deleted, like orphan files.

``tests/reliability/test_power_loss.py`` checks this against every state a power cut
can leave. Bodies are checked by size, from the same walk that finds the orphans (one
stat each), not by checksum: a file cut short by a power cut is shorter, not garbled,
on the file systems we run on (ext4 data=ordered, xfs, btrfs); ``aios3 fsck
--checksums`` re-reads everything when in doubt. Recovering twice is recovering once,
and a crash during recovery is recovered by the next start.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from typing import Any, NamedTuple

from aios3.storage import inline
from aios3.storage.blobs import BlobStore
from aios3.storage.index import Index, part_from_json

log = logging.getLogger("aios3.storage")


class _Row(NamedTuple):
    """An index row that owns bodies: an object, or a part of an upload in progress."""

    table: str  # "objects" or "parts"
    ident: tuple[Any, ...]  # its primary key
    bodies: tuple[tuple[str, int], ...]  # (body id, size)


def recover(index: Index, blobs: BlobStore) -> None:
    """Drop rows whose bodies are missing or torn, then delete temp files and the
    bodies (files or inline) no row names."""
    found = blobs.scan()
    rows, in_index = index.read_now(_rows_and_inline)
    live: set[str] = set()
    broken: list[_Row] = []
    names: set[str] | None = None  # the file names under data/, if ever needed
    for row in rows:
        whole = True
        for body_id, size in row.bodies:
            if inline.is_inline(body_id):
                whole = whole and in_index.get(body_id) == size
                continue
            actual = found.get(blobs.layout_path(body_id))
            if actual == size:
                continue
            if actual is None:
                if names is None:
                    names = {path.rpartition("/")[2] for path in found}
                if body_id in names:
                    # Laid out at another --bucket-depth: a setting to fix, not a loss.
                    log.error("%s: body %s is not where bucket_depth puts it", _name(row), body_id)
                    continue
            whole = False
        if whole:
            live.update(body_id for body_id, _ in row.bodies)
        else:
            broken.append(row)
    orphans = [body_id for body_id in in_index if body_id not in live]
    if broken or orphans:
        index.write_now(lambda db: _drop(db, broken, orphans))
        for row in broken:
            log.warning("%s dropped at start-up: its body is missing or torn", _name(row))
    blobs.sweep(path for path in found if path.rpartition("/")[2] not in live)


def _rows_and_inline(db: sqlite3.Connection) -> tuple[list[_Row], dict[str, int]]:
    """The rows and the inline bodies' sizes, from one read transaction (one snapshot)."""
    db.execute("BEGIN")
    try:
        return _rows(db), inline.sizes(db)
    finally:
        db.execute("COMMIT")


def _rows(db: sqlite3.Connection) -> list[_Row]:
    rows = []
    query = "SELECT bucket, key, size, body_id, parts FROM objects"
    for bucket, key, size, body_id, parts in db.execute(query):
        if parts == "[]":
            bodies: tuple[tuple[str, int], ...] = ((body_id, size),)
        else:
            listed = [part_from_json(item) for item in json.loads(parts)]
            bodies = tuple((part.body_id, part.size) for part in listed)
        rows.append(_Row("objects", (bucket, key), bodies))
    query = "SELECT upload_id, number, body_id, size FROM parts"
    for upload_id, number, body_id, size in db.execute(query):
        rows.append(_Row("parts", (upload_id, number), ((body_id, size),)))
    return rows


def _name(row: _Row) -> str:
    if row.table == "objects":
        bucket, key = row.ident
        return f"{bucket}/{bytes(key).decode('utf-8', 'replace')}"
    upload_id, number = row.ident
    return f"upload {upload_id} part {number}"


def _drop(db: sqlite3.Connection, rows: list[_Row], orphans: list[str]) -> None:
    """Delete broken rows (an object's inline body goes with it, by trigger), then
    inline bodies no row names."""
    for row in rows:
        if row.table == "objects":
            db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", row.ident)
        else:
            db.execute("DELETE FROM parts WHERE upload_id = ? AND number = ?", row.ident)
    inline.drop(db, orphans)
