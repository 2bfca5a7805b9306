"""Slow and many clients: header and body timeouts, and thousands of connections.

- A client that drips its request head is closed once ``header_timeout`` has passed,
  and an idle connection too; a head that arrives in time is served.
- A body that stalls for ``body_timeout`` fails with RequestTimeout (or a closed
  connection), leaving no object, no part and no temp file; a slow body that keeps
  moving is fine.
- Many connections at once, idle and busy, while PUTs run: every one served, 0 errors,
  and the server's file descriptors back to where they were once they close. CI runs
  1,000 connections and 200 PUTs; ``AIOS3_FULL=1`` runs 10,000 and 1,000 and checks the
  server's peak memory stays under 1 GiB.

Timings in these tests are hang guards with wide margins, not benchmarks.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import random
import re
import resource
import select
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from tests.functional.raw import connect, signed_head, signed_request
from tests.support import RunningServer, run_server, test_config

FULL = os.environ.get("AIOS3_FULL") == "1"
UNSIGNED = {"X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD"}


def closed_after(sock: socket.socket, drip: bytes, every: float, limit: float) -> float | None:
    """Send ``drip`` one byte every ``every`` seconds; the seconds until the server
    closed the connection, or None if it was still open after ``limit`` seconds."""
    started = time.monotonic()
    sent = 0
    while time.monotonic() - started < limit:
        if sent < len(drip):
            try:
                sock.send(drip[sent : sent + 1])
            except (BrokenPipeError, ConnectionResetError):
                return time.monotonic() - started
            sent += 1
        readable, _, _ = select.select([sock], [], [], every)
        if readable:
            try:
                data = sock.recv(65536)
            except ConnectionResetError:
                return time.monotonic() - started
            if not data:
                return time.monotonic() - started
    return None


@pytest.fixture
def timed_server(tmp_path: Path) -> Iterator[RunningServer]:
    config = test_config(tmp_path / "data", header_timeout=2.0, body_timeout=1.0)
    with run_server(config) as server:
        assert signed_request(server, "PUT", "/slow").status == 200
        yield server


# -- header timeout ----------------------------------------------------------------------


def test_dripped_request_head_is_closed_within_the_header_timeout(
    timed_server: RunningServer,
) -> None:
    head = b"PUT /slow/k HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200
    with connect(timed_server) as sock:
        elapsed = closed_after(sock, head, every=0.5, limit=20)
    assert elapsed is not None, "still open after 20 s"
    assert 1.5 <= elapsed < 8, elapsed


def test_silent_connection_is_closed_within_the_header_timeout(
    timed_server: RunningServer,
) -> None:
    with connect(timed_server) as sock:
        elapsed = closed_after(sock, b"", every=0.5, limit=20)
    assert elapsed is not None
    assert 1.5 <= elapsed < 8, elapsed


def test_head_sent_slowly_but_in_time_is_served(timed_server: RunningServer) -> None:
    head = signed_head(timed_server, "GET", "/slow?list-type=2", {})
    with connect(timed_server) as sock:
        for start in range(0, len(head), len(head) // 4 + 1):
            sock.sendall(head[start : start + len(head) // 4 + 1])
            time.sleep(0.2)
        assert sock.recv(64).startswith(b"HTTP/1.1 200")


def test_idle_keep_alive_connection_is_closed_after_the_header_timeout(
    timed_server: RunningServer,
) -> None:
    head = signed_head(timed_server, "GET", "/slow?list-type=2", {})
    with connect(timed_server) as sock:
        sock.sendall(head)
        answer = b""
        while b"</ListBucketResult>" not in answer:
            answer += sock.recv(65536)
        assert answer.startswith(b"HTTP/1.1 200")
        elapsed = closed_after(sock, b"", every=0.5, limit=20)
    assert elapsed is not None
    assert 1.5 <= elapsed < 8, elapsed


# -- body timeout ------------------------------------------------------------------------


def stalled_request(server: RunningServer, method: str, target: str, sent: bytes) -> bytes:
    """Announce a 1,000-byte body, send ``sent`` of it, then nothing: what comes back
    before the server closes the connection."""
    head = signed_head(server, method, target, {**UNSIGNED, "Content-Length": "1000"})
    answer = b""
    with connect(server) as sock:
        sock.sendall(head + sent)
        sock.settimeout(20)  # hang guard: the body timeout is 1 s
        with contextlib.suppress(ConnectionResetError):
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                answer += data
    return answer


def leftovers(server: RunningServer) -> list[Path]:
    """Temp files anywhere in the data directory."""
    return [path for path in server.root.rglob("*") if path.name.endswith(".part")] + [
        path for path in (server.root / "tmp").iterdir()
    ]


def wait_clean(server: RunningServer) -> list[Path]:
    deadline = time.monotonic() + 10
    while (left := leftovers(server)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


def assert_timed_out(answer: bytes) -> None:
    """RequestTimeout as S3 answers it, or a connection closed without an answer."""
    if answer:
        assert answer.startswith(b"HTTP/1.1 400"), answer[:300]
        assert b"<Code>RequestTimeout</Code>" in answer, answer[:600]


def test_stalled_put_body_times_out_and_leaves_nothing(timed_server: RunningServer) -> None:
    started = time.monotonic()
    answer = stalled_request(timed_server, "PUT", "/slow/stalled", b"x" * 100)
    assert_timed_out(answer)
    assert time.monotonic() - started < 15
    assert signed_request(timed_server, "HEAD", "/slow/stalled").status == 404
    assert wait_clean(timed_server) == []


def test_stalled_overwrite_keeps_the_old_object(timed_server: RunningServer) -> None:
    assert signed_request(timed_server, "PUT", "/slow/kept", body=b"old").status == 200
    assert_timed_out(stalled_request(timed_server, "PUT", "/slow/kept", b"new"))
    assert signed_request(timed_server, "GET", "/slow/kept").body == b"old"
    assert wait_clean(timed_server) == []


def test_stalled_upload_part_times_out_and_leaves_no_part(timed_server: RunningServer) -> None:
    created = signed_request(timed_server, "POST", "/slow/mp?uploads")
    upload_id = re.search(rb"<UploadId>([^<]+)</UploadId>", created.body)
    assert upload_id is not None
    target = f"/slow/mp?partNumber=1&uploadId={upload_id.group(1).decode()}"
    assert_timed_out(stalled_request(timed_server, "PUT", target, b"p" * 10))
    parts = signed_request(timed_server, "GET", f"/slow/mp?uploadId={upload_id.group(1).decode()}")
    assert parts.status == 200
    assert b"<Part>" not in parts.body
    assert wait_clean(timed_server) == []


def test_stalled_delete_objects_document_times_out(timed_server: RunningServer) -> None:
    assert signed_request(timed_server, "PUT", "/slow/victim", body=b"v").status == 200
    answer = stalled_request(timed_server, "POST", "/slow?delete", b"<Delete><Object><Key>vic")
    assert_timed_out(answer)
    assert signed_request(timed_server, "GET", "/slow/victim").body == b"v"


def test_slow_body_that_keeps_moving_is_stored(timed_server: RunningServer) -> None:
    body = b"drip-drop"
    head = signed_head(
        timed_server, "PUT", "/slow/dripped", {**UNSIGNED, "Content-Length": str(len(body))}
    )
    with connect(timed_server) as sock:
        sock.sendall(head)
        for byte in body:  # 9 bytes over ~3.6 s, never idle for the 1 s timeout
            time.sleep(0.4)
            sock.sendall(bytes([byte]))
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
    assert signed_request(timed_server, "GET", "/slow/dripped").body == body


# -- many connections --------------------------------------------------------------------


@dataclass
class SubprocessServer:
    process: subprocess.Popen[str]
    host: str
    port: int

    def fds(self) -> int:
        return len(os.listdir(f"/proc/{self.process.pid}/fd"))

    def fd_targets(self) -> list[str]:
        targets = []
        for fd in os.listdir(f"/proc/{self.process.pid}/fd"):
            with contextlib.suppress(OSError):
                targets.append(os.readlink(f"/proc/{self.process.pid}/fd/{fd}"))
        return sorted(targets)

    def open_files_limit(self) -> tuple[int, int]:
        limits = Path(f"/proc/{self.process.pid}/limits").read_text()
        match = re.search(r"Max open files\s+(\d+)\s+(\d+)", limits)
        assert match is not None
        return int(match.group(1)), int(match.group(2))

    def peak_rss(self) -> int:
        """VmHWM: the most resident memory the server has had, in bytes."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        match = re.search(r"VmHWM:\s+(\d+) kB", status)
        assert match is not None
        return int(match.group(1)) * 1024


def raise_nofile(wanted: int) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    if hard != resource.RLIM_INFINITY and hard < wanted:
        pytest.skip(f"RLIMIT_NOFILE hard limit {hard} < {wanted} needed; cannot raise it")
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


@contextlib.contextmanager
def subprocess_server(root: Path) -> Iterator[SubprocessServer]:
    """``python -m aios3`` on a free port, unsigned requests allowed, started with the
    usual soft limit of 1,024 open files (which it lifts to the hard limit itself)."""

    def limits() -> None:
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(1024, hard), hard))

    command = [
        sys.executable,
        "-m",
        "aios3",
        "--root",
        str(root),
        "--port",
        "0",
        "--no-auth",
        "--no-fsync",
        "--log-level",
        "WARNING",
    ]
    log = (root.parent / "server.log").open("w")
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=log, text=True, preexec_fn=limits
    )
    log.close()
    try:
        assert process.stdout is not None
        port = None
        deadline = time.monotonic() + 30
        while port is None and time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            if match := re.search(r"endpoint:\s+http://([\d.]+):(\d+)", line):
                port = int(match.group(2))
        assert port is not None, "the server did not print its endpoint"
        yield SubprocessServer(process, "127.0.0.1", port)
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        if process.stdout is not None:
            process.stdout.close()


async def exchange(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, request: bytes
) -> tuple[int, bytes]:
    """One request on a keep-alive connection: status and body."""
    writer.write(request)
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    body = await reader.readexactly(int(length.group(1))) if length else b""
    return status, body


@dataclass
class Figures:
    connections: int = 0
    requests: int = 0
    puts: int = 0
    errors: int = 0
    first_error: str = ""
    reasons: Counter[str] = field(default_factory=Counter)


async def crowd(server: SubprocessServer, *, connections: int, puts: int) -> Figures:
    """Open ``connections`` connections (a tenth of them busy with GETs the whole time,
    the rest idle) while ``puts`` PUTs run on their own connections; then one more GET
    on every connection, and close them all."""
    figures = Figures()
    host, port = server.host, server.port
    get = f"GET /crowd/hot HTTP/1.1\r\nHost: {host}:{port}\r\n\r\n".encode()
    opening = asyncio.Semaphore(256)  # a burst the listen backlog (1,024) takes whole
    done = asyncio.Event()

    def failed(reason: str) -> None:
        figures.errors += 1
        figures.first_error = figures.first_error or reason
        figures.reasons[reason[:120]] += 1

    async def open_one() -> tuple[asyncio.StreamReader, asyncio.StreamWriter] | None:
        async with opening:
            try:
                pair = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
            except (OSError, TimeoutError) as exc:
                failed(f"connect: {exc!r}")
                return None
        figures.connections += 1
        return pair

    async def checked(pair: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        try:
            status, body = await asyncio.wait_for(exchange(*pair, get), 30)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            failed(f"GET: {exc!r}")
            return
        figures.requests += 1
        if (status, body) != (200, b"hot object"):
            failed(f"GET: {status} {body[:200]!r}")

    async def busy(pair: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        while not done.is_set():
            await checked(pair)
            await asyncio.sleep(0.25)  # ~4 GETs a second each: clients, not a flood

    async def put(number: int) -> None:
        size = random.Random(number).choice([0, 1, 1000, 64 * 1024, 256 * 1024])
        body = bytes([number % 251]) * size
        request = (
            f"PUT /crowd/put-{number} HTTP/1.1\r\nHost: {host}:{port}\r\n"
            f"Content-Length: {size}\r\nConnection: close\r\n\r\n"
        ).encode() + body
        async with opening:
            try:
                reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), 30)
            except (OSError, TimeoutError) as exc:
                failed(f"PUT connect: {exc!r}")
                return
        try:
            status, answer = await asyncio.wait_for(exchange(reader, writer, request), 60)
        except (OSError, asyncio.IncompleteReadError, TimeoutError) as exc:
            failed(f"PUT: {exc!r}")
            return
        finally:
            writer.close()
        if status != 200:
            failed(f"PUT: {status} {answer[:200]!r}")
        else:
            figures.puts += 1

    opened = [pair for pair in await asyncio.gather(*(open_one() for _ in range(connections)))]
    pairs = [pair for pair in opened if pair is not None]
    busy_ones = pairs[: max(1, len(pairs) // 10)]
    busy_tasks = [asyncio.create_task(busy(pair)) for pair in busy_ones]
    await asyncio.gather(*(put(number) for number in range(puts)))
    done.set()
    await asyncio.gather(*busy_tasks)
    # Every connection, idle all along or not, is still served (2,000 at a time: each
    # GET holds a file open, and 10,000 sockets plus 10,000 files would pass the hard
    # limit of open files on machines like ours; the server would answer SlowDown).
    final = asyncio.Semaphore(2_000)

    async def last_check(pair: tuple[asyncio.StreamReader, asyncio.StreamWriter]) -> None:
        async with final:
            await checked(pair)

    await asyncio.gather(*(last_check(pair) for pair in pairs))
    for _, writer in pairs:
        writer.close()
    await asyncio.gather(*(writer.wait_closed() for _, writer in pairs), return_exceptions=True)
    return figures


@pytest.mark.parametrize(
    ("connections", "puts"),
    [(10_000, 1_000) if FULL else (1_000, 200)],
    ids=["full" if FULL else "ci"],
)
def test_many_connections_while_puts_run(tmp_path: Path, connections: int, puts: int) -> None:
    nofile = connections + puts + 1_024
    raise_nofile(nofile)  # here, for the clients; the server lifts its own limit
    with subprocess_server(tmp_path / "data") as server:
        soft, hard = server.open_files_limit()
        assert soft == hard, "the server did not lift its soft limit of open files"
        put_hot = (
            b"PUT /crowd HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n"
            b"PUT /crowd/hot HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhot object"
        )
        with socket.create_connection((server.host, server.port), timeout=10) as sock:
            sock.sendall(put_hot)
            answer = b""
            while answer.count(b"HTTP/1.1 200") < 2:
                data = sock.recv(65536)
                assert data, answer
                answer += data
        # Warm up: the index's reader threads (each with its SQLite connection) and
        # the executor's threads start on first need and then stay; that is the
        # baseline, not a leak.
        warm = asyncio.run(crowd(server, connections=200, puts=50))
        assert warm.errors == 0, warm.first_error
        time.sleep(0.5)
        baseline = server.fds()
        baseline_targets = server.fd_targets()
        started = time.monotonic()
        figures = asyncio.run(crowd(server, connections=connections, puts=puts))
        elapsed = time.monotonic() - started
        deadline = time.monotonic() + 30
        while server.fds() > baseline and time.monotonic() < deadline:
            time.sleep(0.1)
        fds_after = server.fds()
        targets_after = server.fd_targets()
        peak = server.peak_rss()
    print(
        f"\n{figures.connections} connections ({figures.requests} GETs on them) while "
        f"{figures.puts} PUTs ran, {elapsed:.1f} s: {figures.errors} errors; server fds "
        f"{baseline} before, {fds_after} after; peak RSS {peak / 2**20:.0f} MiB"
    )
    assert figures.errors == 0, figures.reasons.most_common(5)
    assert figures.connections == connections
    assert figures.puts == puts
    assert fds_after <= baseline, (baseline_targets, targets_after)
    assert peak < 1024**3


def test_out_of_file_descriptors_is_slow_down_not_internal_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: with every descriptor taken (10,000 connections, each GET holding a
    file), opening a body raised EMFILE and the client got 500 InternalError. It is an
    overload to back off from: 503 SlowDown, which SDKs retry."""
    from aios3.storage import Storage

    async def out_of_files(*_args: object, **_kwargs: object) -> None:
        raise OSError(errno.EMFILE, "Too many open files")

    with run_server(test_config(tmp_path / "data")) as server:
        assert signed_request(server, "PUT", "/fds").status == 200
        assert signed_request(server, "PUT", "/fds/k", body=b"v").status == 200
        monkeypatch.setattr(Storage, "open_object", out_of_files)
        response = signed_request(server, "GET", "/fds/k")
        assert (response.status, response.error_code()) == (503, "SlowDown")
        monkeypatch.undo()
        assert signed_request(server, "GET", "/fds/k").body == b"v"
