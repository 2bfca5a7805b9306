"""Fuzzing: mutated requests against a real server; 0 answers in 5xx, 0 hangs.

Valid requests of every implemented operation (signed and unsigned; the server also
takes unsigned requests, so mutations reach the handlers, not only the signature check)
are mutated at random: bytes of XML and other bodies flipped, inserted, cut; header
values with control characters; huge, negative and wrong Content-Lengths; bogus
``x-amz-content-sha256``, Range, ``If-*`` and checksum headers; bogus query parameters
(``max-keys``, ``partNumber``, ``uploadId``, ``encoding-type``, ``response-*``...);
random methods and paths; and, last, raw bytes flipped in the request on the wire.

Each request goes out on its own socket. It must be answered, or the connection closed
by the server (what aiohttp does with a request line it cannot parse, and what the header
timeout does with a head that never ends), within a generous hang guard; the answer's
status must not be 5xx. A 501 NotImplemented for an operation aios3 does not implement is
the one honest exception, counted apart.

CI runs 3,000 requests; ``AIOS3_FULL=1`` runs 20,000 (``AIOS3_FUZZ_COUNT`` sets any
count, ``AIOS3_FUZZ_SEED`` replays a run: the seed is printed).
"""

from __future__ import annotations

import contextlib
import hashlib
import http.client
import os
import random
import re
import socket
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.functional.raw import signed_headers, signed_request
from tests.support import RunningServer, run_server, test_config

FULL = os.environ.get("AIOS3_FULL") == "1"
COUNT = int(os.environ.get("AIOS3_FUZZ_COUNT", "20000" if FULL else "3000"))
HANG_GUARD = 15.0  # seconds; the server's own timeouts below are 2 s and 1 s

BUCKET = "fuzz"
SENTINEL = "sentinel-kept"  # never named by a generated request
KEYS = ["obj", "a/b", "../x", "k%2Fk", "%FF", "dir/", "x" * 1024, "x" * 1025, "\u00e9t\u00e9"]


@dataclass
class Request:
    method: str
    target: str
    headers: list[tuple[str, str]]
    body: bytes
    sign: bool = False
    content_length: str | None = None  # None: the body's true length


@dataclass
class Outcome:
    kind: str  # "answered", "closed", "hang"
    status: int = 0
    code: str = ""


@dataclass
class Tally:
    statuses: Counter[int] = field(default_factory=Counter)
    kinds: Counter[str] = field(default_factory=Counter)
    not_implemented: int = 0
    failures: list[str] = field(default_factory=list)


# -- valid requests ------------------------------------------------------------------------


def quote_key(key: str) -> str:
    from urllib.parse import quote

    return quote(key, safe="/~")


def delete_document(rng: random.Random) -> bytes:
    keys = rng.sample(KEYS, rng.randint(1, 4))
    objects = "".join(f"<Object><Key>{key}</Key></Object>" for key in keys)
    quiet = rng.choice(["", "<Quiet>true</Quiet>", "<Quiet>false</Quiet>"])
    return f'<?xml version="1.0" encoding="UTF-8"?><Delete>{quiet}{objects}</Delete>'.encode()


def complete_document(rng: random.Random, etag: str) -> bytes:
    parts = "".join(
        f"<Part><PartNumber>{n}</PartNumber><ETag>{etag}</ETag></Part>"
        for n in range(1, rng.randint(1, 3) + 1)
    )
    return f"<CompleteMultipartUpload>{parts}</CompleteMultipartUpload>".encode()


def valid_request(rng: random.Random, upload_id: str, etag: str) -> Request:
    key = quote_key(rng.choice(KEYS))
    body = rng.randbytes(rng.choice([0, 1, 10, 1000, 70_000]))
    choice = rng.randrange(14)
    if choice == 0:
        return Request("PUT", f"/{BUCKET}/{key}", [("Content-Type", "text/plain")], body)
    if choice == 1:
        headers = [("Content-MD5", "1B2M2Y8AsgTpgAmY7PhCfg=="), ("x-amz-meta-a", "b")]
        return Request("PUT", f"/{BUCKET}/{key}", headers, body)
    if choice == 2:
        headers = [("Range", "bytes=0-10"), ("If-None-Match", '"abc"')]
        return Request("GET", f"/{BUCKET}/{key}", headers, b"")
    if choice == 3:
        return Request("HEAD", f"/{BUCKET}/{key}", [("If-Modified-Since", "Sat, 1 Jan 2000")], b"")
    if choice == 4:
        return Request("DELETE", f"/{BUCKET}/{key}", [], b"")
    if choice == 5:
        return Request("POST", f"/{BUCKET}?delete", [], delete_document(rng))
    if choice == 6:
        return Request(
            "POST", f"/{BUCKET}/mp?uploadId={upload_id}", [], complete_document(rng, etag)
        )
    if choice == 7:
        target = f"/{BUCKET}/mp?partNumber={rng.randint(1, 3)}&uploadId={upload_id}"
        return Request("PUT", target, [], body)
    if choice == 8:
        return Request("GET", f"/{BUCKET}?list-type=2&max-keys=2&prefix=a&delimiter=/", [], b"")
    if choice == 9:
        return Request("GET", f"/{BUCKET}?marker=a&max-keys=5&encoding-type=url", [], b"")
    if choice == 10:
        config = b"<CreateBucketConfiguration><LocationConstraint>eu-west-1</LocationConstraint></CreateBucketConfiguration>"
        return Request("PUT", f"/fuzz-{rng.randrange(1000)}", [], config)
    if choice == 11:
        headers = [("x-amz-copy-source", f"/{BUCKET}/{SENTINEL}")]
        return Request("PUT", f"/{BUCKET}/{key}", headers, b"")
    if choice == 12:
        return Request("GET", f"/{BUCKET}?uploads", [], b"")
    return Request("POST", f"/{BUCKET}/{key}?uploads", [], b"")


# -- mutations -----------------------------------------------------------------------------

NASTY = [
    "",
    " ",
    "\x00",
    "\x01\x02",
    "\x7f",
    "\t\t",
    "\r",
    "\n",
    "\r\n",
    "%",
    "%FF",
    "\u00ff",
    "\ufffd",
    "\udcff\udcfe",  # bytes 0xFF 0xFE on the wire: not UTF-8
    "caf\udce9",
    "%E9%FF",
    "-1",
    "0",
    "99999999999999999999999",
    "1e3",
    "NaN",
    "bytes=",
    "*",
    '"',
    "<",
    "&amp;",
    "A" * 9000,
]
HEADERS = [
    "Content-Length",
    "Content-MD5",
    "Content-Type",
    "Content-Encoding",
    "Range",
    "If-Match",
    "If-None-Match",
    "If-Modified-Since",
    "If-Unmodified-Since",
    "x-amz-content-sha256",
    "x-amz-date",
    "x-amz-decoded-content-length",
    "x-amz-trailer",
    "x-amz-sdk-checksum-algorithm",
    "x-amz-checksum-crc32",
    "x-amz-checksum-sha256",
    "x-amz-checksum-crc64nvme",
    "x-amz-copy-source",
    "x-amz-copy-source-range",
    "x-amz-copy-source-if-match",
    "x-amz-metadata-directive",
    "x-amz-meta-fuzz",
    "x-amz-checksum-mode",
    "Expect",
    "Transfer-Encoding",
    "Authorization",
    "Host",
    "Connection",
]
HEADER_VALUES = {
    "Range": ["bytes=5-1", "bytes=-0", "bytes=0-", "bytes=1-2,3-4", "bytes=x-y", "items=0-1"],
    "x-amz-content-sha256": [
        "UNSIGNED-PAYLOAD",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD",
        "STREAMING-UNSIGNED-PAYLOAD-TRAILER",
        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
        "0" * 64,
        "zz",
    ],
    "Content-Encoding": ["aws-chunked", "gzip", "aws-chunked,gzip"],
    "Transfer-Encoding": ["chunked", "gzip", "chunked, chunked", "identity"],
    "x-amz-sdk-checksum-algorithm": ["CRC32", "CRC64NVME", "MD5", "crc32c"],
    "x-amz-trailer": ["x-amz-checksum-crc32", "x-amz-checksum-nope", "Content-Length"],
    "x-amz-copy-source": [
        f"/{BUCKET}/{SENTINEL}",
        "/nope/x",
        "/",
        "%FF",
        f"{BUCKET}/a?versionId=1",
    ],
    "x-amz-copy-source-range": ["bytes=0-0", "bytes=0-99999", "bytes=5-1"],
    "x-amz-metadata-directive": ["COPY", "REPLACE", "MOVE"],
    "x-amz-checksum-mode": ["ENABLED", "DISABLED"],
    "Expect": ["100-continue", "200-ok"],
    "If-Match": ['"0"', "*", 'W/"x"'],
    "If-None-Match": ["*", '"0"'],
    "If-Modified-Since": ["Thu, 01 Jan 1970 00:00:00 GMT", "Fri, 31 Dec 9999 23:59:59 GMT"],
}
PARAMS = [
    "max-keys",
    "partNumber",
    "uploadId",
    "encoding-type",
    "list-type",
    "continuation-token",
    "start-after",
    "marker",
    "prefix",
    "delimiter",
    "fetch-owner",
    "max-uploads",
    "max-parts",
    "part-number-marker",
    "key-marker",
    "upload-id-marker",
    "response-content-type",
    "response-content-disposition",
    "response-expires",
    "response-cache-control",
    "x-id",
    "delete",
    "uploads",
    "location",
    "X-Amz-Signature",
    "X-Amz-Credential",
    "X-Amz-Expires",
    "X-Amz-Date",
    "X-Amz-Algorithm",
    "Signature",
    "Expires",
    "AWSAccessKeyId",
]
PARAM_VALUES = [
    "\udcff",
    "-1",
    "0",
    "1",
    "10001",
    "2147483648",
    "abc",
    "url",
    "xml",
    "2",
    "3",
    "%FF",
    "%0D%0AX-Injected:%201",
    "%00",
    "%2F",
    "",
    "AWS4-HMAC-SHA256",
]
METHODS = [
    "GET",
    "PUT",
    "POST",
    "DELETE",
    "HEAD",
    "OPTIONS",
    "PATCH",
    "TRACE",
    "CONNECT",
    "get",
    "FOO",
    "G ET",
    "GET\x00",
    "",
]
PATHS = [
    "/",
    "//",
    "*",
    "/%",
    "/%ZZ",
    "/..",
    "/../..",
    f"/{BUCKET}/%00",
    f"/{BUCKET}/" + "%FF" * 3,
    "http://127.0.0.1/x",
    f"/{BUCKET}?",
    f"/{BUCKET}?&&=&",
    f"/{BUCKET}#frag",
    f"/{BUCKET}/" + "k" * 20_000,
    f"/{BUCKET}/a b",
    # Admin paths that cannot change the server (unsigned requests act as the admin
    # here: a reset or an injected fault would be the fuzzer's doing, not a bug).
    "/_aios3/requests",
    "/_aios3/nope",
]


def mutate_bytes(rng: random.Random, data: bytes) -> bytes:
    if not data:
        return rng.randbytes(rng.randint(1, 64))
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        operation = rng.randrange(6)
        at = rng.randrange(len(buffer) + 1)
        if operation == 0 and buffer:
            buffer[min(at, len(buffer) - 1)] = rng.randrange(256)
        elif operation == 1:
            buffer[at:at] = rng.randbytes(rng.randint(1, 16))
        elif operation == 2:
            del buffer[at : at + rng.randint(1, 32)]
        elif operation == 3:
            del buffer[at:]  # truncation
        elif operation == 4:
            snippet = rng.choice(
                [
                    b"<",
                    b">",
                    b"</",
                    b"&",
                    b"&lt;",
                    b"&#0;",
                    b"&#x110000;",
                    b"<!DOCTYPE x>",
                    b"<![CDATA[",
                    b"]]>",
                    b"<?x?>",
                    b"<Object>",
                    b"<Key>",
                    b"\xff",
                    b"\xc0\xae",
                    b"\x00",
                ]
            )
            buffer[at:at] = snippet
        else:
            start = rng.randrange(len(buffer) + 1)
            buffer[at:at] = buffer[start : start + rng.randint(1, 64)]
    return bytes(buffer)


def mutate(rng: random.Random, request: Request) -> Request:
    for _ in range(rng.randint(1, 3)):
        operation = rng.randrange(9)
        if operation == 0:
            request.body = mutate_bytes(rng, request.body)
        elif operation == 1:
            name = rng.choice(HEADERS)
            value = rng.choice(HEADER_VALUES.get(name, []) + NASTY)
            if name == "Content-Length":
                request.content_length = rng.choice(
                    [
                        "-1",
                        "abc",
                        "99999999999999999999",
                        str(len(request.body) + 5),
                        "0",
                        "1 2",
                        "+5",
                    ]
                )
            else:
                request.headers.append((name, value))
        elif operation == 2:
            request.headers.append((rng.choice(HEADERS), rng.choice(NASTY) + rng.choice(NASTY)))
        elif operation == 3:
            name, value = rng.choice(PARAMS), rng.choice(PARAM_VALUES)
            separator = "&" if "?" in request.target else "?"
            request.target += (
                f"{separator}{name}={value}" if rng.random() < 0.8 else f"{separator}{name}"
            )
        elif operation == 4:
            request.method = rng.choice(METHODS)
        elif operation == 5:
            request.target = rng.choice(PATHS)
        elif operation == 6:
            request.body = rng.randbytes(rng.choice([0, 1, 100, 5000]))
        elif operation == 7:
            request.headers.append((rng.choice(["X-" + "a" * 100, "Bad Name", "", "X:Y"]), "v"))
        else:
            request.sign = not request.sign
    return request


SIGNING_HEADERS = {"authorization", "x-amz-date", "x-amz-content-sha256"}


def wire(server: RunningServer, request: Request, rng: random.Random) -> bytes:
    headers = list(request.headers)
    if request.sign:
        with contextlib.suppress(Exception):  # botocore may refuse what we made
            signed = signed_headers(
                server, request.method, request.target, dict(headers), request.body
            )
            # Only the signing headers from botocore (it turns odd values of the others
            # into email.header objects); the rest go out as made.
            have = {name.lower() for name, _ in headers}
            headers += [
                (name, value)
                for name, value in signed.items()
                if name.lower() in SIGNING_HEADERS and name.lower() not in have
                if isinstance(value, str)
            ]
    names = {name.lower() for name, _ in headers}
    if "host" not in names:
        headers.insert(0, ("Host", server.endpoint_url.split("//", 1)[1]))
    if request.content_length is not None:
        headers.append(("Content-Length", request.content_length))
    elif "content-length" not in names and (request.body or request.method in ("PUT", "POST")):
        headers.append(("Content-Length", str(len(request.body))))
    head = f"{request.method} {request.target} HTTP/1.1\r\n" + "".join(
        f"{name}: {value}\r\n" for name, value in headers
    )
    data = head.encode("utf-8", "surrogateescape") + b"\r\n" + request.body
    if rng.random() < 0.05:  # and now and then, bytes flipped anywhere on the wire
        data = mutate_bytes(rng, data)
    return data


# -- sending -------------------------------------------------------------------------------


def exchange(server: RunningServer, data: bytes, method: str) -> Outcome:
    host, port = server.endpoint_url.split("//", 1)[1].rsplit(":", 1)
    deadline = time.monotonic() + HANG_GUARD
    with socket.create_connection((host, int(port)), timeout=HANG_GUARD) as sock:
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            sock.sendall(data)
        sock.settimeout(max(0.1, deadline - time.monotonic()))
        response = http.client.HTTPResponse(sock, method="HEAD" if method == "HEAD" else "GET")
        try:
            response.begin()
            body = response.read()
        except TimeoutError:
            return Outcome("hang")
        except (http.client.RemoteDisconnected, ConnectionResetError, http.client.IncompleteRead):
            return Outcome("closed")
        except http.client.HTTPException as exc:
            return Outcome("closed", code=type(exc).__name__)
        finally:
            response.close()
    code = re.search(rb"<Code>([^<]*)</Code>", body)
    return Outcome("answered", response.status, code.group(1).decode() if code else "")


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    config = test_config(
        tmp_path_factory.mktemp("fuzz") / "data", no_auth=True, header_timeout=2.0, body_timeout=1.0
    )
    with run_server(config) as server:
        yield server


def test_fuzz_no_5xx_no_hangs(fuzz_server: RunningServer) -> None:
    server = fuzz_server
    seed = int(os.environ.get("AIOS3_FUZZ_SEED", str(random.SystemRandom().randrange(2**32))))
    print(f"\nfuzz seed {seed} (replay: AIOS3_FUZZ_SEED={seed}), {COUNT} requests")
    assert signed_request(server, "PUT", f"/{BUCKET}").status == 200
    assert signed_request(server, "PUT", f"/{BUCKET}/{SENTINEL}", body=b"kept").status == 200
    created = signed_request(server, "POST", f"/{BUCKET}/mp?uploads")
    match = re.search(rb"<UploadId>([^<]+)</UploadId>", created.body)
    assert match is not None
    upload_id = match.group(1).decode()
    part = signed_request(
        server, "PUT", f"/{BUCKET}/mp?partNumber=1&uploadId={upload_id}", body=b"p" * 100
    )
    etag = part.headers["ETag"]

    def one(number: int) -> tuple[int, Request, Outcome]:
        rng = random.Random(f"{seed}-{number}")
        request = valid_request(rng, upload_id, etag)
        if rng.random() < 0.5:
            request.sign = True
        if rng.random() < 0.95:  # a few stay valid, as controls
            request = mutate(rng, request)
        data = wire(server, request, rng)
        return number, request, exchange(server, data, request.method)

    tally = Tally()
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=16) as pool:
        for number, request, outcome in pool.map(one, range(COUNT)):
            tally.kinds[outcome.kind] += 1
            tally.statuses[outcome.status] += 1
            if outcome.kind == "hang":
                tally.failures.append(f"#{number} hang: {request!r:.300}")
            elif outcome.status >= 500:
                if outcome.status == 501 and outcome.code == "NotImplemented":
                    tally.not_implemented += 1
                else:
                    tally.failures.append(
                        f"#{number} {outcome.status} {outcome.code}: {request!r:.300}"
                    )
    elapsed = time.monotonic() - started
    statuses = ", ".join(f"{status or 'none'}: {n}" for status, n in sorted(tally.statuses.items()))
    print(
        f"fuzz: {COUNT} requests in {elapsed:.1f} s; {dict(tally.kinds)}; statuses {statuses}; "
        f"501 NotImplemented {tally.not_implemented}; failures {len(tally.failures)}"
    )
    assert tally.failures == [], "\n".join(tally.failures[:20])
    assert sum(tally.kinds.values()) == COUNT
    # Still healthy: the sentinel object intact, no temp files left behind.
    assert signed_request(server, "GET", f"/{BUCKET}/{SENTINEL}").body == b"kept"
    tmp = Path(server.root) / "tmp"
    deadline = time.monotonic() + 15
    while any(tmp.iterdir()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list(tmp.iterdir()) == []


def test_fuzz_body_digest_is_stable() -> None:
    """The mutators are deterministic for a seed, so a printed seed replays a run."""

    def digest(seed: int) -> str:
        hasher = hashlib.sha256()
        for number in range(50):
            rng = random.Random(f"{seed}-{number}")
            request = mutate(rng, valid_request(rng, "u", '"e"'))
            hasher.update(repr(request).encode())
        return hasher.hexdigest()

    assert digest(7) == digest(7)
    assert digest(7) != digest(8)


# -- what the fuzzer found, kept as regressions ---------------------------------------------


def raw_exchange(server: RunningServer, head: bytes, body: bytes = b"") -> tuple[int, bytes]:
    host, port = server.endpoint_url.split("//", 1)[1].rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=HANG_GUARD) as sock:
        sock.sendall(head + body)
        response = http.client.HTTPResponse(sock, method="GET")
        response.begin()
        return response.status, response.read()


def head_of(method: str, target: str, *headers: bytes, length: int | None = None) -> bytes:
    lines = [f"{method} {target} HTTP/1.1".encode(), b"Host: x", *headers]
    if length is not None:
        lines.append(f"Content-Length: {length}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n"


@pytest.fixture
def fuzz_bucket(fuzz_server: RunningServer) -> str:
    status, _ = raw_exchange(fuzz_server, head_of("PUT", "/fuzz-regressions", length=0))
    assert status == 200
    status, _ = raw_exchange(fuzz_server, head_of("PUT", "/fuzz-regressions/src", length=1), b"s")
    assert status == 200
    return "fuzz-regressions"


def test_copy_source_not_utf8_is_invalid_argument(
    fuzz_server: RunningServer, fuzz_bucket: str
) -> None:
    # Was 500: parse_copy_source re-encoded the surrogate-escaped header strictly.
    head = head_of("PUT", f"/{fuzz_bucket}/dst", b"x-amz-copy-source: /fuzz-regressions/caf\xe9")
    status, body = raw_exchange(fuzz_server, head)
    assert status == 400
    assert b"<Code>InvalidArgument</Code>" in body


@pytest.mark.parametrize("target", ["/fuzz-regressions/meta", "/fuzz-regressions/meta?uploads"])
@pytest.mark.parametrize("header", [b"x-amz-meta-a: caf\xe9", b"Content-Type: text/\xff"])
def test_metadata_not_utf8_is_invalid_argument(
    fuzz_server: RunningServer, fuzz_bucket: str, target: str, header: bytes
) -> None:
    # Was 500: the metadata size check encoded surrogate-escaped values strictly.
    method = "POST" if target.endswith("?uploads") else "PUT"
    status, body = raw_exchange(fuzz_server, head_of(method, target, header, length=1), b"m")
    assert status == 400
    assert b"<Code>InvalidArgument</Code>" in body


def test_error_document_echoing_non_utf8_header_still_parses(fuzz_server: RunningServer) -> None:
    # Was 500: rendering the error document (which names the bad Authorization) failed.
    head = head_of("GET", "/fuzz-regressions", b"Authorization: AWS4-HMAC-SHA256 \xff\xfe")
    status, body = raw_exchange(fuzz_server, head)
    assert 400 <= status < 500
    import xml.etree.ElementTree as ET

    ET.fromstring(body)  # parses


def test_response_override_with_crlf_is_invalid_argument(
    fuzz_server: RunningServer, fuzz_bucket: str
) -> None:
    # Was a dropped connection: aiohttp refuses to write a header holding CR/LF.
    target = f"/{fuzz_bucket}/src?response-content-type=text/plain%0D%0AX-Injected:%201"
    status, body = raw_exchange(fuzz_server, head_of("GET", target))
    assert status == 400
    assert b"<Code>InvalidArgument</Code>" in body
    assert b"X-Injected" not in body.split(b"\r\n\r\n")[0]


@pytest.mark.parametrize("value", [b"caf\xe9", b"200-ok", b"\xff"])
@pytest.mark.parametrize(
    ("method", "target"),
    [
        ("GET", "/{bucket}/src"),
        # Routed to nothing, where aiohttp ran its own Expect handler (fuzz seed
        # 3469001992): a CONNECT's target has no path, "//" no bucket.
        ("CONNECT", "/{bucket}/src?uploads"),
        ("PUT", "//"),
    ],
)
def test_unknown_expect_is_417(
    fuzz_server: RunningServer, fuzz_bucket: str, value: bytes, method: str, target: str
) -> None:
    # Was 500 for a value that is not UTF-8: aiohttp echoed it in its 417 body.
    status, _ = raw_exchange(
        fuzz_server, head_of(method, target.format(bucket=fuzz_bucket), b"Expect: " + value)
    )
    assert status == 417
