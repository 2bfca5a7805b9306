"""The HTTP load generators: wrk for GET and PUT, ab for HEAD; pinned to the load CPU.

wrk reads presigned paths from a file (``urls.lua``): random picks for GETs, each path
once in order for PUTs (distinct keys; ``wraps`` counts passes over the list, 0 means
every PUT had its own key). wrk 4.1 cannot read HEAD responses (it waits for the body
that Content-Length announces), so HEAD goes through ab (apache2-utils) on one presigned
URL. Both run one thread, and report requests/s, p50/p99 latency and errors.
"""

from __future__ import annotations

import csv
import json
import re
import resource
import shutil
import subprocess
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path

from servers import LOAD_CPU, pin_to

LUA = Path(__file__).resolve().parent / "urls.lua"
NOFILE = 8192


@dataclass
class LoadResult:
    """What one load-generator run measured."""

    rate: float
    p50_ms: float
    p99_ms: float
    requests: int
    errors: int
    non_2xx: int
    wraps: int = 0

    def as_dict(self) -> dict[str, float | int]:
        """For the JSON report."""
        return asdict(self)


def missing_tools() -> list[str]:
    """The load generators not installed, with the package that provides each."""
    wanted = {"wrk": "wrk", "ab": "apache2-utils"}
    return [
        f"{tool} (apt-get install {pkg})" for tool, pkg in wanted.items() if not shutil.which(tool)
    ]


def _load_process() -> None:
    """preexec_fn: on the load CPU, with enough file descriptors for 1,000 connections."""
    pin_to(LOAD_CPU)()
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = NOFILE if hard == resource.RLIM_INFINITY else min(NOFILE, hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, target), hard))


def wrk(
    endpoint: str,
    paths: list[str],
    *,
    method: str,
    connections: int,
    seconds: float,
    body_size: int = 0,
    random_pick: bool = True,
) -> LoadResult:
    """Run wrk for `seconds` over the presigned paths; raise if it fails to report."""
    with tempfile.NamedTemporaryFile("w", suffix=".urls") as listing:
        listing.write("\n".join(paths) + "\n")
        listing.flush()
        mode = "random" if random_pick else "sequence"
        command = [
            "wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "10s",
            "-s", str(LUA), endpoint, "--", listing.name, method, mode, str(body_size),
        ]  # fmt: skip
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            preexec_fn=_load_process,
            check=False,
        )
    found = re.search(r"^WRK_JSON (.*)$", done.stdout, re.MULTILINE)
    if found is None:
        raise RuntimeError(f"wrk reported nothing: {done.stdout[-500:]} {done.stderr[-500:]}")
    data = json.loads(found.group(1))
    seconds_run = data["duration_us"] / 1e6
    socket_errors = sum(data[k] for k in ("connect", "read", "write", "timeout"))
    return LoadResult(
        rate=data["requests"] / seconds_run,
        p50_ms=data["p50_us"] / 1000,
        p99_ms=data["p99_us"] / 1000,
        requests=data["requests"],
        errors=socket_errors,
        non_2xx=data["status"],
        wraps=data["wraps"],
    )


def ab_head(url: str, *, connections: int, seconds: float) -> LoadResult:
    """HEAD one presigned URL with ab (keep-alive) for `seconds`."""
    with tempfile.NamedTemporaryFile("r", suffix=".csv") as percentiles:
        command = [
            "ab", "-q", "-i", "-k", "-c", str(connections), "-t", str(max(1, round(seconds))),
            "-n", "100000000", "-e", percentiles.name, url,
        ]  # fmt: skip
        done = subprocess.run(
            command,
            capture_output=True,
            text=True,
            timeout=seconds + 60,
            preexec_fn=_load_process,
            check=False,
        )
        served = {int(row[0]): float(row[1]) for row in list(csv.reader(percentiles))[1:]}
    out = done.stdout

    def number(label: str) -> float:
        found = re.search(rf"^{label}:\s+([\d.]+)", out, re.MULTILINE)
        return float(found.group(1)) if found else 0.0

    if not served or not number("Complete requests"):
        raise RuntimeError(f"ab reported nothing: {out[-500:]} {done.stderr[-500:]}")
    return LoadResult(
        rate=number("Requests per second"),
        p50_ms=served[50],
        p99_ms=served[99],
        requests=int(number("Complete requests")),
        errors=int(number("Failed requests")),
        non_2xx=int(number("Non-2xx responses")),
    )
