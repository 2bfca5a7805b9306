"""A Jepsen-style history checker for S3's strong read-after-write consistency.

Pure: no I/O. A workload records one :class:`Op` per operation (client-side
``time.monotonic()`` when it was invoked and when its answer was complete, and what it
answered); :func:`check` then checks every key as a register of unique values.

Conventions the workload follows:

- Every PUT writes a value no other PUT in the history writes, and its body is that
  value in UTF-8, so an ETag names one PUT (:func:`etag_of`) and a value read names it
  too. Keys start absent.
- An operation whose outcome is not known (timeout, connection cut, server killed,
  5xx) has ``completed=None``: a write that may have taken effect at any moment after
  it was invoked, or never; a read that tells nothing.

What is checked, for every read of a key (GET, HEAD, and each key of every LIST — a
LIST is a read of every key: present with an ETag, or absent), with ``R.inv`` and
``R.done`` its invocation and completion:

1. *Forced writes.* A write W2 (PUT or DELETE) has surely taken effect before ``R.inv``
   if it completed before then, or if another read that completed before then returned
   W2's value. Let ``M`` be the latest invocation among the forced writes.
2. *A value read* must come from a PUT W of that value to that key (else
   ``never-written``, which also covers a listing ETag that matches no value and a GET
   whose body does not hash to its ETag: ``etag-mismatch``); W must have been invoked
   before ``R.done`` (else ``future-read``); and W must not have been followed by a
   forced write: ``W.done >= M`` (else ``stale-read`` when the latest forced write is a
   PUT — an overwritten value came back — or ``undone-delete`` when it is a DELETE).
   So a read returns the latest write acknowledged before it began or a write that was
   concurrent with it; after a DELETE completed, later reads find 404 or a value whose
   PUT was concurrent with or after the DELETE.
3. *An absent read* (404, or the key missing from a LIST) must be explained by the
   initial state (no write forced: ``M`` is -inf) or by a DELETE D invoked before
   ``R.done`` and not followed by a forced write: ``D.done >= M``; else
   ``missing-write`` (a PUT that completed before the read began, with no DELETE
   concurrent with or after it, is not seen).
4. An acknowledged PUT whose answered ETag is not the MD5 of its body, or a listed size
   that is not its value's, is an ``etag-mismatch``.

These are the conditions linearizability of each key imposes on every single read
given the real-time order of operations and what other reads saw; they are necessary,
not sufficient (no search for a total order is made), and they never flag a history a
linearizable store could produce.
"""

from __future__ import annotations

import hashlib
import math
from bisect import bisect_left
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

KINDS = ("put", "delete", "get", "head", "list")
INF = math.inf


def etag_of(value: str) -> str:
    """The ETag S3 gives a single-part object whose body is ``value`` in UTF-8."""
    return hashlib.md5(value.encode()).hexdigest()


def _unquote(etag: str) -> str:
    return etag.strip('"')


@dataclass(frozen=True)
class Op:
    """One operation as a client saw it."""

    client: int
    kind: str  # put, delete, get, head, list
    key: str  # "" for a list
    invoked: float
    completed: float | None  # None: outcome unknown
    value: str | None = None  # put: the value written; get: the body read (None: 404)
    etag: str | None = None  # put: ETag answered; get, head: ETag read (None: 404)
    listing: Mapping[str, tuple[str, int]] | None = None  # list: key -> (ETag, size)
    error: str | None = None  # why the outcome is unknown

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown operation kind {self.kind!r}")

    @property
    def done(self) -> float:
        """Completion time; +inf when unknown (a write may take effect any time)."""
        return INF if self.completed is None else self.completed

    @property
    def found(self) -> bool:
        """A GET or HEAD that found an object (not a 404)."""
        return self.etag is not None or (self.kind == "get" and self.value is not None)

    def __str__(self) -> str:
        end = "?" if self.completed is None else f"{self.completed:.6f}"
        head = f"client {self.client} {self.kind}"
        if self.key:
            head += f" {self.key}"
        head += f" [{self.invoked:.6f}, {end}]"
        if self.completed is None:
            return f"{head} -> unknown" + (f" ({self.error})" if self.error else "")
        if self.kind == "put":
            return f"{head} {self.value!r}"
        if self.kind == "delete":
            return head
        if self.kind == "list":
            shown = ", ".join(f"{k}:{e[:8]}" for k, (e, _) in sorted((self.listing or {}).items()))
            return f"{head} -> {{{shown}}}"
        if not self.found:
            return f"{head} -> 404"
        shown = repr(self.value) if self.kind == "get" else f"ETag {self.etag}"
        return f"{head} -> {shown}"


@dataclass(frozen=True)
class Anomaly:
    """A read no linearizable store could have answered, and the operations that show it."""

    kind: str  # never-written, future-read, stale-read, undone-delete, missing-write, etag-mismatch
    key: str
    op: Op  # the read (or the PUT, for its own ETag)
    witnesses: tuple[Op, ...]
    detail: str

    def __str__(self) -> str:
        lines = [f"{self.kind} on {self.key!r}: {self.detail}", f"  read:    {self.op}"]
        lines += [f"  witness: {witness}" for witness in self.witnesses]
        return "\n".join(lines)


@dataclass
class Report:
    """What :func:`check` found."""

    anomalies: list[Anomaly] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)  # "<kind> ok|404|unknown"
    observations: int = 0  # single-key reads checked (a LIST counts once per key)

    @property
    def operations(self) -> int:
        return sum(self.counts.values())

    def anomaly_counts(self) -> Counter[str]:
        return Counter(anomaly.kind for anomaly in self.anomalies)

    def summary(self) -> str:
        counts = ", ".join(f"{name} {n}" for name, n in sorted(self.counts.items()))
        anomalies = dict(self.anomaly_counts()) or 0
        return (
            f"{self.operations} operations ({counts}); {self.observations} key reads"
            f" checked; anomalies: {anomalies}"
        )

    def describe(self, limit: int = 10) -> str:
        shown = "\n".join(str(anomaly) for anomaly in self.anomalies[:limit])
        more = len(self.anomalies) - limit
        return shown + (f"\n... and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class _Read:
    """One key as one read saw it: from ``source`` (a PUT), or absent."""

    op: Op
    key: str
    source: Op | None


@dataclass
class _Forced:
    """Per key: which writes have surely taken effect before a given time."""

    effects: list[float]  # upper bounds of the writes' effect times, ascending
    latest: list[tuple[float, Op | None, Op | None]]  # prefix max: (invoked, write, proof)
    delete_invoked: list[float]  # DELETE invocation times, ascending
    delete_latest: list[tuple[float, Op | None]]  # prefix max of their completions

    def before(self, moment: float) -> tuple[float, Op | None, Op | None]:
        """Latest invocation of a write forced before ``moment``, that write and the
        operation proving it had taken effect (itself, or a read that saw it)."""
        at = bisect_left(self.effects, moment)
        return self.latest[at - 1] if at else (-INF, None, None)

    def last_delete(self, moment: float) -> tuple[float, Op | None]:
        """The latest completion among DELETEs invoked before ``moment``."""
        at = bisect_left(self.delete_invoked, moment)
        return self.delete_latest[at - 1] if at else (-INF, None)


def check(history: Iterable[Op], keys: Iterable[str] = ()) -> Report:
    """Check ``history`` (any order); ``keys`` adds keys a LIST must account for
    besides those the history names."""
    ops = list(history)
    report = Report()
    every_key = set(keys)
    puts_by_value: dict[str, Op] = {}
    for op in ops:
        status = "unknown" if op.completed is None else "ok"
        if op.completed is not None and op.kind in ("get", "head") and not op.found:
            status = "404"
        report.counts[f"{op.kind} {status}"] += 1
        if op.kind != "list":
            every_key.add(op.key)
        elif op.listing is not None:
            every_key.update(op.listing)
        if op.kind == "put":
            if op.value is None:
                raise ValueError(f"a PUT without its value: {op}")
            if op.value in puts_by_value:
                raise ValueError(f"value {op.value!r} written twice: values must be unique")
            puts_by_value[op.value] = op
            answered = None if op.completed is None else op.etag
            if answered is not None and _unquote(answered) != etag_of(op.value):
                report.anomalies.append(
                    Anomaly(
                        "etag-mismatch",
                        op.key,
                        op,
                        (),
                        f"PUT answered ETag {answered}, not the MD5 of its body",
                    )
                )
    puts_by_etag = {etag_of(value): put for value, put in puts_by_value.items()}

    reads: list[_Read] = []

    def observe(op: Op, key: str, put: Op | None, what: str) -> None:
        report.observations += 1
        if put is None or put.key != key:
            elsewhere = f" (it was written to {put.key!r})" if put is not None else ""
            report.anomalies.append(
                Anomaly(
                    "never-written",
                    key,
                    op,
                    () if put is None else (put,),
                    f"{what} that no PUT wrote to this key{elsewhere}",
                )
            )
            return
        reads.append(_Read(op, key, put))

    for op in ops:
        if op.completed is None or op.kind in ("put", "delete"):
            continue
        if op.kind == "list":
            listing = op.listing or {}
            for key in sorted(every_key):
                if key not in listing:
                    report.observations += 1
                    reads.append(_Read(op, key, None))
                    continue
                etag, size = listing[key]
                put = puts_by_etag.get(_unquote(etag))
                if put is not None and put.value is not None and size != len(put.value.encode()):
                    report.anomalies.append(
                        Anomaly(
                            "etag-mismatch",
                            key,
                            op,
                            (put,),
                            f"listed size {size} is not the size of the value with ETag {etag}",
                        )
                    )
                observe(op, key, put, f"listed ETag {etag}")
        elif not op.found:
            report.observations += 1
            reads.append(_Read(op, op.key, None))
        elif op.kind == "get":
            assert op.value is not None
            if op.etag is not None and _unquote(op.etag) != etag_of(op.value):
                report.anomalies.append(
                    Anomaly(
                        "etag-mismatch",
                        op.key,
                        op,
                        (),
                        f"GET answered ETag {op.etag} for a body with MD5 {etag_of(op.value)}",
                    )
                )
            observe(op, op.key, puts_by_value.get(op.value), f"value {op.value!r}")
        else:
            etag = _unquote(op.etag or "")
            observe(op, op.key, puts_by_etag.get(etag), f"ETag {etag}")

    # When each PUT has surely taken effect: its completion, or the completion of the
    # first read that saw it (only a read that completed after the PUT began counts:
    # one that did not is itself a future-read anomaly).
    effect: dict[int, tuple[float, Op]] = {}
    for put in puts_by_value.values():
        effect[id(put)] = (put.done, put)
    for read in reads:
        source = read.source
        if source is not None and source.invoked < read.op.done < effect[id(source)][0]:
            effect[id(source)] = (read.op.done, read.op)

    forced = _index_writes(ops, effect)
    for read in reads:
        _check_read(read, forced.get(read.key), report)
    return report


def _index_writes(ops: Sequence[Op], effect: Mapping[int, tuple[float, Op]]) -> dict[str, _Forced]:
    writes: dict[str, list[tuple[float, Op, Op]]] = {}
    deletes: dict[str, list[Op]] = {}
    for op in ops:
        if op.kind == "put":
            bound, proof = effect[id(op)]
            writes.setdefault(op.key, []).append((bound, op, proof))
        elif op.kind == "delete":
            writes.setdefault(op.key, []).append((op.done, op, op))
            deletes.setdefault(op.key, []).append(op)
    forced: dict[str, _Forced] = {}
    for key in set(writes) | set(deletes):
        by_effect = sorted(writes.get(key, []), key=lambda entry: entry[0])
        latest: list[tuple[float, Op | None, Op | None]] = []
        best: tuple[float, Op | None, Op | None] = (-INF, None, None)
        for _, write, proof in by_effect:
            if write.invoked > best[0]:
                best = (write.invoked, write, proof)
            latest.append(best)
        by_invoked = sorted(deletes.get(key, []), key=lambda op: op.invoked)
        delete_latest: list[tuple[float, Op | None]] = []
        last: tuple[float, Op | None] = (-INF, None)
        for delete in by_invoked:
            if delete.done > last[0]:
                last = (delete.done, delete)
            delete_latest.append(last)
        forced[key] = _Forced(
            [entry[0] for entry in by_effect],
            latest,
            [op.invoked for op in by_invoked],
            delete_latest,
        )
    return forced


def _proof(write: Op, proof: Op | None) -> tuple[Op, ...]:
    return (write,) if proof is None or proof is write else (write, proof)


def _check_read(read: _Read, forced: _Forced | None, report: Report) -> None:
    op, source = read.op, read.source
    newest, write, proof = forced.before(op.invoked) if forced else (-INF, None, None)
    if source is not None:
        if source.invoked > op.done:
            report.anomalies.append(
                Anomaly(
                    "future-read",
                    read.key,
                    op,
                    (source,),
                    "read a value whose PUT began only after the read completed",
                )
            )
        elif source.done < newest and write is not None:
            kind = "stale-read" if write.kind == "put" else "undone-delete"
            how = "completed" if proof is write else "was seen by a read that completed"
            report.anomalies.append(
                Anomaly(
                    kind,
                    read.key,
                    op,
                    (source, *_proof(write, proof)),
                    f"read the value of a PUT that a later {write.kind.upper()} had"
                    f" replaced before the read began (that {write.kind.upper()} {how}"
                    " before it)",
                )
            )
        return
    if write is None or forced is None:
        return  # nothing forced: the key may still be as it started, absent
    last_delete, delete = forced.last_delete(op.done)
    if last_delete >= newest:
        return  # a DELETE concurrent with or after every forced write explains it
    report.anomalies.append(
        Anomaly(
            "missing-write",
            read.key,
            op,
            (*_proof(write, proof), *(() if delete is None else (delete,))),
            f"found no object although a {write.kind.upper()} had taken effect before the"
            " read began and no DELETE could have come after it",
        )
    )
