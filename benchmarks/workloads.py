"""The workloads: what each one sets up, runs against one server, and measures.

A workload run returns its metrics as a flat dict (``req/s``, ``p99 ms``, ``MB/s``...);
the first metric named in `Workload.metrics` is the one the ratios compare. Fixtures
(buckets and the objects in them) are made once per server before the first round.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import clients
from loadgen import LoadResult, ab_head, wrk
from memory import reset_peak, status_kib
from servers import Running
from signing import Presigner

SMALL = b"s" * 4096
SMALL_BUCKET, LIST_BUCKET, PUT_BUCKET, BIG_BUCKET = (
    "bench-small",
    "bench-list",
    "bench-put",
    "bench-big",
)
GROW_SMALL, GROW_BIG = "grow-small", "grow-big"
SMALL_KEYS = [f"obj/{i:04d}" for i in range(1000)]
LIST_KEYS = [f"d{i // 100:03d}/k{i % 100:03d}" for i in range(10_000)]
MIB = 1 << 20
Metrics = dict[str, float]


@dataclass
class Settings:
    """What every workload run needs to know about the run as a whole."""

    seconds: float
    work: Path
    grow_small: int = 1_000
    grow_big: int = 100_000
    big_size: int = 64 * MIB
    big_parallel: int = 4
    multipart_size: int = 1024 * MIB


@dataclass
class Target:
    """One running server and what the workloads keep about it between runs."""

    server: Running
    signer: Presigner
    last_rate: dict[str, float] = field(default_factory=dict)
    fixtures: set[str] = field(default_factory=set)

    @property
    def name(self) -> str:
        """The server's name."""
        return self.server.name


@dataclass(frozen=True)
class Workload:
    """One kind of request mix; metrics[0] is the figure the ratios compare."""

    name: str
    title: str
    metrics: tuple[str, ...]
    run: Callable[[Target, Settings, int], Metrics]
    fixtures: tuple[str, ...] = ()
    only: tuple[str, ...] | None = None  # server names; None: every server


# --- fixtures -----------------------------------------------------------------------------


def _fixture_small(target: Target, settings: Settings) -> None:
    buckets = [SMALL_BUCKET, PUT_BUCKET, BIG_BUCKET]
    asyncio.run(clients.create_buckets(target.signer, buckets))
    asyncio.run(clients.fill(target.signer, SMALL_BUCKET, SMALL_KEYS, SMALL))


def _fixture_list(target: Target, settings: Settings) -> None:
    asyncio.run(clients.create_buckets(target.signer, [LIST_BUCKET]))
    label = f"{target.name}: {LIST_BUCKET}"
    asyncio.run(clients.fill(target.signer, LIST_BUCKET, LIST_KEYS, b"l" * 16, label=label))


def grow_keys(count: int) -> list[str]:
    """Keys of a growth bucket, in listing order."""
    return [f"k{i:08d}" for i in range(count)]


def _fixture_grow(target: Target, settings: Settings) -> None:
    signer = target.signer
    asyncio.run(clients.create_buckets(signer, [GROW_SMALL, GROW_BIG]))
    for bucket, count in ((GROW_SMALL, settings.grow_small), (GROW_BIG, settings.grow_big)):
        label = f"{target.name}: {bucket} ({count:,} keys)"
        asyncio.run(clients.fill(signer, bucket, grow_keys(count), b"g" * 16, label=label))


FIXTURES: dict[str, Callable[[Target, Settings], None]] = {
    "small": _fixture_small,
    "list": _fixture_list,
    "grow": _fixture_grow,
}


def prepare(target: Target, workloads: list[Workload], settings: Settings) -> None:
    """Make the fixtures the workloads need on this target (once)."""
    for workload in workloads:
        if workload.only is not None and target.name not in workload.only:
            continue
        for fixture in workload.fixtures:
            if fixture not in target.fixtures:
                FIXTURES[fixture](target, settings)
                target.fixtures.add(fixture)


# --- wrk and ab workloads -----------------------------------------------------------------


def _metrics(result: LoadResult) -> Metrics:
    metrics = {
        "req/s": result.rate,
        "errors": float(result.errors + result.non_2xx),
        "wraps": float(result.wraps),
    }
    if result.requests:  # no latency without a request
        metrics.update({"p50 ms": result.p50_ms, "p99 ms": result.p99_ms})
    return metrics


_LOAD_METRICS = ("req/s", "p50 ms", "p99 ms", "errors")


def _get(connections: int) -> Callable[[Target, Settings, int], Metrics]:
    def run(target: Target, settings: Settings, round_no: int) -> Metrics:
        paths = [target.signer.path("GET", SMALL_BUCKET, key) for key in SMALL_KEYS]
        result = wrk(
            target.server.endpoint,
            paths,
            method="GET",
            connections=connections,
            seconds=settings.seconds,
        )
        return _metrics(result)

    return run


def _head(target: Target, settings: Settings, round_no: int) -> Metrics:
    url = target.signer.url("HEAD", SMALL_BUCKET, SMALL_KEYS[round_no % len(SMALL_KEYS)])
    return _metrics(ab_head(url, connections=64, seconds=settings.seconds))


def _put_paths(target: Target, memo: str, bucket: str, seconds: float, tag: str) -> list[str]:
    """Enough presigned PUT paths to distinct new keys for one run at the last rate seen."""
    expected = target.last_rate.get(memo, 40_000.0)
    count = max(2_000, int(expected * 1.5 * seconds))
    rand = random.Random()
    keys = (f"{tag}/{rand.getrandbits(64):016x}" for _ in range(count))
    return [target.signer.path("PUT", bucket, key) for key in keys]


def _put_into(bucket: str, memo: str) -> Callable[[Target, Settings, int], Metrics]:
    def run(target: Target, settings: Settings, round_no: int) -> Metrics:
        paths = _put_paths(target, memo, bucket, settings.seconds, f"r{round_no}")
        result = wrk(
            target.server.endpoint,
            paths,
            method="PUT",
            connections=64,
            seconds=settings.seconds,
            body_size=len(SMALL),
            random_pick=False,
        )
        target.last_rate[memo] = result.rate
        return _metrics(result)

    return run


def _list(
    queries: list[dict[str, str]], connections: int, bucket: str = LIST_BUCKET
) -> Callable[[Target, Settings, int], Metrics]:
    def run(target: Target, settings: Settings, round_no: int) -> Metrics:
        paths = [target.signer.path("GET", bucket, "", query) for query in queries]
        result = wrk(
            target.server.endpoint,
            paths,
            method="GET",
            connections=connections,
            seconds=settings.seconds,
        )
        return _metrics(result)

    return run


def page_queries(keys: list[str]) -> list[dict[str, str]]:
    """ListObjectsV2 pages of 1,000 keys starting at 100 places of the key space."""
    last = max(1, len(keys) - 1000)
    starts = [keys[i * last // 100] for i in range(100)]
    return [{"list-type": "2", "max-keys": "1000", "start-after": s} for s in starts]


PREFIX_QUERIES = [{"list-type": "2", "prefix": f"d{i:03d}/", "delimiter": "/"} for i in range(100)]
DELIMITER_QUERIES = [{"list-type": "2", "delimiter": "/"}]


# --- big objects --------------------------------------------------------------------------


def _peak_growth_mib(pid: int, action: Callable[[], float]) -> tuple[float, float]:
    """Run action; its result and the server's peak RSS growth during it, MiB."""
    before = status_kib(pid, "VmRSS")
    reset_peak(pid)
    value = action()
    return value, (status_kib(pid, "VmHWM") - before) / 1024


def _big(target: Target, settings: Settings, round_no: int) -> Metrics:
    signer, pid, size = target.signer, target.server.pid, settings.big_size
    keys = [f"big-{round_no}-{i}" for i in range(settings.big_parallel)]
    source = clients.make_file(settings.work, size)
    seconds = settings.seconds
    put_rate, put_peak = _peak_growth_mib(
        pid, lambda: clients.put_big(signer, BIG_BUCKET, keys, source, seconds)
    )
    get_rate, get_peak = _peak_growth_mib(
        pid, lambda: clients.get_big(signer, BIG_BUCKET, keys, size, seconds)
    )
    return {
        "PUT MB/s": put_rate,
        "GET MB/s": get_rate,
        "PUT peak +MiB": put_peak,
        "GET peak +MiB": get_peak,
    }


def _multipart(target: Target, settings: Settings, round_no: int) -> Metrics:
    spec = target.server.spec
    path = clients.make_file(settings.work, settings.multipart_size)
    pid = target.server.pid
    before = status_kib(pid, "VmRSS")
    reset_peak(pid)
    result = clients.multipart_upload(
        target.server.endpoint, spec.access_key, spec.secret_key, BIG_BUCKET, "mpu", path
    )
    return {
        "MB/s": result.mb_s,
        "s": result.seconds,
        "complete s": result.complete_seconds,
        "peak +MiB": (status_kib(pid, "VmHWM") - before) / 1024,
    }


# --- how cost grows (aios3 only) ----------------------------------------------------------


def _grow(
    small: Callable[[Target, Settings, int], Metrics],
    big: Callable[[Target, Settings, int], Metrics],
) -> Callable[[Target, Settings, int], Metrics]:
    def run(target: Target, settings: Settings, round_no: int) -> Metrics:
        low = small(target, settings, round_no)["req/s"]
        high = big(target, settings, round_no)["req/s"]
        slowdown = low / high if high else float("inf")
        return {"time big/small": slowdown, "small req/s": low, "big req/s": high}

    return run


def _grow_list(target: Target, settings: Settings, round_no: int) -> Metrics:
    small = _list(page_queries(grow_keys(settings.grow_small)), 16, GROW_SMALL)
    big = _list(page_queries(grow_keys(settings.grow_big)), 16, GROW_BIG)
    return _grow(small, big)(target, settings, round_no)


def _grow_put(target: Target, settings: Settings, round_no: int) -> Metrics:
    return _grow(_put_into(GROW_SMALL, "grow-small"), _put_into(GROW_BIG, "grow-big"))(
        target, settings, round_no
    )


AIOS3_ONLY = ("aios3",)
WORKLOADS: list[Workload] = [
    Workload("put_4k", "PUT 4 KiB, distinct keys, 64 conns", _LOAD_METRICS,
             _put_into(PUT_BUCKET, "put"), ("small",)),
    Workload("get_4k", "GET 4 KiB, random of 1,000 keys, 64 conns", _LOAD_METRICS,
             _get(64), ("small",)),
    Workload("head", "HEAD 4 KiB object, 64 conns (ab)", _LOAD_METRICS, _head, ("small",)),
    Workload("list_1000", "ListObjectsV2 1,000 of 10,000 keys, 16 conns", _LOAD_METRICS,
             _list(page_queries(LIST_KEYS), 16), ("list",)),
    Workload("list_prefix", "List prefix+delimiter (100 keys), 64 conns", _LOAD_METRICS,
             _list(PREFIX_QUERIES, 64), ("list",)),
    Workload("list_delim", "List delimiter only (100 prefixes), 64 conns", _LOAD_METRICS,
             _list(DELIMITER_QUERIES, 64), ("list",)),
    Workload("get_4k_c1", "GET 4 KiB, 1 connection", _LOAD_METRICS, _get(1), ("small",)),
    Workload("get_4k_c1000", "GET 4 KiB, 1,000 connections", _LOAD_METRICS,
             _get(1000), ("small",)),
    Workload("big_64m", "PUT then GET 64 MiB objects, 4 at a time",
             ("PUT MB/s", "GET MB/s", "PUT peak +MiB", "GET peak +MiB"), _big, ("small",)),
    Workload("multipart_1g", "Multipart upload 1 GiB, 8 MiB parts (boto3)",
             ("MB/s", "s", "complete s", "peak +MiB"), _multipart, ("small",)),
    Workload("grow_list", "List page: big bucket vs small bucket", ("time big/small",
             "small req/s", "big req/s"), _grow_list, ("grow",), AIOS3_ONLY),
    Workload("grow_put", "PUT 4 KiB: big bucket vs small bucket", ("time big/small",
             "small req/s", "big req/s"), _grow_put, ("grow",), AIOS3_ONLY),
]  # fmt: skip
BY_NAME = {workload.name: workload for workload in WORKLOADS}
FSYNC_WORKLOADS = ("put_4k", "big_64m", "multipart_1g")
