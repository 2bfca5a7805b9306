"""Data directories built fast, for measuring start-up recovery and fsck.

``populate`` writes bodies and index rows directly (one transaction for all rows), the
way a long-running server would have left them, plus optional crash debris (temp files
and orphan bodies). Run as a script it times ``python -m aios3 fsck`` on what it built::

    python -m tests.reliability.datadir --objects 100000 /tmp/fsck-100k
"""

from __future__ import annotations

import argparse
import hashlib
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

from aios3.storage import ObjectInfo, Storage
from aios3.storage.index import OBJECT_COLUMNS, OBJECT_PLACEHOLDERS, object_to_row

BUCKET = "filled"


def populate(
    root: Path, objects: int, *, temp_files: int = 0, orphans: int = 0, bucket_depth: int = 2
) -> None:
    """``objects`` small objects in bucket ``filled`` (keys ``k/000000``...)."""
    storage = Storage(root, bucket_depth=bucket_depth, fsync=False)
    try:
        storage.index.write_now(
            lambda db: db.execute(
                "INSERT OR IGNORE INTO buckets (name, owner, region, created) VALUES (?,?,?,?)",
                (BUCKET, "filler", "us-east-1", time.time()),
            )
        )
        made: set[Path] = set()

        def write_body(data: bytes) -> str:
            body_id = uuid.uuid4().hex
            path = storage.blobs.path_of(body_id)
            if path.parent not in made:
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            path.write_bytes(data)
            return body_id

        rows = []
        now = time.time()
        for number in range(objects):
            key = f"k/{number:06d}"
            data = f"{key} ".encode() * (1 + number % 7)
            info = ObjectInfo(
                bucket=BUCKET,
                key=key,
                size=len(data),
                etag=hashlib.md5(data).hexdigest(),
                last_modified=now,
                body_id=write_body(data),
                owner="filler",
            )
            rows.append(object_to_row(info))
        storage.index.write_now(
            lambda db: db.executemany(
                f"INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES ({OBJECT_PLACEHOLDERS})",
                rows,
            )
        )
        for _ in range(orphans):
            write_body(b"orphan")
        for _ in range(temp_files):
            (storage.blobs.tmp_dir / f"{uuid.uuid4().hex}.part").write_bytes(b"partial")
    finally:
        storage.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("root", type=Path)
    parser.add_argument("--objects", type=int, default=100_000)
    args = parser.parse_args()
    started = time.monotonic()
    populate(args.root, args.objects)
    print(f"built {args.objects} objects in {time.monotonic() - started:.1f} s")
    os.sync()
    started = time.monotonic()
    status = subprocess.call(
        [sys.executable, "-m", "aios3", "fsck", "--root", str(args.root)], stdout=sys.stdout
    )
    print(f"fsck exit {status} in {time.monotonic() - started:.2f} s (wall, process included)")


if __name__ == "__main__":
    main()
