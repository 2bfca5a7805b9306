"""Every change storage makes to a data directory, through one thin, replaceable layer.

Whether a power cut can lose an acknowledged write or leave an index row naming a
missing body depends only on the order of a handful of operations: file writes and
fsyncs, renames, links, unlinks and new directories, directory fsyncs, and index
commits. Storage makes each of them through a ``FileOps`` (SQLite writes its own files;
its commits are the one SQLite call that passes here), so that a test can record that
order and rebuild every state a power cut could leave on disk
(``tests/reliability/test_power_loss.py``).

The default, ``PLAIN``, is the bare os calls: nothing is added on the hot path (a body
is written with the file object's own ``write``, with no wrapper in between) and no
call makes a thread hop of its own (callers run them on the threads they already use).
A Storage uses the ``FileOps`` installed when it opens, for its whole life;
``install`` swaps it for the Storages opened in a block (tests only).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO


class FileOps:
    """The plain operating-system calls; subclass and ``install`` to observe them."""

    def create(self, path: Path) -> BinaryIO:
        """A new file open for writing; its bytes go through the returned file's
        ``write``, its durability through ``sync``."""
        return open(path, "wb")

    def sync(self, file: BinaryIO) -> None:
        """Make an open file's bytes durable (flush, then fsync)."""
        file.flush()
        os.fsync(file.fileno())

    def sync_file(self, path: Path) -> None:
        """Make a closed file's bytes durable (a copy made by ``copy``)."""
        _fsync_path(path, os.O_RDONLY)

    def sync_dir(self, path: Path) -> None:
        """Make a directory's entries durable: names renamed, linked or made in it.
        A file's own fsync does not cover the name that leads to it."""
        _fsync_path(path, os.O_RDONLY | os.O_DIRECTORY)

    def rename(self, source: Path, target: Path) -> None:
        os.rename(source, target)

    def link(self, source: Path, target: Path) -> None:
        os.link(source, target)

    def unlink(self, path: Path) -> None:
        os.unlink(path)

    def mkdir(self, path: Path) -> None:
        """Make one directory; FileExistsError if it is there already."""
        os.mkdir(path)

    def copy(self, source: Path, target: Path) -> None:
        """Copy a file's bytes in the kernel (sendfile / copy_file_range)."""
        shutil.copyfile(source, target)

    def rmtree(self, path: Path) -> None:
        """Remove a directory and everything under it, as far as possible."""
        shutil.rmtree(path, ignore_errors=True)

    def commit(self, db: sqlite3.Connection) -> None:
        """Commit the index transaction open on ``db``: once this returns, the
        transaction is durable if the index syncs (``synchronous=FULL``)."""
        db.execute("COMMIT")


def _fsync_path(path: Path, flags: int) -> None:
    fd = os.open(path, flags)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


PLAIN = FileOps()
_installed: FileOps = PLAIN


def installed() -> FileOps:
    """The ``FileOps`` a Storage opened now will use."""
    return _installed


@contextlib.contextmanager
def install(files: FileOps) -> Iterator[FileOps]:
    """Let Storages opened inside the block use ``files`` (they keep it after)."""
    global _installed
    previous, _installed = _installed, files
    try:
        yield files
    finally:
        _installed = previous
