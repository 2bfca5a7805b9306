"""Full disks and I/O errors: the failing request gets its S3 error, nothing else breaks.

A small tmpfs (size or inode limit) is the server's data directory: PUTs fill it until
one answers 507 InsufficientStorage; every earlier object is still byte-identical, no
temp file is left, reads keep working, and writes succeed again once objects are
deleted. I/O errors are injected with strace (attached to the running server, then
detached): a failed fsync or rename answers 500 InternalError, leaves nothing visible
and nothing on disk, and the next write works.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import os
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aios3 import fsck
from aios3.errors import S3Error
from aios3.storage import BodyChecks, NewObject, Storage, fileops
from tests.reliability.support import ServerProcess, files_in, server

BUCKET = "full"


@contextlib.contextmanager
def tmpfs(directory: Path, options: str) -> Iterator[Path]:
    """A tmpfs mounted on ``directory`` for the block; skips where mounting is refused."""
    directory.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(directory)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip() or mounted.returncode}")
    try:
        yield directory
    finally:
        if subprocess.run(["umount", str(directory)], check=False).returncode != 0:
            subprocess.run(["umount", "-l", str(directory)], check=False)


def _error(exc: ClientError) -> tuple[int, str, str]:
    meta: Any = exc.response["ResponseMetadata"]
    content_type = meta["HTTPHeaders"].get("content-type", "")
    return meta["HTTPStatusCode"], exc.response["Error"]["Code"], content_type


async def _fill(s3: Any, size: int, limit: int) -> tuple[dict[str, str], ClientError]:
    """PUT objects of ``size`` random bytes until one fails; (key -> MD5, the error)."""
    stored: dict[str, str] = {}
    for number in range(limit):
        body = os.urandom(size)
        key = f"object-{number:05d}"
        try:
            await s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        except ClientError as exc:
            return stored, exc
        stored[key] = hashlib.md5(body).hexdigest()
    raise AssertionError(f"{limit} PUTs of {size} bytes never filled the disk")


async def _assert_intact(s3: Any, stored: dict[str, str]) -> None:
    listed = await s3.list_objects_v2(Bucket=BUCKET, MaxKeys=1000)
    assert sorted(item["Key"] for item in listed.get("Contents", [])) == sorted(stored)
    for key, md5 in stored.items():
        answer = await s3.get_object(Bucket=BUCKET, Key=key)
        async with answer["Body"] as body:
            assert hashlib.md5(await body.read()).hexdigest() == md5, key


async def _full_disk_round(
    srv: ServerProcess, root: Path, size: int, limit: int, deletes: int | None = 3
) -> None:
    """Fill, check, delete ``deletes`` objects (None: half of them), write again."""
    async with srv.client() as s3:
        await s3.create_bucket(Bucket=BUCKET)
        stored, failure = await _fill(s3, size, limit)
        assert stored, "not even one object fitted"
        status, code, content_type = _error(failure)
        assert (status, code) == (507, "InsufficientStorage")
        assert content_type.startswith("application/xml")
        assert files_in(root / "tmp") == []
        # Still full: a second attempt fails the same way, and reads keep working.
        with pytest.raises(ClientError) as again:
            await s3.put_object(Bucket=BUCKET, Key="still-full", Body=os.urandom(size))
        assert _error(again.value)[:2] == (507, "InsufficientStorage")
        await _assert_intact(s3, stored)
        # Deleting makes room: writes succeed again.
        for key in sorted(stored)[: len(stored) // 2 if deletes is None else deletes]:
            await s3.delete_object(Bucket=BUCKET, Key=key)
            del stored[key]
        body = os.urandom(size)
        await s3.put_object(Bucket=BUCKET, Key="after-delete", Body=body)
        stored["after-delete"] = hashlib.md5(body).hexdigest()
        await _assert_intact(s3, stored)
        assert files_in(root / "tmp") == []
    report = fsck.check(root)
    assert report.clean, [str(p) for p in report.problems]


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_full_disk_answers_507_and_keeps_every_object(tmp_path: Path, fsync: bool) -> None:
    with tmpfs(tmp_path / "mnt", "size=8m,nr_inodes=2000") as mnt:
        root = mnt / "root"
        with server(root, fsync=fsync) as srv:
            asyncio.run(_full_disk_round(srv, root, size=256 * 1024, limit=100))
            srv.stop()


@pytest.mark.parametrize("fsync", [True, False], ids=["fsync", "no-fsync"])
def test_full_disk_with_bodies_in_the_index_answers_507(tmp_path: Path, fsync: bool) -> None:
    """Small bodies are kept in the index, which stops taking them short of a full
    disk (inline.RESERVE, 16 MiB): deletes, and the index's checkpoints, still fit.
    Deleted bodies leave free pages in the index, not the disk (half are deleted: the
    room measured swings by the WAL's size, up to ~4 MiB, as checkpoints run)."""
    with tmpfs(tmp_path / "mnt", "size=24m") as mnt:
        root = mnt / "root"
        with server(root, fsync=fsync) as srv:
            asyncio.run(_full_disk_round(srv, root, size=16 * 1024, limit=1000, deletes=None))
            srv.stop()
        assert files_in(root / "data") == []


def test_full_disk_inode_exhaustion_answers_507(tmp_path: Path) -> None:
    with tmpfs(tmp_path / "mnt", "size=64m,nr_inodes=200") as mnt:
        root = mnt / "root"
        with server(root, fsync=True) as srv:
            # Bodies of files of their own (smaller ones are kept in the index).
            asyncio.run(_full_disk_round(srv, root, size=70 * 1024, limit=400))
            srv.stop()


# --- injected I/O errors --------------------------------------------------------------


@contextlib.contextmanager
def injected(srv: ServerProcess, log: Path, syscalls: str) -> Iterator[Path]:
    """strace attached to every thread of the server, failing the first ``syscalls``
    call of each thread with EIO, until the block ends (then strace detaches).

    Injection counts per thread, so the test sends one request at a time: the first
    such call after attaching belongs to it.
    """
    strace = shutil.which("strace")
    if strace is None:
        pytest.skip("strace is not installed (apt-get install strace)")
    trace = log.with_suffix(".trace")
    with log.open("w") as stderr:
        proc = subprocess.Popen(
            [
                strace,
                "-f",
                "-p",
                str(srv.proc.pid),
                "-o",
                str(trace),
                "-e",
                f"trace={syscalls}",
                "-e",
                f"inject={syscalls}:error=EIO:when=1",
            ],
            stderr=stderr,
        )
    try:
        # "Process N attached with T threads": every thread is traced from here on.
        deadline = time.monotonic() + 10
        while "attached" not in log.read_text():
            if proc.poll() is not None or time.monotonic() > deadline:
                pytest.skip(f"strace cannot attach here: {log.read_text().strip()}")
            time.sleep(0.05)
        yield trace
    finally:
        proc.send_signal(signal.SIGINT)  # detaches; the server keeps running
        proc.wait(timeout=10)


@pytest.mark.parametrize("syscall", ["fsync", "rename"])
def test_io_error_answers_500_and_leaves_nothing(tmp_path: Path, syscall: str) -> None:
    root = tmp_path / "root"
    with server(root, fsync=True) as srv:

        async def scenario() -> None:
            async with srv.client() as s3:
                await s3.create_bucket(Bucket=BUCKET)
                await s3.put_object(Bucket=BUCKET, Key="before", Body=b"kept")
                with (
                    injected(srv, tmp_path / "strace.log", syscall) as trace,
                    pytest.raises(ClientError) as failed,
                ):
                    await s3.put_object(Bucket=BUCKET, Key="victim", Body=b"x" * 70_000)
                assert "(INJECTED)" in trace.read_text()
                status, code, content_type = _error(failed.value)
                assert (status, code) == (500, "InternalError")
                assert content_type.startswith("application/xml")
                with pytest.raises(ClientError) as missing:
                    await s3.head_object(Bucket=BUCKET, Key="victim")
                assert _error(missing.value)[0] == 404
                assert files_in(root / "tmp") == []
                report = fsck.check(root)  # the server is idle: nothing to report
                assert report.clean, [str(p) for p in report.problems]
                # The retry is a new write: new temp file, its own fsync.
                await s3.put_object(Bucket=BUCKET, Key="victim", Body=b"y" * 70_000)
                answer = await s3.get_object(Bucket=BUCKET, Key="victim")
                async with answer["Body"] as body:
                    assert await body.read() == b"y" * 70_000
                answer = await s3.get_object(Bucket=BUCKET, Key="before")
                async with answer["Body"] as body:
                    assert await body.read() == b"kept"

        asyncio.run(scenario())
        assert "disk I/O error" in srv.stderr()
        assert srv.stop() == 0


async def _one_chunk(data: bytes) -> Any:
    yield data


class _BrokenBodyDirectorySync(fileops.FileOps):
    """EIO from the fsync of the directory a body was just renamed into."""

    renamed: Path | None = None

    def rename(self, source: Path, target: Path) -> None:
        super().rename(source, target)
        self.renamed = target

    def sync_dir(self, path: Path) -> None:
        if self.renamed is not None and path == self.renamed.parent:
            raise OSError(errno.EIO, "Input/output error", str(path))
        super().sync_dir(path)


async def test_io_error_on_directory_fsync_unlinks_the_renamed_body(tmp_path: Path) -> None:
    """The body was renamed into place but its directory entry may not be durable: the
    write fails whole and the body goes (never an fsync retry, never an orphan)."""
    files = _BrokenBodyDirectorySync()
    with fileops.install(files):
        storage = await asyncio.to_thread(Storage, tmp_path, fsync=True)
    try:
        await storage.create_bucket("dirs", "owner", "us-east-1", legacy_ok=False)
        with pytest.raises(S3Error) as failed:
            # Too big to be kept in the index (SMALL_BODY): it becomes a file.
            await storage.put_object(
                "dirs", "key", _one_chunk(b"d" * 70_000), NewObject(owner="owner"), BodyChecks()
            )
        assert failed.value.code == "InternalError"
        assert files.renamed is not None
        assert not files.renamed.exists()
        assert [p for p in (tmp_path / "data").rglob("*") if p.is_file()] == []
        assert files_in(tmp_path / "tmp") == []
    finally:
        await asyncio.to_thread(storage.close)
    assert fsck.check(tmp_path).clean
