"""Python clients of the benchmark: bucket set-up, bulk fills, big objects, multipart.

Everything here runs in the harness process, which is pinned to the load CPU. Requests
are presigned (aiohttp) or signed by botocore (boto3's multipart upload).
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config
from signing import Presigner

_CHUNK = 1 << 20
_BLOCK = os.urandom(_CHUNK)
_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_read=120)


async def _check(response: aiohttp.ClientResponse, what: str) -> None:
    if response.status >= 300:
        raise RuntimeError(f"{what}: HTTP {response.status} {(await response.text())[:300]}")


async def create_buckets(signer: Presigner, buckets: Sequence[str]) -> None:
    """Create each bucket (an existing one of ours is fine)."""
    async with aiohttp.ClientSession(timeout=_TIMEOUT) as http:
        for bucket in buckets:
            async with http.put(signer.url("PUT", bucket)) as response:
                if response.status != 409:
                    await _check(response, f"create bucket {bucket}")


async def fill(
    signer: Presigner,
    bucket: str,
    keys: Sequence[str],
    body: bytes,
    *,
    concurrency: int = 64,
    label: str = "",
) -> float:
    """PUT body under every key with `concurrency` requests at a time; seconds taken.

    With a label, prints a progress line (rewritten in place) every second.
    """
    queue = iter(keys)
    done = 0
    started = time.perf_counter()
    last = started

    async def worker(http: aiohttp.ClientSession) -> None:
        nonlocal done, last
        for key in queue:
            async with http.put(signer.url("PUT", bucket, key), data=body) as response:
                await _check(response, f"PUT {bucket}/{key}")
            done += 1
            now = time.perf_counter()
            if label and now - last >= 1:
                last = now
                rate = done / (now - started)
                print(f"\r  {label}: {done:,}/{len(keys):,} ({rate:,.0f}/s)", end="", flush=True)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, timeout=_TIMEOUT) as http:
        await asyncio.gather(*(worker(http) for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    if label:
        print(f"\r  {label}: {done:,} keys in {elapsed:.1f} s" + " " * 20, flush=True)
    return elapsed


def _curl(args: list[str]) -> subprocess.Popen[str]:
    command = ["curl", "--silent", "--show-error", "--globoff", "--max-time", "300"]
    command += ["--output", "/dev/null", "--write-out", "%{http_code}", *args]
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _curl_batches(commands: Sequence[list[str]], size: int, seconds: float) -> float:
    """Run the curl commands all at once, batch after batch until `seconds` pass; MB/s."""
    started = time.perf_counter()
    count = 0
    while count == 0 or time.perf_counter() - started < seconds:
        processes = [_curl(args) for args in commands]
        for process in processes:
            out, err = process.communicate(timeout=330)
            if process.returncode or not out.startswith("2"):
                raise RuntimeError(f"curl: HTTP {out} {err.strip()[:200]}")
        count += len(commands)
    return count * size / (time.perf_counter() - started) / 1e6


def put_big(
    signer: Presigner, bucket: str, keys: Sequence[str], source: Path, seconds: float
) -> float:
    """PUT `source` under all keys at once (curl), again until `seconds` pass; MB/s.

    curl, not aiohttp: on one loaded core the Python client tops out near 300 MB/s,
    below what the servers do. ``Expect:`` is cleared so every server sees one shape.
    """
    commands = [
        ["--upload-file", str(source), "--header", "Expect:", signer.url("PUT", bucket, key)]
        for key in keys
    ]
    return _curl_batches(commands, source.stat().st_size, seconds)


def get_big(
    signer: Presigner, bucket: str, keys: Sequence[str], size: int, seconds: float
) -> float:
    """GET all keys at once (curl), again until `seconds` pass; MB/s."""
    commands = [[signer.url("GET", bucket, key)] for key in keys]
    return _curl_batches(commands, size, seconds)


def make_file(directory: Path, size: int) -> Path:
    """A file of `size` bytes of random data (1 MiB repeated)."""
    path = directory / f"upload-{size}"
    if not path.exists() or path.stat().st_size != size:
        with path.open("wb") as out:
            for _ in range(size // _CHUNK):
                out.write(_BLOCK)
            out.write(_BLOCK[: size % _CHUNK])
    return path


@dataclass
class MultipartResult:
    """One multipart upload: total seconds and CompleteMultipartUpload alone."""

    seconds: float
    complete_seconds: float
    mb_s: float


def multipart_upload(
    endpoint: str, access_key: str, secret_key: str, bucket: str, key: str, path: Path
) -> MultipartResult:
    """boto3 upload_file of path with 8 MiB parts, 4 in flight; then delete the object."""
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )
    marks: dict[str, float] = {}

    def before(**_: object) -> None:
        marks["complete_start"] = time.perf_counter()

    def after(**_: object) -> None:
        marks["complete_end"] = time.perf_counter()

    s3.meta.events.register("before-call.s3.CompleteMultipartUpload", before)
    s3.meta.events.register("after-call.s3.CompleteMultipartUpload", after)
    part = 8 * _CHUNK
    config = TransferConfig(multipart_threshold=part, multipart_chunksize=part, max_concurrency=4)
    started = time.perf_counter()
    s3.upload_file(str(path), bucket, key, Config=config)
    seconds = time.perf_counter() - started
    s3.delete_object(Bucket=bucket, Key=key)
    complete = marks.get("complete_end", 0.0) - marks.get("complete_start", 0.0)
    return MultipartResult(seconds, complete, path.stat().st_size / seconds / 1e6)
