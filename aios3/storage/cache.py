"""Object rows (and small bodies) recently read, kept only while no write can change them.

A GET or HEAD of a hot key would otherwise pay an SQLite statement, a row decode and
an open+read of its body on every request. The cache is exact, not eventually right:
every index write says which keys it may touch (or "any"), those keys are *busy* from
the moment the write is queued until its transaction has committed or failed, and a
busy key is neither answered from the cache nor filled into it. Outside those windows
nothing can change a key's row, so a cached row is the committed row. All of this runs
on the event loop's thread, like the point lookups that use it (``Index.read_inline``).

Bodies are immutable files under unique ids, so a cached body stays right as long as
its row does.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection
from typing import NamedTuple

from aios3.storage.models import ObjectInfo

Key = tuple[str, str]
"""(bucket, key)"""

ANY = None
"""``touches`` of a write that may change any object row (a reset, a bucket's deletion)."""

_MAX_ENTRIES = 8192
_MAX_BODY_BYTES = 32 * 1024 * 1024


class Cached(NamedTuple):
    info: ObjectInfo
    data: bytes | None
    """The whole body of a small object, when a GET has read it."""


class Writing(NamedTuple):
    """What ``begin`` marked busy, for ``end`` to release."""

    keys: Collection[Key] | None


class ReadCache:
    """Rows by (bucket, key), bounded in entries and in body bytes (oldest out first)."""

    def __init__(
        self, max_entries: int = _MAX_ENTRIES, max_body_bytes: int = _MAX_BODY_BYTES
    ) -> None:
        self._entries: dict[Key, Cached] = {}
        self._body_bytes = 0
        self._max_entries = max_entries
        self._max_body_bytes = max_body_bytes
        self._busy: Counter[Key] = Counter()
        self._busy_all = 0

    def get(self, bucket: str, key: str) -> Cached | None:
        """The committed row (and body, if cached), or None: look in the index."""
        if self._busy_all:
            return None
        return self._entries.get((bucket, key))

    def fill(self, info: ObjectInfo, data: bytes | None) -> None:
        """Remember a row just read from the index, unless a write may be changing it."""
        where = (info.bucket, info.key)
        if self._busy_all or where in self._busy:
            return
        self._drop(where)
        size = len(data) if data is not None else 0
        while self._entries and (
            len(self._entries) >= self._max_entries
            or self._body_bytes + size > self._max_body_bytes
        ):
            self._drop(next(iter(self._entries)))
        self._entries[where] = Cached(info, data)
        self._body_bytes += size

    def forget(self, bucket: str, key: str) -> None:
        """Drop one entry (its body file turned out to be gone)."""
        self._drop((bucket, key))

    def begin(self, touches: Collection[Key] | None) -> Writing:
        """A write that may change ``touches`` (``ANY``: every row) is about to be queued."""
        if touches is None:
            self._busy_all += 1
            self._entries.clear()
            self._body_bytes = 0
        else:
            for where in touches:
                self._busy[where] += 1
                self._drop(where)
        return Writing(touches)

    def end(self, writing: Writing) -> None:
        """That write has committed or failed: its keys may be cached again."""
        if writing.keys is None:
            self._busy_all -= 1
            return
        for where in writing.keys:
            self._busy[where] -= 1
            if not self._busy[where]:
                del self._busy[where]

    def _drop(self, where: Key) -> None:
        gone = self._entries.pop(where, None)
        if gone is not None and gone.data is not None:
            self._body_bytes -= len(gone.data)
