"""The aws-chunked body decoder: chunk framing off, chunk and trailer signatures checked.

An aws-chunked body ("Signature Calculations for the Authorization Header: Transferring
Payload in Multiple Chunks" and "... Including Trailing Headers" in the S3 API
reference) is a series of chunks, then a zero-length chunk, then optional trailer lines::

    <hex size>[;chunk-signature=<64 hex>]\\r\\n<data>\\r\\n   (repeated)
    0[;chunk-signature=<64 hex>]\\r\\n
    x-amz-checksum-crc32:<base64>\\r\\n                    (trailer forms)
    x-amz-trailer-signature:<64 hex>\\r\\n                 (signed trailer form)
    \\r\\n

The decoder streams: chunk data goes out as it arrives, hashed incrementally for its
signature, so memory stays constant whatever the chunk size. Every check that fails
raises ``S3Error`` before the iterator finishes, which is what tells storage to keep
nothing. Clients differ in small ways (``\\n`` for ``\\r\\n``, a blank line between the
trailer lines, the final CRLF sent or not), so those are accepted: the signatures,
the lengths and the checksum are what protect the data, not the line endings.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

from aios3 import checksums
from aios3.auth.digests import hmac_sha256_hex, sha256_hex
from aios3.auth.payload import verify_sha256
from aios3.auth.request import AuthResult, ChunkChain
from aios3.errors import S3Error

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
_CHUNK_ALGORITHM = "AWS4-HMAC-SHA256-PAYLOAD"
_TRAILER_ALGORITHM = "AWS4-HMAC-SHA256-TRAILER"
_TRAILER_SIGNATURE = "x-amz-trailer-signature"
_CHECKSUM_PREFIX = "x-amz-checksum-"
# A chunk header is a hex size and a 81-byte signature extension; anything far longer
# is not one, and must not make us buffer without bound.
_MAX_LINE = 4096
# Everything after the last chunk: a few trailer lines.
_MAX_TRAILER = 16 * 1024
_HEX = frozenset(b"0123456789abcdefABCDEF")
_MALFORMED = "The chunked body is not valid aws-chunked encoding: "


@dataclass(frozen=True, slots=True)
class ChunkedBody:
    """How to decode one aws-chunked body."""

    chain: ChunkChain | None
    """Chunk signatures to check, or None for the unsigned forms."""
    trailer: str | None = None
    """The trailer ``x-amz-trailer`` announced (lowercase), which must then arrive."""
    signed_trailer: bool = False
    """Whether the trailer carries an ``x-amz-trailer-signature`` to check."""
    decoded_length: int | None = None
    """``x-amz-decoded-content-length``: the body's length once decoded, when sent."""


def is_aws_chunked(auth: AuthResult, header: Callable[[str], str | None]) -> bool:
    """True when the body is aws-chunked: a STREAMING-* payload, or the content encoding says so.

    Some SDKs (the Java v2 one) frame bodies as aws-chunked with an UNSIGNED-PAYLOAD
    signature, so the encoding alone also counts.
    """
    if auth.streaming is not None:
        return True
    encoding = header("Content-Encoding")
    return encoding is not None and any(
        part.strip().lower() == "aws-chunked" for part in encoding.split(",")
    )


def decoded_length(header: Callable[[str], str | None]) -> int | None:
    """``x-amz-decoded-content-length`` as a number; None when absent."""
    value = header("x-amz-decoded-content-length")
    if value is None:
        return None
    value = value.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 19:
        raise S3Error(
            "InvalidArgument",
            "x-amz-decoded-content-length must be a non-negative integer.",
            ArgumentName="x-amz-decoded-content-length",
            ArgumentValue=value,
        )
    return int(value)


def chunked_body(auth: AuthResult, header: Callable[[str], str | None]) -> ChunkedBody:
    """What decoding this request's aws-chunked body takes, from its auth and headers.

    Validated before any byte of the body is read, so a request that cannot succeed is
    refused without receiving its body.
    """
    trailer = header("x-amz-trailer")
    announced = None
    if trailer is not None:
        names = [name.strip().lower() for name in trailer.split(",") if name.strip()]
        if len(names) > 1:
            raise S3Error("InvalidRequest", "Expecting a single x-amz-trailer value.")
        if names:
            announced = names[0]
            trailer_algorithm(announced)
    signed_trailer = auth.streaming is not None and auth.streaming.endswith("-TRAILER")
    return ChunkedBody(
        chain=auth.chain,
        trailer=announced,
        signed_trailer=signed_trailer and auth.chain is not None,
        decoded_length=decoded_length(header),
    )


def trailer_algorithm(trailer: str) -> str:
    """The checksum algorithm a trailer name such as ``x-amz-checksum-crc32`` carries."""
    algorithm = trailer[len(_CHECKSUM_PREFIX) :].upper()
    if not trailer.startswith(_CHECKSUM_PREFIX) or algorithm not in checksums.ALGORITHMS:
        raise S3Error(
            "InvalidRequest",
            f"The value specified in the x-amz-trailer header is not supported: {trailer}",
        )
    return algorithm


async def decode(chunks: AsyncIterator[bytes], spec: ChunkedBody) -> AsyncIterator[bytes]:
    """Yield the data of an aws-chunked body; raise ``S3Error`` before the end if anything is wrong.

    ``chunks`` is the raw HTTP body in pieces of any size (1 byte or a megabyte).
    """
    reader = _Reader(chunks)
    chain = spec.chain
    previous = chain.seed if chain is not None else ""
    limit = spec.decoded_length
    algorithm = trailer_algorithm(spec.trailer) if spec.trailer is not None else None
    hasher = checksums.new_hasher(algorithm) if algorithm is not None else None
    total = 0
    while True:
        size, signature = _chunk_header(await reader.line(), signed=chain is not None)
        total += size
        if limit is not None and total > limit:
            # Refused before its data is read: more than announced is never received.
            raise S3Error(
                "IncompleteBody",
                "The decoded body is longer than x-amz-decoded-content-length.",
            )
        digest = hashlib.sha256() if chain is not None else None
        async for piece in reader.data(size):
            if digest is not None:
                digest.update(piece)
            if hasher is not None:
                hasher.update(piece)
            yield piece
        if chain is not None and digest is not None:
            previous = _check_chunk(chain, previous, digest.hexdigest(), signature)
        if size == 0:
            break
        if await reader.line() != b"":
            raise S3Error("InvalidRequest", _MALFORMED + "chunk data is not followed by CRLF.")
    if limit is not None and total != limit:
        raise S3Error(
            "IncompleteBody",
            "The decoded body is shorter than x-amz-decoded-content-length.",
        )
    trailers = _trailer_lines(await reader.rest(_MAX_TRAILER))
    _check_trailers(spec, trailers, chain, previous, hasher)


def _chunk_header(line: bytes, *, signed: bool) -> tuple[int, str]:
    """Size and signature of ``<hex>[;chunk-signature=<sig>][;other=ext]``."""
    size_text, _, extensions = line.partition(b";")
    size_text = size_text.strip()
    if not size_text or len(size_text) > 16 or not _HEX.issuperset(size_text):
        raise S3Error("InvalidRequest", _MALFORMED + "a chunk size is not a hex number.")
    signature = ""
    for extension in extensions.split(b";"):
        name, _, value = extension.partition(b"=")
        if name.strip() == b"chunk-signature":
            signature = value.strip().decode("ascii", "replace").lower()
    if signed and (len(signature) != 64 or not _HEX.issuperset(signature.encode())):
        raise S3Error(
            "SignatureDoesNotMatch",
            "A chunk of a signed aws-chunked body has no valid chunk-signature.",
        )
    return int(size_text, 16), signature


def _check_chunk(chain: ChunkChain, previous: str, data_hash: str, provided: str) -> str:
    """Verify one chunk's signature in the chain; return it as the next ``previous``."""
    string_to_sign = "\n".join(
        [_CHUNK_ALGORITHM, chain.amz_date, chain.scope, previous, EMPTY_SHA256, data_hash]
    )
    expected = hmac_sha256_hex(chain.key, string_to_sign.encode())
    if not hmac.compare_digest(expected, provided):
        raise S3Error(
            "SignatureDoesNotMatch",
            "The chunk signature we calculated does not match the one you provided.",
            StringToSign=string_to_sign,
            SignatureProvided=provided,
        )
    return expected


def _trailer_lines(rest: bytes) -> list[tuple[str, str]]:
    """``name:value`` lines after the last chunk, names lowercased; blank lines skipped."""
    lines: list[tuple[str, str]] = []
    for raw in rest.split(b"\n"):
        line = raw.strip()
        if not line:
            continue
        name, colon, value = line.partition(b":")
        if not colon or not name.strip():
            raise S3Error("InvalidRequest", _MALFORMED + "a trailer line is not name:value.")
        lines.append(
            (
                name.strip().decode("ascii", "replace").lower(),
                value.strip().decode("ascii", "replace"),
            )
        )
    return lines


def _check_trailers(
    spec: ChunkedBody,
    trailers: list[tuple[str, str]],
    chain: ChunkChain | None,
    previous: str,
    hasher: checksums.Hasher | None,
) -> None:
    """The announced trailer is there, signed when it must be, and matches the data."""
    values = [(name, value) for name, value in trailers if name != _TRAILER_SIGNATURE]
    if spec.trailer is None:
        if values:
            raise S3Error(
                "InvalidRequest",
                _MALFORMED + "trailing headers were sent but x-amz-trailer announced none.",
            )
        return
    found = dict(values)
    value = found.get(spec.trailer)
    if value is None:
        raise S3Error(
            "InvalidRequest",
            f"The trailer {spec.trailer} announced by x-amz-trailer is missing from the body.",
        )
    if spec.signed_trailer and chain is not None:
        signatures = [value for name, value in trailers if name == _TRAILER_SIGNATURE]
        canonical = "".join([f"{name}:{value}\n" for name, value in values])
        string_to_sign = "\n".join(
            [
                _TRAILER_ALGORITHM,
                chain.amz_date,
                chain.scope,
                previous,
                sha256_hex(canonical.encode()),
            ]
        )
        expected = hmac_sha256_hex(chain.key, string_to_sign.encode())
        provided = signatures[0].lower() if len(signatures) == 1 else ""
        if not (provided.isascii() and hmac.compare_digest(expected, provided)):
            raise S3Error(
                "SignatureDoesNotMatch",
                "The trailer signature we calculated does not match the one you provided.",
                StringToSign=string_to_sign,
                SignatureProvided=provided,
            )
    if hasher is not None:
        algorithm = trailer_algorithm(spec.trailer)
        checksums.validate(algorithm, value)
        if checksums.encode(hasher.digest()) != value:
            raise S3Error(
                "BadDigest",
                f"The {algorithm} you specified did not match the calculated checksum.",
            )


class _Reader:
    """Lines and counted byte runs over an async iterator of arbitrarily split pieces.

    Unread bytes are ``_buffer[_start:]``: consuming moves the offset instead of
    copying what remains, so a network piece holding many small chunks is not copied
    once per chunk.
    """

    def __init__(self, chunks: AsyncIterator[bytes]) -> None:
        self._chunks = chunks.__aiter__()
        self._buffer = b""
        self._start = 0
        self._done = False

    async def _more(self) -> bool:
        """Append the next piece to the unread bytes; False at the end of the body."""
        if self._done:
            return False
        async for piece in self._chunks:
            if piece:
                self._buffer = self._buffer[self._start :] + piece
                self._start = 0
                return True
        self._done = True
        return False

    async def line(self) -> bytes:
        """The next line without its ``\\n`` (or ``\\r\\n``); IncompleteBody if the body ends first."""
        searched = self._start
        while True:
            end = self._buffer.find(b"\n", searched)
            if end >= 0:
                line = self._buffer[self._start : end]
                self._start = end + 1
                return line[:-1] if line.endswith(b"\r") else line
            if len(self._buffer) - self._start > _MAX_LINE:
                raise S3Error("InvalidRequest", _MALFORMED + "a chunk header line is too long.")
            searched = len(self._buffer) - self._start
            if not await self._more():
                raise S3Error("IncompleteBody", "The aws-chunked body ended in the middle.")

    async def data(self, size: int) -> AsyncIterator[bytes]:
        """Exactly ``size`` bytes, as they arrive; IncompleteBody if the body ends first."""
        while size > 0:
            if self._start >= len(self._buffer) and not await self._more():
                raise S3Error("IncompleteBody", "The aws-chunked body ended in the middle.")
            stop = min(len(self._buffer), self._start + size)
            if self._start == 0 and stop == len(self._buffer):
                piece = self._buffer  # the whole piece: no copy
            else:
                piece = self._buffer[self._start : stop]
            size -= stop - self._start
            self._start = stop
            yield piece

    async def rest(self, limit: int) -> bytes:
        """Everything up to the end of the body, which must be at most ``limit`` bytes."""
        while len(self._buffer) - self._start <= limit:
            if not await self._more():
                return self._buffer[self._start :]
        raise S3Error("InvalidRequest", _MALFORMED + "too much data after the last chunk.")


def verified_body(
    chunks: AsyncIterator[bytes], auth: AuthResult, header: Callable[[str], str | None]
) -> AsyncIterator[bytes]:
    """The request body as the operation should see it, for every upload form.

    A plain body is checked against the signed SHA-256 (if any); an aws-chunked one is
    decoded with its chunk signatures, length and trailer checked. A signed hash with an
    aws-chunked encoding covers the bytes as sent, framing included. Header problems
    are raised here, before the body is read.
    """
    if not is_aws_chunked(auth, header):
        return verify_sha256(chunks, auth.content_sha256)
    spec = chunked_body(auth, header)
    return decode(verify_sha256(chunks, auth.content_sha256), spec)
