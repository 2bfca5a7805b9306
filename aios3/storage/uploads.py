"""Multipart uploads: parts stream to disk like objects, and completion only writes rows.

A completed upload's parts become the object's body as they are (``ObjectInfo.parts``),
so completion costs the same for 5 MiB and for 5 TB. Every state change is one index
transaction: Complete and Abort racing end as one or the other, and a conditional
Complete is decided in the transaction that commits it.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import random
import secrets
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aios3 import checksums
from aios3.errors import S3Error
from aios3.storage import inline
from aios3.storage.blobs import BlobStore, ReceivedBody
from aios3.storage.diskerrors import UncertainCommit
from aios3.storage.index import (
    OBJECT_COLUMNS,
    OBJECT_PLACEHOLDERS,
    Index,
    object_to_row,
    row_to_object,
)
from aios3.storage.models import (
    BodyChecks,
    NewObject,
    ObjectInfo,
    Part,
    PartPage,
    UploadInfo,
    UploadPage,
)

MAX_PART_SIZE = 5 * 1024**3
MIN_PART_SIZE = 5 * 1024**2  # every part but the last (CompleteMultipartUpload)
MAX_PARTS = 10_000

Precondition = Callable[[ObjectInfo | None], None]
Verify = Callable[[ReceivedBody, BodyChecks], dict[str, str]]

_UPLOAD_COLUMNS = (
    "upload_id, bucket, key, owner, initiated, content_headers, metadata, "
    "checksum_algorithm, checksum_type"
)


@dataclass(frozen=True)
class CompletedPart:
    """One entry of a CompleteMultipartUpload request."""

    number: int
    etag: str  # without quotes
    checksums: dict[str, str]


def _row_to_upload(row: tuple[Any, ...]) -> UploadInfo:
    return UploadInfo(
        upload_id=row[0],
        bucket=row[1],
        key=bytes(row[2]).decode("utf-8"),
        owner=row[3],
        initiated=row[4],
        content_headers=json.loads(row[5]),
        metadata=json.loads(row[6]),
        checksum_algorithm=row[7],
        checksum_type=row[8],
    )


def _row_to_part(row: tuple[Any, ...]) -> Part:
    return Part(
        number=row[0],
        body_id=row[1],
        size=row[2],
        etag=row[3],
        last_modified=row[4],
        checksums=json.loads(row[5]),
    )


_PART_COLUMNS = "number, body_id, size, etag, last_modified, checksums"


def _find_upload(db: sqlite3.Connection, upload_id: str, bucket: str, key: str) -> UploadInfo:
    """An upload in progress for exactly this bucket and key, or NoSuchUpload."""
    row = db.execute(
        f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE upload_id = ? AND bucket = ? AND key = ?"
        " AND completed_etag IS NULL",
        (upload_id, bucket, key.encode("utf-8")),
    ).fetchone()
    if row is None:
        raise S3Error("NoSuchUpload", UploadId=upload_id)
    return _row_to_upload(row)


class Uploads:
    """Multipart uploads of one data directory (see ``Storage.uploads``)."""

    def __init__(
        self,
        index: Index,
        blobs: BlobStore,
        check_bucket: Callable[[str], object],
        verify: Verify,
        *,
        clock: Callable[[], float] = time.time,
        seed: int | None = None,
    ) -> None:
        self._index = index
        self._blobs = blobs
        self._check_bucket = check_bucket
        self._verify = verify
        self._clock = clock
        # Upload ids are unguessable, or with a seed the same on every run (golden files).
        self._random = random.Random(seed) if seed is not None else None

    def _new_upload_id(self) -> str:
        if self._random is None:
            return secrets.token_urlsafe(48)
        raw = self._random.getrandbits(384).to_bytes(48, "big")
        return base64.urlsafe_b64encode(raw).decode("ascii").rstrip("=")

    def forget_completed(self) -> None:
        """Drop the records kept for repeated Completes (start-up only)."""
        self._index.write_now(
            lambda db: db.execute("DELETE FROM uploads WHERE completed_etag IS NOT NULL")
        )

    async def create(
        self,
        bucket: str,
        key: str,
        new: NewObject,
        *,
        checksum_algorithm: str | None,
        checksum_type: str | None,
    ) -> UploadInfo:
        self._check_bucket(bucket)
        upload = UploadInfo(
            upload_id=self._new_upload_id(),
            bucket=bucket,
            key=key,
            owner=new.owner,
            initiated=self._clock(),
            content_headers=new.content_headers,
            metadata=new.metadata,
            checksum_algorithm=checksum_algorithm,
            checksum_type=checksum_type,
        )

        def insert(db: sqlite3.Connection) -> None:
            db.execute(
                f"INSERT INTO uploads ({_UPLOAD_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    upload.upload_id,
                    bucket,
                    key.encode("utf-8"),
                    upload.owner,
                    upload.initiated,
                    json.dumps(upload.content_headers),
                    json.dumps(upload.metadata),
                    checksum_algorithm,
                    checksum_type,
                ),
            )

        await self._index.write(insert, touches=())
        return upload

    async def get(self, upload_id: str, bucket: str, key: str) -> UploadInfo:
        # A missing bucket is NoSuchBucket for every operation on it, as in S3 (its
        # uploads went with it); then an unknown upload is NoSuchUpload.
        self._check_bucket(bucket)
        return await self._index.read(lambda db: _find_upload(db, upload_id, bucket, key))

    async def upload_part(
        self,
        upload_id: str,
        bucket: str,
        key: str,
        number: int,
        body: AsyncIterator[bytes],
        checks: BodyChecks,
    ) -> Part:
        """Store one part; a part with the same number is replaced."""
        await self.get(upload_id, bucket, key)  # fail before receiving the body
        got = await self._blobs.receive(
            body, algorithms=checks.checksums.keys(), max_size=MAX_PART_SIZE
        )
        received = await self._blobs.spill(got)  # parts are files, however small
        return await self._commit_part(upload_id, bucket, key, number, received, checks)

    async def upload_part_copy(
        self,
        upload_id: str,
        bucket: str,
        key: str,
        number: int,
        pieces: list[tuple[str, int, int]],
        checks: BodyChecks,
    ) -> Part:
        """Store a part copied from (a range of) an object's body files, or from its
        body kept in the index (a small object's: one piece)."""
        await self.get(upload_id, bucket, key)
        algorithms = checks.checksums.keys()
        try:
            if any(inline.is_inline(body_id) for body_id, _, _ in pieces):
                data = await self._index.read(functools.partial(_read_pieces, pieces))
                received = await self._blobs.spill(self._blobs.hold(data, algorithms=algorithms))
            else:
                received = await self._blobs.copy_range(pieces, algorithms=algorithms)
        except FileNotFoundError:
            raise S3Error("NoSuchKey", "The source object changed during the copy.") from None
        return await self._commit_part(upload_id, bucket, key, number, received, checks)

    async def _commit_part(
        self,
        upload_id: str,
        bucket: str,
        key: str,
        number: int,
        received: ReceivedBody,
        checks: BodyChecks,
    ) -> Part:
        try:
            part_checksums = self._verify(received, checks)
        except BaseException:
            await self._blobs.discard(received.temp_path)
            raise
        part = Part(
            number=number,
            body_id=self._blobs.new_id(),
            size=received.size,
            etag=received.md5.hex(),
            last_modified=self._clock(),
            checksums=part_checksums,
        )
        return await asyncio.shield(
            asyncio.ensure_future(self._insert_part(upload_id, bucket, key, received, part))
        )

    async def _insert_part(
        self, upload_id: str, bucket: str, key: str, received: ReceivedBody, part: Part
    ) -> Part:
        try:
            await self._blobs.place(received.temp_path, part.body_id)
        except BaseException:
            await self._blobs.discard(received.temp_path)
            raise

        def insert(db: sqlite3.Connection) -> list[str]:
            _find_upload(db, upload_id, bucket, key)
            old = db.execute(
                "SELECT body_id FROM parts WHERE upload_id = ? AND number = ?",
                (upload_id, part.number),
            ).fetchone()
            db.execute(
                f"INSERT OR REPLACE INTO parts (upload_id, {_PART_COLUMNS}) VALUES (?,?,?,?,?,?,?)",
                (
                    upload_id,
                    part.number,
                    part.body_id,
                    part.size,
                    part.etag,
                    part.last_modified,
                    json.dumps(part.checksums),
                ),
            )
            return [old[0]] if old is not None else []

        try:
            replaced = await self._index.write(insert, touches=())
        except UncertainCommit:
            raise  # the row may yet surface after a crash: its body stays for the sweep
        except BaseException:
            await self._blobs.remove([part.body_id])
            raise
        await self._blobs.remove(replaced)
        return part

    async def abort(self, upload_id: str, bucket: str, key: str) -> None:
        self._check_bucket(bucket)

        def delete(db: sqlite3.Connection) -> list[str]:
            _find_upload(db, upload_id, bucket, key)
            rows = db.execute(
                "DELETE FROM parts WHERE upload_id = ? RETURNING body_id", (upload_id,)
            ).fetchall()
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
            return [row[0] for row in rows]

        await self._blobs.remove(await self._index.write(delete, touches=()))

    async def list_parts(
        self, upload_id: str, bucket: str, key: str, *, marker: int, max_parts: int
    ) -> PartPage:
        self._check_bucket(bucket)

        def query(db: sqlite3.Connection) -> PartPage:
            upload = _find_upload(db, upload_id, bucket, key)
            rows = db.execute(
                f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ? AND number > ?"
                " ORDER BY number LIMIT ?",
                (upload_id, marker, max_parts + 1),
            ).fetchall()
            parts = [_row_to_part(row) for row in rows[:max_parts]]
            truncated = len(rows) > max_parts
            next_marker = parts[-1].number if parts else None
            return PartPage(upload, parts, truncated, next_marker)

        return await self._index.read(query)

    async def list_uploads(
        self,
        bucket: str,
        *,
        prefix: str,
        delimiter: str,
        key_marker: str,
        upload_id_marker: str,
        max_uploads: int,
    ) -> UploadPage:
        self._check_bucket(bucket)

        def query(db: sqlite3.Connection) -> UploadPage:
            return _list_uploads(
                db, bucket, prefix, delimiter, key_marker, upload_id_marker, max_uploads
            )

        return await self._index.read(query)

    async def complete(
        self,
        upload_id: str,
        bucket: str,
        key: str,
        requested: Sequence[CompletedPart],
        *,
        precondition: Precondition | None = None,
        verify: Callable[[ObjectInfo], None] | None = None,
    ) -> ObjectInfo:
        """Turn the listed parts into the object, in one transaction. ``verify`` sees
        the object about to be committed (size, combined checksum) and may refuse it;
        ``precondition`` sees the version it would replace."""
        self._check_bucket(bucket)
        signature = json.dumps([[p.number, p.etag] for p in requested])

        def complete(db: sqlite3.Connection) -> tuple[ObjectInfo, list[str]]:
            row = db.execute(
                f"SELECT {_UPLOAD_COLUMNS}, completed_parts, completed_etag FROM uploads"
                " WHERE upload_id = ? AND bucket = ? AND key = ?",
                (upload_id, bucket, key.encode("utf-8")),
            ).fetchone()
            if row is None:
                raise S3Error("NoSuchUpload", UploadId=upload_id)
            upload = _row_to_upload(row)
            if row[10] is not None:
                return _repeated_completion(db, upload, signature, row[9], row[10]), []
            parts = {
                part.number: part
                for part in map(
                    _row_to_part,
                    db.execute(
                        f"SELECT {_PART_COLUMNS} FROM parts WHERE upload_id = ?", (upload_id,)
                    ),
                )
            }
            chosen = _choose_parts(upload, parts, requested)
            info = _object_from_parts(upload, chosen, self._clock())
            if verify is not None:
                verify(info)
            old_row = db.execute(
                f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?",
                (bucket, key.encode("utf-8")),
            ).fetchone()
            old = row_to_object(old_row) if old_row is not None else None
            if precondition is not None:
                precondition(old)
            if db.execute("SELECT 1 FROM buckets WHERE name = ?", (bucket,)).fetchone() is None:
                raise S3Error("NoSuchBucket", BucketName=bucket)
            db.execute(
                f"INSERT OR REPLACE INTO objects ({OBJECT_COLUMNS}) VALUES ({OBJECT_PLACEHOLDERS})",
                object_to_row(info),
            )
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            db.execute(
                "UPDATE uploads SET completed_parts = ?, completed_etag = ? WHERE upload_id = ?",
                (signature, info.etag, upload_id),
            )
            used = {part.body_id for part in chosen}
            unused = [part.body_id for part in parts.values() if part.body_id not in used]
            superseded = old.body_ids if old is not None else []
            return info, unused + [b for b in superseded if b not in used]

        info, garbage = await self._index.write(complete, touches=[(bucket, key)])
        await self._blobs.remove(garbage)
        return info


def _read_pieces(pieces: list[tuple[str, int, int]], db: sqlite3.Connection) -> bytes:
    """The bytes of inline ``pieces``; FileNotFoundError when one is gone, as for files."""
    found = []
    for body_id, offset, count in pieces:
        data = inline.read_range(db, body_id, offset, count)
        if data is None or len(data) != count:
            raise FileNotFoundError(body_id)
        found.append(data)
    return b"".join(found)


def _repeated_completion(
    db: sqlite3.Connection, upload: UploadInfo, signature: str, parts: str, etag: str
) -> ObjectInfo:
    """A second Complete with the same part list answers like the first (S3 does this);
    any other list finds the upload gone."""
    if parts != signature:
        raise S3Error("NoSuchUpload", UploadId=upload.upload_id)
    row = db.execute(
        f"SELECT {OBJECT_COLUMNS} FROM objects WHERE bucket = ? AND key = ?",
        (upload.bucket, upload.key.encode("utf-8")),
    ).fetchone()
    if row is not None and row_to_object(row).etag == etag:
        return row_to_object(row)
    # The object was replaced or deleted since: report what the completion produced.
    return ObjectInfo(
        bucket=upload.bucket,
        key=upload.key,
        size=0,
        etag=etag,
        last_modified=upload.initiated,
        body_id="",
        owner=upload.owner,
    )


def _choose_parts(
    upload: UploadInfo, stored: dict[int, Part], requested: Sequence[CompletedPart]
) -> list[Part]:
    """The parts a Complete names, checked as S3 checks them."""
    if not requested:
        raise S3Error("MalformedXML")
    chosen: list[Part] = []
    previous = 0
    for entry in requested:
        if entry.number <= previous:
            raise S3Error("InvalidPartOrder")
        previous = entry.number
        part = stored.get(entry.number)
        if part is None or part.etag != entry.etag:
            raise S3Error("InvalidPart", PartNumber=str(entry.number), ETag=entry.etag)
        for algorithm, value in entry.checksums.items():
            if part.checksums.get(algorithm) != value:
                raise S3Error(
                    "InvalidPart",
                    f"The {algorithm} checksum of part {entry.number} does not match.",
                    PartNumber=str(entry.number),
                )
        chosen.append(part)
    for part in chosen[:-1]:
        if part.size < MIN_PART_SIZE:
            raise S3Error(
                "EntityTooSmall",
                ProposedSize=str(part.size),
                MinSizeAllowed=str(MIN_PART_SIZE),
                PartNumber=str(part.number),
                ETag=part.etag,
            )
    return chosen


def _object_from_parts(upload: UploadInfo, parts: list[Part], now: float) -> ObjectInfo:
    digest = hashlib.md5(b"".join(bytes.fromhex(part.etag) for part in parts)).hexdigest()
    combined, checksum_type = _combined_checksums(upload, parts)
    return ObjectInfo(
        bucket=upload.bucket,
        key=upload.key,
        size=sum(part.size for part in parts),
        etag=f"{digest}-{len(parts)}",
        last_modified=now,
        body_id="",
        owner=upload.owner,
        content_headers=upload.content_headers,
        metadata=upload.metadata,
        checksums=combined,
        parts=tuple(parts),
        checksum_type=checksum_type,
    )


def _combined_checksums(upload: UploadInfo, parts: list[Part]) -> tuple[dict[str, str], str]:
    """The object's checksum from its parts' ("Checking object integrity"): a CRC
    combined over the whole object (FULL_OBJECT), or the checksum of the parts'
    checksums with a ``-N`` suffix (COMPOSITE)."""
    algorithm = upload.checksum_algorithm
    if algorithm is None:
        # No algorithm asked for: S3 gives multipart objects a full-object CRC64NVME.
        algorithm, kind = "CRC64NVME", "FULL_OBJECT"
    else:
        kind = upload.checksum_type or "COMPOSITE"
    if not all(algorithm in part.checksums for part in parts):
        return {}, kind
    digests = [base64.b64decode(part.checksums[algorithm]) for part in parts]
    if kind == "FULL_OBJECT":
        total = digests[0]
        for part, digest in zip(parts[1:], digests[1:], strict=True):
            total = checksums.combine_crc(algorithm, total, digest, part.size)
        return {algorithm: checksums.encode(total)}, kind
    hasher = checksums.new_hasher(algorithm)
    hasher.update(b"".join(digests))
    return {algorithm: f"{checksums.encode(hasher.digest())}-{len(parts)}"}, kind


def _list_uploads(
    db: sqlite3.Connection,
    bucket: str,
    prefix: str,
    delimiter: str,
    key_marker: str,
    upload_id_marker: str,
    max_uploads: int,
) -> UploadPage:
    """Uploads in progress by key, then initiation (ListMultipartUploads).

    Resumes after ``key_marker``; with ``upload_id_marker`` too, after that upload
    of the marker key. A marker inside a common prefix resumes after the prefix.
    """
    if max_uploads <= 0:
        # Nothing fits on the page (as ListObjects answers max-keys=0): not truncated.
        return UploadPage([], [], False, None, None)
    raw_prefix = prefix.encode("utf-8")
    rows = db.execute(
        f"SELECT {_UPLOAD_COLUMNS} FROM uploads WHERE bucket = ? AND completed_etag IS NULL"
        " AND substr(key, 1, ?) = ? AND key >= ? ORDER BY key, initiated, upload_id",
        (bucket, len(raw_prefix), raw_prefix, key_marker.encode("utf-8")),
    )
    marker_prefix = _rolled(key_marker, prefix, delimiter) if key_marker else None
    passed_marker_upload = not upload_id_marker
    uploads: list[UploadInfo] = []
    prefixes: list[str] = []
    for row in rows:
        upload = _row_to_upload(row)
        if key_marker and upload.key == key_marker and not passed_marker_upload:
            passed_marker_upload = upload.upload_id == upload_id_marker
            continue
        if key_marker and upload.key == key_marker and not upload_id_marker:
            continue
        rolled = _rolled(upload.key, prefix, delimiter)
        if rolled is not None and (rolled == marker_prefix or rolled in prefixes[-1:]):
            continue
        if len(uploads) + len(prefixes) == max_uploads:
            last = uploads[-1] if uploads else None
            last_prefix = prefixes[-1] if prefixes else None
            if last_prefix is not None and (last is None or last_prefix > last.key):
                return UploadPage(uploads, prefixes, True, last_prefix, None)
            assert last is not None
            return UploadPage(uploads, prefixes, True, last.key, last.upload_id)
        if rolled is not None:
            prefixes.append(rolled)
        else:
            uploads.append(upload)
    return UploadPage(uploads, prefixes, False, None, None)


def _rolled(key: str, prefix: str, delimiter: str) -> str | None:
    """The common prefix ``key`` rolls up into under ``prefix`` and ``delimiter``."""
    if not delimiter or not key.startswith(prefix):
        return None
    at = key.find(delimiter, len(prefix))
    return key[: at + len(delimiter)] if at >= 0 else None
