"""Power loss, simulated: every state a power cut can leave on disk, recovered and checked.

Storage makes every change to its data directory through a ``FileOps``
(``aios3/storage/fileops.py``). Each test here runs real storage operations (through the
``Storage`` facade, and one scenario through a real server on loopback) with the
recording ``FileOps`` of ``crashfs.py`` installed, which logs every directory entry
change, every append to a file, every fsync of a file or directory and every index
commit (with a copy of the index as that commit left it), and marks where each
operation began and where it was acknowledged. That the log is complete is checked
too: replayed, it must give exactly the directory on disk.

Every prefix of the log is a crash point. ``crashfs.crash_states`` builds the states a
power cut there may leave (its docstring states the model: un-fsynced directory
entries dropped or kept each on its own, un-fsynced appends cut anywhere, the index as
after its last commit with fsync on, or any earlier commit with fsync off). All of
them are enumerated when a crash point has at most ``COMBINATIONS``, otherwise the
extremes plus a seeded sample. Each distinct state is written into a fresh directory,
opened with ``Storage`` (start-up recovery), and checked:

- with fsync on, 0 acknowledged operations lost: what a client sees (buckets, objects
  and their bytes, uploads in progress and their parts' bytes) is exactly the result of
  the operations acknowledged before the crash point, or of those and the one in flight;
- in every mode, 0 index rows naming a missing or torn body: fsck with checksums is
  clean (no missing, torn or corrupt body, no orphan, temp file or trash left), every
  object and part holds bytes some operation wrote to it, and what no operation
  touched is intact;
- recovery run twice = once: opening the recovered directory again changes nothing
  (the tree's hash and the index's dump stay the same).

CI looks at up to 512 combinations per crash point and recovers 10 of its distinct
states (always including "everything kept" and "everything not synced lost");
``AIOS3_FULL=1`` looks at up to 4,096 and recovers every distinct state, printing
the figures::

    AIOS3_FULL=1 python -m pytest -s tests/reliability/test_power_loss.py

The sample's seed is printed; ``AIOS3_POWER_SEED=N`` replays it.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import random
import shutil
import sqlite3
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

import aios3
from aios3 import fsck
from aios3.config import DEFAULT_ACCESS_KEY
from aios3.storage import (
    SMALL_BODY,
    BodyChecks,
    CompletedPart,
    NewObject,
    Storage,
    fileops,
    pieces_of,
)
from tests.reliability.crashfs import (
    INDEX,
    UNMODELLED,
    Commit,
    CrashState,
    Mark,
    Recorder,
    crash_point,
    crash_states,
)

FULL = os.environ.get("AIOS3_FULL") == "1"
SEED = int(os.environ.get("AIOS3_POWER_SEED", "0")) or (random.randrange(1, 10**6) if FULL else 1)
# Combinations of choices looked at per crash point (all of them when there are fewer),
# and distinct states recovered and checked per crash point (None: all).
COMBINATIONS = 4096 if FULL else 512
STATES_PER_POINT: int | None = None if FULL else 10
OWNER = "owner"
BUCKET = "bkt"


# -- what a client sees --------------------------------------------------------------


@dataclass(frozen=True)
class View:
    """Everything a client can observe, as plain values."""

    buckets: frozenset[str] = frozenset()
    objects: dict[tuple[str, str], bytes] = field(default_factory=dict)
    uploads: dict[str, str] = field(default_factory=dict)  # upload id -> bucket
    parts: dict[tuple[str, int], bytes] = field(default_factory=dict)

    def put(self, bucket: str, key: str, data: bytes) -> View:
        return replace(self, objects={**self.objects, (bucket, key): data})

    def delete(self, bucket: str, key: str) -> View:
        return replace(self, objects={k: v for k, v in self.objects.items() if k != (bucket, key)})

    def part(self, upload: str, number: int, data: bytes) -> View:
        return replace(self, parts={**self.parts, (upload, number): data})

    def end_upload(self, upload: str) -> View:
        return replace(
            self,
            uploads={u: b for u, b in self.uploads.items() if u != upload},
            parts={k: v for k, v in self.parts.items() if k[0] != upload},
        )

    def complete(self, upload: str, bucket: str, key: str, numbers: list[int]) -> View:
        data = b"".join(self.parts[(upload, n)] for n in numbers)
        return self.end_upload(upload).put(bucket, key, data)

    def items(self) -> dict[tuple[str, ...], bytes | None]:
        """Every observable item: buckets and uploads (None) and bodies (their bytes)."""
        found: dict[tuple[str, ...], bytes | None] = {("bucket", b): None for b in self.buckets}
        found.update({("upload", u): None for u in self.uploads})
        found.update({("object", b, k): data for (b, k), data in self.objects.items()})
        found.update({("part", u, str(n)): data for (u, n), data in self.parts.items()})
        return found


async def observe(storage: Storage, owner: str) -> View:
    """The view of a client, read through the storage facade."""
    buckets = [b.name for b in await storage.list_buckets(owner)]
    objects: dict[tuple[str, str], bytes] = {}
    uploads: dict[str, str] = {}
    parts: dict[tuple[str, int], bytes] = {}
    for bucket in buckets:
        page = await storage.list_objects(
            bucket, prefix="", delimiter="", start_after="", max_keys=1000
        )
        for listed in page.objects:
            objects[(bucket, listed.key)] = await _read(storage, bucket, listed.key)
        upload_page = await storage.uploads.list_uploads(
            bucket, prefix="", delimiter="", key_marker="", upload_id_marker="", max_uploads=1000
        )
        for upload in upload_page.uploads:
            uploads[upload.upload_id] = bucket
            part_page = await storage.uploads.list_parts(
                upload.upload_id, bucket, upload.key, marker=0, max_parts=1000
            )
            for part in part_page.parts:
                body = storage.blobs.path_of(part.body_id).read_bytes()
                parts[(upload.upload_id, part.number)] = body
    return View(frozenset(buckets), objects, uploads, parts)


async def _read(storage: Storage, bucket: str, key: str) -> bytes:
    opened = await storage.open_object(bucket, key)
    try:
        if opened.data is not None:
            return opened.data
        chunks = []
        async for file, offset, count in storage.read_pieces(opened, 0, opened.info.size):
            file.seek(offset)
            chunks.append(file.read(count))
        return b"".join(chunks)
    finally:
        opened.close()


# -- operations and scenarios --------------------------------------------------------


@dataclass
class Run:
    """One scenario's run: where, how, and what its steps need to share."""

    root: Path
    fsync: bool
    owner: str = OWNER
    storage: Storage | None = None
    client: Any = None
    exits: contextlib.AsyncExitStack = field(default_factory=contextlib.AsyncExitStack)
    ids: dict[str, str] = field(default_factory=dict)  # upload ids and part ETags by name

    @property
    def store(self) -> Storage:
        assert self.storage is not None
        return self.storage


Action = Callable[[Run], Awaitable[None]]
Effect = Callable[[View, Run], View]


@dataclass(frozen=True)
class Step:
    name: str
    action: Action
    effect: Effect


@dataclass(frozen=True)
class Scenario:
    name: str
    steps: tuple[Step, ...]
    setup: Action | None = None  # builds the baseline and closes it; None: no directory
    # After setup, before recording: harm the directory, say what a client may expect.
    damage: Callable[[Run, View], View] | None = None
    links: bool = True  # False: the file system refuses hard links
    opens: bool = True  # the recording opens Storage before the steps (else a step does)


def data(name: str, size: int = 700) -> bytes:
    """Recognizable bytes of ``size``, different for every name."""
    seed = hashlib.sha256(name.encode()).digest()
    return (seed * (size // len(seed) + 1))[:size]


async def _chunks(body: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(body), 64 * 1024):
        yield body[start : start + 64 * 1024]


async def put(run: Run, bucket: str, key: str, body: bytes) -> None:
    """As the server does: a small body that arrived whole goes in as bytes (written in
    one go), anything bigger streams."""
    whole = body if len(body) <= SMALL_BODY else _chunks(body)
    await run.store.put_object(bucket, key, whole, NewObject(owner=OWNER), BodyChecks())


async def create_upload(run: Run, name: str, bucket: str, key: str) -> None:
    upload = await run.store.uploads.create(
        bucket, key, NewObject(owner=OWNER), checksum_algorithm=None, checksum_type=None
    )
    run.ids[name] = upload.upload_id


async def upload_part(run: Run, name: str, key: str, number: int, body: bytes) -> None:
    part = await run.store.uploads.upload_part(
        run.ids[name], BUCKET, key, number, _chunks(body), BodyChecks()
    )
    run.ids[f"{name}/{number}"] = part.etag


async def complete(run: Run, name: str, key: str, numbers: list[int]) -> None:
    chosen = [CompletedPart(n, run.ids[f"{name}/{n}"], {}) for n in numbers]
    await run.store.uploads.complete(run.ids[name], BUCKET, key, chosen)


async def copy(run: Run, source: str, target: str) -> None:
    info = await run.store.head_object(BUCKET, source)
    await run.store.copy_object(info, BUCKET, target, None)


async def _bucket(run: Run, name: str = BUCKET) -> None:
    await run.store.create_bucket(name, OWNER, "us-east-1", legacy_ok=False)


def _setup(*actions: Callable[[Run], Awaitable[None]]) -> Action:
    """A baseline made through the facade, then closed cleanly (so it is durable)."""

    async def run_all(run: Run) -> None:
        run.storage = Storage(run.root, fsync=run.fsync, seed=1)
        try:
            for action in actions:
                await action(run)
        finally:
            run.storage.close()
            run.storage = None

    return run_all


BIG = data("big", 1_300_000)  # more than one 1 MiB write: streamed in two
# Bodies of up to SMALL_BODY bytes are kept in the index (no file operations at all);
# FILE-sized ones are files. Scenarios use both.
FILE = SMALL_BODY + 1
MULTIPART_SOURCE = (
    _bucket,
    lambda r: put(r, BUCKET, "src", data("src", FILE)),
    lambda r: put(r, BUCKET, "small", data("small")),
    lambda r: create_upload(r, "m", BUCKET, "msrc"),
    lambda r: upload_part(r, "m", "msrc", 1, data("m1")),
    lambda r: complete(r, "m", "msrc", [1]),
)


async def _open(run: Run) -> None:
    run.storage = Storage(run.root, fsync=run.fsync, seed=1)


def _damaged(run: Run, view: View) -> View:
    """Debris of an earlier crash: temp files, an orphan body, a reset's trash, and an
    index row whose body never reached the disk (a power cut without fsync): that
    object is lost, and recovery must say so rather than serve a missing body. In the
    index, an inline body no row names, and a row whose inline body is gone (only a
    damaged index can hold either): that object is lost too."""
    (run.root / "tmp" / "leftover.part").write_bytes(b"partial")
    orphan = run.root / "data" / "ff" / "ff" / ("f" * 32)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"orphan")
    (run.root / "trash-1" / "ab").mkdir(parents=True)
    (run.root / "trash-1" / "ab" / "body").write_bytes(b"trash")
    with contextlib.closing(sqlite3.connect(run.root / INDEX)) as db, db:
        (body_id,) = db.execute("SELECT body_id FROM objects WHERE key = ?", (b"lost",)).fetchone()
        (inline_id,) = db.execute(
            "SELECT body_id FROM objects WHERE key = ?", (b"lost inline",)
        ).fetchone()
        db.execute("DELETE FROM inline_bodies WHERE body_id = ?", (inline_id,))
        db.execute("INSERT INTO inline_bodies VALUES (?, ?)", ("i" + "f" * 32, b"orphan"))
    (run.root / "data" / body_id[:2] / body_id[2:4] / body_id).unlink()
    return view.delete(BUCKET, "lost").delete(BUCKET, "lost inline")


SCENARIOS = [
    Scenario(
        "put_new",
        setup=_setup(_bucket, lambda r: put(r, BUCKET, "keep", data("keep"))),
        steps=(
            Step(
                "put small",
                lambda r: put(r, BUCKET, "new", data("new")),
                lambda v, r: v.put(BUCKET, "new", data("new")),
            ),
            Step(
                "put big",
                lambda r: put(r, BUCKET, "big", BIG),
                lambda v, r: v.put(BUCKET, "big", BIG),
            ),
        ),
    ),
    Scenario(
        "overwrite",
        setup=_setup(_bucket, lambda r: put(r, BUCKET, "k", data("v0"))),
        steps=(
            Step(
                "put v1 (a file over an inline body)",
                lambda r: put(r, BUCKET, "k", data("v1", FILE)),
                lambda v, r: v.put(BUCKET, "k", data("v1", FILE)),
            ),
            Step(
                "put v2 (inline over a file)",
                lambda r: put(r, BUCKET, "k", data("v2", 300)),
                lambda v, r: v.put(BUCKET, "k", data("v2", 300)),
            ),
        ),
    ),
    Scenario(
        "delete",
        setup=_setup(
            _bucket,
            lambda r: put(r, BUCKET, "k1", data("k1", FILE)),
            lambda r: put(r, BUCKET, "k2", data("k2")),
            lambda r: put(r, BUCKET, "keep", data("keep")),
        ),
        steps=(
            Step(
                "delete",
                lambda r: r.store.delete_object(BUCKET, "k1"),
                lambda v, r: v.delete(BUCKET, "k1"),
            ),
            Step(
                "delete objects",
                lambda r: r.store.delete_objects(BUCKET, ["k2", "none"]),
                lambda v, r: v.delete(BUCKET, "k2"),
            ),
        ),
    ),
    Scenario(
        "copy_link",
        setup=_setup(*MULTIPART_SOURCE),
        steps=(
            Step(
                "copy",
                lambda r: copy(r, "src", "dst"),
                lambda v, r: v.put(BUCKET, "dst", v.objects[(BUCKET, "src")]),
            ),
            Step(
                "copy multipart",
                lambda r: copy(r, "msrc", "mdst"),
                lambda v, r: v.put(BUCKET, "mdst", v.objects[(BUCKET, "msrc")]),
            ),
            Step(
                "copy inline",
                lambda r: copy(r, "small", "sdst"),
                lambda v, r: v.put(BUCKET, "sdst", v.objects[(BUCKET, "small")]),
            ),
        ),
    ),
    Scenario(
        "copy_range",
        links=False,
        setup=_setup(*MULTIPART_SOURCE, lambda r: create_upload(r, "u", BUCKET, "up")),
        steps=(
            Step(
                "copy (kernel copy)",
                lambda r: copy(r, "src", "dst"),
                lambda v, r: v.put(BUCKET, "dst", v.objects[(BUCKET, "src")]),
            ),
            Step(
                "upload part copy",
                lambda r: _part_copy(r, "src", 1),
                lambda v, r: v.part(r.ids["u"], 1, data("src", FILE)[100:600]),
            ),
            Step(
                "upload part copy from an inline body",
                lambda r: _part_copy(r, "small", 2),
                lambda v, r: v.part(r.ids["u"], 2, data("small")[100:600]),
            ),
        ),
    ),
    Scenario(
        "multipart_part",
        setup=_setup(
            _bucket,
            lambda r: create_upload(r, "u", BUCKET, "up"),
            lambda r: upload_part(r, "u", "up", 1, data("p1")),
        ),
        steps=(
            Step(
                "upload part 2",
                lambda r: upload_part(r, "u", "up", 2, data("p2")),
                lambda v, r: v.part(r.ids["u"], 2, data("p2")),
            ),
            Step(
                "replace part 1",
                lambda r: upload_part(r, "u", "up", 1, data("p1b", 500)),
                lambda v, r: v.part(r.ids["u"], 1, data("p1b", 500)),
            ),
        ),
    ),
    Scenario(
        "multipart_complete",
        setup=_setup(
            _bucket,
            lambda r: put(r, BUCKET, "up", data("old")),
            lambda r: create_upload(r, "u", BUCKET, "up"),
            lambda r: upload_part(r, "u", "up", 1, data("p1")),
            lambda r: upload_part(r, "u", "up", 2, data("p2")),
        ),
        steps=(
            Step(
                "complete with part 1",
                lambda r: complete(r, "u", "up", [1]),
                lambda v, r: v.complete(r.ids["u"], BUCKET, "up", [1]),
            ),
        ),
    ),
    Scenario(
        "multipart_abort",
        setup=_setup(
            _bucket,
            lambda r: create_upload(r, "u", BUCKET, "up"),
            lambda r: upload_part(r, "u", "up", 1, data("p1")),
            lambda r: upload_part(r, "u", "up", 2, data("p2")),
        ),
        steps=(
            Step(
                "abort",
                lambda r: r.store.uploads.abort(r.ids["u"], BUCKET, "up"),
                lambda v, r: v.end_upload(r.ids["u"]),
            ),
        ),
    ),
    Scenario(
        "delete_bucket",
        setup=_setup(
            _bucket,
            lambda r: put(r, BUCKET, "keep", data("keep")),
            lambda r: _bucket(r, "gone"),
            lambda r: _upload_in(r, "gone"),
        ),
        steps=(
            Step(
                "delete bucket",
                lambda r: r.store.delete_bucket("gone"),
                lambda v, r: replace(v.end_upload(r.ids["u"]), buckets=v.buckets - {"gone"}),
            ),
        ),
    ),
    Scenario(
        "reset",
        setup=_setup(
            _bucket,
            lambda r: put(r, BUCKET, "k1", data("k1")),
            lambda r: put(r, BUCKET, "k2", data("k2", FILE)),
        ),
        steps=(
            Step("reset", lambda r: r.store.reset(), lambda v, r: View()),
            Step("create bucket", _bucket, lambda v, r: replace(v, buckets=v.buckets | {BUCKET})),
            Step(
                "put",
                lambda r: put(r, BUCKET, "k", data("after")),
                lambda v, r: v.put(BUCKET, "k", data("after")),
            ),
        ),
    ),
    Scenario(
        "first_start",
        opens=False,
        steps=(
            Step("open a new data directory", _open, lambda v, r: v),
            Step("create bucket", _bucket, lambda v, r: replace(v, buckets=v.buckets | {BUCKET})),
            Step(
                "put",
                lambda r: put(r, BUCKET, "k", data("k")),
                lambda v, r: v.put(BUCKET, "k", data("k")),
            ),
        ),
    ),
    Scenario(
        "recovery",
        setup=_setup(
            _bucket,
            lambda r: put(r, BUCKET, "keep", data("keep")),
            lambda r: put(r, BUCKET, "lost", data("lost", FILE)),
            lambda r: put(r, BUCKET, "lost inline", data("lost inline")),
        ),
        damage=_damaged,
        opens=False,
        steps=(Step("start-up recovery", _open, lambda v, r: v),),
    ),
]


async def _part_copy(run: Run, source: str, number: int) -> None:
    info = await run.store.head_object(BUCKET, source)
    await run.store.uploads.upload_part_copy(
        run.ids["u"], BUCKET, "up", number, pieces_of(info, 100, 500), BodyChecks()
    )


async def _upload_in(run: Run, bucket: str) -> None:
    upload = await run.store.uploads.create(
        bucket, "up", NewObject(owner=OWNER), checksum_algorithm=None, checksum_type=None
    )
    run.ids["u"] = upload.upload_id
    await run.store.uploads.upload_part(
        upload.upload_id, bucket, "up", 1, _chunks(data("gone")), BodyChecks()
    )


# -- through a real server on loopback ------------------------------------------------


async def _start_server(run: Run) -> None:
    server = await run.exits.enter_async_context(aios3.serve(root=run.root, fsync=run.fsync))
    run.client = await run.exits.enter_async_context(server.aiobotocore_client())


async def _stop_server(run: Run) -> None:
    await run.exits.aclose()
    run.exits = contextlib.AsyncExitStack()
    run.client = None


async def _server_setup(run: Run) -> None:
    await _start_server(run)
    await run.client.create_bucket(Bucket=BUCKET)
    await run.client.put_object(Bucket=BUCKET, Key="keep", Body=data("keep"))
    await _stop_server(run)


async def _server_multipart(run: Run) -> None:
    created = await run.client.create_multipart_upload(Bucket=BUCKET, Key="m")
    run.ids["m"] = created["UploadId"]


async def _server_part(run: Run) -> None:
    part = await run.client.upload_part(
        Bucket=BUCKET, Key="m", UploadId=run.ids["m"], PartNumber=1, Body=data("m1")
    )
    run.ids["m/1"] = part["ETag"]


async def _server_complete(run: Run) -> None:
    await run.client.complete_multipart_upload(
        Bucket=BUCKET,
        Key="m",
        UploadId=run.ids["m"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": run.ids["m/1"]}]},
    )


SERVER = Scenario(
    "server",
    setup=_server_setup,
    opens=False,
    steps=(
        Step("start server", _start_server, lambda v, r: v),
        Step(
            "PutObject",
            lambda r: r.client.put_object(Bucket=BUCKET, Key="k", Body=data("a")),
            lambda v, r: v.put(BUCKET, "k", data("a")),
        ),
        Step(
            "CopyObject (inline)",
            lambda r: r.client.copy_object(Bucket=BUCKET, Key="c", CopySource=f"{BUCKET}/k"),
            lambda v, r: v.put(BUCKET, "c", data("a")),
        ),
        Step(
            "PutObject over it (a file)",
            lambda r: r.client.put_object(Bucket=BUCKET, Key="k", Body=data("b", FILE)),
            lambda v, r: v.put(BUCKET, "k", data("b", FILE)),
        ),
        Step(
            "DeleteObject",
            lambda r: r.client.delete_object(Bucket=BUCKET, Key="k"),
            lambda v, r: v.delete(BUCKET, "k"),
        ),
        Step(
            "CreateMultipartUpload",
            _server_multipart,
            lambda v, r: replace(v, uploads={**v.uploads, r.ids["m"]: BUCKET}),
        ),
        Step("UploadPart", _server_part, lambda v, r: v.part(r.ids["m"], 1, data("m1"))),
        Step(
            "CompleteMultipartUpload",
            _server_complete,
            lambda v, r: v.complete(r.ids["m"], BUCKET, "m", [1]),
        ),
        Step("stop server", _stop_server, lambda v, r: v),
    ),
)


# -- recording ------------------------------------------------------------------------


@dataclass
class Recording:
    recorder: Recorder
    views: list[View]  # before the first step, then after each step
    owner: str


async def record(
    scenario: Scenario, fsync: bool, root: Path, recorder_options: dict[str, bool]
) -> Recording:
    """Run the scenario's steps with a recorder installed; check that the recorder saw
    every change and that the steps' effects describe what storage did."""
    run = Run(root=root, fsync=fsync)
    if scenario is SERVER:
        run.owner = DEFAULT_ACCESS_KEY
    views = [View()]
    if scenario.setup is not None:
        await scenario.setup(run)
        views = [await _observe_closed(root, fsync, run.owner)]
        if scenario.damage is not None:
            views = [scenario.damage(run, views[0])]
    recorder = Recorder(root, links=scenario.links, **recorder_options)
    with fileops.install(recorder):
        try:
            if scenario.opens:
                await _open(run)
            for number, each in enumerate(scenario.steps):
                recorder.mark(number, acked=False)
                await each.action(run)
                recorder.mark(number, acked=True)
        finally:
            if run.storage is not None:
                run.storage.close()
            await run.exits.aclose()
    assert recorder.untracked_changes() == [], "changes made without going through FileOps"
    for each in scenario.steps:
        views.append(each.effect(views[-1], run))
    assert await _observe_closed(root, fsync, run.owner) == views[-1], (
        "the steps' effects are wrong"
    )
    return Recording(recorder, views, run.owner)


async def _observe_closed(root: Path, fsync: bool, owner: str) -> View:
    storage = Storage(root, fsync=fsync)
    try:
        return await observe(storage, owner)
    finally:
        storage.close()


# -- recovery and checks ----------------------------------------------------------------


@dataclass
class Observation:
    """What start-up recovery made of one crash state."""

    view: View | None  # None: it could not be read
    problems: list[str]  # fsck's findings, a failed recovery, recovery not idempotent


async def recover(target: Path, fsync: bool, owner: str) -> Observation:
    """Open storage on a crash state (recovery), read it, fsck it, recover again."""
    try:
        storage = Storage(target, fsync=fsync)
        try:
            view: View | None = await observe(storage, owner)
        except Exception as exc:
            view, problems = None, [f"reading after recovery failed: {exc!r}"]
        else:
            problems = []
        finally:
            storage.close()
        once = fingerprint(target)
        report = fsck.check(target, checksums=True)
        problems += [f"fsck: {problem}" for problem in report.problems]
        Storage(target, fsync=fsync).close()
        if fingerprint(target) != once:
            problems.append("recovery run twice changed the directory again")
    except Exception as exc:
        return Observation(None, [f"recovery failed: {exc!r}"])
    return Observation(view, problems)


def fingerprint(root: Path) -> tuple[dict[str, str], list[str]]:
    """Every file's hash and every directory, and the index's dump."""
    tree: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        relative = os.path.relpath(dirpath, root)
        for name in dirnames:
            tree[os.path.join(relative, name)] = "dir"
        for name in filenames:
            if relative == "." and name in UNMODELLED:
                continue
            tree[os.path.join(relative, name)] = hashlib.sha256(
                Path(dirpath, name).read_bytes()
            ).hexdigest()
    db = sqlite3.connect(root / INDEX)
    try:
        dump = list(db.iterdump())
    finally:
        db.close()
    return tree, dump


def judge(
    observed: Observation, views: list[View], started: int, acked: int, fsync: bool
) -> list[str]:
    """What is wrong with a recovered state after ``acked`` acknowledged steps, with
    ``started`` begun (one more when a step was in flight)."""
    problems = list(observed.problems)
    view = observed.view
    if view is None:
        return problems
    if fsync:
        if view != views[acked] and view != views[started]:
            problems.append(f"acknowledged state lost: {_difference(views[acked], view)}")
        return problems
    history = [v.items() for v in views[: started + 1]]
    found = view.items()
    for name, value in found.items():
        if all(items.get(name, b"absent") != value for items in history):
            problems.append(f"{name} holds what was never written to it")
    for name, value in history[0].items():
        if (
            all(items.get(name, b"absent") == value for items in history)
            and found.get(name, b"absent") != value
        ):
            problems.append(f"{name} was not touched, but is lost or changed")
    return problems


def _difference(expected: View, got: View) -> str:
    want, have = expected.items(), got.items()
    names = sorted(
        n for n in want.keys() | have.keys() if want.get(n, b"absent") != have.get(n, b"absent")
    )
    return ", ".join(
        f"{'/'.join(n)}: expected {_brief(want.get(n, b'absent'))}, found {_brief(have.get(n, b'absent'))}"
        for n in names
    )


def _brief(value: bytes | None) -> str:
    if value is None:
        return "present"
    if value == b"absent":
        return "absent"
    return f"{len(value)} bytes {hashlib.md5(value).hexdigest()[:8]}"


@dataclass
class Figures:
    events: int = 0
    crash_points: int = 0
    combinations: int = 0  # looked at, summed over crash points
    states: int = 0  # distinct states per crash point, summed
    checked: int = 0  # of those, recovered and checked
    recovered: int = (
        0  # distinct states recovered (one recovery serves every crash point it occurs at)
    )
    failures: list[str] = field(default_factory=list)
    seconds: float = 0.0


async def explore(recording: Recording, fsync: bool, scratch: Path, keep: Path) -> Figures:
    """Every crash point of the recording: its states, recovered and judged."""
    started_at = time.monotonic()
    recorder = recording.recorder
    rng = random.Random(SEED)
    figures = Figures(events=len(recorder.events))
    cache: dict[object, Observation] = {}
    started = acked = 0
    chosen: list[CrashState] = []
    for prefix in range(len(recorder.events) + 1):
        last = recorder.events[prefix - 1] if prefix else None
        if isinstance(last, Mark):  # nothing on disk changed: the same states, judged again
            if last.acked:
                acked = last.step + 1
            else:
                started = last.step + 1
        else:
            point = crash_point(recorder, prefix, durable_index=fsync)
            states = crash_states(recorder, point, limit=COMBINATIONS, rng=rng)
            figures.combinations += min(point.combinations, COMBINATIONS)
            figures.states += len(states)
            chosen = _pick(states, rng)
        figures.crash_points += 1
        for state in chosen:
            figures.checked += 1
            observed = cache.get(state.key)
            if observed is None:
                target = Path(tempfile.mkdtemp(dir=scratch))
                state.materialise(recorder, target)
                observed = cache[state.key] = await recover(target, fsync, recording.owner)
                shutil.rmtree(target)
            problems = judge(observed, recording.views, started, acked, fsync)
            if problems:
                if not figures.failures:  # kept as it was before recovery, to look at
                    (keep / "first-failure").mkdir()
                    state.materialise(recorder, keep / "first-failure")
                    problems.append(f"the crash state is kept in {keep / 'first-failure'}")
                figures.failures.append(_report(recorder, prefix, state, problems))
    figures.recovered = len(cache)
    figures.seconds = time.monotonic() - started_at
    return figures


def _pick(states: list[CrashState], rng: random.Random) -> list[CrashState]:
    """The states to check at one crash point: all, or the first and last (everything
    kept, everything lost) and a sample of the rest."""
    if STATES_PER_POINT is None or len(states) <= STATES_PER_POINT:
        return states
    middle = rng.sample(states[1:-1], STATES_PER_POINT - 2)
    return [states[0], *middle, states[-1]]


def _report(recorder: Recorder, prefix: int, state: CrashState, problems: list[str]) -> str:
    recent = [recorder.describe(event) for event in recorder.events[max(0, prefix - 4) : prefix]]
    files = [
        f"{path} ({length} of {len(recorder.content[inode])} bytes)"
        for path, inode, length in state.files
    ]
    return (
        f"crash after event {prefix} (last: {'; '.join(recent)})\n"
        f"  index: {state.index_label}; files: {', '.join(files) or 'none'}\n"
        f"  problems: {'; '.join(problems)}"
    )


@contextlib.contextmanager
def scratch_directory() -> Iterator[Path]:
    """Where crash states are written: tmpfs when there is one (fsync costs nothing)."""
    shm = Path("/dev/shm")
    base = str(shm) if shm.is_dir() and os.access(shm, os.W_OK) else None
    path = Path(tempfile.mkdtemp(prefix="aios3-power-", dir=base))
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


async def run_scenario(
    scenario: Scenario, fsync: bool, tmp_path: Path, note: str = "", **recorder_options: bool
) -> Figures:
    recording = await record(scenario, fsync, tmp_path / "root", recorder_options)
    with scratch_directory() as scratch:
        figures = await explore(recording, fsync, scratch, tmp_path)
    print(
        f"\npower loss {scenario.name}{note} (fsync {'on' if fsync else 'off'}, seed {SEED}):"
        f" {figures.events} events, {figures.crash_points} crash points,"
        f" {figures.combinations:,} combinations, {figures.states:,} crash states,"
        f" {figures.checked:,} checked ({figures.recovered:,} distinct recovered),"
        f" {len(figures.failures)} failures, {figures.seconds:.1f} s"
    )
    return figures


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
@pytest.mark.parametrize("scenario", [*SCENARIOS, SERVER], ids=lambda s: s.name)
async def test_power_loss(scenario: Scenario, fsync: bool, tmp_path: Path) -> None:
    figures = await run_scenario(scenario, fsync, tmp_path)
    assert figures.checked > 0
    shown = "\n".join(figures.failures[:5])
    assert not figures.failures, f"{len(figures.failures)} failing crash states, first:\n{shown}"


async def test_power_loss_catches_a_missing_directory_fsync(tmp_path: Path) -> None:
    """The harness can fail: the same PUTs, as if storage never fsynced a directory,
    lose acknowledged objects (their names never reached the disk)."""
    figures = await run_scenario(
        SCENARIOS[0], True, tmp_path, " without directory fsyncs", forget_dir_syncs=True
    )
    assert any("acknowledged state lost" in failure for failure in figures.failures)


async def test_power_loss_inline_put_is_one_index_commit(tmp_path: Path) -> None:
    """A small PUT changes no file: between its start and its acknowledgement the
    recording holds index commits only (so power loss cannot split body and row)."""
    recording = await record(SCENARIOS[0], True, tmp_path / "root", {})
    events = recording.recorder.events
    begun = events.index(Mark(0, acked=False))
    done = events.index(Mark(0, acked=True))
    during = events[begun + 1 : done]
    assert during, "the PUT left no trace"
    assert all(isinstance(event, Commit) for event in during), during
