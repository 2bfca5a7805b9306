"""Bucket operations: ListBuckets, CreateBucket, DeleteBucket, HeadBucket, GetBucketLocation."""

from __future__ import annotations

import ipaddress
import re
from typing import Any

from aiohttp import web

from aios3 import xml
from aios3.errors import S3Error
from aios3.handlers.context import S3Request
from aios3.handlers.listing import decode_token, encode_token

# "Bucket naming rules" in the S3 user guide (general purpose buckets).
_NAME = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")
_RESERVED_SUFFIXES = ("-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3")
_REGION = re.compile(r"[a-z]{2}(-[a-z0-9]+)+-\d+|EU")

_XML = "application/xml"
_MAX_BUCKETS = 10_000


def check_bucket_name(name: str) -> None:
    """Raise InvalidBucketName unless ``name`` follows the rules for new buckets."""
    valid = (
        _NAME.fullmatch(name) is not None
        and ".." not in name
        and ".-" not in name
        and "-." not in name
        and not name.startswith(_RESERVED_PREFIXES)
        and not name.endswith(_RESERVED_SUFFIXES)
        and not _is_ip_address(name)
    )
    if not valid:
        raise S3Error("InvalidBucketName", BucketName=name)


def _is_ip_address(name: str) -> bool:
    try:
        ipaddress.IPv4Address(name)
    except ValueError:
        return False
    return True


async def list_buckets(s3: S3Request) -> web.StreamResponse:
    """ListBuckets, with its optional prefix, bucket-region, max-buckets and
    continuation-token (the token is the last name of the previous page, encoded)."""
    prefix = s3.query.get("prefix", "")
    region = s3.query.get("bucket-region")
    token = s3.query.get("continuation-token")
    limit = _max_buckets(s3.query.get("max-buckets"))
    after = decode_token(token) if token else ""
    buckets = [
        bucket
        for bucket in await s3.storage.list_buckets(s3.principal)
        if bucket.name.startswith(prefix)
        and bucket.name > after
        and (region is None or bucket.region == region)
    ]
    page = buckets[:limit]
    body: dict[str, Any] = {
        "Owner": xml.owner(s3.principal),
        "Buckets": {
            "Bucket": [
                {
                    "Name": bucket.name,
                    "CreationDate": xml.iso8601(bucket.created),
                    "BucketRegion": bucket.region,
                }
                for bucket in page
            ]
        }
        if page
        else None,
    }
    if len(buckets) > limit:
        body["ContinuationToken"] = encode_token(page[-1].name)
    if "prefix" in s3.query:
        body["Prefix"] = prefix
    return web.Response(body=xml.render("ListAllMyBucketsResult", body), content_type=_XML)


def _max_buckets(raw: str | None) -> int:
    """max-buckets is 1..10000; without it the page is 10,000 buckets (ListBuckets)."""
    if raw is None:
        return _MAX_BUCKETS
    if raw.isascii() and raw.isdigit() and len(raw) <= 5 and 1 <= int(raw) <= _MAX_BUCKETS:
        return int(raw)
    raise S3Error(
        "InvalidArgument",
        "Argument max-buckets must be an integer between 1 and 10000",
        ArgumentName="max-buckets",
        ArgumentValue=raw,
    )


async def create_bucket(s3: S3Request) -> web.StreamResponse:
    check_bucket_name(s3.bucket)
    region = await _location_constraint(s3)
    await s3.storage.create_bucket(
        s3.bucket, s3.principal, region, legacy_ok=s3.config.region == "us-east-1"
    )
    return web.Response(headers={"Location": f"/{s3.bucket}"})


async def _location_constraint(s3: S3Request) -> str:
    """The region asked for in an optional CreateBucketConfiguration body.

    Deviation from AWS: any well-formed region is accepted and remembered (AWS only
    accepts the endpoint's own region), so code written for other regions just works.
    """
    body = await s3.small_body(64 * 1024)
    if not body.strip():
        return s3.config.region
    config = xml.parse(body, "CreateBucketConfiguration")
    constraint = config.get("LocationConstraint")
    if constraint is None:
        return s3.config.region
    if not isinstance(constraint, str) or not _REGION.fullmatch(constraint):
        raise S3Error(
            "InvalidLocationConstraint",
            "The specified location-constraint is not valid",
            LocationConstraint=str(constraint),
        )
    return "eu-west-1" if constraint == "EU" else constraint


async def delete_bucket(s3: S3Request) -> web.StreamResponse:
    await s3.storage.delete_bucket(s3.bucket)
    return web.Response(status=204)


async def head_bucket(s3: S3Request) -> web.StreamResponse:
    bucket = await s3.storage.get_bucket(s3.bucket)
    return web.Response(
        headers={"x-amz-bucket-region": bucket.region, "x-amz-access-point-alias": "false"}
    )


async def get_bucket_location(s3: S3Request) -> web.StreamResponse:
    bucket = await s3.storage.get_bucket(s3.bucket)
    # us-east-1 is reported as an empty LocationConstraint (GetBucketLocation reference).
    region = None if bucket.region == "us-east-1" else bucket.region
    body = xml.render("LocationConstraint", {"#text": region} if region else {})
    return web.Response(body=body, content_type=_XML)
