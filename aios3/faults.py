"""Fault injection: rules that make chosen requests fail, stall or break on purpose.

A client's retry and integrity handling can only be tested against a server that
misbehaves on cue. Each ``Fault`` matches requests by operation, bucket and key prefix
and then delays them, answers an S3 error, drops the connection, or (for GetObject)
sends fewer body bytes than announced. ``times`` limits how often a fault acts and
``probability`` makes it act at random, drawn from a seeded generator so that a test
run is reproducible. The web layer applies what ``pick`` returns.
"""

from __future__ import annotations

import builtins
import dataclasses
import itertools
import random
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

TRUNCATABLE_OPS = frozenset({"GetObject"})
"""Operations whose body a ``truncate_body_after`` fault can cut short."""


@dataclass(frozen=True)
class Fault:
    """One injected fault; ``times`` counts down as it acts (None: without limit) and
    ``fired`` counts how often it has acted."""

    id: str
    op: str | None = None
    bucket: str | None = None
    key_prefix: str | None = None
    error: str | None = None
    status: int | None = None
    times: int | None = None
    probability: float | None = None
    latency: float | None = None
    reset_connection: bool = False
    truncate_body_after: int | None = None
    fired: int = 0

    def matches(self, op: str | None, bucket: str | None, key: str | None) -> bool:
        """Whether the fault applies to this request (before ``times`` and chance)."""
        if self.truncate_body_after is not None and op not in TRUNCATABLE_OPS:
            return False
        return (
            (self.op is None or self.op == op)
            and (self.bucket is None or self.bucket == bucket)
            and (self.key_prefix is None or (key or "").startswith(self.key_prefix))
        )

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


OPTIONS = frozenset(f.name for f in dataclasses.fields(Fault)) - {"id", "fired"}
"""The keyword arguments of ``Faults.add``."""


class Faults:
    """The active faults of one server, in the order they were added.

    A lock guards them because a test adds faults from its own thread while the
    server's loop picks them.
    """

    def __init__(self, seed: int | None = None) -> None:
        self._random = random.Random(seed)
        self._faults: list[Fault] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def add(
        self,
        *,
        op: str | None = None,
        bucket: str | None = None,
        key_prefix: str | None = None,
        error: str | None = None,
        status: int | None = None,
        times: int | None = None,
        probability: float | None = None,
        latency: float | None = None,
        reset_connection: bool = False,
        truncate_body_after: int | None = None,
    ) -> Fault:
        """Add a fault; ValueError (with a reason) for a combination that means nothing."""
        fault = Fault(
            id="",
            op=_text("op", op),
            bucket=_text("bucket", bucket),
            key_prefix=_text("key_prefix", key_prefix, empty_ok=True),
            error=_text("error", error),
            status=_integer("status", status, 100, 599),
            times=_integer("times", times, 1),
            probability=_number("probability", probability, 0.0, 1.0),
            latency=_number("latency", latency, 0.0),
            reset_connection=_boolean("reset_connection", reset_connection),
            truncate_body_after=_integer("truncate_body_after", truncate_body_after, 0),
        )
        _check_actions(fault)
        with self._lock:
            fault = dataclasses.replace(fault, id=str(next(self._ids)))
            self._faults.append(fault)
        return fault

    def add_from(self, spec: Mapping[str, Any]) -> Fault:
        """``add`` from a JSON object (admin endpoint, ``--fault``); unknown names are a
        ValueError too."""
        unknown = set(spec) - OPTIONS
        if unknown:
            raise ValueError(f"unknown fault option(s): {', '.join(sorted(unknown))}")
        return self.add(**spec)

    def remove(self, fault_id: str) -> bool:
        """Remove a fault; False when there is none with that id."""
        with self._lock:
            kept = [f for f in self._faults if f.id != fault_id]
            found = len(kept) != len(self._faults)
            self._faults = kept
        return found

    def clear(self) -> None:
        with self._lock:
            self._faults = []

    def list(self) -> builtins.list[Fault]:
        with self._lock:
            return list(self._faults)

    def pick(self, op: str | None, bucket: str | None, key: str | None) -> Fault | None:
        """The first fault that acts on this request, counted as having acted.

        A fault acts when it matches, its ``times`` are not used up and its chance
        comes up; the chance is drawn only for faults that could otherwise act, so the
        sequence of draws depends only on the requests, and a seed replays it.
        """
        if not self._faults:  # the usual case: no lock to take
            return None
        with self._lock:
            for index, fault in enumerate(self._faults):
                if fault.times == 0 or not fault.matches(op, bucket, key):
                    continue
                if fault.probability is not None and self._random.random() >= fault.probability:
                    continue
                fired = dataclasses.replace(
                    fault,
                    times=None if fault.times is None else fault.times - 1,
                    fired=fault.fired + 1,
                )
                self._faults[index] = fired
                return fired
        return None


def _check_actions(fault: Fault) -> None:
    if fault.status is not None and fault.error is None:
        raise ValueError("status overrides the status of an error: give error too")
    actions = [
        name
        for name, on in (
            ("error", fault.error is not None),
            ("reset_connection", fault.reset_connection),
            ("truncate_body_after", fault.truncate_body_after is not None),
        )
        if on
    ]
    if len(actions) > 1:
        raise ValueError(f"a fault does one thing: {' and '.join(actions)} exclude each other")
    if not actions and fault.latency is None:
        raise ValueError("a fault needs error, reset_connection, truncate_body_after or latency")
    if fault.truncate_body_after is not None and fault.op not in (None, *TRUNCATABLE_OPS):
        raise ValueError(f"truncate_body_after applies to {', '.join(sorted(TRUNCATABLE_OPS))}")


def _text(name: str, value: object, *, empty_ok: bool = False) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or (not value and not empty_ok):
        raise ValueError(f"{name} must be a non-empty string")
    return value


def _integer(name: str, value: object, low: int, high: int | None = None) -> int | None:
    if value is None:
        return None
    # bool is an int to Python, never to a person writing JSON.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an integer")
    if value < low or (high is not None and value > high):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


def _number(name: str, value: object, low: float, high: float | None = None) -> float | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number")
    if not low <= value <= (high if high is not None else float("inf")):
        bound = f"{low}..{high}" if high is not None else f">= {low}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return float(value)


def _boolean(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise ValueError(f"{name} must be true or false")
    return value
