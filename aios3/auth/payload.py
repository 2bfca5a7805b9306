"""Checking a request body against the SHA-256 its SigV4 signature vouches for.

The body streams through while being hashed, so nothing is buffered; the verdict can
only come after the last byte, and callers must treat the data as provisional until the
stream ends without an error (storage commits only then).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from aios3.errors import S3Error


def check_sha256(data: bytes, expected_hex: str | None) -> None:
    """Raise if a whole body's SHA-256 is not ``expected_hex`` (None: unsigned payload)."""
    if expected_hex is None:
        return
    _compare(hashlib.sha256(data).hexdigest(), expected_hex)


async def verify_sha256(
    chunks: AsyncIterator[bytes], expected_hex: str | None
) -> AsyncIterator[bytes]:
    """Yield ``chunks`` unchanged; after the last one, raise if their SHA-256 is not ``expected_hex``.

    With ``expected_hex`` None (unsigned payload) the bytes pass through unhashed.
    """
    if expected_hex is None:
        async for chunk in chunks:
            yield chunk
        return
    digest = hashlib.sha256()
    update = digest.update
    async for chunk in chunks:
        update(chunk)
        yield chunk
    _compare(digest.hexdigest(), expected_hex)


def _compare(actual: str, expected_hex: str) -> None:
    # The hash of the body is no secret, so a plain comparison is fine here.
    if actual != expected_hex.lower():
        raise S3Error(
            "XAmzContentSHA256Mismatch",
            ClientComputedContentSHA256=expected_hex,
            S3ComputedContentSHA256=actual,
        )
