"""Incremental object checksums: the MD5 behind ETags and the five `x-amz-checksum-*` kinds.

S3 transmits checksums as base64 of the big-endian digest ("Checking object integrity"
in the S3 user guide). CRC32C and CRC64NVME come from awscrt's native code because they
sit on the upload hot path; CRC32 from zlib, SHA from hashlib.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import zlib
from typing import Protocol

from awscrt import checksums as crt

from aios3.errors import S3Error

ALGORITHMS = ("CRC32", "CRC32C", "CRC64NVME", "SHA1", "SHA256")


class Hasher(Protocol):
    """What every running checksum offers."""

    def update(self, data: bytes, /) -> None: ...

    def digest(self) -> bytes: ...


class _Crc:
    """A CRC carried between chunks; ``width`` is the digest size in bytes."""

    def __init__(self, algorithm: str) -> None:
        self._value = 0
        if algorithm == "CRC32":
            self._width, self._step = 4, zlib.crc32
        elif algorithm == "CRC32C":
            self._width, self._step = 4, crt.crc32c
        else:
            self._width, self._step = 8, crt.crc64nvme

    def update(self, data: bytes, /) -> None:
        self._value = self._step(data, self._value)

    def digest(self) -> bytes:
        return self._value.to_bytes(self._width, "big")


def new_hasher(algorithm: str) -> Hasher:
    """A fresh running checksum for one of ``ALGORITHMS``."""
    if algorithm == "SHA1":
        return hashlib.sha1()
    if algorithm == "SHA256":
        return hashlib.sha256()
    return _Crc(algorithm)


def encode(digest: bytes) -> str:
    """The wire form of a checksum: base64 of the digest."""
    return base64.b64encode(digest).decode("ascii")


def decode_md5(content_md5: str) -> bytes:
    """Decode a Content-MD5 header; anything but 16 base64 bytes is InvalidDigest."""
    try:
        raw = base64.b64decode(content_md5, validate=True)
    except (binascii.Error, ValueError):
        raise S3Error("InvalidDigest") from None
    if len(raw) != 16:
        raise S3Error("InvalidDigest")
    return raw


_DIGEST_SIZES = {"CRC32": 4, "CRC32C": 4, "CRC64NVME": 8, "SHA1": 20, "SHA256": 32}


def validate(algorithm: str, value: str) -> str:
    """Check that a client's checksum is well-formed base64 of the right size."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _DIGEST_SIZES[algorithm]:
        raise S3Error(
            "InvalidRequest", f"Value for x-amz-checksum-{algorithm.lower()} header is invalid."
        )
    return value
