"""The aws-chunked decoder against AWS's published example, botocore's own encoder, and
every way a body can be wrong; fed whole, byte by byte and in random pieces."""

from __future__ import annotations

import base64
import hashlib
import hmac
import io
import random
import zlib
from collections.abc import AsyncIterator, Callable

import pytest
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha256Checksum

from aios3.auth import AuthResult, ChunkChain, verified_body
from aios3.auth.chunked import ChunkedBody, decode
from aios3.errors import S3Error

# "Signature Calculations for the Authorization Header: Transferring Payload in
# Multiple Chunks", Example: PUT Object (S3 API reference).
AWS_SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
AWS_DATE = "20130524T000000Z"
AWS_SCOPE = "20130524/us-east-1/s3/aws4_request"
AWS_SEED = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"
AWS_CHUNK_SIGNATURES = (
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
)
AWS_DATA = b"a" * (65536 + 1024)
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.digest(key, text.encode(), "sha256")


def aws_key() -> bytes:
    key = _hmac(("AWS4" + AWS_SECRET).encode(), "20130524")
    for part in ("us-east-1", "s3", "aws4_request"):
        key = _hmac(key, part)
    return key


AWS_CHAIN = ChunkChain(key=aws_key(), amz_date=AWS_DATE, scope=AWS_SCOPE, seed=AWS_SEED)


def aws_example_body() -> bytes:
    sizes = (65536, 1024, 0)
    body = b""
    for size, signature in zip(sizes, AWS_CHUNK_SIGNATURES, strict=True):
        body += f"{size:x};chunk-signature={signature}\r\n".encode() + b"a" * size + b"\r\n"
    return body


def sign_chunks(
    data: bytes,
    chunk_size: int,
    *,
    chain: ChunkChain = AWS_CHAIN,
    trailer: tuple[str, str] | None = None,
    signed_trailer: bool = True,
) -> bytes:
    """Frame ``data`` as a signed aws-chunked body, computed here with hmac/hashlib alone."""
    previous = chain.seed
    out = b""
    pieces = [data[i : i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for piece in pieces:
        string_to_sign = "\n".join(
            [
                "AWS4-HMAC-SHA256-PAYLOAD",
                chain.amz_date,
                chain.scope,
                previous,
                EMPTY_SHA256,
                hashlib.sha256(piece).hexdigest(),
            ]
        )
        previous = _hmac(chain.key, string_to_sign).hex()
        out += f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece
        out += b"\r\n" if piece else b""
    if trailer is not None:
        line = f"{trailer[0]}:{trailer[1]}\n"
        out += line.replace("\n", "\r\n").encode()
        if signed_trailer:
            string_to_sign = "\n".join(
                [
                    "AWS4-HMAC-SHA256-TRAILER",
                    chain.amz_date,
                    chain.scope,
                    previous,
                    hashlib.sha256(line.encode()).hexdigest(),
                ]
            )
            out += f"x-amz-trailer-signature:{_hmac(chain.key, string_to_sign).hex()}\r\n".encode()
    return out + b"\r\n"


def crc32(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


async def pieces(body: bytes, split: Callable[[int], int]) -> AsyncIterator[bytes]:
    position = 0
    while position < len(body):
        size = max(1, split(len(body) - position))
        yield body[position : position + size]
        position += size


async def run(body: bytes, spec: ChunkedBody, split: Callable[[int], int] | None = None) -> bytes:
    out = bytearray()
    async for piece in decode(pieces(body, split or (lambda rest: rest)), spec):
        out += piece
    return bytes(out)


_RANDOM = random.Random(1234)
SPLITS: dict[str, Callable[[int], int]] = {
    "whole": lambda rest: rest,
    "1-byte": lambda rest: 1,
    "7-byte": lambda rest: 7,
    "random": lambda rest: _RANDOM.randint(1, 9000),
}


# -- the AWS example ---------------------------------------------------------------------


def test_aws_example_signatures_are_the_published_ones() -> None:
    assert sign_chunks(AWS_DATA, 65536) == aws_example_body()


@pytest.mark.parametrize("split", SPLITS)
async def test_decode_aws_example(split: str) -> None:
    spec = ChunkedBody(chain=AWS_CHAIN, decoded_length=66560)
    assert await run(aws_example_body(), spec, SPLITS[split]) == AWS_DATA


async def test_decode_aws_example_without_final_crlf() -> None:
    spec = ChunkedBody(chain=AWS_CHAIN, decoded_length=66560)
    assert await run(aws_example_body()[:-2], spec) == AWS_DATA


async def test_decode_aws_example_with_bare_newlines() -> None:
    body = aws_example_body().replace(b"\r\n", b"\n")
    assert await run(body, ChunkedBody(chain=AWS_CHAIN)) == AWS_DATA


async def test_decode_aws_example_seed_mismatch_is_signature_error() -> None:
    chain = ChunkChain(key=AWS_CHAIN.key, amz_date=AWS_DATE, scope=AWS_SCOPE, seed="0" * 64)
    with pytest.raises(S3Error) as caught:
        await run(aws_example_body(), ChunkedBody(chain=chain))
    assert caught.value.code == "SignatureDoesNotMatch"


# -- botocore's encoder (unsigned trailer form, what boto3 sends over HTTPS) -------------


def botocore_body(data: bytes, checksum: type, chunk_size: int) -> bytes:
    name = "x-amz-checksum-" + ("crc32" if checksum is Crc32Checksum else "sha256")
    wrapper = AwsChunkedWrapper(
        io.BytesIO(data), checksum_cls=checksum, checksum_name=name, chunk_size=chunk_size
    )
    return b"".join(wrapper)


@pytest.mark.parametrize("split", SPLITS)
async def test_decode_botocore_unsigned_trailer(split: str) -> None:
    data = bytes(range(256)) * 300
    body = botocore_body(data, Crc32Checksum, 10000)
    assert body.endswith(f"0\r\nx-amz-checksum-crc32:{crc32(data)}\r\n\r\n".encode())
    spec = ChunkedBody(chain=None, trailer="x-amz-checksum-crc32", decoded_length=len(data))
    assert await run(body, spec, SPLITS[split]) == data


async def test_decode_botocore_sha256_trailer() -> None:
    data = b"hello world" * 1000
    body = botocore_body(data, Sha256Checksum, 4096)
    spec = ChunkedBody(chain=None, trailer="x-amz-checksum-sha256")
    assert await run(body, spec) == data


async def test_decode_botocore_empty_body() -> None:
    body = botocore_body(b"", Crc32Checksum, 1024)
    spec = ChunkedBody(chain=None, trailer="x-amz-checksum-crc32", decoded_length=0)
    assert await run(body, spec) == b""


async def test_decode_unsigned_without_trailer() -> None:
    assert await run(b"3\r\nabc\r\n0\r\n\r\n", ChunkedBody(chain=None)) == b"abc"


async def test_decode_trailer_lines_separated_by_blank_line() -> None:
    body = b"3\r\nabc\r\n0\r\n" + f"x-amz-checksum-crc32:{crc32(b'abc')}\n\r\n".encode()
    spec = ChunkedBody(chain=None, trailer="x-amz-checksum-crc32")
    assert await run(body, spec) == b"abc"


# -- signed trailer form ------------------------------------------------------------------


@pytest.mark.parametrize("split", SPLITS)
async def test_decode_signed_trailer(split: str) -> None:
    data = b"0123456789" * 3000
    body = sign_chunks(data, 8192, trailer=("x-amz-checksum-crc32", crc32(data)))
    spec = ChunkedBody(
        chain=AWS_CHAIN,
        trailer="x-amz-checksum-crc32",
        signed_trailer=True,
        decoded_length=len(data),
    )
    assert await run(body, spec, SPLITS[split]) == data


# -- constant memory ----------------------------------------------------------------------


async def test_decode_streams_a_large_chunk_in_pieces() -> None:
    data = b"x" * (8 * 1024 * 1024)
    body = sign_chunks(data, len(data))
    biggest = 0
    spec = ChunkedBody(chain=AWS_CHAIN, decoded_length=len(data))
    total = 0
    async for piece in decode(pieces(body, lambda rest: 65536), spec):
        biggest = max(biggest, len(piece))
        total += len(piece)
    assert total == len(data)
    assert biggest <= 65536


# -- failures -----------------------------------------------------------------------------


async def failure(body: bytes, spec: ChunkedBody) -> tuple[str, int]:
    for split in SPLITS.values():
        with pytest.raises(S3Error) as caught:
            await run(body, spec, split)
        code = caught.value.code, caught.value.status
    return code


SIGNED = ChunkedBody(chain=AWS_CHAIN, decoded_length=66560)


async def test_forged_chunk_signature() -> None:
    body = aws_example_body().replace(AWS_CHUNK_SIGNATURES[1].encode(), b"1" * 64)
    assert await failure(body, SIGNED) == ("SignatureDoesNotMatch", 403)


async def test_forged_final_chunk_signature() -> None:
    body = aws_example_body().replace(AWS_CHUNK_SIGNATURES[2].encode(), b"2" * 64)
    assert await failure(body, SIGNED) == ("SignatureDoesNotMatch", 403)


async def test_tampered_chunk_data() -> None:
    body = bytearray(aws_example_body())
    body[66000] = ord("b")
    assert await failure(bytes(body), SIGNED) == ("SignatureDoesNotMatch", 403)


async def test_missing_chunk_signature_in_signed_form() -> None:
    body = b"3\r\nabc\r\n0\r\n\r\n"
    assert await failure(body, ChunkedBody(chain=AWS_CHAIN)) == ("SignatureDoesNotMatch", 403)


async def test_truncated_chunk() -> None:
    assert await failure(aws_example_body()[:30000], SIGNED) == ("IncompleteBody", 400)


async def test_truncated_before_final_chunk() -> None:
    body = aws_example_body()
    cut = body.index(b"0;chunk-signature=" + AWS_CHUNK_SIGNATURES[2].encode())
    assert await failure(body[:cut], SIGNED) == ("IncompleteBody", 400)


async def test_decoded_length_short() -> None:
    spec = ChunkedBody(chain=AWS_CHAIN, decoded_length=70000)
    assert await failure(aws_example_body(), spec) == ("IncompleteBody", 400)


async def test_decoded_length_long_is_refused_before_reading_on() -> None:
    spec = ChunkedBody(chain=AWS_CHAIN, decoded_length=1000)
    received: list[bytes] = []

    async def consume() -> None:
        async for piece in decode(pieces(aws_example_body(), lambda rest: 1024), spec):
            received.append(piece)

    with pytest.raises(S3Error) as caught:
        await consume()
    assert caught.value.code == "IncompleteBody"
    assert received == []


async def test_bad_chunk_size() -> None:
    body = b"zz\r\nabc\r\n0\r\n\r\n"
    assert await failure(body, ChunkedBody(chain=None)) == ("InvalidRequest", 400)


async def test_chunk_data_longer_than_its_size() -> None:
    body = b"3\r\nabcd\r\n0\r\n\r\n"
    assert await failure(body, ChunkedBody(chain=None)) == ("InvalidRequest", 400)


async def test_endless_header_line() -> None:
    body = b"3" + b" " * 100000
    assert await failure(body, ChunkedBody(chain=None)) == ("InvalidRequest", 400)


async def test_wrong_trailer_checksum() -> None:
    body = b"3\r\nabc\r\n0\r\n" + f"x-amz-checksum-crc32:{crc32(b'abd')}\r\n\r\n".encode()
    spec = ChunkedBody(chain=None, trailer="x-amz-checksum-crc32")
    assert await failure(body, spec) == ("BadDigest", 400)


async def test_malformed_trailer_checksum() -> None:
    body = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:nope\r\n\r\n"
    spec = ChunkedBody(chain=None, trailer="x-amz-checksum-crc32")
    assert await failure(body, spec) == ("InvalidRequest", 400)


async def test_missing_trailer() -> None:
    spec = ChunkedBody(chain=None, trailer="x-amz-checksum-crc32")
    assert await failure(b"3\r\nabc\r\n0\r\n\r\n", spec) == ("InvalidRequest", 400)


async def test_unannounced_trailer() -> None:
    body = b"3\r\nabc\r\n0\r\n" + f"x-amz-checksum-crc32:{crc32(b'abc')}\r\n\r\n".encode()
    assert await failure(body, ChunkedBody(chain=None)) == ("InvalidRequest", 400)


SIGNED_TRAILER = ChunkedBody(
    chain=AWS_CHAIN, trailer="x-amz-checksum-crc32", signed_trailer=True, decoded_length=3
)


async def test_wrong_trailer_signature() -> None:
    body = sign_chunks(b"abc", 64, trailer=("x-amz-checksum-crc32", crc32(b"abc")))
    start = body.index(b"x-amz-trailer-signature:") + len(b"x-amz-trailer-signature:")
    forged = body[:start] + b"3" * 64 + body[start + 64 :]
    assert await failure(forged, SIGNED_TRAILER) == ("SignatureDoesNotMatch", 403)


async def test_trailer_value_changed_after_signing() -> None:
    body = sign_chunks(b"abc", 64, trailer=("x-amz-checksum-crc32", crc32(b"abc")))
    forged = body.replace(crc32(b"abc").encode(), crc32(b"abd").encode())
    assert await failure(forged, SIGNED_TRAILER) == ("SignatureDoesNotMatch", 403)


async def test_missing_trailer_signature() -> None:
    body = sign_chunks(
        b"abc", 64, trailer=("x-amz-checksum-crc32", crc32(b"abc")), signed_trailer=False
    )
    assert await failure(body, SIGNED_TRAILER) == ("SignatureDoesNotMatch", 403)


async def test_signed_trailer_with_wrong_checksum() -> None:
    body = sign_chunks(b"abc", 64, trailer=("x-amz-checksum-crc32", crc32(b"abd")))
    assert await failure(body, SIGNED_TRAILER) == ("BadDigest", 400)


async def test_garbage_after_last_chunk() -> None:
    body = aws_example_body() + b"x" * 20000
    assert await failure(body, SIGNED) == ("InvalidRequest", 400)


# -- choosing the form from the request ------------------------------------------------


def headers_of(**values: str) -> Callable[[str], str | None]:
    lowered = {name.replace("_", "-").lower(): value for name, value in values.items()}
    return lambda name: lowered.get(name.lower())


async def collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([piece async for piece in stream])


async def test_verified_body_plain_passes_through() -> None:
    auth = AuthResult("ak", "sigv4-header", hashlib.sha256(b"abc").hexdigest())
    stream = verified_body(pieces(b"abc", lambda rest: 1), auth, headers_of())
    assert await collect(stream) == b"abc"


async def test_verified_body_aws_chunked_encoding_with_unsigned_payload() -> None:
    auth = AuthResult("ak", "sigv4-header", None)
    header = headers_of(content_encoding="aws-chunked", x_amz_decoded_content_length="3")
    stream = verified_body(pieces(b"3\r\nabc\r\n0\r\n\r\n", lambda rest: 2), auth, header)
    assert await collect(stream) == b"abc"


async def test_verified_body_streaming_signed() -> None:
    auth = AuthResult("ak", "sigv4-header", None, "STREAMING-AWS4-HMAC-SHA256-PAYLOAD", AWS_CHAIN)
    header = headers_of(x_amz_decoded_content_length="66560")
    stream = verified_body(pieces(aws_example_body(), lambda rest: 5000), auth, header)
    assert await collect(stream) == AWS_DATA


def test_verified_body_refuses_bad_headers_before_reading() -> None:
    auth = AuthResult("ak", "sigv4-header", None, "STREAMING-UNSIGNED-PAYLOAD-TRAILER")

    async def never() -> AsyncIterator[bytes]:
        raise AssertionError("read")
        yield b""

    with pytest.raises(S3Error) as caught:
        verified_body(never(), auth, headers_of(x_amz_trailer="x-amz-checksum-md5"))
    assert caught.value.code == "InvalidRequest"
    with pytest.raises(S3Error) as caught:
        verified_body(never(), auth, headers_of(x_amz_decoded_content_length="-1"))
    assert caught.value.code == "InvalidArgument"
