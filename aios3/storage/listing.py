"""Listing as index range scans: prefix, delimiter and start-after without a table walk.

Keys are UTF-8 BLOBs, so "all keys starting with P" is the half-open range
``[P, successor(P))``. A common prefix is rolled up by emitting it once and seeking
past everything that starts with it, so a page costs about the same whether the
bucket holds a hundred keys or a million.

A page is read with as few statements, and as little Python per row, as it allows:
only the columns a listing shows are read; keys listed as themselves come from one
range scan (``LIMIT`` page size + 1, fetched in one call, and its rows are the page's
as they come); a run of common prefixes is walked by one recursive
query, one index seek per prefix, inside SQLite.
"""

from __future__ import annotations

import functools
import sqlite3
from contextlib import closing
from typing import Any

from aios3.storage.models import ListedRow, ListPage

# Every statement text is built once: the sqlite3 module finds its prepared statement
# by the text, and a text built anew for each page would be hashed anew too.


@functools.cache
def _range_sql(fetch_owner: bool, inclusive: bool, bounded: bool) -> str:
    """Up to ``:limit`` rows (ListedObject fields) from ``:lower`` on, in key order.

    The owner is read only if asked for (NULL costs less to read). Checksums are
    stored as the JSON of a {name: value} dict (index.object_to_row) and nearly every
    object has one: its name is read with string functions; json_each (slower) is left
    to an object with several.
    """
    owner = "owner" if fetch_owner else "NULL"
    return f"""SELECT CAST(key AS TEXT), size, etag, last_modified, {owner},
        CASE checksums WHEN '{{}}' THEN '' ELSE iif(
            instr(checksums, ','),
            (SELECT group_concat(name, ' ')
                FROM (SELECT j.key AS name FROM json_each(checksums) AS j ORDER BY j.key)),
            substr(checksums, 3, instr(checksums, '":') - 3)
        ) || ' ' || checksum_type END
        FROM objects WHERE bucket = :bucket AND key {">=" if inclusive else ">"} :lower
        {"AND key < :upper" if bounded else ""} ORDER BY key LIMIT :limit"""


@functools.cache
def _prefix_run_sql(bounded: bool) -> str:
    """From ``:first``, a key that rolls up into a common prefix (``:start`` is where
    its delimiter search starts), the first key after each common prefix in turn while
    they roll up too, at most ``:limit`` keys: one index seek per prefix.

    The first key past every key that starts with a common prefix is that prefix with
    its closing delimiter replaced by ``:beyond``, the delimiter's successor (a
    delimiter is UTF-8, so it never ends in 0xFF and always has one).
    """
    at = "instr(substr(k, :start), :delimiter)"
    return f"""WITH RECURSIVE walk(k) AS (
        VALUES (:first)
        UNION ALL
        SELECT (SELECT key FROM objects WHERE bucket = :bucket
                AND key >= CAST(substr(k, 1, :start + {at} - 2) || :beyond AS BLOB)
                {"AND key < :upper" if bounded else ""} ORDER BY key LIMIT 1)
        FROM walk WHERE {at} > 0 LIMIT :limit
    )
    SELECT CAST(k AS TEXT) FROM walk WHERE k IS NOT NULL"""


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
    fetch_owner: bool = True,
) -> ListPage:
    """One page of keys greater than ``start_after`` and starting with ``prefix``;
    their owners only with ``fetch_owner`` (every column read costs, on every row)."""
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

    if max_keys <= 0:
        return ListPage([], [], False, None)
    scan = _Scan(db, bucket, upper, fetch_owner)
    if delimiter:
        return scan.delimited(lower, inclusive, prefix, delimiter, max_keys)
    # One range scan, fetched in one call; a row more than the page tells it is truncated.
    rows: list[ListedRow] = scan.rows(lower, inclusive, max_keys + 1).fetchall()
    truncated = len(rows) > max_keys
    del rows[max_keys:]
    return ListPage(rows, [], truncated, rows[-1][0] if rows else None)


class _Scan:
    """The statements of one page over ``bucket``, up to (not including) ``upper``."""

    def __init__(
        self, db: sqlite3.Connection, bucket: str, upper: bytes | None, fetch_owner: bool
    ) -> None:
        self._db = db
        self._params: dict[str, Any] = {"bucket": bucket, "upper": upper}
        self._bounded = upper is not None
        self._fetch_owner = fetch_owner

    def rows(self, lower: bytes, inclusive: bool, limit: int) -> sqlite3.Cursor:
        """Up to ``limit`` rows (ListedObject fields) from ``lower`` on, in key order."""
        return self._db.execute(
            _range_sql(self._fetch_owner, inclusive, self._bounded),
            {**self._params, "lower": lower, "limit": limit},
        )

    def delimited(
        self, lower: bytes, inclusive: bool, prefix: str, delimiter: str, max_keys: int
    ) -> ListPage:
        """A page whose keys roll up into common prefixes at ``delimiter``.

        A range scan, read lazily, lists keys up to the first one that rolls up; the
        run of common prefixes that key opens is walked in SQL (one index seek each);
        then a range scan starts again at the first key after them listed as itself.
        """
        rows: list[ListedRow] = []
        prefixes: list[str] = []
        last: str | None = None
        room = max_keys
        start = len(prefix)
        while True:
            resume = None
            with closing(self.rows(lower, inclusive, room + 1)) as cursor:
                for row in cursor:
                    key: str = row[0]
                    if not room:  # one entry more than the page holds
                        return ListPage(rows, prefixes, True, last)
                    if key.find(delimiter, start) < 0:
                        rows.append(row)
                        last = key
                        room -= 1
                        continue
                    for found in self._prefix_run(key, prefix, delimiter, room + 1):
                        at = found.find(delimiter, start)
                        if at < 0:  # listed as itself: the next range scan starts here
                            resume = found
                            break
                        if not room:
                            return ListPage(rows, prefixes, True, last)
                        last = found[: at + len(delimiter)]
                        prefixes.append(last)
                        room -= 1
                    break
            if resume is None:
                return ListPage(rows, prefixes, False, last)
            lower, inclusive = resume.encode("utf-8"), True

    def _prefix_run(self, first: str, prefix: str, delimiter: str, limit: int) -> list[str]:
        """``first`` (a key that rolls up into a common prefix), then the first key
        after each common prefix in turn while they roll up too, at most ``limit`` keys
        (see ``_prefix_run_sql``). The last key may be one listed as itself."""
        raw_delim = delimiter.encode("utf-8")
        rows = self._db.execute(
            _prefix_run_sql(self._bounded),
            {
                **self._params,
                "first": first.encode("utf-8"),
                "start": len(prefix.encode("utf-8")) + 1,
                "delimiter": raw_delim,
                "beyond": successor(raw_delim),
                "limit": limit,
            },
        ).fetchall()
        return [row[0] for row in rows]


def _rolled_prefix(key: bytes, prefix: bytes, delimiter: bytes) -> bytes | None:
    """The common prefix ``key`` rolls up into, or None when it is listed as itself."""
    if not delimiter or not key.startswith(prefix):
        return None
    at = key.find(delimiter, len(prefix))
    if at < 0:
        return None
    return key[: at + len(delimiter)]
