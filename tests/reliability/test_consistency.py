"""Consistency under concurrency: 32 clients x 8 keys, every answer checked for S3's
strong read-after-write consistency by a Jepsen-style history checker.

32 clients, each running one operation after another, send random PutObject (a value
no other PUT writes, as the body), GetObject, HeadObject, DeleteObject and
ListObjectsV2 to one bucket of 8 keys on a real server process. Each operation is
recorded with its invocation and completion times (``time.monotonic()`` on the client)
and its result: the value read, a 404, the listing with its ETags and sizes, or
"unknown" when no answer came (timeout, connection cut). After the run one more client
reads every key and lists the bucket. :func:`tests.reliability.history.check` then
checks every read against the writes around it (its docstring says exactly what is
checked): 0 anomalies.

With a kill: the same workload while the server is SIGKILLed and restarted (on the
same data directory, fsync on) every 10 s; operations cut off by a kill are "unknown"
(a write that may or may not have happened, a read that tells nothing) and clients
wait for the restarted server before their next operation.

CI: 5,000 operations, and 3,000 with one kill. Full size (``AIOS3_FULL=1``): 100,000
operations, and 100,000 with a kill every 10 s; the figures are printed::

    AIOS3_FULL=1 python -m pytest -s tests/reliability/test_consistency.py

Each client's choices come from a seed that is printed; ``AIOS3_CONSISTENCY_SEED=N``
replays the choices (not the timings).
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import hashlib
import hmac
import os
import random
import time
import xml.etree.ElementTree as ET
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import aiohttp

from tests.reliability.history import Op, Report, check
from tests.reliability.support import ACCESS_KEY, REGION, SECRET_KEY, ServerProcess, start_server

FULL = os.environ.get("AIOS3_FULL") == "1"
CLIENTS = 32
KEYS = tuple(f"key-{n}" for n in range(8))
BUCKET = "history"
OPERATIONS = 100_000 if FULL else 5_000
KILL_OPERATIONS = 100_000 if FULL else 3_000
KILL_EVERY = 10.0  # seconds, in the full run; CI kills once, a third of the way in
MIX = {"put": 30, "get": 25, "head": 15, "delete": 12, "list": 18}


NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"
TIMEOUT = aiohttp.ClientTimeout(total=60)


def _hmac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode(), hashlib.sha256).digest()


class Target:
    """The server the clients talk to (replaced by a restart), and how to sign for it:
    SigV4 in headers with ``UNSIGNED-PAYLOAD``, computed here with hmac/hashlib (an SDK
    client spends milliseconds of CPU per request, which would make the clients, not the
    server, the bottleneck); the server checks every signature."""

    def __init__(self, srv: ServerProcess) -> None:
        self.srv = srv
        self.servers = [srv]  # every process started, killed at the end if still running
        self.up = asyncio.Event()
        self.up.set()
        self.kills = 0
        self.outage = 0.0  # seconds without a server, in total
        self._keys: dict[str, bytes] = {}

    def signed(self, method: str, path: str, query: str = "") -> tuple[str, dict[str, str]]:
        """URL and headers of a request to ``path`` (already URL-safe) on the server."""
        endpoint = self.srv.endpoint
        host = urlsplit(endpoint).netloc
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y%m%dT%H%M%SZ")
        day = stamp[:8]
        key = self._keys.get(day)
        if key is None:
            key = _hmac(("AWS4" + SECRET_KEY).encode(), day)
            for part in (REGION, "s3", "aws4_request"):
                key = _hmac(key, part)
            self._keys[day] = key
        scope = f"{day}/{REGION}/s3/aws4_request"
        names = "host;x-amz-content-sha256;x-amz-date"
        canonical = "\n".join(
            [
                method,
                path,
                query,
                f"host:{host}",
                "x-amz-content-sha256:UNSIGNED-PAYLOAD",
                f"x-amz-date:{stamp}",
                "",
                names,
                "UNSIGNED-PAYLOAD",
            ]
        )
        digest = hashlib.sha256(canonical.encode()).hexdigest()
        signature = hmac.new(
            key, f"AWS4-HMAC-SHA256\n{stamp}\n{scope}\n{digest}".encode(), hashlib.sha256
        ).hexdigest()
        headers = {
            "X-Amz-Content-SHA256": "UNSIGNED-PAYLOAD",
            "X-Amz-Date": stamp,
            "Authorization": f"AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/{scope},"
            f" SignedHeaders={names}, Signature={signature}",
        }
        return endpoint + path + (f"?{query}" if query else ""), headers


class Workload:
    """CLIENTS clients sharing a budget of operations; the history they recorded."""

    def __init__(
        self, target: Target, http: aiohttp.ClientSession, operations: int, seed: int
    ) -> None:
        self.target = target
        self.http = http
        self.remaining = operations
        self.issued = 0
        self.seed = seed
        self.history: list[Op] = []
        self.errors: Counter[str] = Counter()
        self.started = time.monotonic()
        self.finished = asyncio.Event()
        self.progress = asyncio.Condition()

    def now(self) -> float:
        return time.monotonic() - self.started

    async def run(self) -> None:
        await asyncio.gather(*(self.client(number) for number in range(CLIENTS)))
        self.finished.set()

    async def client(self, number: int) -> None:
        rng = random.Random(f"{self.seed}-{number}")
        kinds, weights = list(MIX), list(MIX.values())
        written = 0
        while self.remaining > 0:
            self.remaining -= 1
            kind = rng.choices(kinds, weights)[0]
            key = "" if kind == "list" else rng.choice(KEYS)
            value = None
            if kind == "put":
                written += 1
                value = f"c{number:02d}-{written:06d}" + "." * rng.randrange(256)
            await self.target.up.wait()
            self.history.append(await self.operate(number, kind, key, value))
            self.issued += 1
            async with self.progress:
                self.progress.notify_all()

    async def operate(self, client: int, kind: str, key: str, value: str | None) -> Op:
        """One operation, recorded as the client saw it."""
        method = {"put": "PUT", "delete": "DELETE", "get": "GET", "head": "HEAD"}.get(kind, "GET")
        path, query = (f"/{BUCKET}", "list-type=2") if kind == "list" else (f"/{BUCKET}/{key}", "")
        url, headers = self.target.signed(method, path, query)
        body = value.encode() if value is not None else None
        start = self.now()
        try:
            async with self.http.request(method, url, headers=headers, data=body) as response:
                data = await response.read()
                status, etag = response.status, response.headers.get("ETag")
            done = self.now()
        except (aiohttp.ClientError, TimeoutError) as exc:  # refused, cut off, timed out
            error = type(exc).__name__
        else:
            if kind in ("get", "head") and status == 404:
                return Op(client, kind, key, start, done)
            if kind == "delete" and status == 204:
                return Op(client, kind, key, start, done)
            if status == 200:
                if kind == "put":
                    return Op(client, kind, key, start, done, value=value, etag=etag)
                if kind == "get":
                    text = data.decode(errors="replace")
                    return Op(client, kind, key, start, done, value=text, etag=etag)
                if kind == "head":
                    return Op(client, kind, key, start, done, etag=etag)
                return Op(client, kind, key, start, done, listing=_listing(data))
            error = f"HTTP {status}"
        self.errors[f"{kind} {error}"] += 1
        return Op(client, kind, key, start, None, value=value, error=error)

    async def final_reads(self) -> None:
        """One more client reads every key and lists the bucket, once all is done."""
        for key in KEYS:
            self.history.append(await self.operate(CLIENTS, "get", key, None))
        self.history.append(await self.operate(CLIENTS, "list", "", None))


def _listing(document: bytes) -> dict[str, tuple[str, int]]:
    """Key -> (ETag, size) of a whole ListObjectsV2 answer (8 keys: never truncated)."""
    root = ET.fromstring(document)
    assert root.findtext(f"{NS}IsTruncated") == "false"
    return {
        item.findtext(f"{NS}Key", ""): (
            item.findtext(f"{NS}ETag", ""),
            int(item.findtext(f"{NS}Size", "-1")),
        )
        for item in root.iter(f"{NS}Contents")
    }


async def killer(target: Target, workload: Workload, root: Path) -> None:
    """SIGKILL and restart the server every KILL_EVERY s (full), or once (CI)."""
    while not workload.finished.is_set():
        if FULL:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(workload.finished.wait(), KILL_EVERY)
        elif target.kills:
            return
        else:
            async with workload.progress:
                await workload.progress.wait_for(
                    lambda: workload.issued >= KILL_OPERATIONS // 3 or workload.finished.is_set()
                )
        if workload.finished.is_set():
            return
        target.srv.proc.kill()  # first: operations in flight are cut off
        target.up.clear()
        down = time.monotonic()
        await asyncio.to_thread(target.srv.kill)  # reaps it
        srv = await asyncio.to_thread(start_server, root, fsync=True)
        target.srv = srv
        target.servers.append(srv)
        target.kills += 1
        target.outage += time.monotonic() - down
        target.up.set()


async def run_workload(
    root: Path, operations: int, seed: int, *, kills: bool
) -> tuple[Workload, Target]:
    target = Target(await asyncio.to_thread(start_server, root, fsync=True))
    try:
        connector = aiohttp.TCPConnector(limit=CLIENTS + 1)
        async with aiohttp.ClientSession(
            connector=connector, timeout=TIMEOUT, skip_auto_headers=("Content-Type",)
        ) as http:
            url, headers = target.signed("PUT", f"/{BUCKET}")
            async with http.put(url, headers=headers) as response:
                assert response.status == 200, await response.text()
            workload = Workload(target, http, operations, seed)
            jobs = [workload.run()]
            if kills:
                jobs.append(killer(target, workload, root))
            await asyncio.gather(*jobs)
            await workload.final_reads()
        assert target.srv.stop() == 0
    finally:
        for running in target.servers:
            running.kill()
    return workload, target


def _seed() -> int:
    given = os.environ.get("AIOS3_CONSISTENCY_SEED")
    return int(given) if given else random.randrange(2**32)


def _run(tmp_path: Path, operations: int, *, kills: bool) -> tuple[Workload, Target, Report]:
    seed = _seed()
    print(f"\nconsistency: seed {seed} (AIOS3_CONSISTENCY_SEED={seed} replays its choices)")
    started = time.monotonic()
    workload, target = asyncio.run(run_workload(tmp_path / "root", operations, seed, kills=kills))
    elapsed = time.monotonic() - started
    checking = time.monotonic()
    report = check(workload.history, KEYS)
    print(
        f"  {CLIENTS} clients x {len(KEYS)} keys: {report.summary()}\n"
        f"  {elapsed:.1f} s of workload, checked in {time.monotonic() - checking:.2f} s;"
        f" {target.kills} kills ({target.outage:.1f} s without a server);"
        f" unknown outcomes: {dict(workload.errors) or 0}"
    )
    assert report.anomalies == [], f"seed {seed}:\n{report.describe()}"
    for seen in ("get ok", "get 404", "head ok", "list ok"):
        assert report.counts[seen], f"no {seen!r} in the history: the check would be vacuous"
    return workload, target, report


def test_history_of_concurrent_clients_is_consistent(tmp_path: Path) -> None:
    workload, _, report = _run(tmp_path, OPERATIONS, kills=False)
    assert not workload.errors, f"operations without an answer: {workload.errors}"
    assert report.operations == OPERATIONS + len(KEYS) + 1


def test_history_is_consistent_across_kill_9(tmp_path: Path) -> None:
    workload, target, report = _run(tmp_path, KILL_OPERATIONS, kills=True)
    assert target.kills >= 1
    assert report.operations == KILL_OPERATIONS + len(KEYS) + 1
    final = workload.history[-len(KEYS) - 1 :]
    assert all(op.completed is not None for op in final), "the restarted server must answer"
