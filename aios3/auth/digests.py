"""SHA-256 and HMAC-SHA256 for signature checks, without OpenSSL's per-call set-up.

``hashlib.sha256(data)`` and ``hmac.digest`` look the digest up in OpenSSL 3's provider
store on every call. That costs microseconds, and it takes a lock that the worker
threads hashing request bodies also take: with every server thread on one core, the
event loop then waits out a worker's time slice (measured: HMAC at ~0.8 ms a call
under PUT load). Copying a hash object that already exists needs no lookup, so each
key's HMAC pads are hashed once and copied per message.
"""

from __future__ import annotations

import hashlib

_BLOCK = 64  # SHA-256's block size, in bytes
_EMPTY = hashlib.sha256()
_MAX_KEYS = 256


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    digest = _EMPTY.copy()
    digest.update(data)
    return digest.hexdigest()


def hmac_sha256(key: bytes, message: bytes) -> bytes:
    """HMAC-SHA256 of ``message`` (RFC 2104), the key's pads hashed once per key."""
    pads = _PADS.get(key)
    if pads is None:
        pads = _PADS[key] = _pads(key)
    inner = pads[0].copy()
    inner.update(message)
    outer = pads[1].copy()
    outer.update(inner.digest())
    return outer.digest()


def hmac_sha256_hex(key: bytes, message: bytes) -> str:
    """Hex HMAC-SHA256 of ``message``."""
    return hmac_sha256(key, message).hex()


def _pads(key: bytes) -> tuple[hashlib._Hash, hashlib._Hash]:
    if len(_PADS) >= _MAX_KEYS:
        # Signing keys change once a day per user and region: a full table is junk.
        _PADS.clear()
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    inner = hashlib.sha256(bytes(b ^ 0x36 for b in key))
    outer = hashlib.sha256(bytes(b ^ 0x5C for b in key))
    return inner, outer


_PADS: dict[bytes, tuple[hashlib._Hash, hashlib._Hash]] = {}
