"""aios3.storage.listing against a brute-force reference, on keys chosen to break it.

A page is built from range scans that stop at the first key rolling up into a common
prefix, then one index seek per common prefix (to the prefix with its delimiter's last
byte plus one). These tests hold that machinery to the plain definition: sort the keys
by UTF-8 bytes, roll them up, skip what is not after start-after, cut the page. Keys
use characters whose UTF-8 bytes are long or high (U+FFFF, U+10000, U+10FFFF, private
use), so that UTF-8 order, UTF-16 order and naive "prefix + max char" bounds disagree.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aios3.storage.index import OBJECT_COLUMNS, OBJECT_PLACEHOLDERS, Index, object_to_row
from aios3.storage.listing import list_page
from aios3.storage.models import ListPage, ObjectInfo

CHARS = ["a", "b", "/", "-", "é", "\ue000", "\uffff", "\U00010000", "\U0001f600", "\U0010ffff"]
DELIMITERS = ["/", "-", "é", "ab", "//", "\uffff", "\U0010ffff", "\U0010ffff\U0010ffff"]


@pytest.fixture(scope="module")
def index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Index]:
    store = Index(tmp_path_factory.mktemp("listing") / "index.sqlite3", durable=False)
    try:
        yield store
    finally:
        store.close()


_buckets = itertools.count()


def fill(index: Index, keys: Iterable[str], **fields: object) -> str:
    """A new bucket holding ``keys`` (rows written directly); its name."""
    bucket = f"bucket{next(_buckets)}"
    rows = [
        object_to_row(
            ObjectInfo(
                bucket=bucket,
                key=key,
                size=len(key),
                etag="5d41402abc4b2a76b9719d911017c592",
                last_modified=1700000000.25,
                body_id="id",
                owner="owner",
                **fields,  # type: ignore[arg-type]
            )
        )
        for key in keys
    ]
    index.write_now(
        lambda db: db.executemany(
            f"INSERT INTO objects ({OBJECT_COLUMNS}) VALUES ({OBJECT_PLACEHOLDERS})", rows
        )
    )
    return bucket


def page(
    index: Index,
    bucket: str,
    *,
    prefix: str = "",
    delimiter: str = "",
    start_after: str = "",
    max_keys: int = 1000,
) -> ListPage:
    return index.read_now(
        lambda db: list_page(
            db,
            bucket,
            prefix=prefix,
            delimiter=delimiter,
            start_after=start_after,
            max_keys=max_keys,
        )
    )


def utf8(value: str) -> bytes:
    return value.encode("utf-8")


def reference(
    keys: Iterable[str], *, prefix: str, delimiter: str, start_after: str
) -> list[tuple[str, bool]]:
    """Every entry of the listing, in order: (key or common prefix, is a prefix)."""
    entries: dict[str, bool] = {}
    for key in sorted(keys, key=utf8):
        if not key.startswith(prefix):
            continue
        at = key.find(delimiter, len(prefix)) if delimiter else -1
        entry = key[: at + len(delimiter)] if at >= 0 else key
        # A common prefix at or before start-after was returned with an earlier page.
        if utf8(entry) > utf8(start_after):
            entries.setdefault(entry, at >= 0)
    return list(entries.items())


def entries_of(result: ListPage) -> list[tuple[str, bool]]:
    listed = [(info.key, False) for info in result.objects]
    listed += [(common, True) for common in result.common_prefixes]
    return sorted(listed, key=lambda entry: utf8(entry[0]))


def check(
    index: Index,
    bucket: str,
    keys: list[str],
    *,
    prefix: str = "",
    delimiter: str = "",
    start_after: str = "",
    max_keys: int = 1000,
) -> None:
    """One page equals the reference's first ``max_keys`` entries, and so does the
    whole listing walked page by page."""
    expected = reference(keys, prefix=prefix, delimiter=delimiter, start_after=start_after)
    result = page(
        index,
        bucket,
        prefix=prefix,
        delimiter=delimiter,
        start_after=start_after,
        max_keys=max_keys,
    )
    assert entries_of(result) == expected[:max_keys]
    assert result.is_truncated == (0 < max_keys < len(expected))
    shown = expected[:max_keys] if max_keys else []
    assert result.last == (shown[-1][0] if shown else None)

    if max_keys:
        walked: list[tuple[str, bool]] = []
        after = start_after
        for _ in range(len(expected) + 1):
            step = page(
                index,
                bucket,
                prefix=prefix,
                delimiter=delimiter,
                start_after=after,
                max_keys=max_keys,
            )
            walked += entries_of(step)
            if not step.is_truncated:
                break
            assert step.last is not None
            after = step.last
        assert walked == expected


keys_strategy = st.lists(
    st.text(st.sampled_from(CHARS), min_size=1, max_size=5), max_size=40, unique=True
)


@settings(max_examples=300, deadline=None)
@given(
    keys=keys_strategy,
    prefix=st.text(st.sampled_from(CHARS), max_size=2),
    delimiter=st.sampled_from(["", *DELIMITERS]),
    start_after=st.text(st.sampled_from(CHARS), max_size=3),
    max_keys=st.sampled_from([0, 1, 2, 3, 5, 1000]),
)
def test_list_page_matches_reference(
    index: Index, keys: list[str], prefix: str, delimiter: str, start_after: str, max_keys: int
) -> None:
    bucket = fill(index, keys)
    check(
        index,
        bucket,
        keys,
        prefix=prefix,
        delimiter=delimiter,
        start_after=start_after,
        max_keys=max_keys,
    )


def test_list_page_order_is_utf8_not_utf16(index: Index) -> None:
    # UTF-16 puts U+10000.. (surrogate pairs) before U+E000..U+FFFF; UTF-8 after.
    keys = ["\uffff/a", "\U00010000/a", "\ue000/a", "\U0001f600/a", "\ud7ff/a", "\U0010ffff/a"]
    bucket = fill(index, keys)
    result = page(index, bucket, delimiter="/")
    assert result.common_prefixes == [
        "\ud7ff/",
        "\ue000/",
        "\uffff/",
        "\U00010000/",
        "\U0001f600/",
        "\U0010ffff/",
    ]
    check(index, bucket, keys, delimiter="/", max_keys=2)


def test_list_page_highest_code_point_as_delimiter(index: Index) -> None:
    # U+10FFFF is F4 8F BF BF: the seek past a common prefix ending in it goes to
    # ...F4 8F BF C0, above every key under the prefix and below everything after.
    top = "\U0010ffff"
    keys = [f"x{top}", f"x{top}y", f"x{top}{top}", f"x{top}{top}z", "x", f"xy{top}", "y", top]
    bucket = fill(index, keys)
    result = page(index, bucket, delimiter=top)
    assert result.common_prefixes == [f"xy{top}", f"x{top}", top]
    assert [info.key for info in result.objects] == ["x", "y"]
    for max_keys in (1, 2, 3):
        check(index, bucket, keys, delimiter=top, max_keys=max_keys)
        check(index, bucket, keys, prefix=f"x{top}", delimiter=top, max_keys=max_keys)


def test_list_page_prefix_ending_in_highest_code_point(index: Index) -> None:
    top = "\U0010ffff"
    keys = [f"a{top}", f"a{top}/1", f"a{top}/2", f"a{top}{top}/3", f"a{top}0", "b", "a"]
    bucket = fill(index, keys)
    for delimiter in ("", "/", top):
        for max_keys in (1, 2, 1000):
            check(index, bucket, keys, prefix=f"a{top}", delimiter=delimiter, max_keys=max_keys)


def test_list_page_runs_of_prefixes_between_keys(index: Index) -> None:
    # Scans and prefix runs alternate; pages end inside either kind of run.
    keys = [f"{c}{i}" for c in "acegi" for i in range(3)]
    keys += [f"{c}/{i}" for c in "bdfh" for i in range(4)]
    keys += [f"{c}{c}/x" for c in "bdfh"]
    bucket = fill(index, keys)
    for max_keys in range(1, 12):
        check(index, bucket, keys, delimiter="/", max_keys=max_keys)
    assert page(index, bucket, delimiter="/").common_prefixes == [
        "b/",
        "bb/",
        "d/",
        "dd/",
        "f/",
        "ff/",
        "h/",
        "hh/",
    ]


def test_list_page_many_keys_under_each_prefix(index: Index) -> None:
    # Each prefix costs one seek, however many keys it holds.
    keys = [f"p{i:02d}/{j:03d}" for i in range(30) for j in range(100)]
    bucket = fill(index, keys)
    result = page(index, bucket, delimiter="/", max_keys=25)
    assert result.common_prefixes == [f"p{i:02d}/" for i in range(25)]
    assert result.is_truncated
    rest = page(index, bucket, delimiter="/", start_after=result.last or "")
    assert rest.common_prefixes == [f"p{i:02d}/" for i in range(25, 30)]
    assert not rest.is_truncated


@pytest.mark.parametrize(
    ("checksums", "checksum_type", "listed"),
    [
        ({}, "FULL_OBJECT", ""),
        ({"CRC64NVME": "V13Wx0SOqD8="}, "FULL_OBJECT", "CRC64NVME FULL_OBJECT"),
        ({"SHA256": "x" * 44, "CRC32": "AAAAAA=="}, "FULL_OBJECT", "CRC32 SHA256 FULL_OBJECT"),
        ({"CRC32C": "AAAAAA=="}, "COMPOSITE", "CRC32C COMPOSITE"),
    ],
)
def test_list_page_objects_name_their_checksums(
    index: Index, checksums: dict[str, str], checksum_type: str, listed: str
) -> None:
    bucket = fill(index, ["k"], checksums=checksums, checksum_type=checksum_type)
    (info,) = page(index, bucket).objects
    assert info.checksums == listed
    assert (info.key, info.size, info.owner, info.last_modified) == ("k", 1, "owner", 1700000000.25)
    assert info.etag == "5d41402abc4b2a76b9719d911017c592"
