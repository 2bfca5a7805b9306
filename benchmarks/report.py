"""Tables (Markdown, readable in a terminal too) and the JSON record of a run.

Every figure is the median over the rounds with the spread (min-max) beside it; the
ratio columns divide aios3's median by the peer's, for throughputs (req/s, MB/s) only.
"""

from __future__ import annotations

import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from workloads import Metrics, Workload

Results = dict[str, dict[str, list[Metrics]]]  # workload -> server -> one Metrics per round
RATES = ("req/s", "MB/s", "PUT MB/s", "GET MB/s")


def number(value: float) -> str:
    """A figure with as many digits as it deserves."""
    if value != value:  # NaN
        return "n/a"
    if abs(value) >= 100 or value == int(value):
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def values(runs: Sequence[Metrics], metric: str) -> list[float]:
    """The metric over the rounds that measured it."""
    return [run[metric] for run in runs if metric in run]


def median(runs: Sequence[Metrics], metric: str) -> float | None:
    """The median of the metric over the rounds, None when never measured."""
    found = values(runs, metric)
    return statistics.median(found) if found else None


def cell(runs: Sequence[Metrics], metric: str) -> str:
    """'median (min-max)', or the one value, or '-' when not measured."""
    found = values(runs, metric)
    if not found:
        return "-"
    middle = number(statistics.median(found))
    if len(found) == 1 or min(found) == max(found):
        return middle
    return f"{middle} ({number(min(found))}-{number(max(found))})"


def ratio(results: Mapping[str, list[Metrics]], metric: str, peer: str, me: str = "aios3") -> str:
    """me/peer of the medians, for throughput metrics."""
    mine, theirs = median(results.get(me, []), metric), median(results.get(peer, []), metric)
    if metric not in RATES or mine is None or not theirs:
        return ""
    return f"{mine / theirs:.2f}x"


def table(
    results: Results, workloads: Sequence[Workload], servers: Sequence[str], peers: Sequence[str]
) -> list[str]:
    """The side-by-side table: a row per workload and metric."""
    head = ["workload", "metric", *servers, *(f"aios3/{peer}" for peer in peers)]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for workload in workloads:
        by_server = results.get(workload.name)
        if not by_server:
            continue
        for index, metric in enumerate(workload.metrics):
            label = f"{workload.title} (`{workload.name}`)" if index == 0 else ""
            row = [label, metric]
            row += [cell(by_server.get(server, []), metric) for server in servers]
            row += [ratio(by_server, metric, peer) for peer in peers]
            lines.append("| " + " | ".join(row) + " |")
    return lines


def scaling(results: Results, servers: Sequence[str]) -> list[str]:
    """GET 4 KiB req/s at 1, 64 and 1,000 connections, errors at 1,000."""
    names = (("get_4k_c1", "1"), ("get_4k", "64"), ("get_4k_c1000", "1,000"))
    lines = ["| connections | " + " | ".join(servers) + " |", "|---|" + "---|" * len(servers)]
    for name, label in names:
        if name in results:
            row = [cell(results[name].get(server, []), "req/s") for server in servers]
            lines.append(f"| {label} | " + " | ".join(row) + " |")
    if "get_4k_c1000" in results:
        row = [cell(results["get_4k_c1000"].get(server, []), "errors") for server in servers]
        lines.append("| errors at 1,000 | " + " | ".join(row) + " |")
    return lines


def key_value(rows: Sequence[tuple[str, str]]) -> list[str]:
    """A two-column table."""
    return ["| what | figure |", "|---|---|", *(f"| {k} | {v} |" for k, v in rows)]


def write_json(path: Path, record: Mapping[str, Any]) -> None:
    """Write the run's record (every round's raw figures) as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(record, indent=2, default=str) + "\n")
