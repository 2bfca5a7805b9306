"""aios3 side by side with moto, s3rver and the aiohttp ceiling: one bounded run.

Starts every server on loopback pinned to CPU 0 (the load generators and this process on
CPU 1), fills the buckets, then runs every workload against every server interleaved,
round after round, prints the tables of medians with spread and ratios, and writes the
raw figures to benchmarks/results/<timestamp>.json. See benchmarks/README.md.

    python benchmarks/run.py                  # 3 rounds of 5 s per workload
    python benchmarks/run.py --quick          # 1 round of 1 s: a smoke test
    python benchmarks/run.py --servers aios3,ceiling --workloads get_4k,put_4k
    python benchmarks/run.py --big            # growth measured at 1,000,000 keys
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import os
import platform
import shlex
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from types import FrameType
from typing import Any

import memory
import report
import startup
from loadgen import missing_tools
from servers import (
    FSYNC_SPEC,
    LOAD_CPU,
    SPECS,
    Running,
    pin_to,
    pinning_possible,
    resolve,
    settle,
    start,
)
from signing import Presigner, check_against_botocore
from workloads import (
    AIOS3_ONLY,
    BY_NAME,
    FSYNC_WORKLOADS,
    MIB,
    WORKLOADS,
    Metrics,
    Settings,
    Target,
    Workload,
    prepare,
)

RESULTS_DIR = Path(__file__).resolve().parent / "results"
EXTRAS = ("object_memory", "startup")
GROWTH = ("grow_list", "grow_put")


class GlobalTimeout(Exception):
    """The run went past its hard time limit."""


@dataclass
class Run:
    """The figures of one run as they come in."""

    results: report.Results = field(default_factory=dict)
    failures: list[str] = field(default_factory=list)
    skipped: dict[str, str] = field(default_factory=dict)
    extras: dict[str, Any] = field(default_factory=dict)

    def add(self, workload: str, server: str, metrics: Metrics) -> None:
        """Record one measurement."""
        self.results.setdefault(workload, {}).setdefault(server, []).append(metrics)


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "not installed"


def machine() -> dict[str, Any]:
    """What the figures were measured on."""
    model = "unknown"
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            break
    wrk = subprocess.run(["wrk", "-v"], capture_output=True, text=True, check=False)
    return {
        "nproc": os.cpu_count(),
        "cpu": model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": _version("aiohttp"),
        "uvloop": _version("uvloop"),
        "moto": _version("moto"),
        "botocore": _version("botocore"),
        "wrk": (wrk.stdout or wrk.stderr).split("[")[0].strip(),
        "pinned": pinning_possible(),
    }


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Command-line options; --quick changes the defaults it names."""
    names = [*BY_NAME, *EXTRAS]
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--servers", default=",".join(SPECS), help="comma-separated subset")
    parser.add_argument(
        "--workloads", default=",".join(names), help=f"comma-separated subset of {names}"
    )
    parser.add_argument("--rounds", type=int, default=None, help="rounds (default 3)")
    parser.add_argument("--seconds", type=float, default=None, help="per workload (default 5)")
    parser.add_argument("--quick", action="store_true", help="1 round of 1 s, smaller growth")
    parser.add_argument(
        "--big", action="store_true", help="growth at 1,000,000 vs 10,000 keys (slow fill)"
    )
    parser.add_argument(
        "--fsync",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also run aios3 with fsync on for " + ", ".join(FSYNC_WORKLOADS),
    )
    parser.add_argument("--timeout", type=float, default=None, help="global limit, seconds")
    parser.add_argument("--output", type=Path, default=None, help="JSON file to write")
    args = parser.parse_args(argv)
    args.rounds = args.rounds or (1 if args.quick else 3)
    args.seconds = args.seconds or (1.0 if args.quick else 5.0)
    args.timeout = args.timeout or (900.0 if args.quick else 3600.0)
    args.servers = [name.strip() for name in args.servers.split(",") if name.strip()]
    args.workloads = [name.strip() for name in args.workloads.split(",") if name.strip()]
    for name in args.servers:
        if name not in SPECS:
            parser.error(f"unknown server {name!r}; choose from {', '.join(SPECS)}")
    for name in args.workloads:
        if name not in names:
            parser.error(f"unknown workload {name!r}; choose from {', '.join(names)}")
    if args.big:
        args.grow = (10_000, 1_000_000)
    elif args.quick:
        args.grow = (1_000, 20_000)
    else:
        args.grow = (1_000, 100_000)
    return args


def _eligible(workload: Workload, server: str) -> bool:
    if server == FSYNC_SPEC.name:
        return workload.name in FSYNC_WORKLOADS
    return workload.only is None or server in workload.only


def _brief(metrics: Metrics, workload: Workload) -> str:
    shown = [m for m in workload.metrics[:3] if m in metrics]
    return ", ".join(f"{m} {report.number(metrics[m])}" for m in shown)


def measure_rounds(
    run: Run, targets: list[Target], workloads: list[Workload], settings: Settings, rounds: int,
    deadline: float,
) -> None:  # fmt: skip
    """Every workload on every eligible server, interleaved, `rounds` times."""
    for round_no in range(rounds):
        for workload in workloads:
            # Rotate the order each round so no server always runs right after another.
            shift = round_no % len(targets)
            for target in targets[shift:] + targets[:shift]:
                if not _eligible(workload, target.name):
                    continue
                if time.monotonic() > deadline:
                    run.skipped.setdefault("rest", "the global --timeout was reached")
                    return
                tag = f"[round {round_no + 1}/{rounds}] {workload.name:<13} {target.name:<12}"
                waited = settle([t.server for t in targets])
                if waited > 1:
                    print(f"  (waited {waited:.1f} s for the servers to go idle)", flush=True)
                try:
                    metrics = workload.run(target, settings, round_no)
                except Exception as exc:
                    run.failures.append(f"{workload.name} on {target.name}: {exc!r}"[:400])
                    print(f"{tag} FAILED: {exc!r}"[:300], flush=True)
                    continue
                run.add(workload.name, target.name, metrics)
                print(f"{tag} {_brief(metrics, workload)}", flush=True)


def object_memory(run: Run) -> None:
    """Peak growth of a fresh aios3 while it takes and serves a 1 MiB and a 1 GiB object."""
    for label, size in (("1 MiB", MIB), ("1 GiB", 1024 * MIB)):
        server = start(SPECS["aios3"][0])
        try:
            figures = asyncio.run(memory.measure(server.endpoint, server.pid, size))
        finally:
            server.stop()
        run.extras.setdefault("object_memory", {})[label] = figures
        print(f"object memory {label}: {figures}", flush=True)


def startup_times(run: Run, processes: int, in_process: int) -> None:
    """Start-up to first answer: `python -m aios3` and the in-process `serve()`."""
    cli = [startup.cli_once() for _ in range(processes)]
    served, _ = asyncio.run(startup.serve_runs(in_process))
    run.extras["startup"] = {"python -m aios3": cli, "serve() in-process": served}
    print(f"start-up: cli {min(cli) * 1000:.0f} ms, serve() {min(served) * 1000:.1f} ms")


def render(
    run: Run, args: argparse.Namespace, info: dict[str, Any], servers: list[str],
    loads: tuple[tuple[float, ...], tuple[float, ...]], elapsed: float,
) -> str:  # fmt: skip
    """The report printed at the end (and pasted into RESULTS.md)."""
    peers = [name for name in servers if name != "aios3"]
    main = [w for w in WORKLOADS if w.name not in GROWTH]
    verifying = [n for n in servers if SPECS[n][0].verifies_signatures]
    load_text = "start {} / end {}".format(*(" ".join(f"{x:.2f}" for x in load) for load in loads))
    lines = [
        f"Machine: {info['nproc']} CPUs ({info['cpu']}), Linux {info['kernel']}, "
        f"Python {info['python']}, aiohttp {info['aiohttp']}, uvloop {info['uvloop']}, "
        f"moto {info['moto']}, {info['wrk']}; load average (1/5/15 min) {load_text}.",
        "",
        f"Command: `{shlex.join(['python', 'benchmarks/run.py', *sys.argv[1:]])}`",
        f"{args.rounds} round(s) x {args.seconds:g} s per workload, servers interleaved; "
        f"{elapsed / 60:.1f} min in all. Servers pinned to CPU 0, load generators "
        f"(wrk 1 thread, ab for HEAD, curl for 64 MiB, the Python clients) to CPU 1: "
        f"{'yes' if info['pinned'] else 'NO (fewer than 2 CPUs)'}.",
        f"Requests are SigV4-signed (presigned URLs; boto3 signs the multipart upload); "
        f"servers that verify them: {', '.join(verifying)} (moto and the ceilings do not). "
        "aios3 runs with fsync off.",
        "The ceiling column is the load generator's rate against a server that does "
        "nothing: it shows how far the load generator goes. ceiling-view does the "
        "same nothing through an aiohttp web.View, as aios3's routes do.",
        "Cells: median (min-max) over rounds; ratios are of medians, for throughputs.",
        "",
        *report.table(run.results, main, servers, peers),
    ]
    if FSYNC_SPEC.name in {s for by in run.results.values() for s in by}:
        fsync = [BY_NAME[name] for name in FSYNC_WORKLOADS]
        lines += ["", "fsync on (same run): aios3 --fsync next to aios3 --no-fsync", ""]
        lines += report.table(run.results, fsync, ["aios3", FSYNC_SPEC.name], [])
    small, big = args.grow
    growth = [BY_NAME[name] for name in GROWTH]
    if any(name in run.results for name in GROWTH):
        lines += ["", f"How cost grows (aios3): a bucket of {big:,} keys vs {small:,} keys", ""]
        lines += report.table(run.results, growth, ["aios3"], [])
    if any(name in run.results for name in ("get_4k_c1", "get_4k", "get_4k_c1000")):
        lines += ["", "GET 4 KiB req/s by connections", "", *report.scaling(run.results, servers)]
    rows: list[tuple[str, str]] = []
    for label, figures in run.extras.get("object_memory", {}).items():
        rows.append(
            (
                f"aios3 peak RSS growth, {label} object (PUT / GET)",
                f"{figures['put_peak_growth_mib']:.1f} / {figures['get_peak_growth_mib']:.1f} MiB"
                f" ({figures['put_mb_s']:,.0f} / {figures['get_mb_s']:,.0f} MB/s)",
            )
        )
    for label, times in run.extras.get("startup", {}).items():
        best, middle = min(times) * 1000, statistics.median(times) * 1000
        rows.append((f"start-up to first answer, {label}", f"{middle:.1f} ms (best {best:.1f})"))
    if rows:
        lines += ["", *report.key_value(rows)]
    notes = [f"- skipped {name}: {why}" for name, why in run.skipped.items()]
    notes += [f"- failed: {failure}" for failure in run.failures]
    if notes:
        lines += ["", *notes]
    return "\n".join(lines)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise GlobalTimeout("hard time limit reached")


def main(argv: Sequence[str] | None = None) -> int:
    """Run the benchmark; 0 when every measurement ran."""
    args = parse_args(argv)
    missing = missing_tools()
    if missing:
        print("missing load generators: " + ", ".join(missing), file=sys.stderr)
        return 2
    pin_to(LOAD_CPU)()
    started, load_start = time.monotonic(), os.getloadavg()
    deadline = started + args.timeout
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.alarm(int(args.timeout) + 300)  # a hard stop past the soft deadline
    run = Run()
    specs, run.skipped = resolve(args.servers)
    workloads = [BY_NAME[name] for name in args.workloads if name in BY_NAME]
    if args.fsync and "aios3" in args.servers and set(args.workloads) & set(FSYNC_WORKLOADS):
        specs.append(FSYNC_SPEC)
    for name, why in run.skipped.items():
        print(f"skipping {name}: {why}", flush=True)
    info = machine()
    running: list[Running] = []
    with tempfile.TemporaryDirectory(prefix="aios3-bench-work-") as work:
        settings = Settings(
            args.seconds, Path(work), grow_small=args.grow[0], grow_big=args.grow[1]
        )
        try:
            for spec in specs:
                running.append(start(spec))
                print(f"started {spec.name} at {running[-1].endpoint}", flush=True)
            targets = [
                Target(s, Presigner(s.endpoint, s.spec.access_key, s.spec.secret_key))
                for s in running
            ]
            check_against_botocore(targets[0].signer)
            for target in targets:
                prepare(target, workloads, settings)
            measure_rounds(run, targets, workloads, settings, args.rounds, deadline)
        except GlobalTimeout as exc:
            run.skipped["rest"] = str(exc)
        finally:
            for server in running:
                server.stop()
    try:
        if "object_memory" in args.workloads and "aios3" in args.servers:
            object_memory(run)
        if "startup" in args.workloads and "aios3" in args.servers:
            startup_times(run, 3 if args.quick else 5, 10 if args.quick else 20)
    except GlobalTimeout as exc:
        run.skipped["rest"] = str(exc)
    signal.alarm(0)
    elapsed = time.monotonic() - started
    servers = [s.name for s in specs if s.name != FSYNC_SPEC.name]
    loads = (load_start, os.getloadavg())
    text = render(run, args, info, servers, loads, elapsed)
    print("\n" + text)
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    output = args.output or RESULTS_DIR / f"{stamp}.json"
    report.write_json(
        output,
        {
            "machine": info,
            "argv": sys.argv[1:],
            "rounds": args.rounds,
            "seconds": args.seconds,
            "growth_keys": {"small": args.grow[0], "big": args.grow[1]},
            "load_average": {"start": load_start, "end": loads[1]},
            "servers": {s.name: s.note for s in specs},
            "only_aios3": {w: AIOS3_ONLY for w in GROWTH},
            "results": run.results,
            "extras": run.extras,
            "skipped": run.skipped,
            "failures": run.failures,
            "table": text,
        },
    )
    print(f"\nwrote {output}")
    return 1 if run.failures else 0


if __name__ == "__main__":
    sys.exit(main())
