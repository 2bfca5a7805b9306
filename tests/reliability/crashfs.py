"""A recording ``FileOps`` and the on-disk states a power cut allows (for test_power_loss).

``Recorder`` performs each of storage's file operations for real and logs what it did
to a small model of the data directory: inodes (files with their bytes, directories
with their entries), so that each log event names exactly what changed:

- ``Entry``: one directory entry set or removed (create, mkdir, link, unlink, rmdir;
  a rename is two events, the name added in the target directory and the name removed
  from the source directory, which a power cut may keep or lose independently);
- ``Append``: bytes appended to a file (storage never writes a file anywhere else);
- ``Sync``: an fsync of a file (its bytes) or of a directory (its entries);
- ``Commit``: an index commit, with a copy of the whole index as it left it (SQLite's
  backup API), so that "the index as of commit k" can be put on disk as one file;
- ``Mark``: where a test step began and where it returned (was acknowledged).

``crash_states`` takes a prefix of the log (the crash point) and builds the states a
power cut there may leave, under these rules:

- A directory's entry changes persist if the directory was fsynced after them;
  otherwise each may persist or not, independently of every other (no ordering
  between un-synced metadata changes: weaker than ext4's or xfs's journal, which also
  make a rename atomic). A name whose directory's own entry did not persist is lost
  with it (what fsck would put in lost+found).
- A file's bytes up to its last fsync persist; what was appended after may be cut
  anywhere (we take every write boundary and a point inside each write). Bytes are
  never lost from inside a file's size (no holes or garbage, as with ext4
  data=ordered, xfs and btrfs).
- Names and bytes are independent: a name may persist with its file's unsynced bytes
  cut (the zero-length file after a rename), or bytes may persist under no name.
- The index is one unit whose durable state is "as after commit k" (SQLite's own
  power-loss safety is assumed, not modelled). A durable index (synchronous=FULL)
  keeps every commit that returned: k is the last commit of the prefix. Otherwise
  (synchronous=NORMAL, WAL) any suffix of the commits since the baseline may be lost.
- The baseline (the directory as the recording began, after a clean close) is durable.
"""

from __future__ import annotations

import errno
import io
import itertools
import os
import random
import sqlite3
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, NamedTuple

from aios3.storage.fileops import FileOps

INDEX = "index.sqlite3"
# Left out of the model: SQLite's files (the index is modelled as whole commits) and
# the lock file (empty; it only holds the flock).
UNMODELLED = frozenset({INDEX, f"{INDEX}-wal", f"{INDEX}-shm", f"{INDEX}-journal", "lock"})
ROOT = 0  # the inode of the data directory itself

if TYPE_CHECKING:
    from _typeshed import ReadableBuffer


class Entry(NamedTuple):
    """``name`` in ``directory`` now leads to ``inode`` (None: removed)."""

    directory: int
    name: str
    inode: int | None
    what: str  # create, mkdir, link, copy, rename-in, rename-out, unlink, rmdir


class Append(NamedTuple):
    inode: int
    end: int  # the file's length after this write


class Sync(NamedTuple):
    inode: int  # a file (its bytes) or a directory (its entries)


class Commit(NamedTuple):
    database: bytes  # the whole index as the commit left it, serialized


class Mark(NamedTuple):
    step: int
    acked: bool  # False: the step begins; True: it returned


Event = Entry | Append | Sync | Commit | Mark


def snapshot(db: sqlite3.Connection) -> bytes:
    """The whole database as one file's bytes, read through SQLite (consistent)."""
    memory = sqlite3.connect(":memory:")
    try:
        db.backup(memory)
        return memory.serialize()
    finally:
        memory.close()


class _RecordedFile(io.FileIO):
    """A file created through the recorder: every write is logged as an Append."""

    def __init__(self, recorder: Recorder, path: Path) -> None:
        super().__init__(path, "w")
        self.recorder = recorder
        self.inode = -1

    def write(self, data: ReadableBuffer, /) -> int:
        view = memoryview(data).cast("B")
        with self.recorder.lock:
            done = 0
            while done < len(view):
                done += super().write(view[done:]) or 0
            self.recorder.appended(self.inode, bytes(view))
        return done


class Recorder(FileOps):
    """Does each file operation for real and logs it against the model.

    ``links=False`` refuses hard links (EPERM, as on file systems without them), so
    copies take the kernel-copy path. ``forget_dir_syncs`` leaves directory fsyncs out
    of the log: the design as it would be without them (the harness's own test).
    """

    def __init__(self, root: Path, *, links: bool = True, forget_dir_syncs: bool = False) -> None:
        self.root = root
        self.links = links
        self.forget_dir_syncs = forget_dir_syncs
        self.lock = threading.RLock()
        self.events: list[Event] = []
        self.is_dir: dict[int, bool] = {ROOT: True}
        self.content: dict[int, bytearray] = {}  # a file's bytes, as appended
        self.entries: dict[int, dict[str, int]] = {ROOT: {}}  # the live tree
        self.names: dict[int, str] = {ROOT: "."}  # the latest path of each inode
        if root.is_dir():
            self._scan(root, ROOT)
        self.base_entries = {inode: dict(names) for inode, names in self.entries.items()}
        self.base_length = {inode: len(data) for inode, data in self.content.items()}
        self.base_index: bytes | None = None
        if (root / INDEX).is_file():
            db = sqlite3.connect(root / INDEX)
            try:
                self.base_index = snapshot(db)
            finally:
                db.close()

    # -- the model ---------------------------------------------------------------

    def _scan(self, path: Path, inode: int) -> None:
        for entry in os.scandir(path):
            if inode == ROOT and entry.name in UNMODELLED:
                continue
            child = self._new(is_dir=entry.is_dir(follow_symlinks=False))
            self.entries[inode][entry.name] = child
            self.names[child] = os.path.relpath(entry.path, self.root)
            if self.is_dir[child]:
                self._scan(Path(entry.path), child)
            else:
                self.content[child] = bytearray(Path(entry.path).read_bytes())

    def _new(self, *, is_dir: bool) -> int:
        inode = len(self.is_dir)
        self.is_dir[inode] = is_dir
        if is_dir:
            self.entries[inode] = {}
        else:
            self.content[inode] = bytearray()
        return inode

    def _where(self, path: Path) -> tuple[int, str]:
        """The directory inode and name of ``path`` in the live tree."""
        parts = Path(path).relative_to(self.root).parts
        directory = ROOT
        for part in parts[:-1]:
            directory = self.entries[directory][part]
        return directory, parts[-1]

    def _inode(self, path: Path) -> int:
        directory, name = self._where(path)
        return self.entries[directory][name]

    def _set(self, directory: int, name: str, inode: int | None, what: str) -> None:
        if inode is None:
            self.entries[directory].pop(name, None)
        else:
            self.entries[directory][name] = inode
            self.names[inode] = os.path.normpath(f"{self.names[directory]}/{name}")
        self.events.append(Entry(directory, name, inode, what))

    def appended(self, inode: int, data: bytes) -> None:
        self.content[inode] += data
        self.events.append(Append(inode, len(self.content[inode])))

    def describe(self, event: Event) -> str:
        """One event, for people."""
        if isinstance(event, Entry):
            return f"{event.what} {self.names[event.directory]}/{event.name}"
        if isinstance(event, Append):
            return f"write {self.names[event.inode]} up to {event.end} bytes"
        if isinstance(event, Sync):
            return f"fsync {self.names[event.inode]}"
        if isinstance(event, Commit):
            return "index commit"
        return f"step {event.step} {'acknowledged' if event.acked else 'begins'}"

    def mark(self, step: int, *, acked: bool) -> None:
        with self.lock:
            self.events.append(Mark(step, acked))

    # -- FileOps -----------------------------------------------------------------

    def create(self, path: Path) -> BinaryIO:
        with self.lock:
            directory, name = self._where(path)
            assert name not in self.entries[directory], f"{path} is rewritten in place"
            file = _RecordedFile(self, path)
            file.inode = self._new(is_dir=False)
            self._set(directory, name, file.inode, "create")
        return file

    def sync(self, file: BinaryIO) -> None:
        assert isinstance(file, _RecordedFile)
        with self.lock:
            super().sync(file)
            self.events.append(Sync(file.inode))

    def sync_file(self, path: Path) -> None:
        with self.lock:
            super().sync_file(path)
            self.events.append(Sync(self._inode(path)))

    def sync_dir(self, path: Path) -> None:
        with self.lock:
            super().sync_dir(path)
            if not self.forget_dir_syncs:
                self.events.append(Sync(ROOT if path == self.root else self._inode(path)))

    def rename(self, source: Path, target: Path) -> None:
        with self.lock:
            super().rename(source, target)
            source_dir, source_name = self._where(source)
            inode = self.entries[source_dir][source_name]
            target_dir, target_name = self._where(target)
            self._set(target_dir, target_name, inode, "rename-in")
            self._set(source_dir, source_name, None, "rename-out")

    def link(self, source: Path, target: Path) -> None:
        if not self.links:
            raise OSError(errno.EPERM, "hard links refused (simulated)", str(target))
        with self.lock:
            super().link(source, target)
            self._set(*self._where(target), self._inode(source), "link")

    def unlink(self, path: Path) -> None:
        with self.lock:
            super().unlink(path)
            self._set(*self._where(path), None, "unlink")

    def mkdir(self, path: Path) -> None:
        with self.lock:
            super().mkdir(path)
            self._set(*self._where(path), self._new(is_dir=True), "mkdir")

    def copy(self, source: Path, target: Path) -> None:
        with self.lock:
            super().copy(source, target)
            inode = self._new(is_dir=False)
            self._set(*self._where(target), inode, "copy")
            self.appended(inode, Path(target).read_bytes())

    def rmtree(self, path: Path) -> None:
        with self.lock:
            directory, name = self._where(path)
            inode = self.entries[directory].get(name)
        if inode is not None:
            self._remove_tree(Path(path), directory, name, inode)

    def _remove_tree(self, path: Path, directory: int, name: str, inode: int) -> None:
        if self.is_dir[inode]:
            with self.lock:
                children = list(self.entries[inode].items())
            for child_name, child in children:
                self._remove_tree(path / child_name, inode, child_name, child)
        with self.lock:
            try:
                (os.rmdir if self.is_dir[inode] else os.unlink)(path)
            except OSError:
                return  # as shutil.rmtree(ignore_errors=True)
            self._set(directory, name, None, "rmdir" if self.is_dir[inode] else "unlink")

    def commit(self, db: sqlite3.Connection) -> None:
        with self.lock:
            super().commit(db)
            self.events.append(Commit(snapshot(db)))

    # -- checks --------------------------------------------------------------------

    def untracked_changes(self) -> list[str]:
        """Differences between the directory on disk and the live model: any change
        storage made without going through its FileOps."""
        on_disk: dict[str, bytes | None] = {}
        for dirpath, dirnames, filenames in os.walk(self.root):
            relative = os.path.relpath(dirpath, self.root)
            top = relative == "."
            for name in dirnames:
                on_disk[os.path.normpath(os.path.join(relative, name))] = None
            for name in filenames:
                if not (top and name in UNMODELLED):
                    path = os.path.normpath(os.path.join(relative, name))
                    on_disk[path] = Path(dirpath, name).read_bytes()
        modelled = {path: data for path, data in self._walk(self.entries)}
        return sorted(
            path
            for path in on_disk.keys() | modelled.keys()
            if on_disk.get(path, b"?") != modelled.get(path, b"?")
        )

    def _walk(self, entries: dict[int, dict[str, int]]) -> Iterator[tuple[str, bytes | None]]:
        pending = [(ROOT, "")]
        while pending:
            directory, prefix = pending.pop()
            for name, inode in entries.get(directory, {}).items():
                path = f"{prefix}{name}"
                if self.is_dir[inode]:
                    yield path, None
                    pending.append((inode, f"{path}/"))
                else:
                    yield path, bytes(self.content[inode])


@dataclass(frozen=True)
class CrashState:
    """What a power cut left: the index (None: no index file) and the tree."""

    index: bytes | None
    index_label: str  # "baseline" or "commit N" (its position in the log)
    dirs: tuple[str, ...]
    files: tuple[tuple[str, int, int], ...]  # (path, inode, length)

    @property
    def key(self) -> tuple[str, tuple[str, ...], tuple[tuple[str, int, int], ...]]:
        return self.index_label, self.dirs, self.files

    def materialise(self, recorder: Recorder, target: Path) -> None:
        """Write this state into the empty directory ``target``."""
        for path in self.dirs:
            (target / path).mkdir()
        first: dict[int, Path] = {}
        for path, inode, length in self.files:
            destination = target / path
            if inode in first:
                os.link(first[inode], destination)  # a hard link stays one
            else:
                destination.write_bytes(bytes(recorder.content[inode][:length]))
                first[inode] = destination
        if self.index is not None:
            (target / INDEX).write_bytes(self.index)


@dataclass
class CrashPoint:
    """The choices a power cut after the first ``prefix`` events leaves open."""

    prefix: int
    optional: list[int]  # positions of Entry events that may persist or not
    lengths: dict[int, list[int]]  # file inode -> the lengths it may have
    indexes: list[tuple[str, bytes | None]]  # the index states it may have

    @property
    def combinations(self) -> int:
        count: int = 2 ** len(self.optional) * len(self.indexes)
        for choices in self.lengths.values():
            count *= len(choices)
        return count


def crash_point(recorder: Recorder, prefix: int, *, durable_index: bool) -> CrashPoint:
    events = recorder.events[:prefix]
    last_sync: dict[int, int] = {}
    for position, event in enumerate(events):
        if isinstance(event, Sync):
            last_sync[event.inode] = position
    optional = [
        position
        for position, event in enumerate(events)
        if isinstance(event, Entry) and last_sync.get(event.directory, -1) < position
    ]
    length = dict(recorder.base_length)
    synced = dict(recorder.base_length)
    cuts: dict[int, set[int]] = {}
    for event in events:
        if isinstance(event, Append):
            start = length.get(event.inode, 0)
            length[event.inode] = event.end
            cuts.setdefault(event.inode, set()).update({(start + event.end) // 2, event.end})
        elif isinstance(event, Sync) and not recorder.is_dir[event.inode]:
            synced[event.inode] = length.get(event.inode, 0)
    lengths = {}
    for inode, full in length.items():
        durable = synced.get(inode, 0)
        if full > durable:
            lengths[inode] = sorted({durable} | {cut for cut in cuts[inode] if cut > durable})
    commits: list[tuple[str, bytes | None]] = [("baseline", recorder.base_index)]
    commits += [
        (f"commit {position}", event.database)
        for position, event in enumerate(events)
        if isinstance(event, Commit)
    ]
    return CrashPoint(prefix, optional, lengths, commits[-1:] if durable_index else commits)


def crash_states(
    recorder: Recorder, point: CrashPoint, *, limit: int, rng: random.Random
) -> list[CrashState]:
    """The distinct states of ``point``: all its combinations when there are at most
    ``limit``, else the two extremes (everything kept; everything not forced lost) and
    a sample of ``limit`` more drawn with ``rng``."""
    # Every dimension lists its "everything kept" choice first and its "all lost" last.
    inodes = sorted(point.lengths)
    dimensions: list[list[int]] = [[1, 0]] * len(point.optional)
    dimensions += [sorted(point.lengths[inode], reverse=True) for inode in inodes]
    dimensions.append(list(reversed(range(len(point.indexes)))))
    if point.combinations <= limit:
        choices: Iterator[tuple[int, ...]] = itertools.product(*dimensions)
    else:
        extremes = [tuple(d[0] for d in dimensions), tuple(d[-1] for d in dimensions)]
        sample = [tuple(rng.choice(d) for d in dimensions) for _ in range(limit)]
        choices = iter(extremes + sample)
    states: dict[object, CrashState] = {}
    count = len(point.optional)
    for choice in choices:
        chosen = zip(point.optional, choice[:count], strict=True)
        kept = {position for position, keep in chosen if keep}
        cut = dict(zip(inodes, choice[count:-1], strict=True))
        label, index = point.indexes[choice[-1]]
        state = _apply(recorder, point.prefix, kept, set(point.optional), cut, label, index)
        states.setdefault(state.key, state)
    return list(states.values())


def _apply(
    recorder: Recorder,
    prefix: int,
    kept: set[int],
    optional: set[int],
    cut: dict[int, int],
    label: str,
    index: bytes | None,
) -> CrashState:
    entries = {inode: dict(names) for inode, names in recorder.base_entries.items()}
    length = dict(recorder.base_length)
    for position, event in enumerate(recorder.events[:prefix]):
        if isinstance(event, Entry) and (position in kept or position not in optional):
            names = entries.setdefault(event.directory, {})
            if event.inode is None:
                names.pop(event.name, None)
            else:
                names[event.name] = event.inode
        elif isinstance(event, Append):
            length[event.inode] = event.end
    length.update(cut)
    dirs: list[str] = []
    files: list[tuple[str, int, int]] = []
    pending = [(ROOT, "")]
    while pending:
        directory, prefix_path = pending.pop()
        for name, inode in sorted(entries.get(directory, {}).items()):
            path = f"{prefix_path}{name}"
            if recorder.is_dir[inode]:
                dirs.append(path)
                pending.append((inode, f"{path}/"))
            else:
                files.append((path, inode, length.get(inode, 0)))
    dirs.sort(key=lambda path: (path.count("/"), path))
    return CrashState(index, label, tuple(dirs), tuple(sorted(files)))
