"""Start-up time: from "start a server" to its first answer.

Each scenario starts a server on a fresh temporary data directory and times until the
answer to its first request (an unsigned ListBuckets, ``--no-auth``) has arrived:

- ``serve()``: in-process, on the running event loop (modules already imported);
- ``Server()``: in-process, on a background thread;
- fresh interpreter: ``import aios3.testing`` + ``serve()`` + first answer, timed inside
  a new Python process (the cost a test session pays once);
- ``python -m aios3``: spawn the CLI, wait for its banner, ask it; interpreter start-up
  included, i.e. what a test suite that runs aios3 as a subprocess pays.

Stopping is timed for the in-process servers too. Prints best and median of N runs:

    python benchmarks/startup.py            # N = 20 (5 for the process scenarios)
    python benchmarks/startup.py -n 50
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import aiohttp

from aios3.testing import Server, serve

_URL = re.compile(r"https?://[^\s]+")

_FRESH_INTERPRETER = """
import asyncio, time
started = time.perf_counter()
import aiohttp
from aios3.testing import serve

async def main():
    async with serve(no_auth=True) as s3, aiohttp.ClientSession() as http:
        async with http.get(s3.endpoint_url + "/") as response:
            await response.read()
            assert response.status == 200, response.status
        print(time.perf_counter() - started)

asyncio.run(main())
"""


def _get(url: str) -> None:
    """One unsigned ListBuckets over a new connection."""
    parts = urlsplit(url)
    assert parts.hostname is not None
    assert parts.port is not None
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    try:
        connection.request("GET", "/")
        response = connection.getresponse()
        response.read()
        assert response.status == 200, response.status
    finally:
        connection.close()


async def _serve_once(http: aiohttp.ClientSession) -> tuple[float, float]:
    started = time.perf_counter()
    s3 = await serve(no_auth=True).start()
    async with http.get(s3.endpoint_url + "/") as response:
        await response.read()
        assert response.status == 200, response.status
    answered = time.perf_counter()
    await s3.stop()
    return answered - started, time.perf_counter() - answered


async def serve_runs(n: int) -> tuple[list[float], list[float]]:
    """Start + first answer, and stop, of `serve()` n times after a warm-up; seconds."""
    async with aiohttp.ClientSession() as http:
        await _serve_once(http)  # warm-up: first use of the default executor, etc.
        runs = [await _serve_once(http) for _ in range(n)]
    return [start for start, _ in runs], [stop for _, stop in runs]


def _server_once() -> tuple[float, float]:
    started = time.perf_counter()
    s3 = Server(no_auth=True).start()
    _get(s3.endpoint_url)
    answered = time.perf_counter()
    s3.stop()
    return answered - started, time.perf_counter() - answered


def _fresh_interpreter_once() -> float:
    out = subprocess.run(
        [sys.executable, "-c", _FRESH_INTERPRETER], capture_output=True, text=True, check=True
    )
    return float(out.stdout.strip())


def cli_once() -> float:
    """Seconds from spawning `python -m aios3` to its first answer."""
    with tempfile.TemporaryDirectory(prefix="aios3-bench-") as root:
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "aios3", "--root", root, "--port", "0", "--no-auth"],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        try:
            assert process.stdout is not None
            for line in process.stdout:  # the banner is printed once the socket listens
                if "endpoint:" in line and (found := _URL.search(line)):
                    _get(found.group(0))
                    break
            else:
                raise RuntimeError("python -m aios3 exited without a banner")
            elapsed = time.perf_counter() - started
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=30)
    return elapsed


def _repeat(n: int, once: Callable[[], float]) -> list[float]:
    return [once() for _ in range(n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", type=int, default=20, help="runs of the in-process scenarios")
    parser.add_argument("--processes", type=int, default=5, help="runs of the process ones")
    args = parser.parse_args()

    serve_start, serve_stop = asyncio.run(serve_runs(args.n))
    _server_once()  # warm-up
    server_runs = [_server_once() for _ in range(args.n)]
    rows = [
        ("serve(): start + first answer", serve_start),
        ("serve(): stop", serve_stop),
        ("Server(): start + first answer", [start for start, _ in server_runs]),
        ("Server(): stop", [stop for _, stop in server_runs]),
        (
            "fresh interpreter: import + serve() + first answer",
            _repeat(args.processes, _fresh_interpreter_once),
        ),
        ("python -m aios3: spawn + first answer", _repeat(args.processes, cli_once)),
    ]
    width = max(len(name) for name, _ in rows)
    print(f"{'scenario':<{width}}  {'best ms':>8}  {'median ms':>9}  {'N':>3}")
    for name, times in rows:
        best, median = min(times) * 1000, statistics.median(times) * 1000
        print(f"{name:<{width}}  {best:>8.1f}  {median:>9.1f}  {len(times):>3}")


if __name__ == "__main__":
    main()
