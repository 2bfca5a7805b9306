"""Admin endpoints: only the admin user may call them, and reset empties everything."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.admin_client import add_fault, admin, journal, reset
from tests.functional.raw import unsigned_request
from tests.support import RunningServer, error_of, run_server, test_config

OTHER = ("other-user", "other-secret")


@pytest.fixture
def server(tmp_path: Path) -> Any:
    with run_server(test_config(tmp_path, users=(OTHER,))) as running:
        yield running


ENDPOINTS = [
    ("POST", "reset"),
    ("GET", "requests"),
    ("DELETE", "requests"),
    ("GET", "faults"),
    ("POST", "faults"),
    ("DELETE", "faults"),
    ("DELETE", "faults/1"),
]


@pytest.mark.parametrize(("method", "endpoint"), ENDPOINTS)
def test_admin_refuses_unsigned_callers(server: RunningServer, method: str, endpoint: str) -> None:
    response = unsigned_request(server, method, f"/_aios3/{endpoint}")
    assert (response.status, response.error_code()) == (403, "AccessDenied")


@pytest.mark.parametrize(("method", "endpoint"), ENDPOINTS)
def test_admin_refuses_other_users(server: RunningServer, method: str, endpoint: str) -> None:
    response = admin(server, method, endpoint, user=OTHER)
    assert (response.status, response.error_code()) == (403, "AccessDenied")


def test_admin_refuses_a_bad_signature(server: RunningServer) -> None:
    wrong = (server.config.access_key, "not-the-secret")
    response = admin(server, "GET", "requests", user=wrong)
    assert (response.status, response.error_code()) == (403, "SignatureDoesNotMatch")


def test_admin_refusals_change_nothing(server: RunningServer) -> None:
    s3 = server.boto3_client()
    s3.create_bucket(Bucket="kept")
    admin(server, "POST", "reset", user=OTHER)
    assert [b["Name"] for b in s3.list_buckets()["Buckets"]] == ["kept"]


def test_admin_access_key_names_the_admin(tmp_path: Path) -> None:
    config = test_config(tmp_path, users=(OTHER,), admin_access_key=OTHER[0])
    with run_server(config) as running:
        assert admin(running, "GET", "requests", user=OTHER).status == 200
        refused = admin(running, "GET", "requests")
        assert (refused.status, refused.error_code()) == (403, "AccessDenied")


def test_admin_access_key_must_be_a_user(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="not a user"):
        test_config(tmp_path, admin_access_key="nobody")


def test_admin_unknown_endpoint_and_method(server: RunningServer) -> None:
    missing = admin(server, "GET", "nothing-here")
    assert (missing.status, missing.error_code()) == (404, "NotFound")
    wrong_method = admin(server, "GET", "reset")
    assert (wrong_method.status, wrong_method.error_code()) == (405, "MethodNotAllowed")
    # Not a bucket either: the admin prefix never reaches S3 routing.
    bucket = admin(server, "PUT", "")
    assert bucket.status == 404


def test_admin_bucket_names_cannot_take_the_admin_prefix(server: RunningServer) -> None:
    s3 = server.boto3_client()
    with pytest.raises(ClientError) as caught:
        s3.create_bucket(Bucket="_aios3")
    assert error_of(caught)[0] in (400, 404)
    assert s3.list_buckets()["Buckets"] == []


def _files(root: Path) -> list[str]:
    return [name for _, _, names in os.walk(root / "data") for name in names]


def test_admin_reset_empties_everything(server: RunningServer) -> None:
    s3 = server.boto3_client()
    for name in ("first", "second"):
        s3.create_bucket(Bucket=name)
        s3.put_object(Bucket=name, Key="a/b", Body=b"x" * 1000)
    upload = s3.create_multipart_upload(Bucket="first", Key="big")
    s3.upload_part(
        Bucket="first", Key="big", UploadId=upload["UploadId"], PartNumber=1, Body=b"p" * 100
    )
    add_fault(server, op="DeleteBucket", error="InternalError")
    assert _files(server.root)
    assert journal(server)

    reset(server)

    assert s3.list_buckets()["Buckets"] == []
    assert _files(server.root) == []
    assert [r["op"] for r in journal(server)] == ["ListBuckets"]
    assert json.loads(admin(server, "GET", "faults").body) == []
    with pytest.raises(ClientError) as caught:
        s3.list_parts(Bucket="first", Key="big", UploadId=upload["UploadId"])
    assert error_of(caught) in ((404, "NoSuchBucket"), (404, "NoSuchUpload"))


def test_admin_reset_leaves_a_working_server(server: RunningServer) -> None:
    s3 = server.boto3_client()
    s3.create_bucket(Bucket="again")
    s3.put_object(Bucket="again", Key="k", Body=b"old")

    reset(server)
    reset(server)  # nothing left to empty is fine too

    s3.create_bucket(Bucket="again")
    s3.put_object(Bucket="again", Key="k", Body=b"new")
    assert s3.get_object(Bucket="again", Key="k")["Body"].read() == b"new"
    upload = s3.create_multipart_upload(Bucket="again", Key="mp")
    part = s3.upload_part(
        Bucket="again", Key="mp", UploadId=upload["UploadId"], PartNumber=1, Body=b"m"
    )
    s3.complete_multipart_upload(
        Bucket="again",
        Key="mp",
        UploadId=upload["UploadId"],
        MultipartUpload={"Parts": [{"PartNumber": 1, "ETag": part["ETag"]}]},
    )
    assert s3.get_object(Bucket="again", Key="mp")["Body"].read() == b"m"
    s3.create_bucket(Bucket="another")  # the other user could take it too, now


def test_admin_reset_does_not_cut_off_a_reader(server: RunningServer) -> None:
    s3 = server.boto3_client()
    s3.create_bucket(Bucket="reading")
    body = os.urandom(8 * 1024 * 1024)
    s3.put_object(Bucket="reading", Key="big", Body=body)

    stream = s3.get_object(Bucket="reading", Key="big")["Body"]
    head = stream.read(1024)
    reset(server)
    assert head + stream.read() == body


def test_admin_start_up_removes_a_reset_left_unfinished(tmp_path: Path) -> None:
    leftover = tmp_path / "trash-0123"
    (leftover / "ab").mkdir(parents=True)
    (leftover / "ab" / "body").write_bytes(b"old")

    with run_server(test_config(tmp_path)):
        assert not leftover.exists()
