"""Multipart uploads against a real server: boto3's and the AWS CLI's transfer managers,
aiobotocore with concurrent parts, ETags and checksums computed here independently,
part numbers, UploadPartCopy, reads by part and by range, listing pagination, and the
part files on disk (private servers, whose data directory nobody else touches).

The helpers at the top are shared with the error and race tests of this family."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import random
import re
import zlib
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from awscrt import checksums as crt
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.functional.raw import NS, query, query_pairs, signed_request
from tests.functional.raw import path as raw_path
from tests.functional.test_awscli import AWS, _aws
from tests.support import (
    RunningServer,
    error_of,
    read,
    run_server,
    temporary_bucket,
    test_config,
)

MIB = 1024 * 1024
PART = 5 * MIB  # the smallest size of a part that is not the last


# -- independent computations -----------------------------------------------------------


def digest(algorithm: str, data: bytes) -> bytes:
    """The raw big-endian checksum of ``data``, computed without aios3's code."""
    if algorithm == "CRC32":
        return zlib.crc32(data).to_bytes(4, "big")
    if algorithm == "CRC32C":
        return int(crt.crc32c(data)).to_bytes(4, "big")
    if algorithm == "CRC64NVME":
        return int(crt.crc64nvme(data)).to_bytes(8, "big")
    return hashlib.new(algorithm.lower(), data).digest()


def b64(raw: bytes) -> str:
    return base64.b64encode(raw).decode("ascii")


def checksum(algorithm: str, data: bytes) -> str:
    return b64(digest(algorithm, data))


def multipart_etag(parts: Sequence[bytes]) -> str:
    """MD5 of the concatenated binary MD5s of the parts, with ``-N``; quoted."""
    joined = b"".join(hashlib.md5(part).digest() for part in parts)
    return f'"{hashlib.md5(joined).hexdigest()}-{len(parts)}"'


def composite(algorithm: str, parts: Sequence[bytes]) -> str:
    """A COMPOSITE checksum: the checksum of the parts' raw checksums, with ``-N``."""
    joined = b"".join(digest(algorithm, part) for part in parts)
    return f"{checksum(algorithm, joined)}-{len(parts)}"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    hasher = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(MIB):
            hasher.update(chunk)
    return hasher.hexdigest()


def random_bytes(size: int, seed: int | str | None = None) -> bytes:
    return random.Random(seed).randbytes(size) if seed is not None else os.urandom(size)


# -- driving uploads --------------------------------------------------------------------


def upload_parts(
    s3: Any, bucket: str, key: str, parts: Sequence[bytes], **create: Any
) -> tuple[str, list[dict[str, Any]]]:
    """Create an upload and upload ``parts`` as 1..N; the upload id and the part list
    for CompleteMultipartUpload (with each part's checksum when the upload has one)."""
    upload_id: str = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    algorithm = create.get("ChecksumAlgorithm")
    listed: list[dict[str, Any]] = []
    for number, data in enumerate(parts, 1):
        extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
        answer = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data, **extra
        )
        entry: dict[str, Any] = {"PartNumber": number, "ETag": answer["ETag"]}
        if algorithm:
            entry[f"Checksum{algorithm}"] = answer[f"Checksum{algorithm}"]
        listed.append(entry)
    return upload_id, listed


def complete(s3: Any, bucket: str, key: str, upload_id: str, parts: list[dict[str, Any]]) -> Any:
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
    )


def multipart_object(s3: Any, bucket: str, key: str, parts: Sequence[bytes], **create: Any) -> Any:
    """Upload ``parts`` and complete: the CompleteMultipartUpload answer."""
    upload_id, listed = upload_parts(s3, bucket, key, parts, **create)
    return complete(s3, bucket, key, upload_id, listed)


def data_files(server: RunningServer) -> list[Path]:
    """Every body file in the server's data directory."""
    root = server.root / "data"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


@pytest.fixture
def private(tmp_path: Path) -> Iterator[RunningServer]:
    """A server of its own, so that the files in its data directory are this test's."""
    with run_server(test_config(tmp_path / "root")) as running:
        yield running


# -- transfer managers ------------------------------------------------------------------


def test_upload_file_download_file_100mib_small_parts(s3: Any, bucket: str, tmp_path: Path) -> None:
    source, target = tmp_path / "source.bin", tmp_path / "target.bin"
    data = random_bytes(100 * MIB)
    source.write_bytes(data)
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=4)

    s3.upload_file(str(source), bucket, "big.bin", Config=config)
    head = s3.head_object(Bucket=bucket, Key="big.bin")
    assert head["ContentLength"] == len(data)
    assert head["ETag"] == multipart_etag([data[i : i + PART] for i in range(0, len(data), PART)])

    s3.download_file(bucket, "big.bin", str(target), Config=config)
    assert file_sha256(target) == sha256(data)


async def test_aiobotocore_concurrent_parts_round_trip(aio_s3: Any, bucket: str) -> None:
    # 100 MiB in 20 parts, all in flight at once.
    parts = [random_bytes(PART) for _ in range(19)] + [random_bytes(PART - 777)]
    created = await aio_s3.create_multipart_upload(Bucket=bucket, Key="aio.bin")
    upload_id = created["UploadId"]

    async def send(number: int, data: bytes) -> dict[str, Any]:
        answer = await aio_s3.upload_part(
            Bucket=bucket, Key="aio.bin", UploadId=upload_id, PartNumber=number, Body=data
        )
        return {"PartNumber": number, "ETag": answer["ETag"]}

    # Sent in reverse order, all at once: the part numbers alone order the object.
    sent = await asyncio.gather(*[send(n, d) for n, d in reversed(list(enumerate(parts, 1)))])
    listed = sorted(sent, key=lambda entry: entry["PartNumber"])
    for entry, data in zip(listed, parts, strict=True):
        assert entry["ETag"] == f'"{hashlib.md5(data).hexdigest()}"'
    done = await aio_s3.complete_multipart_upload(
        Bucket=bucket, Key="aio.bin", UploadId=upload_id, MultipartUpload={"Parts": listed}
    )
    assert done["ETag"] == multipart_etag(parts)

    got = await aio_s3.get_object(Bucket=bucket, Key="aio.bin")
    async with got["Body"] as stream:
        body = await stream.read()
    assert sha256(body) == sha256(b"".join(parts))
    assert got["ETag"] == multipart_etag(parts)


@pytest.mark.skipif(AWS is None, reason="the AWS CLI is part of the test extra")
def test_awscli_cp_multipart_both_ways(server: RunningServer, s3: Any, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    data = random_bytes(30 * MIB)
    source, target = tmp_path / "up.bin", tmp_path / "down.bin"
    source.write_bytes(data)
    with temporary_bucket(s3) as bucket:
        _aws(server, home, "s3", "cp", str(source), f"s3://{bucket}/cli/up.bin")
        head = s3.head_object(Bucket=bucket, Key="cli/up.bin")
        # The CLI switches to multipart above 8 MiB and sends 8 MiB parts.
        chunk = 8 * MIB
        assert head["ETag"] == multipart_etag(
            [data[i : i + chunk] for i in range(0, len(data), chunk)]
        )
        _aws(server, home, "s3", "cp", f"s3://{bucket}/cli/up.bin", str(target))
        assert file_sha256(target) == sha256(data)


# -- ETags and checksums ------------------------------------------------------------------


def test_complete_multipart_upload_etag_is_md5_of_part_md5s(s3: Any, bucket: str) -> None:
    parts = [random_bytes(PART, 1), random_bytes(PART + 3, 2), b"tail"]
    done = multipart_object(s3, bucket, "etag", parts)
    expected = multipart_etag(parts)
    assert done["ETag"] == expected
    assert s3.head_object(Bucket=bucket, Key="etag")["ETag"] == expected
    assert read(s3, bucket, "etag") == b"".join(parts)


def test_complete_multipart_upload_single_small_part(s3: Any, bucket: str) -> None:
    """The last part may be small, so a one-part upload of any size completes."""
    done = multipart_object(s3, bucket, "one", [b"x"])
    assert done["ETag"] == multipart_etag([b"x"])
    assert read(s3, bucket, "one") == b"x"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_complete_multipart_upload_composite_checksum(s3: Any, bucket: str, algorithm: str) -> None:
    parts = [random_bytes(PART, algorithm), random_bytes(PART, 7), b"third"]
    done = multipart_object(
        s3, bucket, "composite", parts, ChecksumAlgorithm=algorithm, ChecksumType="COMPOSITE"
    )
    expected = composite(algorithm, parts)
    assert expected.endswith("-3")
    assert done[f"Checksum{algorithm}"] == expected
    assert done["ChecksumType"] == "COMPOSITE"
    head = s3.head_object(Bucket=bucket, Key="composite", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == expected
    assert head["ChecksumType"] == "COMPOSITE"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256"])
def test_create_multipart_upload_composite_is_the_default_type(
    s3: Any, bucket: str, algorithm: str
) -> None:
    parts = [random_bytes(PART, 3), b"end"]
    done = multipart_object(s3, bucket, "default-type", parts, ChecksumAlgorithm=algorithm)
    assert done[f"Checksum{algorithm}"] == composite(algorithm, parts)
    assert done["ChecksumType"] == "COMPOSITE"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_complete_multipart_upload_full_object_checksum(
    s3: Any, bucket: str, algorithm: str
) -> None:
    parts = [random_bytes(PART, 11), random_bytes(PART, 12), random_bytes(12_345, 13)]
    whole = b"".join(parts)
    done = multipart_object(
        s3, bucket, "full", parts, ChecksumAlgorithm=algorithm, ChecksumType="FULL_OBJECT"
    )
    assert done[f"Checksum{algorithm}"] == checksum(algorithm, whole)
    assert done["ChecksumType"] == "FULL_OBJECT"
    head = s3.head_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert head[f"Checksum{algorithm}"] == checksum(algorithm, whole)
    assert head["ChecksumType"] == "FULL_OBJECT"
    # botocore validates a full-object checksum against the body it reads.
    got = s3.get_object(Bucket=bucket, Key="full", ChecksumMode="ENABLED")
    assert got["Body"].read() == whole


def test_create_multipart_upload_crc64nvme_defaults_to_full_object(s3: Any, bucket: str) -> None:
    parts = [random_bytes(PART, 21), b"rest"]
    done = multipart_object(s3, bucket, "nvme", parts, ChecksumAlgorithm="CRC64NVME")
    assert done["ChecksumCRC64NVME"] == checksum("CRC64NVME", b"".join(parts))
    assert done["ChecksumType"] == "FULL_OBJECT"


def test_complete_multipart_upload_without_algorithm_gets_full_object_crc64nvme(
    s3: Any, bucket: str
) -> None:
    """As S3 does now: no algorithm asked for, the object still gets a CRC64NVME."""
    parts = [random_bytes(PART, 31), random_bytes(1000, 32)]
    multipart_object(s3, bucket, "plain", parts)
    head = s3.head_object(Bucket=bucket, Key="plain", ChecksumMode="ENABLED")
    assert head["ChecksumCRC64NVME"] == checksum("CRC64NVME", b"".join(parts))
    assert head["ChecksumType"] == "FULL_OBJECT"


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"])
def test_list_parts_shows_part_checksums(s3: Any, bucket: str, algorithm: str) -> None:
    parts = [random_bytes(PART, 41), b"second"]
    upload_id, _ = upload_parts(s3, bucket, "sums", parts, ChecksumAlgorithm=algorithm)
    listed = s3.list_parts(Bucket=bucket, Key="sums", UploadId=upload_id)
    assert listed["ChecksumAlgorithm"] == algorithm
    got = [(p["PartNumber"], p["Size"], p[f"Checksum{algorithm}"]) for p in listed["Parts"]]
    assert got == [(n, len(d), checksum(algorithm, d)) for n, d in enumerate(parts, 1)]
    s3.abort_multipart_upload(Bucket=bucket, Key="sums", UploadId=upload_id)


def test_upload_part_checksum_header_is_verified(server: RunningServer, bucket: str) -> None:
    s3 = server.boto3_client(retries={"total_max_attempts": 1})  # botocore retries BadDigest
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="verify", ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    with pytest.raises(ClientError) as caught:
        s3.upload_part(
            Bucket=bucket,
            Key="verify",
            UploadId=upload_id,
            PartNumber=1,
            Body=b"actual",
            ChecksumSHA256=checksum("SHA256", b"something else"),
        )
    assert error_of(caught) == (400, "BadDigest")
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="verify", UploadId=upload_id)


# -- part numbers and replacement ---------------------------------------------------------


def test_upload_part_numbers_1_and_10000_complete(s3: Any, bucket: str) -> None:
    key = "edges"
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
    first, last = random_bytes(PART, 51), b"the end"
    listed = []
    for number, data in ((1, first), (10_000, last)):
        answer = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=data
        )
        listed.append({"PartNumber": number, "ETag": answer["ETag"]})
    done = complete(s3, bucket, key, upload_id, listed)
    assert done["ETag"] == multipart_etag([first, last])
    assert read(s3, bucket, key) == first + last
    head = s3.head_object(Bucket=bucket, Key=key, PartNumber=2)
    assert head["PartsCount"] == 2
    assert head["ContentLength"] == len(last)


@pytest.mark.parametrize("number", ["0", "10001", "-1", "abc", "1.5", ""])
def test_upload_part_number_out_of_range(
    server: RunningServer, s3: Any, bucket: str, number: str
) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k")["UploadId"]
    answer = signed_request(
        server,
        "PUT",
        raw_path(bucket, "k") + query(partNumber=number, uploadId=upload_id),
        body=b"data",
    )
    assert answer.status == 400
    assert answer.error_code() == "InvalidArgument"
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="k", UploadId=upload_id)


def test_upload_part_again_replaces_it_and_its_file(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.create_bucket(Bucket="replace")
    upload_id = s3.create_multipart_upload(Bucket="replace", Key="k")["UploadId"]
    old, new = random_bytes(PART, "old"), random_bytes(PART, "new")
    tail = b"last"
    s3.upload_part(Bucket="replace", Key="k", UploadId=upload_id, PartNumber=1, Body=old)
    s3.upload_part(Bucket="replace", Key="k", UploadId=upload_id, PartNumber=2, Body=tail)
    before = data_files(private)
    assert len(before) == 2
    answer = s3.upload_part(Bucket="replace", Key="k", UploadId=upload_id, PartNumber=1, Body=new)
    assert answer["ETag"] == f'"{hashlib.md5(new).hexdigest()}"'

    after = data_files(private)
    assert len(after) == 2
    contents = {file.read_bytes() for file in after}
    assert contents == {new, tail}  # the old body file is gone, not just unlisted
    listed = s3.list_parts(Bucket="replace", Key="k", UploadId=upload_id)["Parts"]
    assert [(p["PartNumber"], p["ETag"]) for p in listed] == [
        (1, answer["ETag"]),
        (2, f'"{hashlib.md5(tail).hexdigest()}"'),
    ]
    complete(
        s3,
        "replace",
        "k",
        upload_id,
        [{"PartNumber": p["PartNumber"], "ETag": p["ETag"]} for p in listed],
    )
    assert read(s3, "replace", "k") == new + tail
    assert {file.read_bytes() for file in data_files(private)} == {new, tail}


# -- UploadPartCopy -------------------------------------------------------------------------


def test_upload_part_copy_whole_and_ranged(s3: Any, bucket: str) -> None:
    source = random_bytes(6 * MIB, "copy-source")
    s3.put_object(Bucket=bucket, Key="src", Body=source)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    whole = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "src"},
    )["CopyPartResult"]
    ranged = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=2,
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceRange="bytes=100-1099",
    )["CopyPartResult"]
    assert whole["ETag"] == f'"{hashlib.md5(source).hexdigest()}"'
    assert ranged["ETag"] == f'"{hashlib.md5(source[100:1100]).hexdigest()}"'
    sizes = [
        p["Size"] for p in s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id)["Parts"]
    ]
    assert sizes == [len(source), 1000]
    complete(
        s3,
        bucket,
        "dst",
        upload_id,
        [{"PartNumber": 1, "ETag": whole["ETag"]}, {"PartNumber": 2, "ETag": ranged["ETag"]}],
    )
    assert read(s3, bucket, "dst") == source + source[100:1100]


def test_upload_part_copy_across_part_boundaries_of_multipart_source(s3: Any, bucket: str) -> None:
    parts = [random_bytes(PART, 61), random_bytes(PART, 62), random_bytes(5000, 63)]
    whole = b"".join(parts)
    multipart_object(s3, bucket, "mp-src", parts)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="mp-dst")["UploadId"]
    # Starts in part 1, spans all of part 2, ends in part 3.
    first, last = PART - 10, 2 * PART + 9
    copied = s3.upload_part_copy(
        Bucket=bucket,
        Key="mp-dst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource={"Bucket": bucket, "Key": "mp-src"},
        CopySourceRange=f"bytes={first}-{last}",
    )["CopyPartResult"]
    expected = whole[first : last + 1]
    assert copied["ETag"] == f'"{hashlib.md5(expected).hexdigest()}"'
    complete(s3, bucket, "mp-dst", upload_id, [{"PartNumber": 1, "ETag": copied["ETag"]}])
    assert read(s3, bucket, "mp-dst") == expected


@pytest.mark.parametrize("spec", ["bytes=0-100", "bytes=50-50", "bytes=10-200"])
def test_upload_part_copy_range_out_of_bounds(s3: Any, bucket: str, spec: str) -> None:
    s3.put_object(Bucket=bucket, Key="small", Body=b"x" * 50)
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=upload_id,
            PartNumber=1,
            CopySource={"Bucket": bucket, "Key": "small"},
            CopySourceRange=spec,
        )
    assert error_of(caught) == (416, "InvalidRange")
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="dst", UploadId=upload_id)


# -- reading multipart objects ---------------------------------------------------------------


READ_PARTS = [random_bytes(PART, 71), random_bytes(PART, 72), random_bytes(PART, 73), b"tail!"]
READ_WHOLE = b"".join(READ_PARTS)


@pytest.fixture(scope="module")
def read_bucket(server: RunningServer) -> Iterator[str]:
    """A bucket holding one four-part object, ``mp``, read by several tests."""
    s3 = server.boto3_client()
    with temporary_bucket(s3) as name:
        multipart_object(s3, name, "mp", READ_PARTS)
        yield name


@pytest.mark.parametrize("number", [1, 2, 3, 4])
def test_get_object_part_number(s3: Any, read_bucket: str, number: int) -> None:
    got = s3.get_object(Bucket=read_bucket, Key="mp", PartNumber=number)
    start = (number - 1) * PART
    expected = READ_PARTS[number - 1]
    assert got["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert got["PartsCount"] == 4
    assert got["ContentLength"] == len(expected)
    assert got["ContentRange"] == f"bytes {start}-{start + len(expected) - 1}/{len(READ_WHOLE)}"
    assert got["Body"].read() == expected
    head = s3.head_object(Bucket=read_bucket, Key="mp", PartNumber=number)
    assert head["ResponseMetadata"]["HTTPStatusCode"] == 206
    assert head["PartsCount"] == 4
    assert head["ContentLength"] == len(expected)
    assert head["ETag"] == multipart_etag(READ_PARTS)


def test_get_object_part_number_beyond_parts(
    server: RunningServer, s3: Any, read_bucket: str
) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=read_bucket, Key="mp", PartNumber=5)
    assert error_of(caught) == (416, "InvalidPartNumber")
    head = signed_request(server, "HEAD", raw_path(read_bucket, "mp") + query(partNumber="5"))
    assert head.status == 416


def test_head_object_without_part_number_has_no_parts_count(
    server: RunningServer, read_bucket: str
) -> None:
    answer = signed_request(server, "HEAD", raw_path(read_bucket, "mp"))
    assert answer.status == 200
    assert answer.headers["Content-Length"] == str(len(READ_WHOLE))
    assert answer.headers["ETag"] == multipart_etag(READ_PARTS)


def test_get_object_part_number_1_of_single_part_object(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="single", Body=b"just one body")
    got = s3.get_object(Bucket=bucket, Key="single", PartNumber=1)
    assert got["Body"].read() == b"just one body"
    assert got["ContentLength"] == len(b"just one body")
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=bucket, Key="single", PartNumber=2)
    assert error_of(caught) == (416, "InvalidPartNumber")


def test_get_object_ranges_across_part_boundaries(s3: Any, read_bucket: str) -> None:
    size = len(READ_WHOLE)
    rng = random.Random("ranges")
    specs: list[tuple[str, bytes]] = []
    for boundary in (PART, 2 * PART, 3 * PART):
        for first, last in ((boundary - 1, boundary), (boundary - 1000, boundary + 999)):
            specs.append((f"bytes={first}-{last}", READ_WHOLE[first : last + 1]))
    specs.append((f"bytes=1-{size - 2}", READ_WHOLE[1:-1]))
    specs.append(("bytes=-7", READ_WHOLE[-7:]))
    specs.append((f"bytes={PART - 3}-", READ_WHOLE[PART - 3 :]))
    specs.append((f"bytes={size - 1}-{size + 100}", READ_WHOLE[-1:]))
    for _ in range(150):
        first = rng.randrange(size)
        last = min(size - 1, first + rng.choice([0, 1, 100, 70_000, PART, 2 * PART]))
        specs.append((f"bytes={first}-{last}", READ_WHOLE[first : last + 1]))
    for spec, expected in specs:
        got = s3.get_object(Bucket=read_bucket, Key="mp", Range=spec)
        assert got["ResponseMetadata"]["HTTPStatusCode"] == 206, spec
        assert got["Body"].read() == expected, spec


def test_copy_object_of_multipart_object_is_independent(s3: Any, bucket: str) -> None:
    parts = [random_bytes(PART, 81), b"copied tail"]
    multipart_object(s3, bucket, "orig", parts)
    s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "orig"})
    assert read(s3, bucket, "copy") == b"".join(parts)
    s3.put_object(Bucket=bucket, Key="orig", Body=b"overwritten")
    assert read(s3, bucket, "copy") == b"".join(parts)
    s3.delete_object(Bucket=bucket, Key="orig")
    assert read(s3, bucket, "copy") == b"".join(parts)
    got = s3.get_object(Bucket=bucket, Key="copy", Range=f"bytes={PART - 2}-{PART + 2}")
    assert got["Body"].read() == b"".join(parts)[PART - 2 : PART + 3]


# -- completion, abort, restart, bucket deletion ------------------------------------------------


def test_complete_multipart_upload_repeated_answers_the_same(s3: Any, bucket: str) -> None:
    parts = [random_bytes(PART, 91), b"again"]
    upload_id, listed = upload_parts(s3, bucket, "twice", parts)
    first = complete(s3, bucket, "twice", upload_id, listed)
    second = complete(s3, bucket, "twice", upload_id, listed)
    assert second["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert first["ETag"] == second["ETag"] == multipart_etag(parts)
    assert read(s3, bucket, "twice") == b"".join(parts)


def test_complete_multipart_upload_leaves_no_upload_behind(s3: Any, bucket: str) -> None:
    upload_id, listed = upload_parts(s3, bucket, "gone", [b"only"])
    complete(s3, bucket, "gone", upload_id, listed)
    assert "Uploads" not in s3.list_multipart_uploads(Bucket=bucket)
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket=bucket, Key="gone", UploadId=upload_id)
    assert error_of(caught) == (404, "NoSuchUpload")


def test_complete_multipart_upload_drops_unlisted_parts_files(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.create_bucket(Bucket="unlisted")
    parts = [random_bytes(PART, 95), b"two", b"three"]
    upload_id, listed = upload_parts(s3, "unlisted", "k", parts)
    assert len(data_files(private)) == 3
    complete(s3, "unlisted", "k", upload_id, listed[:2])
    assert {file.read_bytes() for file in data_files(private)} == {parts[0], b"two"}
    assert read(s3, "unlisted", "k") == parts[0] + b"two"


def test_complete_multipart_upload_over_object_removes_old_body(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.create_bucket(Bucket="over")
    s3.put_object(Bucket="over", Key="k", Body=b"old single body")
    multipart_object(s3, "over", "k", [b"new multipart body"])
    assert [file.read_bytes() for file in data_files(private)] == [b"new multipart body"]
    single = b"single again" * 6000  # a file, not kept in the index (SMALL_BODY)
    s3.put_object(Bucket="over", Key="k", Body=single)
    assert [file.read_bytes() for file in data_files(private)] == [single]


def test_abort_multipart_upload_removes_part_files(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.create_bucket(Bucket="abort")
    s3.put_object(Bucket="abort", Key="keep", Body=b"unrelated")
    before = data_files(private)
    upload_id, _ = upload_parts(s3, "abort", "k", [random_bytes(PART, 101), b"b", b"c"])
    assert len(data_files(private)) == len(before) + 3
    answer = s3.abort_multipart_upload(Bucket="abort", Key="k", UploadId=upload_id)
    assert answer["ResponseMetadata"]["HTTPStatusCode"] == 204
    assert data_files(private) == before
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket="abort", Key="k", UploadId=upload_id)
    assert error_of(caught) == (404, "NoSuchUpload")
    assert read(s3, "abort", "keep") == b"unrelated"


def test_unfinished_upload_survives_restart(tmp_path: Path) -> None:
    config = test_config(tmp_path / "root")
    parts = [random_bytes(PART, 111), b"after restart"]
    with run_server(config) as first:
        s3 = first.boto3_client()
        s3.create_bucket(Bucket="restart")
        upload_id, listed = upload_parts(s3, "restart", "k", parts)
    with run_server(config) as second:
        s3 = second.boto3_client()
        shown = s3.list_parts(Bucket="restart", Key="k", UploadId=upload_id)["Parts"]
        assert [(p["PartNumber"], p["ETag"], p["Size"]) for p in shown] == [
            (entry["PartNumber"], entry["ETag"], len(data))
            for entry, data in zip(listed, parts, strict=True)
        ]
        uploads = s3.list_multipart_uploads(Bucket="restart")["Uploads"]
        assert [(u["Key"], u["UploadId"]) for u in uploads] == [("k", upload_id)]
        done = complete(s3, "restart", "k", upload_id, listed)
        assert done["ETag"] == multipart_etag(parts)
        assert read(s3, "restart", "k") == b"".join(parts)


def test_delete_bucket_with_unfinished_upload(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.create_bucket(Bucket="doomed")
    upload_id, _ = upload_parts(s3, "doomed", "k", [random_bytes(PART, 121), b"x"])
    assert len(data_files(private)) == 2
    s3.delete_bucket(Bucket="doomed")
    assert data_files(private) == []
    s3.create_bucket(Bucket="doomed")
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket="doomed", Key="k", UploadId=upload_id)
    assert error_of(caught) == (404, "NoSuchUpload")
    assert "Uploads" not in s3.list_multipart_uploads(Bucket="doomed")


# -- ListParts ---------------------------------------------------------------------------------


def test_list_parts_pagination(s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="paged")["UploadId"]
    numbers = [1, 2, 3, 5, 8, 13, 21, 10_000]
    etags = {}
    for number in reversed(numbers):
        data = f"part {number}".encode()
        s3.upload_part(Bucket=bucket, Key="paged", UploadId=upload_id, PartNumber=number, Body=data)
        etags[number] = f'"{hashlib.md5(data).hexdigest()}"'

    page = s3.list_parts(Bucket=bucket, Key="paged", UploadId=upload_id, MaxParts=3)
    assert [p["PartNumber"] for p in page["Parts"]] == [1, 2, 3]
    assert page["IsTruncated"] is True
    assert page["NextPartNumberMarker"] == 3
    assert page["MaxParts"] == 3
    page = s3.list_parts(
        Bucket=bucket, Key="paged", UploadId=upload_id, MaxParts=3, PartNumberMarker=3
    )
    assert [p["PartNumber"] for p in page["Parts"]] == [5, 8, 13]
    assert page["PartNumberMarker"] == 3
    assert page["IsTruncated"] is True
    page = s3.list_parts(
        Bucket=bucket, Key="paged", UploadId=upload_id, MaxParts=3, PartNumberMarker=13
    )
    assert [p["PartNumber"] for p in page["Parts"]] == [21, 10_000]
    assert page["IsTruncated"] is False
    # A marker between part numbers resumes after it.
    page = s3.list_parts(Bucket=bucket, Key="paged", UploadId=upload_id, PartNumberMarker=4)
    assert [p["PartNumber"] for p in page["Parts"]] == [5, 8, 13, 21, 10_000]
    page = s3.list_parts(Bucket=bucket, Key="paged", UploadId=upload_id, PartNumberMarker=10_000)
    assert "Parts" not in page
    assert page["IsTruncated"] is False

    paginator = s3.get_paginator("list_parts")
    pages = list(
        paginator.paginate(
            Bucket=bucket, Key="paged", UploadId=upload_id, PaginationConfig={"PageSize": 2}
        )
    )
    assert len(pages) == 4
    seen = [(p["PartNumber"], p["ETag"]) for page in pages for p in page["Parts"]]
    assert seen == [(n, etags[n]) for n in numbers]


def test_list_parts_xml(server: RunningServer, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(
        Bucket=bucket, Key="x", ChecksumAlgorithm="CRC32C", ChecksumType="FULL_OBJECT"
    )["UploadId"]
    for number in (1, 2):
        s3.upload_part(
            Bucket=bucket,
            Key="x",
            UploadId=upload_id,
            PartNumber=number,
            Body=b"p" * number,
            ChecksumAlgorithm="CRC32C",
        )
    answer = signed_request(
        server,
        "GET",
        raw_path(bucket, "x") + query_pairs([("uploadId", upload_id), ("max-parts", "1")]),
    )
    assert answer.status == 200
    root = answer.xml()
    assert root.tag == f"{NS}ListPartsResult"
    tags = [child.tag.removeprefix(NS) for child in root]
    assert tags == [
        "Bucket",
        "Key",
        "UploadId",
        "PartNumberMarker",
        "NextPartNumberMarker",
        "MaxParts",
        "IsTruncated",
        "Part",
        "Initiator",
        "Owner",
        "StorageClass",
        "ChecksumAlgorithm",
        "ChecksumType",
    ]
    assert root.findtext(f"{NS}UploadId") == upload_id
    assert root.findtext(f"{NS}NextPartNumberMarker") == "1"
    assert root.findtext(f"{NS}IsTruncated") == "true"
    assert root.findtext(f"{NS}ChecksumType") == "FULL_OBJECT"
    part = root.find(f"{NS}Part")
    assert part is not None
    assert part.findtext(f"{NS}PartNumber") == "1"
    assert part.findtext(f"{NS}ETag") == f'"{hashlib.md5(b"p").hexdigest()}"'
    assert part.findtext(f"{NS}Size") == "1"
    assert part.findtext(f"{NS}ChecksumCRC32C") == checksum("CRC32C", b"p")


def test_create_and_complete_multipart_upload_xml(server: RunningServer, bucket: str) -> None:
    created = signed_request(server, "POST", raw_path(bucket, "a b/c") + query("uploads"))
    assert created.status == 200
    root = created.xml()
    assert root.tag == f"{NS}InitiateMultipartUploadResult"
    assert [c.tag.removeprefix(NS) for c in root] == ["Bucket", "Key", "UploadId"]
    assert root.findtext(f"{NS}Key") == "a b/c"
    upload_id = root.findtext(f"{NS}UploadId")
    assert upload_id
    target = raw_path(bucket, "a b/c")
    put = signed_request(
        server, "PUT", target + query(partNumber="1", uploadId=upload_id), body=b"hello"
    )
    assert put.status == 200
    etag = put.headers["ETag"]
    assert etag == f'"{hashlib.md5(b"hello").hexdigest()}"'
    body = (
        f'<CompleteMultipartUpload xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        f"<Part><ETag>{etag}</ETag><PartNumber>1</PartNumber></Part>"
        f"</CompleteMultipartUpload>"
    ).encode()
    done = signed_request(server, "POST", target + query(uploadId=upload_id), body=body)
    assert done.status == 200
    root = done.xml()
    assert root.tag == f"{NS}CompleteMultipartUploadResult"
    tags = [c.tag.removeprefix(NS) for c in root]
    assert tags[:4] == ["Location", "Bucket", "Key", "ETag"]
    assert root.findtext(f"{NS}Bucket") == bucket
    assert root.findtext(f"{NS}Key") == "a b/c"
    assert root.findtext(f"{NS}ETag") == multipart_etag([b"hello"])
    location = root.findtext(f"{NS}Location") or ""
    assert location.endswith(f"/{bucket}/a b/c") or location.endswith(f"/{bucket}/a%20b/c")


# -- ListMultipartUploads ------------------------------------------------------------------------


def _create_uploads(s3: Any, bucket: str, keys: Sequence[str]) -> list[tuple[str, str]]:
    """One upload per entry of ``keys`` (repeats make several uploads of a key), in
    the order S3 lists them: by key, then by initiation."""
    made = [(key, s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]) for key in keys]
    order = {upload: index for index, (_, upload) in enumerate(made)}
    return sorted(made, key=lambda pair: (pair[0].encode(), order[pair[1]]))


UPLOAD_KEYS = ["b", "a/1", "d", "b", "c/x", "a/2", "b", "c/y/z", "e"]


def test_list_multipart_uploads_pagination(s3: Any, bucket: str) -> None:
    expected = _create_uploads(s3, bucket, UPLOAD_KEYS)
    everything = s3.list_multipart_uploads(Bucket=bucket)
    assert [(u["Key"], u["UploadId"]) for u in everything["Uploads"]] == expected
    assert everything["IsTruncated"] is False

    # Page by hand: each page resumes at NextKeyMarker / NextUploadIdMarker.
    seen: list[tuple[str, str]] = []
    markers: dict[str, str] = {}
    while True:
        page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=2, **markers)
        assert page["MaxUploads"] == 2
        assert len(page.get("Uploads", [])) <= 2
        seen += [(u["Key"], u["UploadId"]) for u in page.get("Uploads", [])]
        if not page["IsTruncated"]:
            break
        markers = {"KeyMarker": page["NextKeyMarker"], "UploadIdMarker": page["NextUploadIdMarker"]}
        assert (page["NextKeyMarker"], page["NextUploadIdMarker"]) == seen[-1]
    assert seen == expected

    paginator = s3.get_paginator("list_multipart_uploads")
    pages = list(paginator.paginate(Bucket=bucket, PaginationConfig={"PageSize": 3}))
    assert len(pages) == 3
    assert [(u["Key"], u["UploadId"]) for p in pages for u in p["Uploads"]] == expected


def test_list_multipart_uploads_markers(s3: Any, bucket: str) -> None:
    expected = _create_uploads(s3, bucket, UPLOAD_KEYS)
    b_uploads = [upload for key, upload in expected if key == "b"]
    assert len(b_uploads) == 3

    # Key marker alone: uploads of keys after it.
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b")
    assert [u["Key"] for u in page["Uploads"]] == ["c/x", "c/y/z", "d", "e"]
    assert page["KeyMarker"] == "b"
    # Key and upload-id markers: the rest of that key's uploads, then later keys.
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="b", UploadIdMarker=b_uploads[0])
    assert [(u["Key"], u["UploadId"]) for u in page["Uploads"]] == expected[3:]
    assert page["UploadIdMarker"] == b_uploads[0]
    # A key marker between keys.
    page = s3.list_multipart_uploads(Bucket=bucket, KeyMarker="a/15")
    assert [u["Key"] for u in page["Uploads"]] == ["a/2", "b", "b", "b", "c/x", "c/y/z", "d", "e"]


def test_list_multipart_uploads_prefix_and_delimiter(s3: Any, bucket: str) -> None:
    expected = _create_uploads(s3, bucket, UPLOAD_KEYS)

    page = s3.list_multipart_uploads(Bucket=bucket, Prefix="c/")
    assert [u["Key"] for u in page["Uploads"]] == ["c/x", "c/y/z"]
    assert page["Prefix"] == "c/"

    page = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/")
    assert [u["Key"] for u in page["Uploads"]] == ["b", "b", "b", "d", "e"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["a/", "c/"]
    assert page["Delimiter"] == "/"

    page = s3.list_multipart_uploads(Bucket=bucket, Prefix="c/", Delimiter="/")
    assert [u["Key"] for u in page["Uploads"]] == ["c/x"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["c/y/"]

    # Paged with a delimiter: a common prefix counts as one entry and is never repeated.
    paginator = s3.get_paginator("list_multipart_uploads")
    keys: list[str] = []
    prefixes: list[str] = []
    for page in paginator.paginate(Bucket=bucket, Delimiter="/", PaginationConfig={"PageSize": 2}):
        assert len(page.get("Uploads", [])) + len(page.get("CommonPrefixes", [])) <= 2
        keys += [u["Key"] for u in page.get("Uploads", [])]
        prefixes += [p["Prefix"] for p in page.get("CommonPrefixes", [])]
    assert keys == ["b", "b", "b", "d", "e"]
    assert prefixes == ["a/", "c/"]
    assert len(expected) == len(UPLOAD_KEYS)


def test_list_multipart_uploads_xml(server: RunningServer, s3: Any, bucket: str) -> None:
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="k", ChecksumAlgorithm="SHA256")[
        "UploadId"
    ]
    answer = signed_request(server, "GET", raw_path(bucket) + query("uploads"))
    assert answer.status == 200
    root = answer.xml()
    assert root.tag == f"{NS}ListMultipartUploadsResult"
    assert root.findtext(f"{NS}Bucket") == bucket
    assert root.findtext(f"{NS}IsTruncated") == "false"
    uploads = root.findall(f"{NS}Upload")
    assert len(uploads) == 1
    upload = uploads[0]
    assert upload.findtext(f"{NS}Key") == "k"
    assert upload.findtext(f"{NS}UploadId") == upload_id
    assert upload.findtext(f"{NS}StorageClass") == "STANDARD"
    assert upload.findtext(f"{NS}ChecksumAlgorithm") == "SHA256"
    assert upload.find(f"{NS}Initiated") is not None
    assert upload.find(f"{NS}Initiator") is not None


def test_list_multipart_uploads_unusual_keys(s3: Any, bucket: str) -> None:
    keys = ["a b", "100%", "ü/ñ", "tab\there", "x+y", "q?r", "&<>"]
    expected = _create_uploads(s3, bucket, keys)
    listed = s3.list_multipart_uploads(Bucket=bucket)["Uploads"]
    assert [(u["Key"], u["UploadId"]) for u in listed] == expected
    for key, upload_id in expected:
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=1, Body=key.encode())
        assert s3.list_parts(Bucket=bucket, Key=key, UploadId=upload_id)["Key"] == key
        multipart = {
            "Parts": [{"PartNumber": 1, "ETag": f'"{hashlib.md5(key.encode()).hexdigest()}"'}]
        }
        s3.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload=multipart
        )
        assert read(s3, bucket, key) == key.encode()


# -- more about part files on disk -----------------------------------------------------------


def test_completed_multipart_object_survives_restart(tmp_path: Path) -> None:
    config = test_config(tmp_path / "root")
    parts = [random_bytes(PART, 131), b"kept across restarts"]
    with run_server(config) as first:
        s3 = first.boto3_client()
        s3.create_bucket(Bucket="kept")
        multipart_object(s3, "kept", "mp", parts)
        s3.copy_object(Bucket="kept", Key="copy", CopySource={"Bucket": "kept", "Key": "mp"})
        files = data_files(first)
    with run_server(config) as second:
        s3 = second.boto3_client()
        assert data_files(second) == files  # the start-up sweep kept every part file
        assert read(s3, "kept", "mp") == b"".join(parts)
        assert read(s3, "kept", "copy") == b"".join(parts)
        got = s3.get_object(Bucket="kept", Key="mp", PartNumber=2)
        assert got["Body"].read() == parts[1]
        # The completed upload is not an upload any more, and not resurrected.
        assert "Uploads" not in s3.list_multipart_uploads(Bucket="kept")


async def test_upload_part_same_number_concurrently_keeps_one_file(
    private: RunningServer,
) -> None:
    bodies = [random_bytes(256 * 1024, f"same-{i}") for i in range(10)]
    async with private.aio_client(max_pool_connections=20) as client:
        await client.create_bucket(Bucket="same")
        upload_id = (await client.create_multipart_upload(Bucket="same", Key="k"))["UploadId"]
        answers = await asyncio.gather(
            *[
                client.upload_part(
                    Bucket="same", Key="k", UploadId=upload_id, PartNumber=1, Body=body
                )
                for body in bodies
            ]
        )
        assert sorted(a["ETag"] for a in answers) == sorted(
            f'"{hashlib.md5(body).hexdigest()}"' for body in bodies
        )
        listed = (await client.list_parts(Bucket="same", Key="k", UploadId=upload_id))["Parts"]
        assert len(listed) == 1
        files = data_files(private)
        assert len(files) == 1  # the replaced bodies are all gone
        survivor = files[0].read_bytes()
        assert listed[0]["ETag"] == f'"{hashlib.md5(survivor).hexdigest()}"'
        await client.complete_multipart_upload(
            Bucket="same",
            Key="k",
            UploadId=upload_id,
            MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": listed[0]["ETag"]}]},
        )
        got = await client.get_object(Bucket="same", Key="k")
        async with got["Body"] as stream:
            assert await stream.read() == survivor


def test_upload_part_after_complete_leaves_no_file(private: RunningServer) -> None:
    s3 = private.boto3_client()
    s3.create_bucket(Bucket="late")
    upload_id, listed = upload_parts(s3, "late", "k", [b"done"])
    complete(s3, "late", "k", upload_id, listed)
    with pytest.raises(ClientError) as caught:
        s3.upload_part(Bucket="late", Key="k", UploadId=upload_id, PartNumber=2, Body=b"late")
    assert error_of(caught) == (404, "NoSuchUpload")
    assert [file.read_bytes() for file in data_files(private)] == [b"done"]


# -- more about parts -------------------------------------------------------------------------


def test_upload_part_content_md5_mismatch(server: RunningServer, bucket: str) -> None:
    s3 = server.boto3_client(retries={"total_max_attempts": 1})  # botocore retries BadDigest
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="md5")["UploadId"]
    with pytest.raises(ClientError) as caught:
        s3.upload_part(
            Bucket=bucket,
            Key="md5",
            UploadId=upload_id,
            PartNumber=1,
            Body=b"actual",
            ContentMD5=b64(hashlib.md5(b"other").digest()),
        )
    assert error_of(caught) == (400, "BadDigest")
    assert "Parts" not in s3.list_parts(Bucket=bucket, Key="md5", UploadId=upload_id)


def test_upload_part_copy_source_conditions(s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="src", Body=b"source body")["ETag"]
    upload_id = s3.create_multipart_upload(Bucket=bucket, Key="dst")["UploadId"]
    source = {"Bucket": bucket, "Key": "src"}
    with pytest.raises(ClientError) as caught:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=upload_id,
            PartNumber=1,
            CopySource=source,
            CopySourceIfMatch='"0123456789abcdef0123456789abcdef"',
        )
    assert error_of(caught) == (412, "PreconditionFailed")
    with pytest.raises(ClientError) as caught:
        s3.upload_part_copy(
            Bucket=bucket,
            Key="dst",
            UploadId=upload_id,
            PartNumber=1,
            CopySource=source,
            CopySourceIfNoneMatch=etag,
        )
    assert error_of(caught) == (412, "PreconditionFailed")
    copied = s3.upload_part_copy(
        Bucket=bucket,
        Key="dst",
        UploadId=upload_id,
        PartNumber=1,
        CopySource=source,
        CopySourceIfMatch=etag,
    )
    assert copied["CopyPartResult"]["ETag"] == etag


def test_get_multipart_object_conditional(s3: Any, read_bucket: str) -> None:
    etag = multipart_etag(READ_PARTS)
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=read_bucket, Key="mp", IfNoneMatch=etag)
    assert error_of(caught)[0] == 304
    with pytest.raises(ClientError) as caught:
        s3.get_object(Bucket=read_bucket, Key="mp", IfMatch='"abc-4"')
    assert error_of(caught) == (412, "PreconditionFailed")
    got = s3.get_object(Bucket=read_bucket, Key="mp", IfMatch=etag, Range="bytes=0-3")
    assert got["Body"].read() == READ_WHOLE[:4]


def test_list_multipart_uploads_max_uploads_zero(s3: Any, bucket: str) -> None:
    _create_uploads(s3, bucket, ["a", "b"])
    page = s3.list_multipart_uploads(Bucket=bucket, MaxUploads=0)
    assert "Uploads" not in page
    assert page["MaxUploads"] == 0
    assert page["IsTruncated"] is False


def test_list_multipart_uploads_marker_inside_common_prefix(s3: Any, bucket: str) -> None:
    _create_uploads(s3, bucket, UPLOAD_KEYS)
    page = s3.list_multipart_uploads(Bucket=bucket, Delimiter="/", KeyMarker="a/1")
    assert [u["Key"] for u in page["Uploads"]] == ["b", "b", "b", "d", "e"]
    assert [p["Prefix"] for p in page["CommonPrefixes"]] == ["c/"]


def test_get_object_part_number_of_empty_part(server: RunningServer, s3: Any, bucket: str) -> None:
    multipart_object(s3, bucket, "empty", [b""])
    answer = signed_request(server, "GET", raw_path(bucket, "empty") + query(partNumber="1"))
    assert answer.status in (200, 206)
    assert answer.body == b""
    content_range = answer.headers.get("Content-Range")
    assert content_range is None or re.fullmatch(r"bytes (\d+-\d+|\*)/\d+", content_range)
