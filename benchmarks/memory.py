"""Peak server memory while streaming a large object in and out.

Starts ``python -m aios3`` on a free loopback port, PUTs an object of ``--size`` MiB from
a generator (never held in memory by the client either), GETs it back while discarding
the bytes, and reports the server's resident set before and its high-water mark after
each transfer (VmRSS / VmHWM from /proc). Run with a small size too, to compare:

    python benchmarks/memory.py --size 1024
    python benchmarks/memory.py --size 1
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
from botocore.auth import S3SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

ACCESS, SECRET = "bench", "bench-secret"
_CHUNK = 1 << 20


def status_kib(pid: int, field: str) -> int:
    """A kB field of /proc/PID/status, such as VmRSS or VmHWM."""
    text = Path(f"/proc/{pid}/status").read_text()
    match = re.search(rf"^{field}:\s+(\d+) kB", text, re.MULTILINE)
    assert match, field
    return int(match.group(1))


def reset_peak(pid: int) -> None:
    """Start a new peak: VmHWM back to the current RSS."""
    # Writing 5 to clear_refs resets VmHWM to the current RSS (Linux >= 4.0).
    Path(f"/proc/{pid}/clear_refs").write_text("5")


def _presign(endpoint: str, method: str, path: str) -> str:
    request = AWSRequest(method=method, url=f"{endpoint}{path}")
    S3SigV4QueryAuth(Credentials(ACCESS, SECRET), "s3", "us-east-1", expires=3600).add_auth(request)
    return str(request.url)


async def _body(size: int, digest: hashlib._Hash) -> AsyncIterator[bytes]:
    block = os.urandom(_CHUNK)
    sent = 0
    while sent < size:
        piece = block[: min(_CHUNK, size - sent)]
        digest.update(piece)
        sent += len(piece)
        yield piece


async def measure(endpoint: str, pid: int, size: int) -> dict[str, float]:
    async with aiohttp.ClientSession() as session:
        async with session.put(_presign(endpoint, "PUT", "/bench")) as response:
            assert response.status == 200, await response.text()
        rss_start = status_kib(pid, "VmRSS")
        reset_peak(pid)
        sent = hashlib.md5()
        started = time.perf_counter()
        url = _presign(endpoint, "PUT", "/bench/big")
        headers = {"Content-Length": str(size)}
        async with session.put(url, data=_body(size, sent), headers=headers) as response:
            assert response.status == 200, await response.text()
            assert response.headers["ETag"].strip('"') == sent.hexdigest()
        put_seconds = time.perf_counter() - started
        put_peak = status_kib(pid, "VmHWM")
        reset_peak(pid)
        received = hashlib.md5()
        started = time.perf_counter()
        async with session.get(_presign(endpoint, "GET", "/bench/big")) as response:
            assert response.status == 200
            async for chunk in response.content.iter_chunked(_CHUNK):
                received.update(chunk)
        get_seconds = time.perf_counter() - started
        get_peak = status_kib(pid, "VmHWM")
        assert received.hexdigest() == sent.hexdigest()
    mib = size / 2**20
    return {
        "size_mib": mib,
        "rss_before_mib": rss_start / 1024,
        "put_peak_growth_mib": (put_peak - rss_start) / 1024,
        "get_peak_growth_mib": (get_peak - rss_start) / 1024,
        "put_mb_s": size / put_seconds / 1e6,
        "get_mb_s": size / get_seconds / 1e6,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=1024, help="object size in MiB")
    parser.add_argument("--fsync", action="store_true", help="run the server with fsync on")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        command = [sys.executable, "-m", "aios3", "--root", root, "--port", "0"]
        command += ["--access-key", ACCESS, "--secret-key", SECRET]
        command += ["--fsync" if args.fsync else "--no-fsync", "--log-level", "WARNING"]
        server = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
        try:
            endpoint = ""
            assert server.stdout is not None
            for line in server.stdout:
                found = re.search(r"endpoint:\s+(\S+)", line)
                if found:
                    endpoint = found.group(1)
                    break
            assert endpoint, "the server printed no endpoint"
            result = asyncio.run(measure(endpoint, server.pid, args.size * 2**20))
        finally:
            server.terminate()
            server.wait(timeout=30)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
