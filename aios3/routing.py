"""Which S3 operation a request is: a pure table of (level, method, sub-resource) rows.

The level is where the path points (service root, a bucket, or an object). A
sub-resource is a query parameter that names a different operation (``?acl``,
``?uploads``, ...); other query parameters (``prefix``, ``x-id``, ``response-*``) are
arguments and never change the operation. Every known sub-resource resolves to its
own operation, implemented or not, so no request falls through to a different one.
"""

from __future__ import annotations

from collections.abc import Container
from enum import StrEnum


class Level(StrEnum):
    ROOT = "root"
    BUCKET = "bucket"
    OBJECT = "object"


class Op(StrEnum):
    """S3 operations, named as in the API reference."""

    ListBuckets = "ListBuckets"
    CreateBucket = "CreateBucket"
    DeleteBucket = "DeleteBucket"
    HeadBucket = "HeadBucket"
    GetBucketLocation = "GetBucketLocation"
    ListObjects = "ListObjects"
    ListObjectsV2 = "ListObjectsV2"
    ListObjectVersions = "ListObjectVersions"
    DeleteObjects = "DeleteObjects"
    PostObject = "PostObject"
    PutObject = "PutObject"
    CopyObject = "CopyObject"
    GetObject = "GetObject"
    HeadObject = "HeadObject"
    DeleteObject = "DeleteObject"
    GetObjectAttributes = "GetObjectAttributes"
    RestoreObject = "RestoreObject"
    SelectObjectContent = "SelectObjectContent"
    CreateMultipartUpload = "CreateMultipartUpload"
    UploadPart = "UploadPart"
    UploadPartCopy = "UploadPartCopy"
    CompleteMultipartUpload = "CompleteMultipartUpload"
    AbortMultipartUpload = "AbortMultipartUpload"
    ListParts = "ListParts"
    ListMultipartUploads = "ListMultipartUploads"
    # Bucket and object configuration: named by _config_op as Get/Put/Delete + noun.
    Unsupported = "Unsupported"


# Bucket sub-resources that hold a configuration document: GET/PUT/DELETE <noun>.
_BUCKET_CONFIG = {
    "accelerate": "BucketAccelerateConfiguration",
    "acl": "BucketAcl",
    "analytics": "BucketAnalyticsConfiguration",
    "cors": "BucketCors",
    "encryption": "BucketEncryption",
    "intelligent-tiering": "BucketIntelligentTieringConfiguration",
    "inventory": "BucketInventoryConfiguration",
    "lifecycle": "BucketLifecycleConfiguration",
    "logging": "BucketLogging",
    "metadataTable": "BucketMetadataTableConfiguration",
    "metrics": "BucketMetricsConfiguration",
    "notification": "BucketNotificationConfiguration",
    "object-lock": "ObjectLockConfiguration",
    "ownershipControls": "BucketOwnershipControls",
    "policy": "BucketPolicy",
    "policyStatus": "BucketPolicyStatus",
    "publicAccessBlock": "PublicAccessBlock",
    "replication": "BucketReplication",
    "requestPayment": "BucketRequestPayment",
    "tagging": "BucketTagging",
    "versioning": "BucketVersioning",
    "website": "BucketWebsite",
}
_OBJECT_CONFIG = {
    "acl": "ObjectAcl",
    "legal-hold": "ObjectLegalHold",
    "retention": "ObjectRetention",
    "tagging": "ObjectTagging",
    "torrent": "ObjectTorrent",
}
_VERBS = {"GET": "Get", "PUT": "Put", "DELETE": "Delete", "HEAD": "Get"}


class Resolved:
    """An operation, or the name of a known one we do not implement."""

    __slots__ = ("name", "op")

    def __init__(self, op: Op, name: str | None = None) -> None:
        self.op = op
        self.name = name or op.value

    def __repr__(self) -> str:
        return f"Resolved({self.name})"


# One Resolved per implemented-or-known operation, shared by every request naming it.
_BY_OP = {op: Resolved(op) for op in Op if op is not Op.Unsupported}


def resolve(
    level: Level, method: str, query: Container[str], *, copy_source: bool = False
) -> Resolved | None:
    """The operation for a request, or None when the method is not allowed there.

    ``query`` holds the query parameter names; ``copy_source`` says whether an
    ``x-amz-copy-source`` header is present (it turns PUTs into copies).
    """
    if level is Level.ROOT:
        return _BY_OP[Op.ListBuckets] if method in ("GET", "HEAD") else None
    if level is Level.BUCKET:
        return _resolve_bucket(method, query)
    return _resolve_object(method, query, copy_source)


def _resolve_bucket(method: str, query: Container[str]) -> Resolved | None:
    for sub, noun in _BUCKET_CONFIG.items():
        if sub in query:
            verb = _VERBS.get(method)
            return Resolved(Op.Unsupported, verb + noun) if verb else None
    if method == "GET":
        if "location" in query:
            return _BY_OP[Op.GetBucketLocation]
        if "uploads" in query:
            return _BY_OP[Op.ListMultipartUploads]
        if "versions" in query:
            return _BY_OP[Op.ListObjectVersions]
        if "list-type" in query:
            return _BY_OP[Op.ListObjectsV2]
        return _BY_OP[Op.ListObjects]
    if method == "HEAD":
        return _BY_OP[Op.HeadBucket]
    if method == "PUT":
        return _BY_OP[Op.CreateBucket]
    if method == "DELETE":
        return _BY_OP[Op.DeleteBucket]
    if method == "POST":
        return _BY_OP[Op.DeleteObjects] if "delete" in query else _BY_OP[Op.PostObject]
    return None


def _resolve_object(method: str, query: Container[str], copy_source: bool) -> Resolved | None:
    for sub, noun in _OBJECT_CONFIG.items():
        if sub in query:
            verb = _VERBS.get(method)
            return Resolved(Op.Unsupported, verb + noun) if verb else None
    if method == "GET":
        if "uploadId" in query:
            return _BY_OP[Op.ListParts]
        if "attributes" in query:
            return _BY_OP[Op.GetObjectAttributes]
        return _BY_OP[Op.GetObject]
    if method == "HEAD":
        return _BY_OP[Op.HeadObject]
    if method == "PUT":
        if "uploadId" in query or "partNumber" in query:
            return _BY_OP[Op.UploadPartCopy if copy_source else Op.UploadPart]
        return _BY_OP[Op.CopyObject if copy_source else Op.PutObject]
    if method == "DELETE":
        return _BY_OP[Op.AbortMultipartUpload if "uploadId" in query else Op.DeleteObject]
    if method == "POST":
        if "uploads" in query:
            return _BY_OP[Op.CreateMultipartUpload]
        if "uploadId" in query:
            return _BY_OP[Op.CompleteMultipartUpload]
        if "restore" in query:
            return _BY_OP[Op.RestoreObject]
        if "select" in query:
            return _BY_OP[Op.SelectObjectContent]
    return None
