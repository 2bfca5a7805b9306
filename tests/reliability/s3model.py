"""An in-memory reference model of S3, as aios3 claims to implement it (README:
"Supported S3 operations" and "Differences from AWS"): pure Python, no I/O.

Every operation either returns what S3 answers or raises :class:`S3Fault` with the
HTTP status and S3 error code. Where S3 checks several things, the model checks them
in S3's order, so the first failure is the one S3 reports. What the model does not
know (upload ids, request ids, times) comes from outside: the state machine in
``test_model.py`` hands it the upload id the server chose.

Modelled: buckets (create / delete / head / list, in a us-east-1 server, where
re-creating your own bucket answers 200); objects (put, get with Range and
If-Match / If-None-Match, head, delete with If-Match, DeleteObjects); conditional
writes (``If-None-Match: *`` and ``If-Match`` on PutObject and
CompleteMultipartUpload); ListObjects v1 and v2 with prefix, delimiter, max-keys,
marker / start-after / continuation-token; CopyObject (COPY / REPLACE, copy-source
If-Match / If-None-Match); multipart uploads (create, upload part, complete with S3's
part checks, abort, list parts, list uploads, a repeated Complete that answers like the
first until a restart); ETags (MD5, and MD5-of-MD5s "-N" for multipart) and the
CRC64NVME full-object checksum S3 gives every object uploaded without one.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field

from awscrt import checksums as crt

MIN_PART_SIZE = 5 * 1024 * 1024
DEFAULT_CONTENT_TYPE = "binary/octet-stream"

_STATUS = {
    "BucketAlreadyOwnedByYou": 409,
    "BucketNotEmpty": 409,
    "EntityTooSmall": 400,
    "InvalidPart": 400,
    "InvalidPartOrder": 400,
    "InvalidRange": 416,
    "InvalidRequest": 400,
    "MalformedXML": 400,
    "NoSuchBucket": 404,
    "NoSuchKey": 404,
    "NoSuchUpload": 404,
    "NotModified": 304,
    "PreconditionFailed": 412,
}


class S3Fault(Exception):
    """An S3 error answer: ``status`` and ``code``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code
        self.status = _STATUS[code]


def md5_hex(body: bytes) -> str:
    return hashlib.md5(body).hexdigest()


def crc64nvme(body: bytes) -> str:
    """The wire form of a CRC64NVME checksum: base64 of the big-endian digest."""
    return base64.b64encode(crt.crc64nvme(body).to_bytes(8, "big")).decode("ascii")


def multipart_etag(parts: list[bytes]) -> str:
    digest = hashlib.md5(b"".join(hashlib.md5(part).digest() for part in parts)).hexdigest()
    return f"{digest}-{len(parts)}"


@dataclass(frozen=True)
class Obj:
    """A stored object."""

    body: bytes
    etag: str
    content_type: str = DEFAULT_CONTENT_TYPE
    metadata: tuple[tuple[str, str], ...] = ()
    parts: int | None = None  # how many parts, for a multipart object

    @property
    def size(self) -> int:
        return len(self.body)

    @property
    def checksum(self) -> str:
        return crc64nvme(self.body)


@dataclass
class Upload:
    """A multipart upload in progress."""

    upload_id: str
    bucket: str
    key: str
    content_type: str
    metadata: tuple[tuple[str, str], ...]
    seq: int
    parts: dict[int, bytes] = field(default_factory=dict)


@dataclass(frozen=True)
class Completed:
    """What a completed upload remembers, so that a repeated Complete answers alike."""

    bucket: str
    key: str
    signature: tuple[tuple[int, str], ...]
    etag: str


@dataclass(frozen=True)
class Entry:
    key: str
    etag: str
    size: int


@dataclass(frozen=True)
class Page:
    """One page of a listing. ``next_marker`` is v1's NextMarker (only given with a
    delimiter); ``resume`` is where the next page starts after (v2's token, which the
    model keeps readable)."""

    contents: list[Entry]
    prefixes: list[str]
    truncated: bool
    next_marker: str | None
    resume: str | None


@dataclass(frozen=True)
class Read:
    """A GET's answer: status, the bytes sent, Content-Range, and the object."""

    status: int
    body: bytes
    content_range: str | None
    obj: Obj


@dataclass(frozen=True)
class PartsPage:
    parts: list[tuple[int, str, int]]  # number, ETag, size
    truncated: bool
    next_marker: int | None


def _etag_matches(header: str, etag: str) -> bool:
    for candidate in header.split(","):
        value = candidate.strip()
        if value == "*" or value.removeprefix("W/").strip('"') == etag:
            return True
    return False


def _sort_key(name: str) -> bytes:
    return name.encode("utf-8")


class S3Model:
    """The whole state of an S3 account, region us-east-1."""

    def __init__(self) -> None:
        self.buckets: dict[str, dict[str, Obj]] = {}
        self.uploads: dict[str, Upload] = {}
        self.completed: dict[str, Completed] = {}
        self._seq = 0

    # -- buckets -----------------------------------------------------------------

    def _bucket(self, name: str) -> dict[str, Obj]:
        try:
            return self.buckets[name]
        except KeyError:
            raise S3Fault("NoSuchBucket") from None

    def create_bucket(self, name: str) -> None:
        # us-east-1: re-creating your own bucket is a no-op answered with 200.
        self.buckets.setdefault(name, {})

    def delete_bucket(self, name: str) -> None:
        if self._bucket(name):
            raise S3Fault("BucketNotEmpty")
        del self.buckets[name]
        # Unfinished uploads do not keep a bucket alive: they go with it.
        for upload_id in [u for u, up in self.uploads.items() if up.bucket == name]:
            del self.uploads[upload_id]
        for upload_id in [u for u, done in self.completed.items() if done.bucket == name]:
            del self.completed[upload_id]

    def head_bucket(self, name: str) -> None:
        self._bucket(name)

    def list_buckets(self) -> list[str]:
        return sorted(self.buckets)

    # -- objects -----------------------------------------------------------------

    @staticmethod
    def _write_condition(current: Obj | None, if_none_match: bool, if_match: str | None) -> None:
        if if_none_match and current is not None:
            raise S3Fault("PreconditionFailed")
        if if_match is not None:
            if current is None:
                raise S3Fault("NoSuchKey")
            if not _etag_matches(if_match, current.etag):
                raise S3Fault("PreconditionFailed")

    def put_object(
        self,
        bucket: str,
        key: str,
        body: bytes,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> Obj:
        objects = self._bucket(bucket)
        self._write_condition(objects.get(key), if_none_match, if_match)
        obj = Obj(
            body,
            md5_hex(body),
            content_type or DEFAULT_CONTENT_TYPE,
            tuple(sorted((metadata or {}).items())),
        )
        objects[key] = obj
        return obj

    def head_object(
        self,
        bucket: str,
        key: str,
        *,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> Obj:
        objects = self._bucket(bucket)
        obj = objects.get(key)
        if obj is None:
            raise S3Fault("NoSuchKey")
        if if_match is not None and not _etag_matches(if_match, obj.etag):
            raise S3Fault("PreconditionFailed")
        if if_none_match is not None and _etag_matches(if_none_match, obj.etag):
            raise S3Fault("NotModified")
        return obj

    def get_object(
        self,
        bucket: str,
        key: str,
        *,
        range_header: str | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> Read:
        obj = self.head_object(bucket, key, if_match=if_match, if_none_match=if_none_match)
        selected = _parse_range(range_header, obj.size)
        if selected is None:
            return Read(200, obj.body, None, obj)
        start, end = selected
        return Read(206, obj.body[start : end + 1], f"bytes {start}-{end}/{obj.size}", obj)

    def delete_object(self, bucket: str, key: str, *, if_match: str | None = None) -> None:
        objects = self._bucket(bucket)
        if if_match is not None:
            current = objects.get(key)
            if current is None:
                raise S3Fault("NoSuchKey")
            if not _etag_matches(if_match, current.etag):
                raise S3Fault("PreconditionFailed")
        objects.pop(key, None)

    def delete_objects(self, bucket: str, keys: list[str]) -> list[str]:
        """The keys reported deleted: all of them, present or not (S3 does so)."""
        objects = self._bucket(bucket)
        for key in keys:
            objects.pop(key, None)
        return list(keys)

    def copy_object(
        self,
        source_bucket: str,
        source_key: str,
        bucket: str,
        key: str,
        *,
        replace: bool = False,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
        if_match: str | None = None,
        if_none_match: str | None = None,
    ) -> Obj:
        if (source_bucket, source_key) == (bucket, key) and not replace:
            raise S3Fault("InvalidRequest")
        source = self._bucket(source_bucket).get(source_key)
        if source is None:
            raise S3Fault("NoSuchKey")
        if if_match is not None and not _etag_matches(if_match, source.etag):
            raise S3Fault("PreconditionFailed")
        if if_none_match is not None and _etag_matches(if_none_match, source.etag):
            raise S3Fault("PreconditionFailed")
        objects = self._bucket(bucket)
        copy = source
        if replace:
            copy = Obj(
                source.body,
                source.etag,
                content_type or DEFAULT_CONTENT_TYPE,
                tuple(sorted((metadata or {}).items())),
                source.parts,
            )
        objects[key] = copy
        return copy

    # -- listing -----------------------------------------------------------------

    def _list(
        self, bucket: str, prefix: str, delimiter: str, after: str, max_keys: int
    ) -> tuple[list[str | Entry], bool]:
        """Entries (keys and common prefixes) greater than ``after``, in order."""
        objects = self._bucket(bucket)
        rolled: dict[str, str | Entry] = {}
        for key, obj in objects.items():
            if not key.startswith(prefix):
                continue
            at = key.find(delimiter, len(prefix)) if delimiter else -1
            if at >= 0:
                common = key[: at + len(delimiter)]
                rolled[common] = common
            else:
                rolled[key] = Entry(key, obj.etag, obj.size)
        names = sorted(
            (name for name in rolled if _sort_key(name) > _sort_key(after)), key=_sort_key
        )
        return [rolled[name] for name in names[:max_keys]], len(names) > max_keys

    def _page(self, entries: list[str | Entry], truncated: bool, delimiter: str) -> Page:
        contents = [e for e in entries if isinstance(e, Entry)]
        prefixes = [e for e in entries if isinstance(e, str)]
        last = None
        if entries:
            tail = entries[-1]
            last = tail.key if isinstance(tail, Entry) else tail
        resume = last if truncated else None
        next_marker = resume if delimiter else None
        return Page(contents, prefixes, truncated, next_marker, resume)

    def list_objects(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        marker: str = "",
        max_keys: int = 1000,
    ) -> Page:
        entries, truncated = self._list(bucket, prefix, delimiter, marker, max_keys)
        return self._page(entries, truncated, delimiter)

    def list_objects_v2(
        self,
        bucket: str,
        *,
        prefix: str = "",
        delimiter: str = "",
        start_after: str = "",
        token: str | None = None,
        max_keys: int = 1000,
    ) -> Page:
        after = token if token is not None else start_after
        entries, truncated = self._list(bucket, prefix, delimiter, after, max_keys)
        return self._page(entries, truncated, delimiter)

    # -- multipart ---------------------------------------------------------------

    def _upload(self, upload_id: str, bucket: str, key: str) -> Upload:
        self._bucket(bucket)
        upload = self.uploads.get(upload_id)
        if upload is None or (upload.bucket, upload.key) != (bucket, key):
            raise S3Fault("NoSuchUpload")
        return upload

    def create_upload(
        self,
        upload_id: str,
        bucket: str,
        key: str,
        *,
        content_type: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> None:
        """Start an upload under ``upload_id`` (which the server chose)."""
        self._bucket(bucket)
        self._seq += 1
        self.uploads[upload_id] = Upload(
            upload_id,
            bucket,
            key,
            content_type or DEFAULT_CONTENT_TYPE,
            tuple(sorted((metadata or {}).items())),
            self._seq,
        )

    def check_create_upload(self, bucket: str) -> None:
        """What CreateMultipartUpload would fail with, without starting one."""
        self._bucket(bucket)

    def upload_part(self, upload_id: str, bucket: str, key: str, number: int, body: bytes) -> str:
        self._upload(upload_id, bucket, key).parts[number] = body
        return md5_hex(body)

    def part_etag(self, upload_id: str, number: int) -> str | None:
        upload = self.uploads.get(upload_id)
        if upload is None or number not in upload.parts:
            return None
        return md5_hex(upload.parts[number])

    def complete_upload(
        self,
        upload_id: str,
        bucket: str,
        key: str,
        parts: list[tuple[int, str]],
        *,
        if_none_match: bool = False,
        if_match: str | None = None,
    ) -> str:
        """The new object's ETag. ``parts``: (number, ETag) as the request lists them."""
        self._bucket(bucket)
        signature = tuple(parts)
        done = self.completed.get(upload_id)
        if done is not None and (done.bucket, done.key) == (bucket, key):
            # A repeated Complete answers like the first; any other part list finds
            # the upload gone.
            if done.signature != signature:
                raise S3Fault("NoSuchUpload")
            return done.etag
        upload = self._upload(upload_id, bucket, key)
        if not parts:
            raise S3Fault("MalformedXML")
        chosen: list[bytes] = []
        previous = 0
        for number, etag in parts:
            if number <= previous:
                raise S3Fault("InvalidPartOrder")
            previous = number
            body = upload.parts.get(number)
            if body is None or md5_hex(body) != etag:
                raise S3Fault("InvalidPart")
            chosen.append(body)
        if any(len(body) < MIN_PART_SIZE for body in chosen[:-1]):
            raise S3Fault("EntityTooSmall")
        objects = self.buckets[bucket]
        self._write_condition(objects.get(key), if_none_match, if_match)
        etag = multipart_etag(chosen)
        objects[key] = Obj(
            b"".join(chosen), etag, upload.content_type, upload.metadata, len(chosen)
        )
        del self.uploads[upload_id]
        self.completed[upload_id] = Completed(bucket, key, signature, etag)
        return etag

    def abort_upload(self, upload_id: str, bucket: str, key: str) -> None:
        self._upload(upload_id, bucket, key)
        del self.uploads[upload_id]

    def list_parts(
        self, upload_id: str, bucket: str, key: str, *, marker: int = 0, max_parts: int = 1000
    ) -> PartsPage:
        upload = self._upload(upload_id, bucket, key)
        numbers = sorted(n for n in upload.parts if n > marker)
        page = [(n, md5_hex(upload.parts[n]), len(upload.parts[n])) for n in numbers[:max_parts]]
        return PartsPage(page, len(numbers) > max_parts, page[-1][0] if page else None)

    def list_uploads(self, bucket: str) -> list[tuple[str, str]]:
        """(key, upload id) of the bucket's uploads in progress: by key, then by age."""
        self._bucket(bucket)
        mine = [u for u in self.uploads.values() if u.bucket == bucket]
        mine.sort(key=lambda u: (_sort_key(u.key), u.seq))
        return [(u.key, u.upload_id) for u in mine]

    # -- the server's life -------------------------------------------------------

    def restart(self) -> None:
        """A restart (clean or a crash) keeps everything acknowledged but the memory of
        completed uploads (README, Differences: a repeated Complete answers 200 again
        only until the server restarts)."""
        self.completed.clear()


def _parse_range(value: str | None, size: int) -> tuple[int, int] | None:
    """First and last byte of a single ``bytes=`` range, or None for the whole object
    (no Range, or one S3 ignores); a range that misses the object is InvalidRange."""
    if not value:
        return None
    unit, _, spec = value.partition("=")
    if unit != "bytes" or "," in spec:
        return None
    first, dash, last = spec.partition("-")
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise S3Fault("InvalidRange")
        return max(0, size - suffix), size - 1
    start = int(first)
    if last and int(last) < start:
        return None
    if start >= size:
        raise S3Fault("InvalidRange")
    end = min(int(last), size - 1) if last else size - 1
    return start, end
