"""Conditional requests and byte ranges, evaluated against the stored ETag and date.

Precedence follows RFC 9110 section 13.2.2 as S3 applies it (GetObject reference):
If-Match, else If-Unmodified-Since (failure -> 412); then If-None-Match, else
If-Modified-Since (failure -> 304 for reads). Dates compare at whole-second precision,
as HTTP dates carry no more.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from aios3.errors import S3Error
from aios3.handlers.context import parse_http_date
from aios3.storage import ObjectInfo

Header = Callable[[str], str | None]


def etag_matches(header: str, etag: str) -> bool:
    """Whether an If-Match / If-None-Match list names ``etag`` (or is ``*``)."""
    for candidate in header.split(","):
        value = candidate.strip()
        if value == "*":
            return True
        value = value.removeprefix("W/").strip('"')
        if value == etag:
            return True
    return False


def check_conditions(info: ObjectInfo, header: Header, *, prefix: str = "") -> None:
    """Raise PreconditionFailed (412) or NotModified (304) as the headers demand.

    ``prefix`` selects the header family: "" for GET/HEAD, "x-amz-copy-source-" for a
    copy's source, where a failed If-None-Match / If-Modified-Since is a 412 too.
    """
    modified = int(info.last_modified)
    if_match = header(prefix + "if-match")
    if if_match is not None:
        if not etag_matches(if_match, info.etag):
            raise S3Error("PreconditionFailed", Condition=prefix + "If-Match")
    else:
        unmodified_since = parse_http_date(header(prefix + "if-unmodified-since"))
        if unmodified_since is not None and modified > unmodified_since:
            raise S3Error("PreconditionFailed", Condition=prefix + "If-Unmodified-Since")
    not_modified = "PreconditionFailed" if prefix else "NotModified"
    if_none_match = header(prefix + "if-none-match")
    if if_none_match is not None:
        if etag_matches(if_none_match, info.etag):
            raise S3Error(not_modified, Condition=prefix + "If-None-Match")
    else:
        modified_since = parse_http_date(header(prefix + "if-modified-since"))
        if modified_since is not None and modified <= modified_since:
            raise S3Error(not_modified, Condition=prefix + "If-Modified-Since")


@dataclass(frozen=True)
class ByteRange:
    start: int
    end: int  # inclusive

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def parse_range(value: str | None, size: int) -> ByteRange | None:
    """The single range a Range header asks for, or None for the whole object.

    Several ranges or a malformed header mean the whole object with 200, as S3 does;
    a well-formed range that misses the object is InvalidRange (416).
    """
    if not value:
        return None
    unit, _, spec = value.strip().partition("=")
    if unit.strip().lower() != "bytes" or "," in spec:
        return None
    first, dash, last = spec.strip().partition("-")
    first, last = first.strip(), last.strip()
    if not dash or not (first.isdigit() or first == "") or not (last.isdigit() or last == ""):
        return None
    if first == "":
        if last == "":
            return None
        suffix = int(last)
        if suffix == 0 or size == 0:
            raise _unsatisfiable(value, size)
        return ByteRange(max(0, size - suffix), size - 1)
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None
    if start >= size:
        raise _unsatisfiable(value, size)
    return ByteRange(start, min(end, size - 1))


def _unsatisfiable(value: str, size: int) -> S3Error:
    error = S3Error("InvalidRange", RangeRequested=value, ActualObjectSize=str(size))
    error.headers["Content-Range"] = f"bytes */{size}"
    return error
