"""Body hashing against the signed x-amz-content-sha256 while the bytes stream through."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Iterable

import pytest

from aios3.auth import verify_sha256
from aios3.errors import S3Error

CHUNKS = [b"hello ", b"", b"streaming ", b"world" * 1000]
BODY_SHA = hashlib.sha256(b"".join(CHUNKS)).hexdigest()


async def stream(chunks: Iterable[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def drain(chunks: AsyncIterator[bytes], into: list[bytes]) -> None:
    async for chunk in chunks:
        into.append(chunk)


async def test_matching_hash_passes_every_chunk_through() -> None:
    received = [chunk async for chunk in verify_sha256(stream(CHUNKS), BODY_SHA)]
    assert received == CHUNKS


async def test_uppercase_expected_hash_matches() -> None:
    received = [chunk async for chunk in verify_sha256(stream(CHUNKS), BODY_SHA.upper())]
    assert received == CHUNKS


async def test_empty_body_matches_empty_hash() -> None:
    empty_sha = hashlib.sha256(b"").hexdigest()
    assert [chunk async for chunk in verify_sha256(stream([]), empty_sha)] == []


async def test_mismatch_raises_only_after_the_last_chunk() -> None:
    wrong = hashlib.sha256(b"something else").hexdigest()
    received: list[bytes] = []
    with pytest.raises(S3Error) as info:
        await drain(verify_sha256(stream(CHUNKS), wrong), received)
    assert received == CHUNKS
    assert info.value.code == "XAmzContentSHA256Mismatch"
    assert info.value.status == 400
    assert info.value.detail == {
        "ClientComputedContentSHA256": wrong,
        "S3ComputedContentSHA256": BODY_SHA,
    }


async def test_truncated_body_mismatches() -> None:
    with pytest.raises(S3Error, match="x-amz-content-sha256"):
        await drain(verify_sha256(stream(CHUNKS[:-1]), BODY_SHA), [])


async def test_none_passes_through_unchecked() -> None:
    received = [chunk async for chunk in verify_sha256(stream(CHUNKS), None)]
    assert received == CHUNKS


async def test_source_errors_propagate() -> None:
    async def failing() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError

    received: list[bytes] = []
    with pytest.raises(ConnectionResetError):
        await drain(verify_sha256(failing(), BODY_SHA), received)
    assert received == [b"partial"]
