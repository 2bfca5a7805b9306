"""The index's schema version (``PRAGMA user_version``): new and unmarked indexes are
marked, and an index from a newer aios3 is refused, by the server and by fsck, with
every row and inline body left as it was."""

from __future__ import annotations

import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from aios3 import fsck
from aios3.storage.index import SCHEMA_VERSION
from tests.support import run_server, test_config

BUCKET = "schema"
SMALL = b"kept in the index" * 10
BIG = b"kept in a file" * 6000  # over 64 KiB: a body file


def _version(root: Path) -> int:
    with sqlite3.connect(root / "index.sqlite3") as db:
        (version,) = db.execute("PRAGMA user_version").fetchone()
    db.close()
    return int(version)


def _set_version(root: Path, version: int) -> None:
    db = sqlite3.connect(root / "index.sqlite3")
    db.execute(f"PRAGMA user_version={version}")
    db.close()


def _contents(root: Path) -> tuple[list[tuple[bytes, str]], list[tuple[str, bytes]]]:
    """Every object row's key and body id, and every inline body."""
    with sqlite3.connect(root / "index.sqlite3") as db:
        rows = db.execute("SELECT key, body_id FROM objects ORDER BY key").fetchall()
        inline = db.execute("SELECT body_id, data FROM inline_bodies ORDER BY body_id").fetchall()
    db.close()
    return rows, inline


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aios3", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A stopped server's data directory with one small and one big object."""
    with run_server(test_config(tmp_path / "root")) as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="small", Body=SMALL)
        s3.put_object(Bucket=BUCKET, Key="big", Body=BIG)
    return tmp_path / "root"


def test_a_new_index_is_marked_with_the_current_schema(root: Path) -> None:
    assert _version(root) == SCHEMA_VERSION


def test_an_unmarked_index_opens_and_is_marked(root: Path) -> None:
    _set_version(root, 0)  # as every index from before the marker
    with run_server(test_config(root)) as server:
        s3 = server.boto3_client()
        assert s3.get_object(Bucket=BUCKET, Key="small")["Body"].read() == SMALL
        assert s3.get_object(Bucket=BUCKET, Key="big")["Body"].read() == BIG
    assert _version(root) == SCHEMA_VERSION


def test_the_server_refuses_an_index_from_a_newer_aios3_and_keeps_it(root: Path) -> None:
    _set_version(root, SCHEMA_VERSION + 1)
    before = _contents(root)
    result = _run("--root", str(root), "--port", "0")
    assert result.returncode != 0
    assert "written by a newer aios3" in result.stderr
    assert f"index schema {SCHEMA_VERSION + 1}" in result.stderr
    assert "Traceback" not in result.stderr
    assert _contents(root) == before
    assert _version(root) == SCHEMA_VERSION + 1
    # The data directory is not left locked: the right version opens it.
    _set_version(root, SCHEMA_VERSION)
    with run_server(test_config(root)) as server:
        s3 = server.boto3_client()
        assert s3.get_object(Bucket=BUCKET, Key="small")["Body"].read() == SMALL
        assert s3.get_object(Bucket=BUCKET, Key="big")["Body"].read() == BIG


def test_fsck_refuses_an_index_from_a_newer_aios3(root: Path) -> None:
    _set_version(root, SCHEMA_VERSION + 1)
    before = _contents(root)
    result = _run("fsck", "--root", str(root), "--repair")
    assert result.returncode == 2
    assert "written by a newer aios3" in result.stderr
    assert _contents(root) == before


def test_fsck_knows_the_schema_the_server_writes() -> None:
    # fsck reads the index without importing storage, so it has its own copy.
    assert fsck._SCHEMA_VERSION == SCHEMA_VERSION
