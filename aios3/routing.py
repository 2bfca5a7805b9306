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


def resolve(
    level: Level, method: str, query: Container[str], *, copy_source: bool = False
) -> Resolved | None:
    """The operation for a request, or None when the method is not allowed there.

    ``query`` holds the query parameter names; ``copy_source`` says whether an
    ``x-amz-copy-source`` header is present (it turns PUTs into copies).
    """
    if level is Level.ROOT:
        return Resolved(Op.ListBuckets) if method in ("GET", "HEAD") else None
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
            return Resolved(Op.GetBucketLocation)
        if "uploads" in query:
            return Resolved(Op.ListMultipartUploads)
        if "versions" in query:
            return Resolved(Op.ListObjectVersions)
        if "list-type" in query:
            return Resolved(Op.ListObjectsV2)
        return Resolved(Op.ListObjects)
    if method == "HEAD":
        return Resolved(Op.HeadBucket)
    if method == "PUT":
        return Resolved(Op.CreateBucket)
    if method == "DELETE":
        return Resolved(Op.DeleteBucket)
    if method == "POST":
        return Resolved(Op.DeleteObjects) if "delete" in query else Resolved(Op.PostObject)
    return None


def _resolve_object(method: str, query: Container[str], copy_source: bool) -> Resolved | None:
    for sub, noun in _OBJECT_CONFIG.items():
        if sub in query:
            verb = _VERBS.get(method)
            return Resolved(Op.Unsupported, verb + noun) if verb else None
    if method == "GET":
        if "uploadId" in query:
            return Resolved(Op.ListParts)
        if "attributes" in query:
            return Resolved(Op.GetObjectAttributes)
        return Resolved(Op.GetObject)
    if method == "HEAD":
        return Resolved(Op.HeadObject)
    if method == "PUT":
        if "uploadId" in query or "partNumber" in query:
            return Resolved(Op.UploadPartCopy if copy_source else Op.UploadPart)
        return Resolved(Op.CopyObject if copy_source else Op.PutObject)
    if method == "DELETE":
        return Resolved(Op.AbortMultipartUpload if "uploadId" in query else Op.DeleteObject)
    if method == "POST":
        if "uploads" in query:
            return Resolved(Op.CreateMultipartUpload)
        if "uploadId" in query:
            return Resolved(Op.CompleteMultipartUpload)
        if "restore" in query:
            return Resolved(Op.RestoreObject)
        if "select" in query:
            return Resolved(Op.SelectObjectContent)
    return None
