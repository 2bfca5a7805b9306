"""The request journal: one record per S3 request, kept in memory for test assertions.

A test that wants to know what its client really did (how many attempts, which
signature, which checksum, how many bytes) asks the journal instead of guessing from
the client's side. The journal is bounded, so a long-running server cannot grow
without limit; the oldest records go first.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import NamedTuple

from aios3.checksums import ALGORITHMS

MAX_RECORDS = 10_000
"""Records kept; older ones are dropped first."""


class RequestRecord(NamedTuple):
    """What one request did, as the server saw it.

    ``op`` is the S3 operation name (``"PutObject"``), also for operations aios3 does
    not implement; None when the request did not resolve to one (e.g. a bad method).
    ``status`` is None when no response was sent (a connection reset by a fault).
    ``fault`` is the id of the injected fault that acted on the request, if any.

    A named tuple, not a frozen dataclass: one is made for every request, and a frozen
    dataclass sets each of its 16 fields through ``object.__setattr__``.
    """

    request_id: str
    time: float
    method: str
    path: str
    op: str | None
    bucket: str | None
    key: str | None
    status: int | None
    error_code: str | None
    bytes_in: int
    bytes_out: int
    checksum_algorithm: str | None
    signing: str | None
    user_agent: str | None
    duration: float
    fault: str | None = None

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict of every field."""
        return self._asdict()


@dataclass(slots=True)
class Trace:
    """What the layers below the journal middleware learn about a request while it runs.

    The view fills in the operation, names and signing form; the error middleware the
    error code; a handler that streams its own body the bytes it sent (None: take the
    size of the response body).
    """

    op: str | None = None
    bucket: str | None = None
    key: str | None = None
    signing: str | None = None
    checksum_algorithm: str | None = None
    error_code: str | None = None
    bytes_out: int | None = None
    fault: str | None = None
    dropped: bool = False
    """True when the connection was cut before any response (a fault)."""


class Journal:
    """A bounded, newest-last list of request records.

    A lock guards it because an embedding test reads it from its own thread while the
    server's loop appends.
    """

    def __init__(self, maxlen: int = MAX_RECORDS) -> None:
        self._records: deque[RequestRecord] = deque(maxlen=maxlen)
        self._lock = threading.Lock()

    def record(self, record: RequestRecord) -> None:
        with self._lock:
            self._records.append(record)

    def query(
        self,
        *,
        op: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
    ) -> list[RequestRecord]:
        """The records matching every filter given, oldest first."""
        with self._lock:
            records = list(self._records)
        return [
            r
            for r in records
            if (op is None or r.op == op)
            and (bucket is None or r.bucket == bucket)
            and (key is None or r.key == key)
            and (status is None or r.status == status)
            and (error_code is None or r.error_code == error_code)
        ]

    def clear(self) -> None:
        with self._lock:
            self._records.clear()

    def __len__(self) -> int:
        return len(self._records)


def checksum_algorithm(header: Callable[[str], str | None]) -> str | None:
    """The checksum algorithm a request names, in any of the ways SDKs send one: the
    declared algorithm, an ``x-amz-checksum-*`` value, or an announced trailer.
    Never raises: a malformed request is the operation's to refuse, not the journal's."""
    declared = header("x-amz-sdk-checksum-algorithm") or header("x-amz-checksum-algorithm")
    if declared:
        return declared.upper()
    for algorithm in ALGORITHMS:
        if header(f"x-amz-checksum-{algorithm.lower()}") is not None:
            return algorithm
    trailer = (header("x-amz-trailer") or "").strip().lower()
    if trailer.startswith("x-amz-checksum-"):
        return trailer.removeprefix("x-amz-checksum-").upper()
    return None
