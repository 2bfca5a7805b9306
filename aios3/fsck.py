"""`python -m aios3 fsck`: check a stopped server's data directory, and repair it.

Checks that the index and the body files agree exactly:

- every body an index row names (objects, their multipart parts, parts of uploads in
  progress) exists at its place in the layout, or for a small object's body kept in the
  index, in its ``inline_bodies`` table (``inline/<id>`` in reports), with the size the
  row records (``missing``, ``torn``);
- no body file or inline body is left that no row names (``orphan``), nothing is left
  in ``tmp/`` (``temp``) and no reset left a ``trash-*`` tree behind (``trash``);
- with ``--checksums``, every body hashes to its row's MD5 (the ETag, or the part's) and
  to each stored full-body checksum (``corrupt``); and SQLite's own quick check passes.

``--repair`` removes orphans, temp files and trash, and drops the rows whose bodies are
missing, torn or corrupt (with the rest of such an object's bodies), printing each.
Index changes (rows dropped, inline bodies removed) are one transaction.
The exit status is 0 when everything was clean, 1 when problems were found (repaired
or not) and 2 when the directory could not be checked. Start-up sweeps the same
leftovers (temp files, orphans, trash) and drops rows whose body is missing or torn
(what a power cut without fsync leaves; see ``aios3.storage.recovery``), but only fsck
re-reads bodies to find corrupt ones.

It works on the files alone, without the server: walking the layout once and reading
the index once makes 100,000 objects a matter of seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import fcntl
import hashlib
import json
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from aios3.checksums import encode, new_hasher
from aios3.config import Config

_READ_SIZE = 1 << 20
_WALKERS = 4  # measured: more threads only contend (2 cores, cold cache)
# Bodies kept in the index have ids starting with this (hex file ids never do); fsck
# reads the tables itself rather than import storage (aios3/storage/inline.py).
_INLINE = "i"
_INLINE_WHERE = "inline/"
# The newest index schema this fsck understands (aios3.storage.index.SCHEMA_VERSION;
# tests/test_schema_version.py keeps the two equal).
_SCHEMA_VERSION = 1


@dataclass(frozen=True)
class File:
    """A file found under ``data/``."""

    path: str
    size: int


@dataclass(frozen=True)
class Body:
    """One body file as a row names it."""

    body_id: str
    size: int
    md5: str  # hex, the part's or the single-body object's ETag
    checksums: dict[str, str]


@dataclass(frozen=True)
class Row:
    """An index row that owns bodies: an object, or a part of an upload in progress."""

    table: str  # "objects" or "parts"
    ident: tuple[object, ...]  # its primary key
    name: str  # for people: bucket/key, or upload id and part number
    bodies: tuple[Body, ...]


@dataclass(frozen=True)
class Problem:
    kind: str  # missing, torn, corrupt, orphan, temp, trash, index
    where: str
    detail: str = ""

    def __str__(self) -> str:
        return f"{self.kind:8} {self.where}" + (f": {self.detail}" if self.detail else "")


@dataclass
class Report:
    objects: int = 0
    parts: int = 0
    bodies: int = 0
    inline: int = 0  # of the bodies, those kept in the index
    problems: list[Problem] = field(default_factory=list)
    repaired: list[str] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, kind: str) -> int:
        return sum(1 for problem in self.problems if problem.kind == kind)

    @property
    def clean(self) -> bool:
        return not self.problems


class Layout:
    """Where bodies live: ``data/ab/cd/<id>`` for depth 2 (as ``BlobStore.path_of``),
    or ``inline/<id>`` for a body kept in the index."""

    def __init__(self, root: Path, depth: int) -> None:
        self.root = root
        self.depth = depth

    def relative(self, body_id: str) -> str:
        if body_id.startswith(_INLINE):
            return f"{_INLINE_WHERE}{body_id}"
        parts = [body_id[2 * i : 2 * i + 2] for i in range(self.depth)]
        return "/".join(["data", *parts, body_id])


def check(
    root: Path,
    *,
    bucket_depth: int | None = None,
    checksums: bool = False,
    repair: bool = False,
) -> Report:
    """Check (and with ``repair``, fix) the data directory ``root``.

    The caller makes sure no server writes to it meanwhile (``main`` takes the lock);
    a check alone may also run next to an idle server. ``bucket_depth`` None reads
    the layout's depth from the files; a depth the files contradict is refused
    (ValueError), since every body would look like an orphan and every row broken.
    """
    started = time.monotonic()
    report = Report()
    index_path = root / "index.sqlite3"
    if not index_path.is_file():
        raise FileNotFoundError(f"no index at {index_path}")
    files = _walk(root)
    depths = {path.count("/") - 1 for path in files}
    if bucket_depth is None:
        bucket_depth = next(iter(depths)) if len(depths) == 1 else 2
    if depths and bucket_depth not in depths:
        raise ValueError(
            f"the bodies in {root / 'data'} are {sorted(depths)} levels deep, not"
            f" {bucket_depth}: give the server's --bucket-depth"
        )
    layout = Layout(root, bucket_depth)
    db = sqlite3.connect(index_path, isolation_level=None)
    try:
        (version,) = db.execute("PRAGMA user_version").fetchone()
        if version > _SCHEMA_VERSION:
            # A newer schema may keep bodies where this fsck would see none, and its
            # repair would drop their rows.
            raise ValueError(
                f"{index_path} was written by a newer aios3 (index schema {version};"
                f" this fsck knows {_SCHEMA_VERSION}): use that version's fsck"
            )
        files.update(_inline_bodies(db))
        rows = list(_rows(db))
        report.objects = sum(1 for row in rows if row.table == "objects")
        report.parts = len(rows) - report.objects
        bad: list[Row] = []
        live: set[str] = set()
        for row in rows:
            row_problems = _check_row(row, layout, files, db, checksums=checksums)
            report.bodies += len(row.bodies)
            report.inline += sum(1 for body in row.bodies if body.body_id.startswith(_INLINE))
            if row_problems:
                report.problems.extend(row_problems)
                bad.append(row)
            else:
                live.update(layout.relative(body.body_id) for body in row.bodies)
        if checksums:
            verdict = db.execute("PRAGMA quick_check").fetchone()[0]
            if verdict != "ok":
                report.problems.append(Problem("index", str(index_path), verdict))
        # A torn or corrupt body is its row's problem, not an orphan.
        named = live.union(*(_paths(row, layout) for row in bad))
        orphans = sorted(path for path in files if path not in named)
        report.problems.extend(Problem("orphan", path) for path in orphans)
        temps = sorted(os.listdir(root / "tmp")) if (root / "tmp").is_dir() else []
        report.problems.extend(Problem("temp", f"tmp/{name}") for name in temps)
        trash = sorted(path.name for path in root.glob("trash-*"))
        report.problems.extend(Problem("trash", name) for name in trash)
        if repair:
            _repair(db, root, layout, bad, live, orphans, temps, trash, report)
    finally:
        db.close()
    report.seconds = time.monotonic() - started
    return report


def _walk(root: Path) -> dict[str, File]:
    """Every file under ``<root>/data`` by its path relative to ``root``.

    The top-level fan-out directories are walked on threads: on a cold cache the walk
    waits on the disk for each directory, and a few dozen reads in flight at once make
    that about twice as fast.
    """
    data = root / "data"
    files: dict[str, File] = {}
    try:
        top = list(os.scandir(data))
    except FileNotFoundError:
        return files
    subdirectories = []
    for entry in top:
        if entry.is_dir(follow_symlinks=False):
            subdirectories.append((entry.path, f"data/{entry.name}"))
        else:
            files[f"data/{entry.name}"] = File(
                entry.path, entry.stat(follow_symlinks=False).st_size
            )
    with ThreadPoolExecutor(_WALKERS) as pool:
        for found in pool.map(_walk_tree, subdirectories):
            files.update(found)
    return files


def _walk_tree(start: tuple[str, str]) -> dict[str, File]:
    found: dict[str, File] = {}
    pending = [start]
    while pending:
        directory, relative = pending.pop()
        try:
            entries = list(os.scandir(directory))
        except FileNotFoundError:
            continue
        for entry in entries:
            path = f"{relative}/{entry.name}"
            if entry.is_dir(follow_symlinks=False):
                pending.append((entry.path, path))
            else:
                found[path] = File(entry.path, entry.stat(follow_symlinks=False).st_size)
    return found


def _inline_bodies(db: sqlite3.Connection) -> dict[str, File]:
    """The bodies kept in the index, as if files: ``inline/<id>`` -> (id, length).
    None in an index from before inline bodies (or one no server opened since)."""
    table = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inline_bodies'"
    if db.execute(table).fetchone() is None:
        return {}
    query = "SELECT body_id, length(data) FROM inline_bodies"
    return {f"{_INLINE_WHERE}{i}": File(i, size) for i, size in db.execute(query)}


def _rows(db: sqlite3.Connection) -> Iterator[Row]:
    """Every row that owns bodies, read straight from the index's tables."""
    query = "SELECT bucket, key, size, etag, body_id, checksums, parts FROM objects"
    for bucket, key, size, etag, body_id, sums, parts in db.execute(query):
        name = f"{bucket}/{bytes(key).decode('utf-8', 'replace')}"
        if parts == "[]":
            bodies: tuple[Body, ...] = (Body(body_id, size, etag, json.loads(sums)),)
        else:
            bodies = tuple(
                Body(part_id, part_size, part_etag, part_sums)
                for _, part_id, part_size, part_etag, part_sums in json.loads(parts)
            )
        yield Row("objects", (bucket, bytes(key)), name, bodies)
    query = "SELECT upload_id, number, body_id, size, etag, checksums FROM parts"
    for upload_id, number, body_id, size, etag, sums in db.execute(query):
        name = f"upload {upload_id} part {number}"
        yield Row(
            "parts", (upload_id, number), name, (Body(body_id, size, etag, json.loads(sums)),)
        )


def _paths(row: Row, layout: Layout) -> set[str]:
    return {layout.relative(body.body_id) for body in row.bodies}


def _check_row(
    row: Row, layout: Layout, files: dict[str, File], db: sqlite3.Connection, *, checksums: bool
) -> list[Problem]:
    problems: list[Problem] = []
    for body in row.bodies:
        path = layout.relative(body.body_id)
        found = files.get(path)
        if found is None:
            problems.append(Problem("missing", row.name, f"body {path} does not exist"))
            continue
        size = found.size
        if size != body.size:
            problems.append(
                Problem("torn", row.name, f"body {path} has {size} bytes, the row says {body.size}")
            )
            continue
        if checksums:
            if path.startswith(_INLINE_WHERE):
                mismatch = _verify(_inline_data(db, body.body_id), body)
            else:
                mismatch = _verify(_file_data(Path(found.path)), body)
            if mismatch:
                problems.append(Problem("corrupt", row.name, f"body {path}: {mismatch}"))
    return problems


def _file_data(path: Path) -> Iterator[bytes]:
    with path.open("rb") as file:
        while chunk := file.read(_READ_SIZE):
            yield chunk


def _inline_data(db: sqlite3.Connection, body_id: str) -> Iterator[bytes]:
    row = db.execute("SELECT data FROM inline_bodies WHERE body_id = ?", (body_id,)).fetchone()
    yield bytes(row[0])


def _verify(chunks: Iterator[bytes], body: Body) -> str:
    """What does not match in the body's bytes ("" when all does)."""
    md5 = hashlib.md5()
    # Composite values ("...-N") cover parts' checksums, not these bytes: checked per part.
    expected = {name: value for name, value in body.checksums.items() if "-" not in value}
    hashers = {name: new_hasher(name) for name in expected}
    for chunk in chunks:
        md5.update(chunk)
        for hasher in hashers.values():
            hasher.update(chunk)
    wrong = [] if md5.hexdigest() == body.md5 else ["MD5"]
    wrong += [name for name, h in hashers.items() if encode(h.digest()) != expected[name]]
    return f"{', '.join(wrong)} does not match" if wrong else ""


def _repair(
    db: sqlite3.Connection,
    root: Path,
    layout: Layout,
    bad: list[Row],
    live: set[str],
    orphans: list[str],
    temps: list[str],
    trash: list[str],
    report: Report,
) -> None:
    # Rows first, in one transaction with the inline bodies to remove: once the rows
    # are gone, their remaining body files are orphans like any other, and a crash in
    # between leaves only orphans behind.
    leftovers = {path for row in bad for path in _paths(row, layout)} - live
    doomed = sorted(set(orphans) | leftovers)
    in_index = [path for path in doomed if path.startswith(_INLINE_WHERE)]
    db.execute("BEGIN IMMEDIATE")
    try:
        for row in bad:
            if row.table == "objects":
                db.execute("DELETE FROM objects WHERE bucket = ? AND key = ?", row.ident)
            else:
                db.execute("DELETE FROM parts WHERE upload_id = ? AND number = ?", row.ident)
        db.executemany(
            "DELETE FROM inline_bodies WHERE body_id = ?",
            [(path[len(_INLINE_WHERE) :],) for path in in_index],
        )
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    report.repaired += [f"dropped row {row.name}" for row in bad]
    # (A dropped object's inline body may have gone with its row, by trigger.)
    report.repaired += [f"removed {path}" for path in in_index]
    for path in doomed:
        if path.startswith(_INLINE_WHERE):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(root / path)
            report.repaired.append(f"removed {path}")
    for name in temps:
        target = root / "tmp" / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                target.unlink()
        report.repaired.append(f"removed tmp/{name}")
    for name in trash:
        shutil.rmtree(root / name, ignore_errors=True)
        report.repaired.append(f"removed {name}")


# --- command line ------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    base = Config()
    parser = argparse.ArgumentParser(
        prog="aios3 fsck",
        description="Check that a stopped server's index and body files agree; "
        "exit 0 when clean, 1 when problems were found, 2 when it cannot check.",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=Path(os.environ.get("AIOS3_ROOT") or base.root),
        help="data directory [env AIOS3_ROOT]",
    )
    parser.add_argument(
        "--bucket-depth",
        type=int,
        default=int(os.environ["AIOS3_BUCKET_DEPTH"])
        if os.environ.get("AIOS3_BUCKET_DEPTH")
        else None,
        help="the server's --bucket-depth (default: as the files are laid out, "
        f"else {base.bucket_depth}) [env AIOS3_BUCKET_DEPTH]",
    )
    parser.add_argument(
        "--checksums", action="store_true", help="also re-hash every body (reads all data)"
    )
    parser.add_argument(
        "--repair",
        action="store_true",
        help="remove orphans, temp files and trash; drop rows whose bodies are "
        "missing, torn or corrupt",
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    root: Path = args.root
    if not (root / "index.sqlite3").is_file():
        print(f"aios3 fsck: error: {root} is not an aios3 data directory", file=sys.stderr)
        return 2
    lock_fd = os.open(root / "lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            print(f"aios3 fsck: error: a server is using {root}; stop it first", file=sys.stderr)
            return 2
        try:
            report = check(
                root, bucket_depth=args.bucket_depth, checksums=args.checksums, repair=args.repair
            )
        except ValueError as exc:
            print(f"aios3 fsck: error: {exc}", file=sys.stderr)
            return 2
    finally:
        os.close(lock_fd)
    for problem in report.problems:
        print(problem)
    for action in report.repaired:
        print(f"repaired {action}")
    verdict = "clean" if report.clean else f"{len(report.problems)} problem(s)"
    if report.repaired:
        verdict += f", {len(report.repaired)} repair(s)"
    print(
        f"fsck: {report.objects} objects, {report.parts} upload parts, {report.bodies} bodies"
        f", {report.inline} in the index"
        f"{' (checksums verified)' if args.checksums else ''} in {report.seconds:.2f} s: {verdict}"
    )
    return 0 if report.clean else 1
