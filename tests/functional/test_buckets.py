"""Bucket operations through real clients: ListBuckets, CreateBucket, DeleteBucket,
HeadBucket, GetBucketLocation (Amazon S3 API reference and "Bucket naming rules")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aios3.xml import owner_id
from tests.functional.raw import NS, path, query, query_pairs, signed_request
from tests.support import RunningServer, error_of, run_server, test_config


def unique(prefix: str = "bkt") -> str:
    return f"{prefix}-{uuid.uuid4().hex[:16]}"


@pytest.fixture
def new_name(s3: Any) -> Iterator[str]:
    """A bucket name nobody uses yet; the bucket is removed afterwards if created."""
    name = unique()
    yield name
    if name in [b["Name"] for b in s3.list_buckets()["Buckets"]]:
        s3.delete_bucket(Bucket=name)


# -- ListBuckets -----------------------------------------------------------------------


def test_list_buckets_includes_owner_and_new_bucket(s3: Any, server: RunningServer) -> None:
    name = unique()
    s3.create_bucket(Bucket=name)
    try:
        listed = s3.list_buckets()
        assert listed["Owner"]["ID"] == owner_id(server.config.access_key)
        assert listed["Owner"]["DisplayName"] == server.config.access_key
        (entry,) = [b for b in listed["Buckets"] if b["Name"] == name]
        assert entry["CreationDate"].year >= 2024
    finally:
        s3.delete_bucket(Bucket=name)
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


def test_list_buckets_sorted_by_name(s3: Any) -> None:
    stem = uuid.uuid4().hex[:12]
    names = [f"{stem}-{suffix}" for suffix in ("zz", "a.b", "a-b", "m0", "0")]
    for name in names:
        s3.create_bucket(Bucket=name)
    try:
        listed = [b["Name"] for b in s3.list_buckets()["Buckets"]]
        assert listed == sorted(listed)
        assert [n for n in listed if n.startswith(stem)] == sorted(names)
    finally:
        for name in names:
            s3.delete_bucket(Bucket=name)


def test_list_buckets_only_own_buckets(tmp_path: Path) -> None:
    # Two users take turns on one data directory; each sees only the buckets it owns.
    with run_server(test_config(tmp_path, access_key="alice", secret_key="alice-secret")) as srv:
        alice = srv.boto3_client()
        alice.create_bucket(Bucket="alices-bucket")
    with run_server(test_config(tmp_path, access_key="bob", secret_key="bob-secret")) as srv:
        bob = srv.boto3_client()
        bob.create_bucket(Bucket="bobs-bucket")
        listed = bob.list_buckets()
        assert [b["Name"] for b in listed["Buckets"]] == ["bobs-bucket"]
        assert listed["Owner"]["ID"] == owner_id("bob")
        with pytest.raises(ClientError) as caught:
            bob.create_bucket(Bucket="alices-bucket")
        assert error_of(caught) == (409, "BucketAlreadyExists")


def test_list_buckets_empty_has_owner_and_no_buckets(tmp_path: Path) -> None:
    with run_server(test_config(tmp_path)) as srv:
        listed = srv.boto3_client().list_buckets()
        assert listed["Buckets"] == []
        assert listed["Owner"]["ID"] == owner_id(srv.config.access_key)


def test_list_buckets_xml_shape(server: RunningServer, bucket: str) -> None:
    response = signed_request(server, "GET", "/")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("application/xml")
    root = response.xml()
    assert root.tag == f"{NS}ListAllMyBucketsResult"
    assert root.findtext(f"{NS}Owner/{NS}ID") == owner_id(server.config.access_key)
    names = [e.text for e in root.iterfind(f"{NS}Buckets/{NS}Bucket/{NS}Name")]
    assert bucket in names
    entry = root.find(f"{NS}Buckets/{NS}Bucket")
    assert entry is not None
    creation = entry.findtext(f"{NS}CreationDate")
    assert creation is not None
    assert creation.endswith("Z")


# -- CreateBucket ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "name",
    [
        "abc",
        "a" * 63,
        "my.bucket.name",
        "my-bucket-1",
        "0bucket9",
        "a.b-c.d",
        "192.168.5.4x",
        "xn-bucket",
        "bucket-s3alia",
    ],
)
def test_create_bucket_valid_names(s3: Any, name: str) -> None:
    s3.create_bucket(Bucket=name)
    try:
        s3.head_bucket(Bucket=name)
        assert name in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        s3.delete_bucket(Bucket=name)


BAD_NAMES = [
    "ab",
    "a" * 64,
    "MyBucket",
    "my_bucket",
    "192.168.5.4",
    "10.0.0.1",
    "xn--bucket",
    "sthree-bucket",
    "bucket-s3alias",
    "bucket--ol-s3",
    "my..bucket",
    "-bucket",
    "bucket-",
    ".bucket",
    "bucket.",
    "my.-bucket",
    "my-.bucket",
]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_create_bucket_invalid_name(s3: Any, name: str) -> None:
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket=name)
    assert error_of(caught) == (400, "InvalidBucketName")
    assert name not in [b["Name"] for b in s3.list_buckets()["Buckets"]]


@pytest.mark.parametrize("raw", ["my%20bucket", "bucket%21", "b%C3%A9ket", "a%2Fbc"])
def test_create_bucket_invalid_name_characters(server: RunningServer, raw: str) -> None:
    # Characters boto3 refuses to send at all: raw requests.
    response = signed_request(server, "PUT", f"/{raw}")
    assert response.status == 400
    assert response.error_code() == "InvalidBucketName"


def test_create_bucket_repeat_on_us_east_1_succeeds(s3: Any, new_name: str) -> None:
    s3.create_bucket(Bucket=new_name)
    again = s3.create_bucket(Bucket=new_name)
    assert again["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]].count(new_name) == 1


def test_create_bucket_repeat_elsewhere_is_already_owned_by_you(tmp_path: Path) -> None:
    with run_server(test_config(tmp_path, region="eu-west-1")) as srv:
        s3 = srv.boto3_client()
        s3.create_bucket(
            Bucket="repeat-bucket", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"}
        )
        with pytest.raises(ClientError) as caught:
            s3.create_bucket(
                Bucket="repeat-bucket",
                CreateBucketConfiguration={"LocationConstraint": "eu-west-1"},
            )
        assert error_of(caught) == (409, "BucketAlreadyOwnedByYou")
        assert s3.get_bucket_location(Bucket="repeat-bucket")["LocationConstraint"] == "eu-west-1"
        head = s3.head_bucket(Bucket="repeat-bucket")
        assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "eu-west-1"


def test_create_bucket_without_configuration_takes_server_region(tmp_path: Path) -> None:
    with run_server(test_config(tmp_path, region="eu-west-1")) as srv:
        s3 = srv.boto3_client()
        response = signed_request(srv, "PUT", "/plain-bucket")
        assert response.status == 200
        assert s3.get_bucket_location(Bucket="plain-bucket")["LocationConstraint"] == "eu-west-1"


@pytest.mark.parametrize("region", ["eu-west-1", "ap-southeast-2", "us-west-2"])
def test_create_bucket_location_constraint(s3: Any, new_name: str, region: str) -> None:
    s3.create_bucket(Bucket=new_name, CreateBucketConfiguration={"LocationConstraint": region})
    assert s3.get_bucket_location(Bucket=new_name)["LocationConstraint"] == region
    head = s3.head_bucket(Bucket=new_name)
    assert head["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == region
    listed = {b["Name"]: b for b in s3.list_buckets()["Buckets"]}
    assert listed[new_name].get("BucketRegion", region) == region


def test_create_bucket_location_constraint_eu_alias(s3: Any, new_name: str) -> None:
    s3.create_bucket(Bucket=new_name, CreateBucketConfiguration={"LocationConstraint": "EU"})
    assert s3.get_bucket_location(Bucket=new_name)["LocationConstraint"] in ("EU", "eu-west-1")


def test_create_bucket_location_constraint_invalid(server: RunningServer, new_name: str) -> None:
    body = (
        b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
        b"<LocationConstraint>not a region</LocationConstraint></CreateBucketConfiguration>"
    )
    response = signed_request(server, "PUT", path(new_name), body=body)
    assert response.status == 400
    assert response.error_code() == "InvalidLocationConstraint"
    assert signed_request(server, "HEAD", path(new_name)).status == 404


def test_create_bucket_empty_configuration_uses_server_region(
    server: RunningServer, s3: Any, new_name: str
) -> None:
    body = b'<CreateBucketConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"/>'
    response = signed_request(server, "PUT", path(new_name), body=body)
    assert response.status == 200
    assert s3.get_bucket_location(Bucket=new_name)["LocationConstraint"] is None


@pytest.mark.parametrize(
    "body",
    [
        b"<CreateBucketConfiguration><LocationConstraint>eu-west-1",
        b"not xml at all",
        b"<WrongRoot><LocationConstraint>eu-west-1</LocationConstraint></WrongRoot>",
        b"<CreateBucketConfiguration></CreateBucketConfiguration><Extra/>",
        b'<!DOCTYPE x [<!ENTITY e "eu-west-1">]><CreateBucketConfiguration>'
        b"<LocationConstraint>&e;</LocationConstraint></CreateBucketConfiguration>",
    ],
)
def test_create_bucket_malformed_configuration(
    server: RunningServer, new_name: str, body: bytes
) -> None:
    response = signed_request(server, "PUT", path(new_name), body=body)
    assert response.status == 400
    assert response.error_code() == "MalformedXML"
    assert signed_request(server, "HEAD", path(new_name)).status == 404


def test_create_bucket_response_has_location(server: RunningServer, new_name: str) -> None:
    response = signed_request(server, "PUT", path(new_name))
    assert response.status == 200
    assert response.headers["Location"] == f"/{new_name}"
    assert response.headers["x-amz-request-id"]


# -- DeleteBucket ----------------------------------------------------------------------


def test_delete_bucket_empty_returns_204(s3: Any) -> None:
    name = unique()
    s3.create_bucket(Bucket=name)
    response = s3.delete_bucket(Bucket=name)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket=name)
    assert error_of(caught)[0] == 404


def test_delete_bucket_not_empty(s3: Any, bucket: str) -> None:
    s3.put_object(Bucket=bucket, Key="a/b/c", Body=b"x")
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=bucket)
    assert error_of(caught) == (409, "BucketNotEmpty")
    assert s3.get_object(Bucket=bucket, Key="a/b/c")["Body"].read() == b"x"


def test_delete_bucket_after_emptying(s3: Any) -> None:
    name = unique()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"x")
    s3.delete_object(Bucket=name, Key="k")
    assert s3.delete_bucket(Bucket=name)["ResponseMetadata"]["HTTPStatusCode"] == 204


def test_delete_bucket_missing(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.delete_bucket(Bucket=unique("missing"))
    assert error_of(caught) == (404, "NoSuchBucket")


def test_delete_bucket_missing_error_document(server: RunningServer) -> None:
    name = unique("missing")
    response = signed_request(server, "DELETE", path(name))
    assert response.status == 404
    root = response.xml()
    assert root.tag == "Error"
    assert root.findtext("Code") == "NoSuchBucket"
    assert root.findtext("BucketName") == name
    assert root.findtext("Resource") == f"/{name}"
    assert root.findtext("RequestId") == response.headers["x-amz-request-id"]


def test_delete_bucket_then_recreate(s3: Any) -> None:
    name = unique()
    s3.create_bucket(Bucket=name)
    s3.put_object(Bucket=name, Key="k", Body=b"old")
    s3.delete_object(Bucket=name, Key="k")
    s3.delete_bucket(Bucket=name)
    s3.create_bucket(Bucket=name)
    try:
        assert s3.list_objects_v2(Bucket=name)["KeyCount"] == 0
    finally:
        s3.delete_bucket(Bucket=name)


# -- HeadBucket ------------------------------------------------------------------------


def test_head_bucket_existing(s3: Any, bucket: str) -> None:
    response = s3.head_bucket(Bucket=bucket)
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert response["ResponseMetadata"]["HTTPHeaders"]["x-amz-bucket-region"] == "us-east-1"


def test_head_bucket_missing(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.head_bucket(Bucket=unique("missing"))
    assert error_of(caught) == (404, "404")


def test_head_bucket_missing_has_no_body(server: RunningServer) -> None:
    response = signed_request(server, "HEAD", path(unique("missing")))
    assert response.status == 404
    assert response.body == b""
    assert "x-amz-bucket-region" not in response.headers


def test_head_bucket_raw_headers(server: RunningServer, bucket: str) -> None:
    response = signed_request(server, "HEAD", path(bucket))
    assert response.status == 200
    assert response.body == b""
    assert response.headers["x-amz-bucket-region"] == server.config.region
    assert response.headers["x-amz-request-id"]


# -- GetBucketLocation -----------------------------------------------------------------


def test_get_bucket_location_us_east_1_is_empty(s3: Any, bucket: str) -> None:
    assert s3.get_bucket_location(Bucket=bucket)["LocationConstraint"] is None


def test_get_bucket_location_xml(server: RunningServer, s3: Any, new_name: str) -> None:
    s3.create_bucket(Bucket=new_name, CreateBucketConfiguration={"LocationConstraint": "eu-west-2"})
    response = signed_request(server, "GET", path(new_name) + query("location"))
    assert response.status == 200
    root = response.xml()
    assert root.tag == f"{NS}LocationConstraint"
    assert root.text == "eu-west-2"


def test_get_bucket_location_xml_us_east_1(server: RunningServer, bucket: str) -> None:
    root = signed_request(server, "GET", path(bucket) + query("location")).xml()
    assert root.tag == f"{NS}LocationConstraint"
    assert not root.text
    assert len(root) == 0


def test_get_bucket_location_missing_bucket(s3: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3.get_bucket_location(Bucket=unique("missing"))
    assert error_of(caught)[1] == "NoSuchBucket"


# -- Methods and sub-resources at the bucket and service level -------------------------


def test_create_bucket_at_service_root_is_method_not_allowed(server: RunningServer) -> None:
    response = signed_request(server, "PUT", "/")
    assert response.status == 405
    assert response.error_code() == "MethodNotAllowed"


def test_get_bucket_acl_not_implemented(server: RunningServer, bucket: str) -> None:
    response = signed_request(server, "GET", path(bucket) + query("acl"))
    assert response.status == 501
    assert response.error_code() == "NotImplemented"


# -- ListBuckets parameters (prefix, max-buckets, continuation-token, bucket-region) --


@pytest.fixture
def stem_buckets(s3: Any) -> Iterator[tuple[str, list[str]]]:
    stem = f"lb-{uuid.uuid4().hex[:10]}"
    names = [f"{stem}-{i}" for i in range(5)]
    for name in names:
        s3.create_bucket(Bucket=name)
    yield stem, names
    for name in names:
        s3.delete_bucket(Bucket=name)


def test_list_buckets_prefix(s3: Any, stem_buckets: tuple[str, list[str]]) -> None:
    stem, names = stem_buckets
    listed = s3.list_buckets(Prefix=stem)
    assert [b["Name"] for b in listed["Buckets"]] == names
    assert listed["Prefix"] == stem
    assert "ContinuationToken" not in listed
    assert s3.list_buckets(Prefix=f"{stem}-3")["Buckets"][0]["Name"] == f"{stem}-3"
    assert s3.list_buckets(Prefix=f"{stem}-x")["Buckets"] == []


def test_list_buckets_max_buckets_pages(s3: Any, stem_buckets: tuple[str, list[str]]) -> None:
    stem, names = stem_buckets
    first = s3.list_buckets(Prefix=stem, MaxBuckets=2)
    assert [b["Name"] for b in first["Buckets"]] == names[:2]
    token = first["ContinuationToken"]
    second = s3.list_buckets(Prefix=stem, MaxBuckets=2, ContinuationToken=token)
    assert [b["Name"] for b in second["Buckets"]] == names[2:4]
    third = s3.list_buckets(
        Prefix=stem, MaxBuckets=2, ContinuationToken=second["ContinuationToken"]
    )
    assert [b["Name"] for b in third["Buckets"]] == names[4:]
    assert "ContinuationToken" not in third


def test_list_buckets_paginator(s3: Any, stem_buckets: tuple[str, list[str]]) -> None:
    stem, names = stem_buckets
    pages = s3.get_paginator("list_buckets").paginate(Prefix=stem, PaginationConfig={"PageSize": 2})
    assert [b["Name"] for page in pages for b in page["Buckets"]] == names


def test_list_buckets_bucket_region(s3: Any, new_name: str) -> None:
    s3.create_bucket(Bucket=new_name, CreateBucketConfiguration={"LocationConstraint": "sa-east-1"})
    in_region = [b["Name"] for b in s3.list_buckets(BucketRegion="sa-east-1")["Buckets"]]
    assert new_name in in_region
    elsewhere = [b["Name"] for b in s3.list_buckets(BucketRegion="us-east-1")["Buckets"]]
    assert new_name not in elsewhere


@pytest.mark.parametrize("value", ["0", "10001", "-1", "x", ""])
def test_list_buckets_invalid_max_buckets(server: RunningServer, value: str) -> None:
    response = signed_request(server, "GET", "/" + query_pairs([("max-buckets", value)]))
    assert response.status == 400
    assert response.error_code() == "InvalidArgument"
