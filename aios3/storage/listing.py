"""Listing as index range scans: prefix, delimiter and start-after without a table walk.

Keys are UTF-8 BLOBs, so "all keys starting with P" is the half-open range
``[P, successor(P))``. A common prefix is rolled up by emitting it once and seeking
past everything that starts with it, so a page costs about the same whether the
bucket holds a hundred keys or a million.
"""

from __future__ import annotations

import sqlite3
from contextlib import closing

from aios3.storage.index import OBJECT_COLUMNS, row_to_object
from aios3.storage.models import ListPage, ObjectInfo


def successor(prefix: bytes) -> bytes | None:
    """The smallest byte string greater than every string starting with ``prefix``
    (None when there is none, i.e. the prefix is all 0xFF bytes)."""
    stripped = prefix.rstrip(b"\xff")
    if not stripped:
        return None
    return stripped[:-1] + bytes([stripped[-1] + 1])


def list_page(
    db: sqlite3.Connection,
    bucket: str,
    *,
    prefix: str,
    delimiter: str,
    start_after: str,
    max_keys: int,
) -> ListPage:
    """One page of keys greater than ``start_after`` and starting with ``prefix``."""
    raw_prefix = prefix.encode("utf-8")
    raw_delim = delimiter.encode("utf-8")
    upper = successor(raw_prefix) if raw_prefix else None

    # Resume strictly after start_after; when start_after falls inside a common prefix,
    # that prefix was already returned, so resume after everything it covers.
    lower = raw_prefix
    inclusive = True
    after = start_after.encode("utf-8")
    if after >= lower:
        lower, inclusive = after, False
        rolled = _rolled_prefix(after, raw_prefix, raw_delim)
        if rolled is not None:
            beyond = successor(rolled)
            if beyond is None:
                return ListPage([], [], False, None)
            lower, inclusive = beyond, True

    objects: list[ObjectInfo] = []
    prefixes: list[str] = []
    last: str | None = None
    if max_keys <= 0:
        return ListPage(objects, prefixes, False, None)
    while True:
        # One range scan per run of plain keys; a common prefix ends the scan and the
        # next one seeks past it. The cursor steps lazily, so stopping early costs
        # nothing for the rows never read.
        seek: bytes | None = None
        with closing(_scan(db, bucket, lower, inclusive, upper)) as rows:
            for row in rows:
                if len(objects) + len(prefixes) == max_keys:
                    return ListPage(objects, prefixes, True, last)
                key = bytes(row[1])
                rolled = _rolled_prefix(key, raw_prefix, raw_delim)
                if rolled is None:
                    info = row_to_object(row)
                    objects.append(info)
                    last = info.key
                    continue
                last = rolled.decode("utf-8")
                prefixes.append(last)
                seek = successor(rolled)
                if seek is None:  # nothing sorts after this prefix
                    return ListPage(objects, prefixes, False, last)
                break
        if seek is None:
            return ListPage(objects, prefixes, False, last)
        lower, inclusive = seek, True


def _rolled_prefix(key: bytes, prefix: bytes, delimiter: bytes) -> bytes | None:
    """The common prefix ``key`` rolls up into, or None when it is listed as itself."""
    if not delimiter or not key.startswith(prefix):
        return None
    at = key.find(delimiter, len(prefix))
    if at < 0:
        return None
    return key[: at + len(delimiter)]


def _scan(
    db: sqlite3.Connection, bucket: str, lower: bytes, inclusive: bool, upper: bytes | None
) -> sqlite3.Cursor:
    """Rows of ``bucket`` from ``lower`` up to (not including) ``upper``, in key order."""
    op = ">=" if inclusive else ">"
    sql = f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key {op} ?"
    params: list[object] = [bucket, lower]
    if upper is not None:
        sql += " AND key < ?"
        params.append(upper)
    sql += " ORDER BY key"
    return db.execute(sql, params)
