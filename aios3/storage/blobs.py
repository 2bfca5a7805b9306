"""Body files: streamed into temp files, renamed into a hashed layout under opaque ids.

A body's path comes only from its random id (``data/ab/cd/<id>`` for depth 2), never
from a key, so keys cannot climb out of the data directory or hit file-name limits.
Bodies are immutable once placed: a new version is a new file, so readers holding the
old file open finish reading it whole.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import shutil
import threading
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiofiles

from aios3.checksums import Hasher, new_hasher
from aios3.errors import S3Error
from aios3.storage.diskerrors import disk_errors

# Chunks from the network are gathered into writes of about this size: one thread hop
# per MiB instead of one per network read.
_WRITE_SIZE = 1 << 20


@dataclass(frozen=True)
class HeldBody:
    """A small body held whole in memory, hashed, not yet written (see ``store``)."""

    data: bytes
    size: int
    md5: bytes
    checksums: dict[str, bytes]


@dataclass
class ReceivedBody:
    """A body written to a temp file, not yet visible; ``discard`` or ``place`` it."""

    temp_path: Path
    size: int
    md5: bytes
    checksums: dict[str, bytes] = field(default_factory=dict)


class BlobStore:
    """Owns ``<root>/data`` and ``<root>/tmp``."""

    def __init__(self, root: Path, *, depth: int, fsync: bool) -> None:
        self.data_dir = root / "data"
        self.tmp_dir = root / "tmp"
        self.depth = depth
        self.fsync = fsync
        self.data_dir.mkdir(parents=True, exist_ok=True)
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        # Bodies a reader still needs (multipart objects are read file by file), and
        # those removed meanwhile, to unlink when the last reader lets go.
        self._pins: Counter[str] = Counter()
        self._doomed: set[str] = set()
        self._pin_lock = threading.Lock()

    @staticmethod
    def new_id() -> str:
        return _random_hex()

    def path_of(self, body_id: str) -> Path:
        """Where a body lives: ``depth`` levels of two hex digits, then the id."""
        parts = [body_id[2 * i : 2 * i + 2] for i in range(self.depth)]
        return self.data_dir.joinpath(*parts, body_id)

    # -- writing -----------------------------------------------------------------

    async def receive(
        self, chunks: AsyncIterator[bytes], *, algorithms: Iterable[str], max_size: int
    ) -> ReceivedBody:
        """Stream ``chunks`` into a temp file while hashing; nothing is left on failure.
        A full disk raises InsufficientStorage, an I/O error InternalError."""
        with disk_errors():
            return await self._receive(chunks, algorithms=algorithms, max_size=max_size)

    async def _receive(
        self, chunks: AsyncIterator[bytes], *, algorithms: Iterable[str], max_size: int
    ) -> ReceivedBody:
        temp_path = self.tmp_dir / f"{_random_hex()}.part"
        md5 = hashlib.md5()
        hashers: dict[str, Hasher] = {name: new_hasher(name) for name in algorithms}
        size = 0
        # The file is opened only once the body outgrows one write: a body that arrives
        # within one (most small PUTs) is written, synced and closed in a single thread
        # hop instead of one hop per open, write, flush, fsync and close.
        out: Any = None
        try:
            pending: list[bytes] = []
            pending_size = 0
            async for chunk in chunks:
                size += len(chunk)
                if size > max_size:
                    raise S3Error("EntityTooLarge", MaxSizeAllowed=str(max_size))
                md5.update(chunk)
                for hasher in hashers.values():
                    hasher.update(chunk)
                pending.append(chunk)
                pending_size += len(chunk)
                if pending_size >= _WRITE_SIZE:
                    if out is None:
                        out = await aiofiles.open(temp_path, "wb")
                    await out.write(b"".join(pending))
                    pending, pending_size = [], 0
            if out is None:
                await asyncio.to_thread(self._write_whole, temp_path, b"".join(pending))
            else:
                if pending:
                    await out.write(b"".join(pending))
                if self.fsync:
                    await out.flush()
                    await asyncio.to_thread(os.fsync, out.fileno())
                await out.close()
        except BaseException:
            if out is not None:
                with contextlib.suppress(OSError):
                    await out.close()
            await self.discard(temp_path)
            raise
        return ReceivedBody(
            temp_path=temp_path,
            size=size,
            md5=md5.digest(),
            checksums={name: h.digest() for name, h in hashers.items()},
        )

    def _write_whole(self, temp_path: Path, data: bytes) -> None:
        with open(temp_path, "wb") as out:
            out.write(data)
            if self.fsync:
                out.flush()
                os.fsync(out.fileno())

    async def place(self, temp_path: Path, body_id: str) -> None:
        """Rename a received body into the layout (durably when fsync is on)."""
        with disk_errors():
            await asyncio.to_thread(self._place, temp_path, body_id)

    def _place(self, temp_path: Path, body_id: str) -> None:
        target = self.path_of(body_id)
        self._ensure_parent(target)
        os.rename(temp_path, target)
        if self.fsync:
            try:
                _fsync_dir(target.parent)
            except BaseException:
                # Its name may not be durable, and a failed fsync is never retried
                # (see diskerrors): give the body up rather than leave an orphan.
                with contextlib.suppress(OSError):
                    os.unlink(target)
                raise

    def _ensure_parent(self, target: Path) -> None:
        """Create the fan-out directories of ``target`` on first use; with fsync on, each
        new directory's entry is made durable in its parent too."""
        parent = target.parent
        if parent.is_dir():
            return
        missing: list[Path] = []
        while not parent.is_dir():
            missing.append(parent)
            parent = parent.parent
        for directory in reversed(missing):
            with contextlib.suppress(FileExistsError):
                directory.mkdir()
            if self.fsync:
                _fsync_dir(directory.parent)

    @staticmethod
    def hold(data: bytes, *, algorithms: Iterable[str]) -> HeldBody:
        """Hash a whole small body that arrived in memory."""
        checksums: dict[str, bytes] = {}
        for name in algorithms:
            hasher = new_hasher(name)
            hasher.update(data)
            checksums[name] = hasher.digest()
        return HeldBody(data, len(data), hashlib.md5(data).digest(), checksums)

    async def store(self, data: bytes, body_id: str) -> None:
        """Write a small body under its id as ``receive`` and ``place`` do (temp file,
        then rename), in one thread hop, or with fsync off on the calling thread: a
        page-cache write of a few KiB costs less than the hop. On failure nothing of it
        is left."""
        with disk_errors():
            if self.fsync:
                await asyncio.to_thread(self._store, data, body_id)
            else:
                self._store(data, body_id)

    def _store(self, data: bytes, body_id: str) -> None:
        temp_path = self.tmp_dir / f"{_random_hex()}.part"
        try:
            self._write_whole(temp_path, data)
            self._place(temp_path, body_id)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            raise

    async def discard(self, temp_path: Path) -> None:
        """Remove a temp file that will not become a body."""
        with contextlib.suppress(FileNotFoundError):
            await asyncio.to_thread(os.unlink, temp_path)

    async def duplicate(self, body_id: str, new_id: str) -> None:
        """Give an existing body a second, independent name: a hard link (bodies never
        change in place), or a kernel-side copy where links are not possible."""
        with disk_errors():
            await asyncio.to_thread(self._duplicate, body_id, new_id)

    def _duplicate(self, body_id: str, new_id: str) -> None:
        source, target = self.path_of(body_id), self.path_of(new_id)
        self._ensure_parent(target)
        try:
            os.link(source, target)
        except OSError as exc:
            if exc.errno in (errno.ENOENT, errno.ENOSPC, errno.EDQUOT, errno.EIO):
                raise
            temp_path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
            try:
                shutil.copyfile(source, temp_path)  # sendfile/copy_file_range in the kernel
                if self.fsync:
                    _fsync_file(temp_path)
                os.rename(temp_path, target)
            except BaseException:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(temp_path)
                raise
        if self.fsync:
            try:
                _fsync_dir(target.parent)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(target)
                raise

    async def remove(self, body_ids: Iterable[str]) -> None:
        """Unlink superseded bodies; open readers keep their file until they close it."""
        ids = list(body_ids)
        if ids:
            await asyncio.to_thread(self._remove, ids)

    def _remove(self, body_ids: list[str]) -> None:
        with self._pin_lock:
            pinned = {body_id for body_id in body_ids if body_id in self._pins}
            self._doomed.update(pinned)
        for body_id in body_ids:
            if body_id not in pinned:
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(self.path_of(body_id))

    def pin(self, body_ids: Iterable[str]) -> bool:
        """Keep these bodies on disk until ``unpin``; False (and nothing pinned) when
        one of them is already gone."""
        ids = list(body_ids)
        with self._pin_lock:
            self._pins.update(ids)
        if all(self.path_of(body_id).exists() for body_id in ids):
            return True
        self.unpin(ids)
        return False

    def unpin(self, body_ids: Iterable[str]) -> None:
        """Release a pin; bodies removed while pinned are unlinked now (off the loop)."""
        ready: list[str] = []
        with self._pin_lock:
            for body_id in body_ids:
                self._pins[body_id] -= 1
                if self._pins[body_id] <= 0:
                    del self._pins[body_id]
                    if body_id in self._doomed:
                        self._doomed.discard(body_id)
                        ready.append(body_id)
        if ready:
            threading.Thread(target=self._remove, args=(ready,), daemon=True).start()

    async def copy_range(
        self, pieces: list[tuple[str, int, int]], *, algorithms: Iterable[str]
    ) -> ReceivedBody:
        """Write the bytes of ``pieces`` (body id, offset, count) into a new temp body,
        hashing as it goes, in one thread hop with a bounded buffer."""
        with disk_errors():
            return await asyncio.to_thread(self._copy_range, pieces, list(algorithms))

    def _copy_range(
        self, pieces: list[tuple[str, int, int]], algorithms: list[str]
    ) -> ReceivedBody:
        temp_path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        md5 = hashlib.md5()
        hashers = {name: new_hasher(name) for name in algorithms}
        size = 0
        try:
            with open(temp_path, "wb") as out:
                for body_id, offset, count in pieces:
                    with open(self.path_of(body_id), "rb") as source:
                        source.seek(offset)
                        while count > 0:
                            chunk = source.read(min(count, _WRITE_SIZE))
                            if not chunk:
                                raise FileNotFoundError(body_id)  # body shorter than its row
                            md5.update(chunk)
                            for hasher in hashers.values():
                                hasher.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                            count -= len(chunk)
                if self.fsync:
                    out.flush()
                    os.fsync(out.fileno())
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(temp_path)
            raise
        return ReceivedBody(
            temp_path=temp_path,
            size=size,
            md5=md5.digest(),
            checksums={name: h.digest() for name, h in hashers.items()},
        )

    # -- start-up ----------------------------------------------------------------

    def sweep(self, live_ids: set[str]) -> int:
        """Delete temp files and bodies no index row points to; returns how many."""
        removed = 0
        for entry in os.scandir(self.tmp_dir):
            with contextlib.suppress(FileNotFoundError, IsADirectoryError):
                os.unlink(entry.path)
                removed += 1
        for dirpath, _dirnames, filenames in os.walk(self.data_dir):
            for name in filenames:
                if name not in live_ids:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(os.path.join(dirpath, name))
                        removed += 1
        return removed


class _HexPool:
    """Random hex ids from a buffer of ``os.urandom`` bytes: one system call per 64 ids
    instead of one (plus a UUID object) per id, on every PUT."""

    def __init__(self) -> None:
        self._buffer = ""
        self._at = 0
        self._lock = threading.Lock()

    def take(self, digits: int = 32) -> str:
        with self._lock:
            if self._at + digits > len(self._buffer):
                self._buffer, self._at = os.urandom(1024).hex(), 0
            start = self._at
            self._at += digits
            return self._buffer[start : self._at]


_random_hex = _HexPool().take


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
