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


# Reflected generator polynomials and widths of the CRCs S3 can combine across parts.
_CRC_POLYNOMIALS = {
    "CRC32": (0xEDB88320, 32),
    "CRC32C": (0x82F63B78, 32),
    "CRC64NVME": (0x9A6C9329AC4BC9B5, 64),
}
FULL_OBJECT_ALGORITHMS = frozenset(_CRC_POLYNOMIALS)


def _multiply_mod(a: int, b: int, poly: int, width: int) -> int:
    """a * b modulo the polynomial, in the reflected bit order CRCs use."""
    top = 1 << (width - 1)
    product = 0
    while a:
        if a & top:
            product ^= b
        a = (a << 1) & ((1 << width) - 1)
        b = (b >> 1) ^ poly if b & 1 else b >> 1
    return product


def _x_to_the_8n(n: int, poly: int, width: int) -> int:
    """x^(8n) modulo the polynomial, by repeated squaring."""
    result = 1 << (width - 1)  # x^0 (the highest bit is the lowest power when reflected)
    square = 1 << (width - 2)  # x^1
    for _ in range(3):  # x^2, x^4, x^8: one byte
        square = _multiply_mod(square, square, poly, width)
    while n:
        if n & 1:
            result = _multiply_mod(square, result, poly, width)
        square = _multiply_mod(square, square, poly, width)
        n >>= 1
    return result


def combine_crc(algorithm: str, first: bytes, second: bytes, second_length: int) -> bytes:
    """The CRC of A+B from CRC(A), CRC(B) and len(B), without reading any data: how
    a multipart upload gets its FULL_OBJECT checksum in time independent of its size."""
    poly, width = _CRC_POLYNOMIALS[algorithm]
    crc1 = int.from_bytes(first, "big")
    crc2 = int.from_bytes(second, "big")
    shifted = _multiply_mod(_x_to_the_8n(second_length, poly, width), crc1, poly, width)
    return (shifted ^ crc2).to_bytes(width // 8, "big")
