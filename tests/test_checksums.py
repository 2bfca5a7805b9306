"""Unit tests of aios3.checksums against published check values and independent
reference implementations (bit-at-a-time CRCs written here, zlib, hashlib)."""

from __future__ import annotations

import base64
import hashlib
import os
import zlib

import pytest

from aios3 import checksums
from aios3.errors import S3Error

CHECK = b"123456789"  # the input every CRC catalogue publishes a "check" value for


def _reflected_crc(data: bytes, poly: int, width: int) -> int:
    """Textbook bitwise reflected CRC with all-ones init and final xor."""
    mask = (1 << width) - 1
    crc = mask
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ poly if crc & 1 else crc >> 1
    return crc ^ mask


def _crc32c_reference(data: bytes) -> int:
    return _reflected_crc(data, 0x82F63B78, 32)


def _crc64nvme_reference(data: bytes) -> int:
    return _reflected_crc(data, 0x9A6C9329AC4BC9B5, 64)


def _digest(algorithm: str, data: bytes) -> bytes:
    hasher = checksums.new_hasher(algorithm)
    hasher.update(data)
    return hasher.digest()


def test_reference_crcs_match_published_check_values() -> None:
    # Guards the test's own reference implementations.
    assert _crc32c_reference(CHECK) == 0xE3069283
    assert _crc64nvme_reference(CHECK) == 0xAE8B14860A799888
    assert _reflected_crc(CHECK, 0xEDB88320, 32) == 0xCBF43926


@pytest.mark.parametrize(
    ("algorithm", "expected"),
    [
        ("CRC32", (0xCBF43926).to_bytes(4, "big")),
        ("CRC32C", (0xE3069283).to_bytes(4, "big")),
        ("CRC64NVME", (0xAE8B14860A799888).to_bytes(8, "big")),
        ("SHA1", bytes.fromhex("f7c3bc1d808e04732adf679965ccc34ca7ae3441")),
        (
            "SHA256",
            bytes.fromhex("15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"),
        ),
    ],
)
def test_new_hasher_check_value(algorithm: str, expected: bytes) -> None:
    assert _digest(algorithm, CHECK) == expected


def test_new_hasher_crc32_of_hello() -> None:
    assert _digest("CRC32", b"hello") == zlib.crc32(b"hello").to_bytes(4, "big")
    assert checksums.encode(_digest("CRC32", b"hello")) == "NhCmhg=="


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [("CRC32", 4), ("CRC32C", 4), ("CRC64NVME", 8), ("SHA1", 20), ("SHA256", 32)],
)
def test_new_hasher_empty_input(algorithm: str, size: int) -> None:
    digest = _digest(algorithm, b"")
    assert len(digest) == size
    if algorithm.startswith("CRC"):
        assert digest == bytes(size)
    else:
        assert digest == hashlib.new(algorithm.lower(), b"").digest()


@pytest.mark.parametrize("algorithm", checksums.ALGORITHMS)
def test_new_hasher_incremental_equals_one_shot(algorithm: str) -> None:
    data = os.urandom(3000)
    whole = _digest(algorithm, data)
    for cut in (0, 1, 7, 1500, 2999, 3000):
        hasher = checksums.new_hasher(algorithm)
        hasher.update(data[:cut])
        hasher.update(data[cut:])
        assert hasher.digest() == whole


def test_new_hasher_random_data_matches_references() -> None:
    data = os.urandom(777)
    assert _digest("CRC32", data) == zlib.crc32(data).to_bytes(4, "big")
    assert _digest("CRC32C", data) == _crc32c_reference(data).to_bytes(4, "big")
    assert _digest("CRC64NVME", data) == _crc64nvme_reference(data).to_bytes(8, "big")
    assert _digest("SHA1", data) == hashlib.sha1(data).digest()
    assert _digest("SHA256", data) == hashlib.sha256(data).digest()


def test_new_hasher_instances_are_independent() -> None:
    first = checksums.new_hasher("CRC32C")
    second = checksums.new_hasher("CRC32C")
    first.update(b"abc")
    assert second.digest() == bytes(4)
    assert first.digest() == _crc32c_reference(b"abc").to_bytes(4, "big")


def test_encode_is_base64_of_the_digest() -> None:
    assert checksums.encode(b"\x00\x01\xfe\xff") == "AAH+/w=="


def test_decode_md5_valid() -> None:
    digest = hashlib.md5(b"hello").digest()
    assert checksums.decode_md5(base64.b64encode(digest).decode()) == digest


@pytest.mark.parametrize(
    "value",
    [
        "not base64!",
        base64.b64encode(b"short").decode(),
        base64.b64encode(bytes(17)).decode(),
        hashlib.md5(b"hello").hexdigest(),  # hex instead of base64
        "",
    ],
)
def test_decode_md5_malformed_is_invalid_digest(value: str) -> None:
    with pytest.raises(S3Error) as caught:
        checksums.decode_md5(value)
    assert caught.value.code == "InvalidDigest"
    assert caught.value.status == 400


@pytest.mark.parametrize(
    ("algorithm", "size"),
    [("CRC32", 4), ("CRC32C", 4), ("CRC64NVME", 8), ("SHA1", 20), ("SHA256", 32)],
)
def test_validate_accepts_right_size(algorithm: str, size: int) -> None:
    value = base64.b64encode(bytes(range(size))).decode()
    assert checksums.validate(algorithm, value) == value


@pytest.mark.parametrize(
    ("algorithm", "value"),
    [
        ("CRC32", base64.b64encode(bytes(8)).decode()),
        ("CRC64NVME", base64.b64encode(bytes(4)).decode()),
        ("SHA256", base64.b64encode(bytes(20)).decode()),
        ("SHA1", "%%%"),
        ("CRC32C", ""),
    ],
)
def test_validate_refuses_wrong_size_or_encoding(algorithm: str, value: str) -> None:
    with pytest.raises(S3Error) as caught:
        checksums.validate(algorithm, value)
    assert caught.value.code == "InvalidRequest"
    assert f"x-amz-checksum-{algorithm.lower()}" in caught.value.message
