"""Instructions per request, counted by callgrind: a cost figure a busy machine cannot move.

Requests per second on a shared 2-core machine swing by 2x from one minute to the next;
the instructions a server executes per request do not (repeat runs agree within 0.5%).
This runs each server under ``valgrind --tool=callgrind``, warms it up, zeroes the
counters, sends N requests with a few keep-alive connections, dumps the counters and
divides. It counts the server process's user-space instructions only (not the kernel's
socket work), and OpenSSL under valgrind takes its generic code paths, so hashing counts
more than it costs on the real CPU: compare runs of this script with each other, not
with req/s.

    python benchmarks/instructions.py                       # aios3 and the ceiling
    python benchmarks/instructions.py --ops get,put -n 2000
    python benchmarks/instructions.py --source /path/to/other/checkout   # another aios3
    python benchmarks/instructions.py --ops list_1000,list_prefix,list_delim -n 200

Needs valgrind (apt-get install valgrind).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import clients
import servers
import workloads
from signing import Presigner

OPS = ("get", "head", "put")
# The listing workloads of run.py, on the same 10,000-key bucket; not in the default set
# (filling the bucket under valgrind takes a minute), ask with --ops.
LIST_OPS = {
    "list_1000": workloads.page_queries(workloads.LIST_KEYS),
    "list_prefix": workloads.PREFIX_QUERIES,
    "list_delim": workloads.DELIMITER_QUERIES,
}
_BODY = os.urandom(4096)
_KEYS = [f"k{i:04d}" for i in range(20)]
_CONNECTIONS = 8


def _command(spec: servers.Spec, root: Path, port: int, out: Path) -> list[str]:
    """The server's command line (as ``run.py`` starts it), run under callgrind."""
    server = spec.command(root, port)
    # Instrumentation starts switched off (turned on before counting), so a listing's
    # bucket fills at a few times native speed rather than callgrind's.
    return [
        "valgrind", "--tool=callgrind", "--instr-atstart=no",
        f"--callgrind-out-file={out}/callgrind.%p", *server,
    ]  # fmt: skip


async def _send(urls: Sequence[str], method: str) -> None:
    """Each URL once, over a few keep-alive connections; every answer must be a 2xx."""

    async def worker(http: aiohttp.ClientSession, share: Sequence[str]) -> None:
        for url in share:
            body = _BODY if method == "PUT" else None
            async with http.request(method, url, data=body) as response:
                await response.read()
                if response.status >= 300:
                    raise RuntimeError(f"{method} {url}: HTTP {response.status}")

    connector = aiohttp.TCPConnector(limit=_CONNECTIONS)
    async with aiohttp.ClientSession(connector=connector) as http:
        shares = [urls[i::_CONNECTIONS] for i in range(_CONNECTIONS)]
        await asyncio.gather(*(worker(http, share) for share in shares))


def _urls(signer: Presigner, op: str, count: int, start: int) -> list[str]:
    if op in LIST_OPS:
        queries = LIST_OPS[op]
        return [
            signer.url("GET", "list", "", queries[(start + i) % len(queries)]) for i in range(count)
        ]
    if op == "put":
        return [signer.url("PUT", "bench", f"new-{start + i}") for i in range(count)]
    method = "HEAD" if op == "head" else "GET"
    return [signer.url(method, "bench", _KEYS[i % len(_KEYS)]) for i in range(count)]


def _control(action: str, pid: int) -> None:
    subprocess.run(["callgrind_control", action, str(pid)], check=True, capture_output=True)


def _dumped_total(out: Path) -> int:
    """The event total of the dump made on request (not the one made at exit)."""
    for path in out.glob("callgrind.*"):
        text = path.read_text(errors="replace")
        if "Trigger: dump" not in text[:4096]:
            continue
        for line in text.splitlines():
            if line.startswith("totals:"):
                return int(line.split()[1])
    raise RuntimeError(f"no callgrind dump in {out}")


def measure(name: str, op: str, count: int, source: Path | None) -> float:
    """Instructions per request of ``op`` on a fresh server ``name``."""
    spec = servers.SPECS[name][0]
    with tempfile.TemporaryDirectory(prefix="aios3-instructions-") as tmp:
        root, out = Path(tmp) / "data", Path(tmp) / "out"
        root.mkdir()
        out.mkdir()
        port = servers.free_port()
        env = dict(os.environ)
        if source is not None:
            env["PYTHONPATH"] = str(source)
        process = subprocess.Popen(
            _command(spec, root, port, out),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=tmp,
        )
        try:
            endpoint = f"http://127.0.0.1:{port}"
            servers._wait_ready(endpoint, process, timeout=300)
            signer = Presigner(endpoint, spec.access_key, spec.secret_key)
            asyncio.run(clients.create_buckets(signer, ["bench"]))
            asyncio.run(clients.fill(signer, "bench", _KEYS, _BODY, concurrency=4))
            if op in LIST_OPS:
                asyncio.run(clients.create_buckets(signer, ["list"]))
                asyncio.run(clients.fill(signer, "list", workloads.LIST_KEYS, b"l" * 16))
            method = {"head": "HEAD", "put": "PUT"}.get(op, "GET")
            _control("--instr=on", process.pid)
            asyncio.run(_send(_urls(signer, op, 200, 0), method))  # warm up
            _control("--zero", process.pid)
            asyncio.run(_send(_urls(signer, op, count, 200), method))
            _control("--dump", process.pid)
        finally:
            process.terminate()
            process.wait(timeout=120)
        return _dumped_total(out) / count


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--servers",
        default="aios3,ceiling",
        help="comma-separated: aios3, ceiling, ceiling-view, ceiling-sigv4",
    )
    parser.add_argument(
        "--ops", default=",".join(OPS), help=f"comma-separated: {OPS + tuple(LIST_OPS)}"
    )
    parser.add_argument("-n", type=int, default=1000, help="requests measured per op")
    parser.add_argument(
        "--source", type=Path, default=None, help="run the aios3 of this checkout instead"
    )
    args = parser.parse_args(argv)
    names = args.servers.split(",")
    ops = args.ops.split(",")
    results = {(name, op): measure(name, op, args.n, args.source) for name in names for op in ops}
    print(f"Instructions per request (callgrind, {args.n} requests, {_CONNECTIONS} connections)")
    with_ratio = {"aios3", "ceiling"} <= set(names)
    print("| op | " + " | ".join(names) + (" | aios3/ceiling |" if with_ratio else " |"))
    print("|---" * (len(names) + 1 + with_ratio) + "|")
    for op in ops:
        cells = [f"{results[name, op] / 1000:,.0f} k" for name in names]
        ratio = ""
        if with_ratio:
            ratio = f" | {results['aios3', op] / results['ceiling', op]:.2f}x"
        print(f"| {op} | " + " | ".join(cells) + ratio + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
