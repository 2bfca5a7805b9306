"""Values that cross the storage boundary: frozen, free of aiohttp and SQLite types."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import BinaryIO


@dataclass(frozen=True)
class BucketInfo:
    """One bucket as the index knows it."""

    name: str
    owner: str
    region: str
    created: float  # seconds since the epoch


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


@dataclass(frozen=True)
class ListPage:
    """One page of a listing: keys and rolled-up prefixes, merged in byte order."""

    objects: list[ObjectInfo]
    common_prefixes: list[str]
    is_truncated: bool
    # The last key or common prefix on this page: where the next page starts after.
    last: str | None


@dataclass
class OpenObject:
    """An object whose body file is open: reads see this version even if it is replaced."""

    info: ObjectInfo
    file: BinaryIO

    def close(self) -> None:
        self.file.close()
