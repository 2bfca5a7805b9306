"""`python -m aios3 fsck`: damage a stopped server's data directory, check the report
and what --repair leaves."""

from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from aios3 import fsck
from tests.support import run_server, test_config

BUCKET = "fsck"
PART = 5 * 1024 * 1024
# Bodies up to 64 KiB are kept in the index (storage/inline.py), bigger ones are files.
FILE_TIMES = 6000  # "body of <name>" * 6000 > 64 KiB


def _fsck(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "aios3", "fsck", "--root", str(root), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _inline_id(root: Path, key: str) -> str:
    """The id of the body of ``key``, kept in the index."""
    with sqlite3.connect(root / "index.sqlite3") as db:
        (body_id,) = db.execute(
            "SELECT body_id FROM objects WHERE key = ?", (key.encode(),)
        ).fetchone()
    assert body_id.startswith("i")
    return str(body_id)


def _change_index(root: Path, sql: str, *args: object) -> None:
    with sqlite3.connect(root / "index.sqlite3") as db:
        db.execute(sql, args)
    db.close()


def _bodies(root: Path, key: str) -> list[Path]:
    """The body files of ``key``, from the index."""
    with sqlite3.connect(root / "index.sqlite3") as db:
        body_id, parts = db.execute(
            "SELECT body_id, parts FROM objects WHERE key = ?", (key.encode(),)
        ).fetchone()
    ids = [item[1] for item in json.loads(parts)] if parts != "[]" else [body_id]
    return [root / "data" / i[:2] / i[2:4] / i for i in ids]


@pytest.fixture
def root(tmp_path: Path) -> Path:
    """A stopped server's data directory: plain objects (files), small ones (kept in the
    index), a two-part multipart object and an upload in progress with one part."""
    with run_server(test_config(tmp_path / "root")) as server:
        s3 = server.boto3_client()
        s3.create_bucket(Bucket=BUCKET)
        for name in ("gone", "short", "flipped", "intact"):
            s3.put_object(Bucket=BUCKET, Key=name, Body=f"body of {name}".encode() * FILE_TIMES)
        for name in ("tiny-gone", "tiny-short", "tiny-flipped", "tiny"):
            s3.put_object(Bucket=BUCKET, Key=name, Body=f"small {name}".encode() * 10)
        upload = s3.create_multipart_upload(Bucket=BUCKET, Key="multi")["UploadId"]
        parts = [
            {
                "PartNumber": n,
                "ETag": s3.upload_part(
                    Bucket=BUCKET, Key="multi", UploadId=upload, PartNumber=n, Body=data
                )["ETag"],
            }
            for n, data in ((1, b"a" * PART), (2, b"b" * 10))
        ]
        s3.complete_multipart_upload(
            Bucket=BUCKET, Key="multi", UploadId=upload, MultipartUpload={"Parts": parts}
        )
        pending = s3.create_multipart_upload(Bucket=BUCKET, Key="pending")["UploadId"]
        s3.upload_part(Bucket=BUCKET, Key="pending", UploadId=pending, PartNumber=1, Body=b"p")
    return tmp_path / "root"


def test_fsck_clean_directory_exits_0(root: Path) -> None:
    result = _fsck(root, "--checksums")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.splitlines() == [
        "fsck: 9 objects, 1 upload parts, 11 bodies, 4 in the index (checksums verified) in "
        + result.stdout.rsplit(" in ", 1)[1].strip()
    ]
    assert result.stdout.rstrip().endswith(": clean")


def test_fsck_reports_each_kind_of_damage(root: Path) -> None:
    _bodies(root, "gone")[0].unlink()
    _bodies(root, "short")[0].write_bytes(b"torn")
    flipped = _bodies(root, "flipped")[0]
    flipped.write_bytes(flipped.read_bytes().replace(b"body", b"BODY"))  # same size
    orphan = root / "data" / "ab" / "cd" / ("abcd" + "0" * 28)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"nobody's")
    (root / "tmp" / "upload.part").write_bytes(b"half")
    (root / "trash-1234").mkdir()

    quick = _fsck(root)
    assert quick.returncode == 1
    lines = quick.stdout.splitlines()
    assert any(line.startswith("missing  fsck/gone: body data/") for line in lines), lines
    assert any(
        line.startswith("torn     fsck/short: body") and "has 4 bytes" in line for line in lines
    )
    assert f"orphan   data/ab/cd/{orphan.name}" in lines
    assert "temp     tmp/upload.part" in lines
    assert "trash    trash-1234" in lines
    assert not any("flipped" in line for line in lines)  # same size: only checksums see it
    assert lines[-1].endswith(": 5 problem(s)")

    thorough = _fsck(root, "--checksums").stdout.splitlines()
    assert any(
        line.startswith("corrupt  fsck/flipped: body") and "MD5" in line for line in thorough
    )
    assert thorough[-1].endswith(": 6 problem(s)")


def test_fsck_repair_drops_broken_rows_and_removes_leftovers(root: Path) -> None:
    _bodies(root, "gone")[0].unlink()
    _bodies(root, "short")[0].write_bytes(b"torn")
    first_part, second_part = _bodies(root, "multi")
    second_part.unlink()
    (root / "tmp" / "upload.part").write_bytes(b"half")

    repaired = _fsck(root, "--repair")
    assert repaired.returncode == 1  # problems were found (and fixed)
    lines = repaired.stdout.splitlines()
    for name in ("gone", "short", "multi"):
        assert f"repaired dropped row fsck/{name}" in lines
    assert "repaired removed tmp/upload.part" in lines
    # The multipart object's surviving part went with its row.
    assert any(line.endswith(first_part.name) and "removed" in line for line in lines)
    assert not first_part.exists()
    assert not any((root / "tmp").iterdir())

    again = _fsck(root, "--checksums")
    assert again.returncode == 0, again.stdout
    assert "6 objects, 1 upload parts, 7 bodies, 4 in the index" in again.stdout
    with run_server(test_config(root)) as server:
        s3 = server.boto3_client()
        keys = [item["Key"] for item in s3.list_objects_v2(Bucket=BUCKET)["Contents"]]
        assert keys == ["flipped", "intact", "tiny", "tiny-flipped", "tiny-gone", "tiny-short"]
        body = s3.get_object(Bucket=BUCKET, Key="intact")["Body"].read()
        assert body == b"body of intact" * FILE_TIMES


def test_fsck_repair_drops_corrupt_rows_only_with_checksums(root: Path) -> None:
    flipped = _bodies(root, "flipped")[0]
    flipped.write_bytes(flipped.read_bytes().replace(b"body", b"BODY"))
    assert _fsck(root, "--repair").returncode == 0
    result = _fsck(root, "--repair", "--checksums")
    assert result.returncode == 1
    assert "repaired dropped row fsck/flipped" in result.stdout.splitlines()
    assert not flipped.exists()
    assert _fsck(root, "--checksums").returncode == 0


def test_fsck_missing_part_of_an_upload_in_progress(root: Path) -> None:
    with sqlite3.connect(root / "index.sqlite3") as db:
        (body_id,) = db.execute("SELECT body_id FROM parts").fetchone()
    (root / "data" / body_id[:2] / body_id[2:4] / body_id).unlink()
    report = fsck.check(root, repair=True)
    assert [p.kind for p in report.problems] == ["missing"]
    assert report.problems[0].where.endswith(" part 1")
    assert fsck.check(root).clean


def test_fsck_refuses_a_directory_in_use(root: Path) -> None:
    with run_server(test_config(root)):
        result = _fsck(root)
    assert result.returncode == 2
    assert "a server is using" in result.stderr


def test_fsck_refuses_a_directory_without_index(tmp_path: Path) -> None:
    result = _fsck(tmp_path)
    assert result.returncode == 2
    assert "not an aios3 data directory" in result.stderr


def test_fsck_refuses_a_bucket_depth_the_files_contradict(root: Path) -> None:
    """A wrong --bucket-depth would make every row look broken: never repair by it."""
    result = _fsck(root, "--bucket-depth", "1", "--repair")
    assert result.returncode == 2
    assert "levels deep, not 1" in result.stderr
    assert _fsck(root).returncode == 0


def test_fsck_reports_and_repairs_bodies_kept_in_the_index(root: Path) -> None:
    """The inline bodies' kinds of damage (only a damaged index can hold them): a row
    whose body is gone or of another length, bytes changed, a body no row names."""
    gone, short, flipped = (_inline_id(root, f"tiny-{n}") for n in ("gone", "short", "flipped"))
    _change_index(root, "DELETE FROM inline_bodies WHERE body_id = ?", gone)
    _change_index(root, "UPDATE inline_bodies SET data = ? WHERE body_id = ?", b"torn", short)
    flipped_body = b"small tiny-flipped".upper() * 10  # the same length
    _change_index(
        root, "UPDATE inline_bodies SET data = ? WHERE body_id = ?", flipped_body, flipped
    )
    orphan = "i" + "0" * 32
    _change_index(root, "INSERT INTO inline_bodies VALUES (?, ?)", orphan, b"nobody's")

    quick = _fsck(root).stdout.splitlines()
    assert f"missing  fsck/tiny-gone: body inline/{gone} does not exist" in quick
    assert f"torn     fsck/tiny-short: body inline/{short} has 4 bytes, the row says 160" in quick
    assert f"orphan   inline/{orphan}" in quick
    assert not any("tiny-flipped" in line for line in quick)
    assert quick[-1].endswith(": 3 problem(s)")

    repaired = _fsck(root, "--repair", "--checksums")
    assert repaired.returncode == 1
    lines = repaired.stdout.splitlines()
    assert any(line.startswith("corrupt  fsck/tiny-flipped: body inline/") for line in lines)
    for name in ("tiny-gone", "tiny-short", "tiny-flipped"):
        assert f"repaired dropped row fsck/{name}" in lines
    assert f"repaired removed inline/{orphan}" in lines
    again = _fsck(root, "--checksums")
    assert again.returncode == 0, again.stdout
    assert "6 objects, 1 upload parts, 8 bodies, 1 in the index" in again.stdout
    with sqlite3.connect(root / "index.sqlite3") as db:
        assert [row[0] for row in db.execute("SELECT body_id FROM inline_bodies")] == [
            _inline_id(root, "tiny")
        ]
    db.close()
    with run_server(test_config(root)) as server:
        s3 = server.boto3_client()
        body = s3.get_object(Bucket=BUCKET, Key="tiny")["Body"].read()
        assert body == b"small tiny" * 10
