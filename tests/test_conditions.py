"""Unit tests of aios3.handlers.conditions: ETag lists, conditional-header precedence
(GetObject / CopyObject references, RFC 9110 section 13.2.2) and Range parsing."""

from __future__ import annotations

import email.utils

import pytest

from aios3.errors import S3Error
from aios3.handlers.conditions import (
    ByteRange,
    Header,
    check_conditions,
    etag_matches,
    parse_range,
)
from aios3.storage import ObjectInfo

ETAG = "5d41402abc4b2a76b9719d911017c592"
MODIFIED = 1_700_000_000.75  # a fraction of a second, as stored
BEFORE = email.utils.formatdate(MODIFIED - 3600, usegmt=True)
SAME = email.utils.formatdate(int(MODIFIED), usegmt=True)
AFTER = email.utils.formatdate(MODIFIED + 3600, usegmt=True)
INFO = ObjectInfo(
    bucket="b", key="k", size=10, etag=ETAG, last_modified=MODIFIED, body_id="x", owner="o"
)


def headers(**values: str) -> Header:
    lowered = {name.replace("_", "-").lower(): value for name, value in values.items()}
    return lambda name: lowered.get(name.lower())


def outcome(header: Header, prefix: str = "") -> str:
    try:
        check_conditions(INFO, header, prefix=prefix)
    except S3Error as error:
        return error.code
    return "ok"


# -- etag_matches ------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [f'"{ETAG}"', ETAG, "*", f'"other", "{ETAG}"', f'W/"{ETAG}"', f' "{ETAG}" '],
)
def test_etag_matches_true(header: str) -> None:
    assert etag_matches(header, ETAG)


@pytest.mark.parametrize("header", ['"other"', "", f'"{ETAG}x"', f'"{ETAG[:-1]}"'])
def test_etag_matches_false(header: str) -> None:
    assert not etag_matches(header, ETAG)


# -- check_conditions: each header alone --------------------------------------------


def test_check_conditions_no_headers_pass() -> None:
    assert outcome(headers()) == "ok"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"If-Match": f'"{ETAG}"'}, "ok"),
        ({"If-Match": '"nope"'}, "PreconditionFailed"),
        ({"If-Match": "*"}, "ok"),
        ({"If-None-Match": f'"{ETAG}"'}, "NotModified"),
        ({"If-None-Match": "*"}, "NotModified"),
        ({"If-None-Match": '"nope"'}, "ok"),
        ({"If-Modified-Since": BEFORE}, "ok"),
        ({"If-Modified-Since": SAME}, "NotModified"),
        ({"If-Unmodified-Since": BEFORE}, "PreconditionFailed"),
        ({"If-Unmodified-Since": SAME}, "ok"),
        ({"If-Unmodified-Since": AFTER}, "ok"),
    ],
)
def test_check_conditions_single_header(values: dict[str, str], expected: str) -> None:
    assert outcome(headers(**values)) == expected


def test_check_conditions_dates_compare_at_whole_seconds() -> None:
    # Last-Modified shows whole seconds: the same second means "not modified since".
    just_before = email.utils.formatdate(int(MODIFIED) - 1, usegmt=True)
    assert outcome(headers(If_Modified_Since=SAME)) == "NotModified"
    assert outcome(headers(If_Modified_Since=just_before)) == "ok"
    assert outcome(headers(If_Unmodified_Since=just_before)) == "PreconditionFailed"


@pytest.mark.parametrize("value", ["yesterday", "", "Mon, 99 Foo 2020 00:00:00 GMT"])
def test_check_conditions_unparseable_dates_are_ignored(value: str) -> None:
    assert outcome(headers(If_Modified_Since=value)) == "ok"
    assert outcome(headers(If_Unmodified_Since=value)) == "ok"


# -- check_conditions: precedence ---------------------------------------------------


def test_check_conditions_if_match_true_overrides_failing_unmodified_since() -> None:
    assert outcome(headers(If_Match=f'"{ETAG}"', If_Unmodified_Since=BEFORE)) == "ok"


def test_check_conditions_if_none_match_false_with_modified_since_true_is_304() -> None:
    assert outcome(headers(If_None_Match=f'"{ETAG}"', If_Modified_Since=BEFORE)) == "NotModified"


def test_check_conditions_if_none_match_true_overrides_modified_since() -> None:
    assert outcome(headers(If_None_Match='"nope"', If_Modified_Since=AFTER)) == "ok"


def test_check_conditions_412_wins_over_304() -> None:
    assert outcome(headers(If_Match='"nope"', If_None_Match=f'"{ETAG}"')) == "PreconditionFailed"
    assert (
        outcome(headers(If_Unmodified_Since=BEFORE, If_Modified_Since=AFTER))
        == "PreconditionFailed"
    )


def test_check_conditions_if_match_true_then_if_none_match_evaluated() -> None:
    assert outcome(headers(If_Match=f'"{ETAG}"', If_None_Match=f'"{ETAG}"')) == "NotModified"


def test_check_conditions_error_names_the_condition() -> None:
    with pytest.raises(S3Error) as caught:
        check_conditions(INFO, headers(If_Match='"nope"'))
    assert caught.value.status == 412
    assert caught.value.detail == {"Condition": "If-Match"}


# -- check_conditions: copy-source family -----------------------------------------

COPY = "x-amz-copy-source-"


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ({"x-amz-copy-source-if-match": f'"{ETAG}"'}, "ok"),
        ({"x-amz-copy-source-if-match": '"nope"'}, "PreconditionFailed"),
        ({"x-amz-copy-source-if-none-match": f'"{ETAG}"'}, "PreconditionFailed"),
        ({"x-amz-copy-source-if-none-match": '"nope"'}, "ok"),
        ({"x-amz-copy-source-if-modified-since": SAME}, "PreconditionFailed"),
        ({"x-amz-copy-source-if-modified-since": BEFORE}, "ok"),
        ({"x-amz-copy-source-if-unmodified-since": BEFORE}, "PreconditionFailed"),
        ({"x-amz-copy-source-if-unmodified-since": AFTER}, "ok"),
        # CopyObject reference: if-match true + unmodified-since false -> copy proceeds.
        (
            {
                "x-amz-copy-source-if-match": f'"{ETAG}"',
                "x-amz-copy-source-if-unmodified-since": BEFORE,
            },
            "ok",
        ),
        # none-match false + modified-since true -> 412.
        (
            {
                "x-amz-copy-source-if-none-match": f'"{ETAG}"',
                "x-amz-copy-source-if-modified-since": BEFORE,
            },
            "PreconditionFailed",
        ),
    ],
)
def test_check_conditions_copy_source(values: dict[str, str], expected: str) -> None:
    assert outcome(lambda name: values.get(name.lower()), prefix=COPY) == expected


def test_check_conditions_copy_source_ignores_plain_headers() -> None:
    assert outcome(headers(If_Match='"nope"', If_None_Match=f'"{ETAG}"'), prefix=COPY) == "ok"


# -- parse_range ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("bytes=0-4", ByteRange(0, 4)),
        ("bytes=3-3", ByteRange(3, 3)),
        ("bytes=5-", ByteRange(5, 9)),
        ("bytes=-3", ByteRange(7, 9)),
        ("bytes=-20", ByteRange(0, 9)),
        ("bytes=5-100", ByteRange(5, 9)),
        ("bytes=9-9", ByteRange(9, 9)),
        (" bytes = 1 - 2 ", ByteRange(1, 2)),
    ],
)
def test_parse_range_single(value: str, expected: ByteRange) -> None:
    assert parse_range(value, 10) == expected


@pytest.mark.parametrize(
    "value",
    [None, "", "bytes=0-1,5-6", "items=0-1", "bytes=5-2", "bytes=a-b", "bytes=-", "bytes 0-1"],
)
def test_parse_range_whole_object(value: str | None) -> None:
    assert parse_range(value, 10) is None


@pytest.mark.parametrize(
    ("value", "size"),
    [("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0), ("bytes=-5", 0)],
)
def test_parse_range_unsatisfiable(value: str, size: int) -> None:
    with pytest.raises(S3Error) as caught:
        parse_range(value, size)
    assert caught.value.code == "InvalidRange"
    assert caught.value.status == 416
    assert caught.value.headers["Content-Range"] == f"bytes */{size}"


def test_byte_range_length() -> None:
    assert ByteRange(2, 5).length == 4
