"""Listed objects name their checksums: ``ChecksumAlgorithm`` and ``ChecksumType`` in
each ``Contents``, between ETag and Size (ListObjectsV2 and ListObjects reference).

Every object written through the API has exactly one checksum: the one its writer
sent, or CRC64NVME, which S3 computes for every object since December 2024.
"""

from __future__ import annotations

from typing import Any

from tests.functional.raw import NS, path, query_pairs, signed_request
from tests.support import RunningServer


def contents(server: RunningServer, bucket: str, *pairs: tuple[str, str | None]) -> list[Any]:
    response = signed_request(server, "GET", path(bucket) + query_pairs(list(pairs)))
    assert response.status == 200
    return response.xml().findall(f"{NS}Contents")


def fields(entry: Any) -> list[tuple[str, str | None]]:
    return [(child.tag.removeprefix(NS), child.text) for child in entry]


def test_list_objects_v2_names_each_objects_checksum(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    # boto3 sends CRC32 unless told otherwise; a raw PUT sends no checksum at all.
    assert signed_request(server, "PUT", path(bucket, "default"), body=b"x").status == 200
    s3.put_object(Bucket=bucket, Key="crc32", Body=b"x")
    s3.put_object(Bucket=bucket, Key="sha256", Body=b"x", ChecksumAlgorithm="SHA256")
    upload = s3.create_multipart_upload(
        Bucket=bucket, Key="multipart", ChecksumAlgorithm="SHA1", ChecksumType="COMPOSITE"
    )["UploadId"]
    part = s3.upload_part(
        Bucket=bucket, Key="multipart", UploadId=upload, PartNumber=1, Body=b"x",
        ChecksumAlgorithm="SHA1",
    )  # fmt: skip
    s3.complete_multipart_upload(
        Bucket=bucket,
        Key="multipart",
        UploadId=upload,
        MultipartUpload={
            "Parts": [{"PartNumber": 1, "ETag": part["ETag"], "ChecksumSHA1": part["ChecksumSHA1"]}]
        },
    )

    listed = contents(server, bucket, ("list-type", "2"))
    checksums = [
        [(name, text) for name, text in fields(entry) if name.startswith("Checksum")]
        for entry in listed
    ]
    assert checksums == [
        [("ChecksumAlgorithm", "CRC32"), ("ChecksumType", "FULL_OBJECT")],
        [("ChecksumAlgorithm", "CRC64NVME"), ("ChecksumType", "FULL_OBJECT")],
        [("ChecksumAlgorithm", "SHA1"), ("ChecksumType", "COMPOSITE")],
        [("ChecksumAlgorithm", "SHA256"), ("ChecksumType", "FULL_OBJECT")],
    ]
    order = ["Key", "LastModified", "ETag", "ChecksumAlgorithm", "ChecksumType", "Size"]
    assert [name for name, _ in fields(listed[0])] == [*order, "StorageClass"]
    boto = s3.list_objects_v2(Bucket=bucket)["Contents"]
    assert [entry["ChecksumAlgorithm"] for entry in boto] == [
        ["CRC32"],
        ["CRC64NVME"],
        ["SHA1"],
        ["SHA256"],
    ]


def test_list_objects_checksum_and_owner_elements_in_order(
    server: RunningServer, s3: Any, bucket: str
) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x", ChecksumAlgorithm="CRC32C")
    order = ["Key", "LastModified", "ETag", "ChecksumAlgorithm", "ChecksumType", "Size"]
    (v1,) = contents(server, bucket)
    assert [name for name, _ in fields(v1)] == [*order, "Owner", "StorageClass"]
    (v2,) = contents(server, bucket, ("list-type", "2"), ("fetch-owner", "true"))
    assert [name for name, _ in fields(v2)] == [*order, "Owner", "StorageClass"]
