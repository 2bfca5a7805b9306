"""combine_crc: CRC(A+B) from CRC(A), CRC(B) and len(B), checked against the CRCs of
the whole data computed directly (zlib for CRC32, awscrt for CRC32C and CRC64NVME)."""

from __future__ import annotations

import random
import zlib
from collections.abc import Callable

import pytest
from awscrt import checksums as crt

from aios3.checksums import combine_crc

Direct = Callable[[bytes], bytes]

DIRECT: dict[str, Direct] = {
    "CRC32": lambda data: zlib.crc32(data).to_bytes(4, "big"),
    "CRC32C": lambda data: crt.crc32c(data).to_bytes(4, "big"),
    "CRC64NVME": lambda data: crt.crc64nvme(data).to_bytes(8, "big"),
}
ALGORITHMS = sorted(DIRECT)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_combine_crc_of_two_halves(algorithm: str) -> None:
    crc = DIRECT[algorithm]
    data = b"The quick brown fox jumps over the lazy dog"
    first, second = data[:10], data[10:]
    assert combine_crc(algorithm, crc(first), crc(second), len(second)) == crc(data)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_combine_crc_random_splits(algorithm: str) -> None:
    crc = DIRECT[algorithm]
    rng = random.Random(f"combine-{algorithm}")
    for _ in range(200):
        data = rng.randbytes(rng.randrange(0, 4096))
        cut = rng.randrange(0, len(data) + 1)
        first, second = data[:cut], data[cut:]
        combined = combine_crc(algorithm, crc(first), crc(second), len(second))
        assert combined == crc(data), (len(data), cut)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_combine_crc_many_pieces_folded_left(algorithm: str) -> None:
    """How completion folds parts: CRC(p1), then combine with p2, p3, ... in order."""
    crc = DIRECT[algorithm]
    rng = random.Random(f"fold-{algorithm}")
    for _ in range(20):
        pieces = [rng.randbytes(rng.randrange(0, 2000)) for _ in range(rng.randrange(1, 12))]
        total = crc(pieces[0])
        for piece in pieces[1:]:
            total = combine_crc(algorithm, total, crc(piece), len(piece))
        assert total == crc(b"".join(pieces))


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_combine_crc_empty_second_keeps_first(algorithm: str) -> None:
    crc = DIRECT[algorithm]
    assert combine_crc(algorithm, crc(b"abc"), crc(b""), 0) == crc(b"abc")


@pytest.mark.parametrize("algorithm", ALGORITHMS)
@pytest.mark.parametrize("length", [1, 7, 8, 255, 256, 65_537, 5 * 1024 * 1024 + 3])
def test_combine_crc_long_second_piece(algorithm: str, length: int) -> None:
    """Lengths that exercise the squaring ladder's bits, up to a multipart part size."""
    crc = DIRECT[algorithm]
    rng = random.Random(f"long-{algorithm}-{length}")
    first, second = rng.randbytes(100), rng.randbytes(length)
    assert combine_crc(algorithm, crc(first), crc(second), length) == crc(first + second)


@pytest.mark.parametrize("algorithm", ALGORITHMS)
def test_combine_crc_is_associative(algorithm: str) -> None:
    """(A+B)+C and A+(B+C) agree: completion may fold parts in either grouping."""
    crc = DIRECT[algorithm]
    a, b, c = b"alpha" * 50, b"beta" * 333, b"gamma" * 7
    left = combine_crc(algorithm, combine_crc(algorithm, crc(a), crc(b), len(b)), crc(c), len(c))
    right = combine_crc(
        algorithm, crc(a), combine_crc(algorithm, crc(b), crc(c), len(c)), len(b) + len(c)
    )
    assert left == right == crc(a + b + c)
