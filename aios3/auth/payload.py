"""Checking a request body against the SHA-256 its SigV4 signature vouches for.

The body streams through while being hashed, so nothing is buffered; the verdict can
only come after the last byte, and callers must treat the data as provisional until the
stream ends without an error (storage commits only then).
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator

from aios3.errors import S3Error


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
    actual = digest.hexdigest()
    # The hash of the body is no secret, so a plain comparison is fine here.
    if actual != expected_hex.lower():
        raise S3Error(
            "XAmzContentSHA256Mismatch",
            ClientComputedContentSHA256=expected_hex,
            S3ComputedContentSHA256=actual,
        )
