"""Disk trouble in S3's words: a full disk is 507 InsufficientStorage, an I/O error 500.

Storage catches ``OSError`` and SQLite errors from its own file and index operations
here and raises ``S3Error`` instead, so that a client gets the S3 XML document and the
operator a log line naming the cause. Network errors (connection reset while reading a
body) are not disk errors and pass through untouched.

A failed fsync is never trusted on retry (the PostgreSQL "fsyncgate" lesson): after a
writeback error Linux may drop the dirty pages and report the error once, so a second
fsync of the same file can succeed although the data never reached the disk. aios3 never
retries an fsync: a write whose fsync (or directory fsync) fails is abandoned whole, its
temp file or freshly renamed body unlinked, and the client's retry writes a new file from
its own bytes and fsyncs that. SQLite behaves the same way: a commit whose WAL sync fails
is rolled back, and the next commit rewrites its frames before syncing them.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import sqlite3
from collections.abc import Iterator

from aios3.errors import S3Error

log = logging.getLogger("aios3.storage")

# The disk (or the user's quota) is full: the request may succeed once space is freed.
_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})
# The disk failed or went read-only: nothing the client can change.
_BROKEN = frozenset({errno.EIO, errno.EROFS, errno.EUCLEAN, errno.ENXIO})

# SQLite primary result codes (the low byte of an extended code).
_SQLITE_IOERR = 10
_SQLITE_FULL = 13


class UncertainCommit(S3Error):
    """An index transaction failed while syncing: it may still surface after a crash
    (its WAL frames were written), so the bodies it names must not be unlinked now;
    start-up's sweep removes them if their rows did not survive."""

    def __init__(self) -> None:
        super().__init__("InternalError")


def disk_error(exc: BaseException) -> S3Error | None:
    """The S3 error for a disk failure, or None when ``exc`` is something else."""
    if isinstance(exc, OSError) and exc.errno in _FULL:
        log.warning("disk full: %s", exc)
        return S3Error("InsufficientStorage")
    if isinstance(exc, OSError) and exc.errno in _BROKEN:
        log.error("disk I/O error: %s", exc)
        return S3Error("InternalError")
    if isinstance(exc, sqlite3.Error):
        code = (getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF
        if code == _SQLITE_FULL:
            log.warning("disk full (index): %s", exc)
            return S3Error("InsufficientStorage")
        if code == _SQLITE_IOERR:
            log.error("disk I/O error (index): %s", exc)
            return UncertainCommit()
    return None


@contextlib.contextmanager
def disk_errors() -> Iterator[None]:
    """Raise disk failures inside the block as their S3 errors."""
    try:
        yield
    except (OSError, sqlite3.Error) as exc:
        mapped = disk_error(exc)
        if mapped is None:
            raise
        raise mapped from exc
