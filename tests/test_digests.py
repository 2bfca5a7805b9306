"""Our SHA-256 and HMAC-SHA256 agree with hashlib and hmac on every length that matters
(keys shorter than, equal to and longer than the block; empty and multi-block messages)."""

from __future__ import annotations

import hashlib
import hmac
import os

import pytest

from aios3.auth.digests import hmac_sha256, hmac_sha256_hex, sha256_hex


@pytest.mark.parametrize("key_size", [0, 1, 32, 63, 64, 65, 200])
@pytest.mark.parametrize("message_size", [0, 1, 55, 64, 1000, 5000])
def test_hmac_matches_the_standard_library(key_size: int, message_size: int) -> None:
    key, message = os.urandom(key_size), os.urandom(message_size)
    assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256")
    assert hmac_sha256_hex(key, message) == hmac.new(key, message, hashlib.sha256).hexdigest()


def test_the_same_key_signs_many_messages() -> None:
    key = os.urandom(32)
    for size in range(100):
        message = os.urandom(size)
        assert hmac_sha256(key, message) == hmac.digest(key, message, "sha256")


@pytest.mark.parametrize("size", [0, 1, 64, 3000])
def test_sha256_matches_hashlib(size: int) -> None:
    data = os.urandom(size)
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()
    assert sha256_hex(data) == hashlib.sha256(data).hexdigest()  # the template is untouched
