"""Values that cross the storage boundary: frozen, free of aiohttp and SQLite types."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import BinaryIO, NamedTuple


@dataclass(frozen=True)
class BucketInfo:
    """One bucket as the index knows it."""

    name: str
    owner: str
    region: str
    created: float  # seconds since the epoch


@dataclass(frozen=True)
class Part:
    """One part of a multipart upload, or of the object it became."""

    number: int
    body_id: str
    size: int
    etag: str  # hex MD5 of the part, without quotes
    last_modified: float = 0.0
    # Algorithm -> base64 checksum of this part alone.
    checksums: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ObjectInfo:
    """One object's index row: everything but its bytes."""

    bucket: str
    key: str
    size: int
    etag: str  # without quotes: hex MD5, or "<hex>-N" later for multipart
    last_modified: float  # seconds since the epoch
    body_id: str
    owner: str
    # Content-Type, Content-Encoding, ... exactly as the client sent them.
    content_headers: dict[str, str] = field(default_factory=dict)
    # x-amz-meta-* with the prefix removed, names lower-cased.
    metadata: dict[str, str] = field(default_factory=dict)
    # Algorithm (CRC32, SHA256, ...) -> base64 value.
    checksums: dict[str, str] = field(default_factory=dict)
    # A completed multipart upload keeps its parts as its body (no copy at completion);
    # then ``body_id`` is empty and the parts, in order, hold the bytes.
    parts: tuple[Part, ...] = ()
    # FULL_OBJECT or COMPOSITE: what the stored checksum covers (multipart uploads).
    checksum_type: str = "FULL_OBJECT"

    @property
    def body_ids(self) -> list[str]:
        """Every body file this object's bytes live in."""
        return [part.body_id for part in self.parts] if self.parts else [self.body_id]


@dataclass(frozen=True)
class NewObject:
    """What a writer says about an object besides its body."""

    owner: str
    content_headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class BodyChecks:
    """Digests the client sent, checked against the body before it becomes visible."""

    content_md5: bytes | None = None
    # Algorithms whose checksum is computed and stored; value None = compute only.
    checksums: dict[str, str | None] = field(default_factory=dict)


class ListedObject(NamedTuple):
    """What a listing shows of one object (ListPage.rows holds them as plain tuples):
    rather than an ObjectInfo, as a page holds up to 1,000 of them, and the columns a
    listing never shows are not read at all."""

    key: str
    size: int
    etag: str  # without quotes
    last_modified: float  # seconds since the epoch
    owner: str | None  # None unless the listing asked for owners (not read then)
    # The stored checksums' algorithm names, sorted, then their checksum type, space-
    # separated ("CRC64NVME FULL_OBJECT"); "" when there are none. One string, as what
    # costs per row is the number of columns read, and a page's objects share a few.
    checksums: str


# A ListedObject's fields as the index row holds them: what a page carries.
ListedRow = tuple[str, int, str, float, str | None, str]


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: keys and rolled-up prefixes, merged in byte order."""

    # The objects as the index rows were read, ListedObject's fields in its order: a
    # page is rendered straight from them (naming 1,000 rows costs about a tenth of it).
    rows: list[ListedRow]
    common_prefixes: list[str]
    is_truncated: bool
    # The last key or common prefix on this page: where the next page starts after.
    last: str | None

    @property
    def objects(self) -> list[ListedObject]:
        """The objects, named."""
        return [ListedObject._make(row) for row in self.rows]


@dataclass(frozen=True)
class UploadInfo:
    """A multipart upload in progress."""

    upload_id: str
    bucket: str
    key: str
    owner: str
    initiated: float
    content_headers: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    checksum_algorithm: str | None = None
    checksum_type: str | None = None


@dataclass(frozen=True)
class UploadPage:
    """One page of ListMultipartUploads."""

    uploads: list[UploadInfo]
    common_prefixes: list[str]
    is_truncated: bool
    next_key: str | None
    next_upload_id: str | None


@dataclass(frozen=True)
class PartPage:
    """One page of ListParts."""

    upload: UploadInfo
    parts: list[Part]
    is_truncated: bool
    next_marker: int | None


@dataclass
class OpenObject:
    """An object whose bytes stay readable, whole, even if it is replaced meanwhile.

    A single-body object holds its open file. A multipart object pins its part files
    instead (they are opened one at a time while sending); ``close`` releases either.
    """

    info: ObjectInfo
    file: BinaryIO | None
    release: Callable[[], None] | None = None
    data: bytes | None = None
    """The whole body, already read, for a small single-body object (then ``file`` is
    None): it is answered as a plain body, with no file left to stream."""

    def close(self) -> None:
        if self.file is not None:
            self.file.close()
        if self.release is not None:
            self.release()
            self.release = None
