"""The routing table: request lines as printed in the Amazon S3 API reference -> operations."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from aios3.routing import Level, Op, Resolved, resolve


def route(request_line: str, *, copy_source: bool = False) -> Resolved | None:
    """Resolve a request line like ``GET /bucket/key?acl HTTP/1.1`` (path style)."""
    method, target, _ = request_line.split(" ")
    parts = urlsplit(target)
    bucket, _, key = parts.path[1:].partition("/")
    level = Level.OBJECT if key else Level.BUCKET if bucket else Level.ROOT
    query = {name for name, _ in parse_qsl(parts.query, keep_blank_values=True)}
    return resolve(level, method, query, copy_source=copy_source)


def name_of(request_line: str, *, copy_source: bool = False) -> str | None:
    resolved = route(request_line, copy_source=copy_source)
    return None if resolved is None else resolved.name


IMPLEMENTED = [
    ("GET / HTTP/1.1", Op.ListBuckets),
    ("GET /?max-buckets=10&prefix=a HTTP/1.1", Op.ListBuckets),
    ("PUT /bucket HTTP/1.1", Op.CreateBucket),
    ("DELETE /bucket HTTP/1.1", Op.DeleteBucket),
    ("HEAD /bucket HTTP/1.1", Op.HeadBucket),
    ("GET /bucket?location HTTP/1.1", Op.GetBucketLocation),
    ("GET /bucket HTTP/1.1", Op.ListObjects),
    ("GET /bucket?prefix=photos/&delimiter=/&marker=a&max-keys=5 HTTP/1.1", Op.ListObjects),
    ("GET /bucket?encoding-type=url HTTP/1.1", Op.ListObjects),
    ("GET /bucket?list-type=2 HTTP/1.1", Op.ListObjectsV2),
    (
        "GET /bucket?list-type=2&continuation-token=abc&fetch-owner=true&start-after=x HTTP/1.1",
        Op.ListObjectsV2,
    ),
    ("GET /bucket?versions HTTP/1.1", Op.ListObjectVersions),
    ("GET /bucket?versions&prefix=a&key-marker=b HTTP/1.1", Op.ListObjectVersions),
    ("GET /bucket?uploads HTTP/1.1", Op.ListMultipartUploads),
    ("GET /bucket?uploads&prefix=a&upload-id-marker=x HTTP/1.1", Op.ListMultipartUploads),
    ("POST /bucket?delete HTTP/1.1", Op.DeleteObjects),
    ("POST /bucket HTTP/1.1", Op.PostObject),
    ("PUT /bucket/key HTTP/1.1", Op.PutObject),
    ("PUT /bucket/dir/key.txt?x-id=PutObject HTTP/1.1", Op.PutObject),
    ("GET /bucket/key HTTP/1.1", Op.GetObject),
    ("GET /bucket/key?versionId=3 HTTP/1.1", Op.GetObject),
    ("GET /bucket/key?partNumber=2 HTTP/1.1", Op.GetObject),
    ("GET /bucket/key?response-content-type=text/plain&x-id=GetObject HTTP/1.1", Op.GetObject),
    ("HEAD /bucket/key HTTP/1.1", Op.HeadObject),
    ("HEAD /bucket/key?partNumber=1 HTTP/1.1", Op.HeadObject),
    ("DELETE /bucket/key HTTP/1.1", Op.DeleteObject),
    ("DELETE /bucket/key?versionId=3 HTTP/1.1", Op.DeleteObject),
    ("GET /bucket/key?attributes HTTP/1.1", Op.GetObjectAttributes),
    ("POST /bucket/key?restore&versionId=3 HTTP/1.1", Op.RestoreObject),
    ("POST /bucket/key?select&select-type=2 HTTP/1.1", Op.SelectObjectContent),
    ("POST /bucket/key?uploads HTTP/1.1", Op.CreateMultipartUpload),
    ("PUT /bucket/key?partNumber=1&uploadId=abc HTTP/1.1", Op.UploadPart),
    ("POST /bucket/key?uploadId=abc HTTP/1.1", Op.CompleteMultipartUpload),
    ("DELETE /bucket/key?uploadId=abc HTTP/1.1", Op.AbortMultipartUpload),
    ("GET /bucket/key?uploadId=abc HTTP/1.1", Op.ListParts),
    ("GET /bucket/key?uploadId=abc&max-parts=2&part-number-marker=1 HTTP/1.1", Op.ListParts),
]


@pytest.mark.parametrize(("line", "op"), IMPLEMENTED)
def test_resolve_request_line(line: str, op: Op) -> None:
    resolved = route(line)
    assert resolved is not None
    assert resolved.op is op
    assert resolved.name == op.value


@pytest.mark.parametrize(
    ("line", "op"),
    [
        ("PUT /bucket/key HTTP/1.1", Op.CopyObject),
        ("PUT /bucket/dir/key?x-id=CopyObject HTTP/1.1", Op.CopyObject),
        ("PUT /bucket/key?partNumber=3&uploadId=abc HTTP/1.1", Op.UploadPartCopy),
    ],
)
def test_resolve_copy_source_header(line: str, op: Op) -> None:
    resolved = route(line, copy_source=True)
    assert resolved is not None
    assert resolved.op is op


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("GET /bucket?acl HTTP/1.1", "GetBucketAcl"),
        ("PUT /bucket?acl HTTP/1.1", "PutBucketAcl"),
        ("GET /bucket?versioning HTTP/1.1", "GetBucketVersioning"),
        ("PUT /bucket?versioning HTTP/1.1", "PutBucketVersioning"),
        ("GET /bucket?tagging HTTP/1.1", "GetBucketTagging"),
        ("PUT /bucket?tagging HTTP/1.1", "PutBucketTagging"),
        ("DELETE /bucket?tagging HTTP/1.1", "DeleteBucketTagging"),
        ("GET /bucket?policy HTTP/1.1", "GetBucketPolicy"),
        ("DELETE /bucket?policy HTTP/1.1", "DeleteBucketPolicy"),
        ("GET /bucket?cors HTTP/1.1", "GetBucketCors"),
        ("PUT /bucket?lifecycle HTTP/1.1", "PutBucketLifecycleConfiguration"),
        ("GET /bucket?object-lock HTTP/1.1", "GetObjectLockConfiguration"),
        ("GET /bucket?encryption HTTP/1.1", "GetBucketEncryption"),
        ("GET /bucket?website HTTP/1.1", "GetBucketWebsite"),
        ("PUT /bucket?publicAccessBlock HTTP/1.1", "PutPublicAccessBlock"),
        ("GET /bucket?ownershipControls HTTP/1.1", "GetBucketOwnershipControls"),
        ("GET /bucket?requestPayment HTTP/1.1", "GetBucketRequestPayment"),
        ("GET /bucket?notification HTTP/1.1", "GetBucketNotificationConfiguration"),
        ("GET /bucket?logging HTTP/1.1", "GetBucketLogging"),
        ("GET /bucket?replication HTTP/1.1", "GetBucketReplication"),
        ("GET /bucket?accelerate HTTP/1.1", "GetBucketAccelerateConfiguration"),
        ("GET /bucket?policyStatus HTTP/1.1", "GetBucketPolicyStatus"),
        ("GET /bucket?analytics&id=a HTTP/1.1", "GetBucketAnalyticsConfiguration"),
        ("GET /bucket?metrics&id=a HTTP/1.1", "GetBucketMetricsConfiguration"),
        ("GET /bucket?inventory&id=a HTTP/1.1", "GetBucketInventoryConfiguration"),
        (
            "GET /bucket?intelligent-tiering&id=a HTTP/1.1",
            "GetBucketIntelligentTieringConfiguration",
        ),
        ("GET /bucket/key?acl HTTP/1.1", "GetObjectAcl"),
        ("PUT /bucket/key?acl HTTP/1.1", "PutObjectAcl"),
        ("GET /bucket/key?tagging HTTP/1.1", "GetObjectTagging"),
        ("PUT /bucket/key?tagging HTTP/1.1", "PutObjectTagging"),
        ("DELETE /bucket/key?tagging HTTP/1.1", "DeleteObjectTagging"),
        ("GET /bucket/key?tagging&versionId=3 HTTP/1.1", "GetObjectTagging"),
        ("PUT /bucket/key?retention HTTP/1.1", "PutObjectRetention"),
        ("GET /bucket/key?legal-hold HTTP/1.1", "GetObjectLegalHold"),
        ("GET /bucket/key?torrent HTTP/1.1", "GetObjectTorrent"),
    ],
)
def test_resolve_sub_resource_names_its_own_operation(line: str, name: str) -> None:
    resolved = route(line)
    assert resolved is not None
    assert resolved.op is Op.Unsupported
    assert resolved.name == name


@pytest.mark.parametrize(
    "line",
    [
        # A sub-resource wins over arguments that would otherwise pick a listing or a
        # plain object operation: nothing falls through to a different operation.
        "GET /bucket?acl&list-type=2 HTTP/1.1",
        "GET /bucket?tagging&prefix=a HTTP/1.1",
        "PUT /bucket/key?tagging HTTP/1.1",
        "DELETE /bucket?versioning HTTP/1.1",
    ],
)
def test_resolve_sub_resource_never_falls_through(line: str) -> None:
    resolved = route(line)
    assert resolved is not None
    assert resolved.op is Op.Unsupported


def test_resolve_copy_source_does_not_turn_tagging_into_a_copy() -> None:
    resolved = route("PUT /bucket/key?tagging HTTP/1.1", copy_source=True)
    assert resolved is not None
    assert resolved.name == "PutObjectTagging"


@pytest.mark.parametrize(
    "line",
    [
        "PUT / HTTP/1.1",
        "POST / HTTP/1.1",
        "DELETE / HTTP/1.1",
        "PATCH / HTTP/1.1",
        "PATCH /bucket HTTP/1.1",
        "OPTIONS /bucket HTTP/1.1",
        "TRACE /bucket HTTP/1.1",
        "PATCH /bucket/key HTTP/1.1",
        "POST /bucket/key HTTP/1.1",
        "CONNECT /bucket/key HTTP/1.1",
        "POST /bucket?acl HTTP/1.1",
        "POST /bucket/key?tagging HTTP/1.1",
    ],
)
def test_resolve_method_not_allowed(line: str) -> None:
    assert route(line) is None


@pytest.mark.parametrize(
    ("line", "name"),
    [
        ("GET /bucket?list-type=2&prefix=acl HTTP/1.1", "ListObjectsV2"),
        ("GET /bucket?prefix=uploads HTTP/1.1", "ListObjects"),
        ("GET /bucket/acl HTTP/1.1", "GetObject"),
        ("PUT /bucket/tagging HTTP/1.1", "PutObject"),
    ],
)
def test_resolve_sub_resource_name_as_value_or_key_is_not_a_sub_resource(
    line: str, name: str
) -> None:
    assert name_of(line) == name


def test_resolve_level_decides_between_bucket_and_object() -> None:
    assert name_of("DELETE /bucket HTTP/1.1") == "DeleteBucket"
    assert name_of("DELETE /bucket/key HTTP/1.1") == "DeleteObject"
    assert name_of("POST /bucket?uploads HTTP/1.1") != "CreateMultipartUpload"
    assert name_of("POST /bucket/key?delete HTTP/1.1") is None


def test_resolved_repr_names_the_operation() -> None:
    assert repr(Resolved(Op.Unsupported, "GetBucketAcl")) == "Resolved(GetBucketAcl)"
    assert repr(Resolved(Op.HeadBucket)) == "Resolved(HeadBucket)"
