"""Hostile input: keys that try to climb out of the data directory, odd bytes in names,
and XML bodies built to hurt a parser.

Every test runs against a real server whose data directory sits inside a tree of decoy
files (``etc/passwd`` and friends next to it and above it); the whole tree around the
data directory is hashed before and after each test and must not change by one file.
"""

from __future__ import annotations

import gc
import hashlib
import http.client
import os
import re
import time
import tracemalloc
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.functional.raw import RawResponse, connect, path, signed_head, signed_request
from tests.support import RunningServer, run_server, test_config

UNSIGNED = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}


def tree_outside(around: Path, root: Path) -> dict[str, str]:
    """Every entry under ``around`` except the data directory ``root``: relative path ->
    the SHA-256 of a file, "dir", or a symlink's target."""
    found: dict[str, str] = {}
    for directory, dirs, files in os.walk(around, followlinks=False):
        here = Path(directory)
        if here == root:
            dirs.clear()
            continue
        for name in dirs:
            entry = here / name
            if entry == root:
                continue
            found[str(entry.relative_to(around))] = (
                f"link:{os.readlink(entry)}" if entry.is_symlink() else "dir"
            )
        for name in files:
            entry = here / name
            key = str(entry.relative_to(around))
            if entry.is_symlink():
                found[key] = f"link:{os.readlink(entry)}"
            else:
                found[key] = hashlib.sha256(entry.read_bytes()).hexdigest()
    return found


class Fence:
    """A server whose data directory is ``around/srv/data``, among decoys."""

    def __init__(self, server: RunningServer, around: Path) -> None:
        self.server = server
        self.around = around
        self.baseline = tree_outside(around, server.root)

    def check(self) -> None:
        assert tree_outside(self.around, self.server.root) == self.baseline
        # Inside, only the server's own layout: no name ever comes from a key.
        allowed = re.compile(
            r"(index\.sqlite3(-wal|-shm|-journal)?|lock|tmp|data|[0-9a-f]{2}|[0-9a-f]{32}"
            r"|uploads|trash|[0-9a-f]{32}\.part|[\w.-]+)"
        )
        for _directory, dirs, files in os.walk(self.server.root):
            for name in dirs + files:
                assert allowed.fullmatch(name), name
                assert "passwd" not in name, name
                assert ".." not in name, name


@pytest.fixture(scope="module")
def fence(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Fence]:
    around = tmp_path_factory.mktemp("around")
    for decoy in ("etc/passwd", "srv/etc/passwd", "srv/x", "x", "windows/win.ini"):
        (around / decoy).parent.mkdir(parents=True, exist_ok=True)
        (around / decoy).write_bytes(f"decoy {decoy}\n".encode())
    os.symlink("etc/passwd", around / "passwd-link")
    root = around / "srv" / "data"
    with run_server(test_config(root)) as server:
        fenced = Fence(server, around)
        yield fenced
        fenced.check()


@pytest.fixture
def server(fence: Fence) -> Iterator[RunningServer]:
    """The fenced server; the tree around it is checked after every test."""
    yield fence.server
    fence.check()


@pytest.fixture
def bucket(server: RunningServer) -> str:
    name = f"hostile-{uuid.uuid4().hex[:16]}"
    assert signed_request(server, "PUT", f"/{name}").status == 200
    return name


def keys_of(server: RunningServer, bucket: str) -> list[str]:
    s3 = server.boto3_client()
    return [item["Key"] for item in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


# -- keys --------------------------------------------------------------------------------

# Raw (still encoded) key in the request line -> the key S3 stores.
CLIMBING_KEYS = [
    ("../x", "../x"),
    ("../../../../../../etc/passwd", "../../../../../../etc/passwd"),
    ("%2E%2E/%2E%2E/etc/passwd", "../../etc/passwd"),
    ("..%2F..%2F..%2Fetc%2Fpasswd", "../../../etc/passwd"),
    ("%2E%2E%2F%2E%2E%2Fx", "../../x"),
    ("%2Fetc%2Fpasswd", "/etc/passwd"),
    ("/etc/passwd", "/etc/passwd"),  # /bucket//etc/passwd
    ("/../../x", "/../../x"),
    ("..", ".."),
    (".", "."),
    ("./", "./"),
    ("a/./b/../c", "a/./b/../c"),
    ("..%5C..%5Cwindows%5Cwin.ini", "..\\..\\windows\\win.ini"),
    ("C:%5Cwindows%5Cwin.ini", "C:\\windows\\win.ini"),
    ("%5C%5Cserver%5Cshare", "\\\\server\\share"),
    ("passwd-link", "passwd-link"),
    ("a%01b%02c%1F%7F", "a\x01b\x02c\x1f\x7f"),
    ("line%0D%0Afeed", "line\r\nfeed"),
    ("%09tab%0B%0C", "\ttab\x0b\x0c"),
    ("%EF%BF%BE%EF%BF%BF", "\ufffe\uffff"),
    ("%25FF", "%FF"),
    ("%252E%252E%252F", "%2E%2E%2F"),
]


@pytest.mark.parametrize(("raw", "key"), CLIMBING_KEYS, ids=[raw for raw, _ in CLIMBING_KEYS])
def test_hostile_key_is_stored_as_an_opaque_key(
    server: RunningServer, bucket: str, raw: str, key: str
) -> None:
    body = f"body of {key!r}".encode()
    put = signed_request(server, "PUT", f"/{bucket}/{raw}", body=body)
    assert put.status == 200, put.body
    got = signed_request(server, "GET", f"/{bucket}/{raw}")
    assert (got.status, got.body) == (200, body)
    # The same key through an SDK, which encodes it its own way.
    s3 = server.boto3_client()
    assert s3.get_object(Bucket=bucket, Key=key)["Body"].read() == body
    assert keys_of(server, bucket) == [key]
    assert signed_request(server, "DELETE", f"/{bucket}/{raw}").status == 204
    assert keys_of(server, bucket) == []


@pytest.mark.parametrize(
    ("raw", "code"),
    [
        ("%FF", "InvalidURI"),
        ("x%FFy", "InvalidURI"),
        ("%C0%AE%C0%AE/x", "InvalidURI"),  # overlong "..": not UTF-8
        ("%ED%A0%80", "InvalidURI"),  # a lone surrogate
        ("%E2%82", "InvalidURI"),  # a truncated sequence
        ("a%00b", "InvalidURI"),
        ("%00", "InvalidURI"),
        ("../%00/etc/passwd", "InvalidURI"),
        ("k" * 1025, "KeyTooLongError"),
        ("%C3%A9" * 512 + "k", "KeyTooLongError"),
        ("%2E" * 1025, "KeyTooLongError"),
    ],
    ids=lambda value: value[:24] if isinstance(value, str) else value,
)
def test_hostile_key_refused_with_its_code(
    server: RunningServer, bucket: str, raw: str, code: str
) -> None:
    for method in ("PUT", "GET", "HEAD", "DELETE"):
        response = signed_request(server, method, f"/{bucket}/{raw}", body=b"x" * (method == "PUT"))
        assert response.status == 400, (method, response.body)
        if method != "HEAD":
            assert response.error_code() == code
    assert keys_of(server, bucket) == []


def test_1024_byte_key_is_accepted_and_1025_is_key_too_long(
    server: RunningServer, bucket: str
) -> None:
    for key in ("k" * 1024, "\u00e9" * 512, "../" * 341 + "k"):
        assert len(key.encode()) == 1024
        put = signed_request(server, "PUT", path(bucket, key), body=b"long")
        assert put.status == 200, put.body
        too_long = signed_request(server, "PUT", path(bucket, key + "k"), body=b"long")
        assert (too_long.status, too_long.error_code()) == (400, "KeyTooLongError")
        assert too_long.error_field("Size") == "1025"
    assert len(keys_of(server, bucket)) == 3


def test_invalid_utf8_and_literal_percent_ff_are_told_apart(
    server: RunningServer, bucket: str
) -> None:
    invalid = signed_request(server, "PUT", f"/{bucket}/x%FFy", body=b"invalid")
    assert (invalid.status, invalid.error_code()) == (400, "InvalidURI")
    literal = signed_request(server, "PUT", f"/{bucket}/x%25FFy", body=b"literal")
    assert literal.status == 200
    assert signed_request(server, "GET", f"/{bucket}/x%25FFy").body == b"literal"
    again = signed_request(server, "GET", f"/{bucket}/x%FFy")
    assert (again.status, again.error_code()) == (400, "InvalidURI")
    assert keys_of(server, bucket) == ["x%FFy"]


@pytest.mark.parametrize(
    ("name", "code"),
    [
        ("ab", "InvalidBucketName"),
        ("a" * 64, "InvalidBucketName"),
        ("MyBucket", "InvalidBucketName"),
        ("bucket_name", "InvalidBucketName"),
        ("-bucket", "InvalidBucketName"),
        ("bucket-", "InvalidBucketName"),
        ("bucket.", "InvalidBucketName"),
        ("a..b", "InvalidBucketName"),
        ("a.-b", "InvalidBucketName"),
        ("192.168.1.1", "InvalidBucketName"),
        ("xn--bucket", "InvalidBucketName"),
        ("sthree-bucket", "InvalidBucketName"),
        ("bucket-s3alias", "InvalidBucketName"),
        ("bucket--ol-s3", "InvalidBucketName"),
        ("..", "InvalidBucketName"),
        (".", "InvalidBucketName"),
        ("%2E%2E", "InvalidBucketName"),
        ("..%2F..%2Fetc", "InvalidBucketName"),
        ("%2F", "InvalidBucketName"),
        ("a%5Cb", "InvalidBucketName"),
        ("a%20b", "InvalidBucketName"),
        ("a%01b", "InvalidBucketName"),
        ("%C3%A9t%C3%A9", "InvalidBucketName"),
        ("a%00b", "InvalidURI"),
        ("a%FFb", "InvalidURI"),
    ],
)
def test_bad_bucket_name_refused_with_its_code(server: RunningServer, name: str, code: str) -> None:
    s3 = server.boto3_client()
    before = s3.list_buckets()["Buckets"]
    response = signed_request(server, "PUT", f"/{name}")
    # The error document parses (a name with control characters echoed in it too).
    assert (response.status, response.error_code()) == (400, code), response.body
    assert s3.list_buckets()["Buckets"] == before


def test_object_requests_under_a_dot_dot_bucket_find_nothing(server: RunningServer) -> None:
    for raw in ("/../etc/passwd", "/%2E%2E/etc/passwd", "/../../../etc/passwd"):
        for method in ("GET", "PUT", "DELETE"):
            response = signed_request(server, method, raw, body=b"x" * (method == "PUT"))
            assert response.status == 404, (raw, method, response.body)
            assert response.error_code() == "NoSuchBucket"


# -- XML bodies --------------------------------------------------------------------------

BILLION_LAUGHS = (
    '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n<!ENTITY lol "lol">\n'
    + "".join(
        f'<!ENTITY lol{n} "{("&lol" + str(n - 1) + ";") * 10 if n > 1 else "&lol;" * 10}">\n'
        for n in range(1, 10)
    )
    + "]>\n<ROOT><Object><Key>&lol9;</Key></Object></ROOT>"
).encode()


def hostile_documents(root: str) -> dict[str, bytes]:
    """Bodies that must all be MalformedXML, whatever document ``root`` names."""
    valid_inside = "<Object><Key>k</Key></Object>" if root == "Delete" else ""
    return {
        "billion-laughs": BILLION_LAUGHS.replace(b"ROOT", root.encode()),
        "external-entity": (
            f'<?xml version="1.0"?><!DOCTYPE {root} [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            f"<{root}><Object><Key>&x;</Key></Object></{root}>"
        ).encode(),
        "external-dtd": (
            f'<?xml version="1.0"?><!DOCTYPE {root} SYSTEM "file:///etc/passwd">'
            f"<{root}>{valid_inside}</{root}>"
        ).encode(),
        "parameter-entity": (
            f'<!DOCTYPE {root} [<!ENTITY % p SYSTEM "http://127.0.0.1:1/x"> %p;]>'
            f"<{root}>{valid_inside}</{root}>"
        ).encode(),
        "harmless-doctype": f"<!DOCTYPE {root}><{root}>{valid_inside}</{root}>".encode(),
        "undefined-entity": f"<{root}><Object><Key>&nope;</Key></Object></{root}>".encode(),
        "deep-100000": (f"<{root}>" + "<a>" * 100_000 + "</a>" * 100_000 + f"</{root}>").encode(),
        "deep-unclosed": (f"<{root}>" + "<a>" * 20_000).encode(),  # under every limit
        "truncated": f"<{root}><Object><Key>k</Key></Obj".encode(),
        "truncated-at-root": f"<{root}".encode(),
        "only-declaration": b'<?xml version="1.0" encoding="UTF-8"?>',
        "garbage": os.urandom(4096),
        "latin-1-bytes": f"<{root}><Object><Key>caf\xe9</Key></Object></{root}>".encode("latin-1"),
        "declared-latin-1": (
            f'<?xml version="1.0" encoding="ISO-8859-1"?><{root}>{valid_inside}</{root}>'
        ).encode(),
        "utf-16": f"<{root}>{valid_inside}</{root}>".encode("utf-16"),
        "declared-utf-16": (
            f'<?xml version="1.0" encoding="UTF-16"?><{root}>{valid_inside}</{root}>'
        ).encode("utf-16"),
        "nul-byte": f"<{root}><Object><Key>a\x00b</Key></Object></{root}>".encode(),
        "nul-reference": f"<{root}><Object><Key>a&#0;b</Key></Object></{root}>".encode(),
        "two-roots": f"<{root}>{valid_inside}</{root}><{root}/>".encode(),
        "wrong-root": f"<Other>{valid_inside}</Other>".encode(),
    }


DOCUMENT_KINDS = ["Delete", "CompleteMultipartUpload", "CreateBucketConfiguration"]


def send_document(server: RunningServer, bucket: str, kind: str, body: bytes) -> RawResponse:
    if kind == "Delete":
        return signed_request(server, "POST", f"/{bucket}?delete", body=body)
    if kind == "CompleteMultipartUpload":
        upload_id = create_upload(server, bucket)
        response = signed_request(server, "POST", f"/{bucket}/k?uploadId={upload_id}", body=body)
        # The refused document left the upload as it was.
        parts = signed_request(server, "GET", f"/{bucket}/k?uploadId={upload_id}")
        assert parts.status == 200
        return response
    name = f"hostile-{uuid.uuid4().hex[:16]}"
    response = signed_request(server, "PUT", f"/{name}", body=body)
    assert signed_request(server, "HEAD", f"/{name}").status == 404  # not created
    return response


def create_upload(server: RunningServer, bucket: str) -> str:
    created = signed_request(server, "POST", f"/{bucket}/k?uploads")
    assert created.status == 200
    upload_id = created.xml().findtext("{http://s3.amazonaws.com/doc/2006-03-01/}UploadId")
    assert upload_id
    return upload_id


@pytest.mark.parametrize("kind", DOCUMENT_KINDS)
def test_hostile_xml_is_malformed_xml(server: RunningServer, bucket: str, kind: str) -> None:
    assert signed_request(server, "PUT", f"/{bucket}/k", body=b"keep me").status == 200
    for name, body in hostile_documents(kind).items():
        started = time.monotonic()
        response = send_document(server, bucket, kind, body)
        elapsed = time.monotonic() - started
        # CreateBucketConfiguration allows 64 KiB: a larger document is refused for
        # its size before anyone parses it.
        expected = "MalformedXML"
        if kind == "CreateBucketConfiguration" and len(body) > 64 * 1024:
            expected = "MaxMessageLengthExceeded"
        assert (response.status, response.error_code()) == (400, expected), (
            name,
            response.body,
        )
        assert b"root:" not in response.body
        assert b"lollol" not in response.body
        assert elapsed < 30, (name, elapsed)  # a hang guard, not a benchmark
    # The object the DeleteObjects documents named is still there.
    assert signed_request(server, "GET", f"/{bucket}/k").body == b"keep me"


def test_hostile_xml_costs_no_memory(server: RunningServer, bucket: str) -> None:
    """Refusing every hostile document, many times over, leaves the server's memory
    where it was; while they are refused, it never holds more than a few bodies' worth
    (the largest is 1.2 MB: nothing like an expanded entity or a 100,000-deep tree)."""
    documents = [(kind, hostile_documents(kind)) for kind in DOCUMENT_KINDS]

    def round_of_requests() -> None:
        for kind, bodies in documents:
            for body in bodies.values():
                assert send_document(server, bucket, kind, body).status == 400

    round_of_requests()  # warm-up: imports, caches, first-use allocations
    gc.collect()
    tracemalloc.start()
    try:
        before, _ = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        for _ in range(3):
            round_of_requests()
        gc.collect()
        after, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    growth, high = after - before, peak - before
    print(f"hostile XML x3 rounds: growth {growth / 1e6:.2f} MB, peak +{high / 1e6:.2f} MB")
    assert growth < 1_000_000
    assert high < 24_000_000


# -- oversize bodies ---------------------------------------------------------------------


def read_response(sock: Any, method: str = "POST") -> RawResponse:
    response = http.client.HTTPResponse(sock, method=method)
    response.begin()
    return RawResponse(response.status, response.headers, response.read())


@pytest.mark.parametrize(
    ("kind", "declared"),
    [("Delete", 5 * 1024**3), ("Delete", 2 * 1024**2 + 1), ("CreateBucketConfiguration", 10**9)],
)
def test_oversize_declared_length_is_refused_before_the_body(
    server: RunningServer, bucket: str, kind: str, declared: int
) -> None:
    target = (
        ("POST", f"/{bucket}?delete")
        if kind == "Delete"
        else ("PUT", f"/hostile-{uuid.uuid4().hex[:16]}")
    )
    head = signed_head(server, *target, {**UNSIGNED, "Content-Length": str(declared)})
    with connect(server) as sock:
        sock.sendall(head)  # and not one byte of the body
        response = read_response(sock)
    assert (response.status, response.error_code()) == (400, "MaxMessageLengthExceeded")


def test_oversize_chunked_body_is_cut_off_at_the_limit(server: RunningServer, bucket: str) -> None:
    """A body with no declared length is read up to the limit (2 MiB) and no further:
    the answer comes while the client still has most of its 64 MiB to send."""
    head = signed_head(
        server, "POST", f"/{bucket}?delete", {**UNSIGNED, "Transfer-Encoding": "chunked"}
    )
    piece = b"<Delete>" + b"<Object><Key>k</Key></Object>" * 2200
    chunk = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
    sent = 0
    with connect(server) as sock:
        sock.sendall(head)
        sock.settimeout(0.05)
        answer = b""
        while sent < 64 * 1024**2 and b"\r\n\r\n" not in answer:
            try:
                sock.sendall(chunk)
                sent += len(piece)
            except (BrokenPipeError, ConnectionResetError, TimeoutError):
                break
            try:
                answer += sock.recv(65536)
            except TimeoutError:
                continue
        sock.settimeout(10)
        while b"\r\n\r\n" not in answer:
            data = sock.recv(65536)
            if not data:
                break
            answer += data
    assert answer.startswith(b"HTTP/1.1 400"), answer[:200]
    assert b"<Code>MaxMessageLengthExceeded</Code>" in answer or b"MaxMessage" in answer
    assert sent < 8 * 1024**2, sent
