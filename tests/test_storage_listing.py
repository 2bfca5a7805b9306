"""aios3.storage.listing against a real SQLite index built by Storage on a temp dir."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import pytest

from aios3.errors import S3Error
from aios3.storage import BodyChecks, ListPage, NewObject, Storage
from aios3.storage.listing import list_page, successor

BUCKET = "bucket"
OWNER = "owner"


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[Storage]:
    store = Storage(tmp_path / "data", fsync=False)
    try:
        yield store
    finally:
        store.close()


async def _body(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def fill(storage: Storage, keys: Iterable[str]) -> None:
    await storage.create_bucket(BUCKET, OWNER, "us-east-1", legacy_ok=True)
    await asyncio.gather(
        *[
            storage.put_object(BUCKET, key, _body(key.encode()), NewObject(owner=OWNER), _NO_CHECKS)
            for key in keys
        ]
    )


_NO_CHECKS = BodyChecks()


def page(
    storage: Storage,
    *,
    prefix: str = "",
    delimiter: str = "",
    start_after: str = "",
    max_keys: int = 1000,
) -> ListPage:
    return storage.index.read_now(
        lambda db: list_page(
            db,
            BUCKET,
            prefix=prefix,
            delimiter=delimiter,
            start_after=start_after,
            max_keys=max_keys,
        )
    )


def keys_of(result: ListPage) -> list[str]:
    return [info.key for info in result.objects]


def walk(storage: Storage, *, prefix: str = "", delimiter: str = "", max_keys: int) -> list[str]:
    """Every key and common prefix, page by page, resuming after each page's ``last``."""
    seen: list[str] = []
    start_after = ""
    for _ in range(10_000):
        result = page(
            storage, prefix=prefix, delimiter=delimiter, start_after=start_after, max_keys=max_keys
        )
        entries = sorted(keys_of(result) + result.common_prefixes, key=lambda s: s.encode())
        assert len(entries) <= max_keys
        seen.extend(entries)
        if not result.is_truncated:
            return seen
        assert result.last is not None
        assert result.last == entries[-1]
        start_after = result.last
    raise AssertionError("listing never ended")


@pytest.mark.parametrize(
    ("prefix", "expected"),
    [
        (b"a", b"b"),
        (b"a/", b"a0"),
        (b"ab\xff", b"ac"),
        (b"a\xff\xff", b"b"),
        (b"\xff\xff", None),
        ("é".encode(), b"\xc3\xaa"),
    ],
)
def test_successor_is_smallest_string_after_all_with_prefix(
    prefix: bytes, expected: bytes | None
) -> None:
    assert successor(prefix) == expected


async def test_list_page_orders_keys_as_utf8_bytes(storage: Storage) -> None:
    keys = ["a", "B", "é", "\u00ff", "\U0001f600", "a/b", "a/b/", "a/b/c", "a!", "\uffff", "~"]
    await fill(storage, keys)
    result = page(storage)
    assert keys_of(result) == sorted(keys, key=lambda k: k.encode("utf-8"))
    assert result.common_prefixes == []
    assert not result.is_truncated
    assert result.last == "\U0001f600"


async def test_list_page_prefix_is_a_byte_range(storage: Storage) -> None:
    await fill(storage, ["a", "a/b", "a/b/", "a/b/c", "a0", "ab", "b", "é", "éa"])
    assert keys_of(page(storage, prefix="a/")) == ["a/b", "a/b/", "a/b/c"]
    assert keys_of(page(storage, prefix="a/b")) == ["a/b", "a/b/", "a/b/c"]
    assert keys_of(page(storage, prefix="a")) == ["a", "a/b", "a/b/", "a/b/c", "a0", "ab"]
    assert keys_of(page(storage, prefix="é")) == ["é", "éa"]
    assert keys_of(page(storage, prefix="zz")) == []


async def test_list_page_delimiter_rolls_up_common_prefixes(storage: Storage) -> None:
    await fill(storage, ["a", "a/b", "a/b/", "a/b/c", "b/x/y", "c"])
    result = page(storage, delimiter="/")
    assert keys_of(result) == ["a", "c"]
    assert result.common_prefixes == ["a/", "b/"]
    assert result.last == "c"

    inner = page(storage, prefix="a/", delimiter="/")
    assert keys_of(inner) == ["a/b"]
    assert inner.common_prefixes == ["a/b/"]

    deeper = page(storage, prefix="a/b/", delimiter="/")
    assert keys_of(deeper) == ["a/b/", "a/b/c"]
    assert deeper.common_prefixes == []


async def test_list_page_prefix_that_is_not_a_directory(storage: Storage) -> None:
    await fill(storage, ["photos/2006/jan", "photos/2006/feb/x", "photographs", "phone"])
    result = page(storage, prefix="photo", delimiter="/")
    assert keys_of(result) == ["photographs"]
    assert result.common_prefixes == ["photos/"]


async def test_list_page_multi_character_delimiter(storage: Storage) -> None:
    await fill(storage, ["a--b--c", "a--d", "a-e", "b", "x--"])
    result = page(storage, delimiter="--")
    assert keys_of(result) == ["a-e", "b"]
    assert result.common_prefixes == ["a--", "x--"]
    nested = page(storage, prefix="a--", delimiter="--")
    assert keys_of(nested) == ["a--d"]
    assert nested.common_prefixes == ["a--b--"]


async def test_list_page_max_keys_counts_keys_and_prefixes(storage: Storage) -> None:
    await fill(storage, ["a", "b/1", "b/2", "c", "d/1"])
    first = page(storage, delimiter="/", max_keys=2)
    assert keys_of(first) == ["a"]
    assert first.common_prefixes == ["b/"]
    assert first.is_truncated
    assert first.last == "b/"

    second = page(storage, delimiter="/", max_keys=2, start_after="b/")
    assert keys_of(second) == ["c"]
    assert second.common_prefixes == ["d/"]
    assert not second.is_truncated


async def test_list_page_not_truncated_when_page_ends_exactly(storage: Storage) -> None:
    await fill(storage, ["a", "b", "c"])
    result = page(storage, max_keys=3)
    assert keys_of(result) == ["a", "b", "c"]
    assert not result.is_truncated
    truncated = page(storage, max_keys=2)
    assert truncated.is_truncated
    assert truncated.last == "b"


async def test_list_page_max_keys_zero_is_empty(storage: Storage) -> None:
    await fill(storage, ["a"])
    result = page(storage, max_keys=0)
    assert result.objects == []
    assert result.common_prefixes == []


async def test_list_page_start_after_is_exclusive(storage: Storage) -> None:
    await fill(storage, ["a", "b", "c", "d"])
    assert keys_of(page(storage, start_after="b")) == ["c", "d"]
    assert keys_of(page(storage, start_after="bb")) == ["c", "d"]
    assert keys_of(page(storage, start_after="")) == ["a", "b", "c", "d"]
    assert keys_of(page(storage, start_after="d")) == []


async def test_list_page_start_after_before_or_beyond_prefix(storage: Storage) -> None:
    await fill(storage, ["a/1", "b/1", "b/2", "c/1"])
    assert keys_of(page(storage, prefix="b/", start_after="a")) == ["b/1", "b/2"]
    assert keys_of(page(storage, prefix="b/", start_after="b/1")) == ["b/2"]
    assert keys_of(page(storage, prefix="b/", start_after="c")) == []


async def test_list_page_start_after_a_common_prefix_skips_it(storage: Storage) -> None:
    await fill(storage, ["a/1", "a/2", "a0", "b/1"])
    result = page(storage, delimiter="/", start_after="a/")
    assert keys_of(result) == ["a0"]
    assert result.common_prefixes == ["b/"]


@pytest.mark.parametrize(("delimiter", "max_keys"), [("", 1), ("", 7), ("/", 1), ("/", 3)])
async def test_list_page_pages_join_to_the_full_listing(
    storage: Storage, delimiter: str, max_keys: int
) -> None:
    keys = [f"d{i % 4}/k{i:02d}" for i in range(20)] + ["d", "d0", "e/", "é/x", "z"]
    await fill(storage, keys)
    expected = walk(storage, delimiter=delimiter, max_keys=1000)
    assert walk(storage, delimiter=delimiter, max_keys=max_keys) == expected
    if delimiter:
        assert expected == ["d", "d0", "d0/", "d1/", "d2/", "d3/", "e/", "z", "é/"]
    else:
        assert expected == sorted(keys, key=lambda k: k.encode())


async def test_list_page_many_prefixes_each_with_many_keys(storage: Storage) -> None:
    # More keys under one prefix than a page: rolling up must seek, not walk them all.
    keys = [f"p{i}/{j:03d}" for i in range(3) for j in range(300)] + ["q"]
    await fill(storage, keys)
    result = page(storage, delimiter="/", max_keys=2)
    assert result.common_prefixes == ["p0/", "p1/"]
    assert result.is_truncated
    rest = page(storage, delimiter="/", max_keys=1000, start_after="p1/")
    assert rest.common_prefixes == ["p2/"]
    assert keys_of(rest) == ["q"]
    assert not rest.is_truncated


async def test_list_page_over_many_rows_without_delimiter(storage: Storage) -> None:
    keys = [f"k{i:04d}" for i in range(700)]
    await fill(storage, keys)
    result = page(storage, max_keys=1000)
    assert keys_of(result) == keys
    assert not result.is_truncated
    assert walk(storage, max_keys=300) == keys


async def test_list_page_only_sees_its_own_bucket(storage: Storage) -> None:
    await fill(storage, ["a", "b"])
    await storage.create_bucket("bucket0", OWNER, "us-east-1", legacy_ok=True)
    await storage.put_object("bucket0", "a0", _body(b""), NewObject(owner=OWNER), _NO_CHECKS)
    await storage.create_bucket("buck", OWNER, "us-east-1", legacy_ok=True)
    await storage.put_object("buck", "0", _body(b""), NewObject(owner=OWNER), _NO_CHECKS)
    assert keys_of(page(storage)) == ["a", "b"]


async def test_list_page_returns_stored_object_info(storage: Storage) -> None:
    await fill(storage, ["hello"])
    (info,) = page(storage).objects
    assert info.key == "hello"
    assert info.size == len(b"hello")
    assert info.etag == "5d41402abc4b2a76b9719d911017c592"
    assert info.owner == OWNER


async def test_list_objects_missing_bucket_is_no_such_bucket(storage: Storage) -> None:
    with pytest.raises(S3Error) as caught:
        await storage.list_objects(
            "missing", prefix="", delimiter="", start_after="", max_keys=1000
        )
    assert caught.value.code == "NoSuchBucket"


async def test_list_objects_through_the_facade(storage: Storage) -> None:
    await fill(storage, ["x/1", "x/2", "y"])
    result = await storage.list_objects(
        BUCKET, prefix="", delimiter="/", start_after="", max_keys=1000
    )
    assert result.common_prefixes == ["x/"]
    assert keys_of(result) == ["y"]
