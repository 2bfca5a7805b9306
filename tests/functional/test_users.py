"""Several users: each owns the buckets it creates and nobody else may touch them;
``--no-auth`` lets unsigned requests in as the default user without weakening
signature checks."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from aios3.cli import parse_config
from tests.functional.raw import NS, path, signed_request, unsigned_request
from tests.support import RunningServer, error_of, read, run_server, temporary_bucket, test_config

USER_B = ("user-b", "user-b-secret")


@pytest.fixture(scope="module")
def shared(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with two users: the default one (A) and B."""
    config = test_config(tmp_path_factory.mktemp("users"), users=(USER_B,))
    with run_server(config) as running:
        yield running


@pytest.fixture(scope="module")
def open_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """A server with ``no_auth`` and the same two users."""
    config = test_config(tmp_path_factory.mktemp("no-auth"), users=(USER_B,), no_auth=True)
    with run_server(config) as running:
        yield running


@pytest.fixture
def s3_a(shared: RunningServer) -> Any:
    return shared.boto3_client()


@pytest.fixture
def s3_b(shared: RunningServer) -> Any:
    return shared.boto3_client(user=USER_B)


@pytest.fixture
def bucket_a(s3_a: Any) -> Iterator[str]:
    """A's bucket with one object in it."""
    with temporary_bucket(s3_a, "owned-by-a") as name:
        s3_a.put_object(Bucket=name, Key="secret.txt", Body=b"for A only")
        yield name


@pytest.fixture
def bucket_b(s3_b: Any) -> Iterator[str]:
    with temporary_bucket(s3_b, "owned-by-b") as name:
        s3_b.put_object(Bucket=name, Key="mine.txt", Body=b"B's own")
        yield name


def _names(s3: Any) -> set[str]:
    return {bucket["Name"] for bucket in s3.list_buckets()["Buckets"]}


def test_list_buckets_shows_only_own_buckets(
    s3_a: Any, s3_b: Any, bucket_a: str, bucket_b: str
) -> None:
    assert bucket_a in _names(s3_a)
    assert bucket_b not in _names(s3_a)
    assert bucket_b in _names(s3_b)
    assert bucket_a not in _names(s3_b)


def test_each_user_works_in_own_bucket(s3_a: Any, s3_b: Any, bucket_a: str, bucket_b: str) -> None:
    assert read(s3_a, bucket_a, "secret.txt") == b"for A only"
    assert read(s3_b, bucket_b, "mine.txt") == b"B's own"


def test_list_buckets_owner_is_the_caller(s3_b: Any) -> None:
    assert s3_b.list_buckets()["Owner"]["DisplayName"] == USER_B[0]


# Every operation B might try on A's bucket, each a call on B's client.
OTHER_USERS_OPERATIONS: dict[str, Callable[[Any, str, str], Any]] = {
    "head_bucket": lambda s3, a, b: s3.head_bucket(Bucket=a),
    "get_bucket_location": lambda s3, a, b: s3.get_bucket_location(Bucket=a),
    "list_objects": lambda s3, a, b: s3.list_objects(Bucket=a),
    "list_objects_v2": lambda s3, a, b: s3.list_objects_v2(Bucket=a),
    "delete_bucket": lambda s3, a, b: s3.delete_bucket(Bucket=a),
    "put_object": lambda s3, a, b: s3.put_object(Bucket=a, Key="intruder", Body=b"x"),
    "put_object_overwrite": lambda s3, a, b: s3.put_object(Bucket=a, Key="secret.txt", Body=b"x"),
    "get_object": lambda s3, a, b: s3.get_object(Bucket=a, Key="secret.txt"),
    "get_object_missing_key": lambda s3, a, b: s3.get_object(Bucket=a, Key="nothing"),
    "head_object": lambda s3, a, b: s3.head_object(Bucket=a, Key="secret.txt"),
    "delete_object": lambda s3, a, b: s3.delete_object(Bucket=a, Key="secret.txt"),
    "delete_objects": lambda s3, a, b: s3.delete_objects(
        Bucket=a, Delete={"Objects": [{"Key": "secret.txt"}]}
    ),
    "copy_from": lambda s3, a, b: s3.copy_object(
        Bucket=b, Key="stolen", CopySource={"Bucket": a, "Key": "secret.txt"}
    ),
    "copy_into": lambda s3, a, b: s3.copy_object(
        Bucket=a, Key="planted", CopySource={"Bucket": b, "Key": "mine.txt"}
    ),
    # Checked before NotImplemented: someone else's bucket reveals nothing.
    "get_bucket_acl_not_implemented": lambda s3, a, b: s3.get_bucket_acl(Bucket=a),
    "create_multipart_upload": lambda s3, a, b: s3.create_multipart_upload(Bucket=a, Key="k"),
    "list_multipart_uploads": lambda s3, a, b: s3.list_multipart_uploads(Bucket=a),
    "upload_part_copy_from": lambda s3, a, b: s3.upload_part_copy(
        Bucket=b,
        Key="stolen",
        UploadId="any",
        PartNumber=1,
        CopySource={"Bucket": a, "Key": "secret.txt"},
    ),
}


@pytest.mark.parametrize("operation", sorted(OTHER_USERS_OPERATIONS))
def test_other_users_bucket_is_access_denied(
    s3_a: Any, s3_b: Any, bucket_a: str, bucket_b: str, operation: str
) -> None:
    with pytest.raises(ClientError) as caught:
        OTHER_USERS_OPERATIONS[operation](s3_b, bucket_a, bucket_b)
    status, code = error_of(caught)
    assert status == 403
    # HEAD answers carry no body, so botocore reports the status as the code.
    assert code in ("AccessDenied", "403")
    # A's bucket is exactly as it was; B's got nothing from it.
    keys = [item["Key"] for item in s3_a.list_objects_v2(Bucket=bucket_a)["Contents"]]
    assert keys == ["secret.txt"]
    assert read(s3_a, bucket_a, "secret.txt") == b"for A only"
    mine = [item["Key"] for item in s3_b.list_objects_v2(Bucket=bucket_b)["Contents"]]
    assert mine == ["mine.txt"]


def test_other_users_bucket_access_denied_document(shared: RunningServer, bucket_a: str) -> None:
    response = signed_request(
        shared, "GET", path(bucket_a, "secret.txt"), access_key=USER_B[0], secret_key=USER_B[1]
    )
    assert response.status == 403
    assert response.error_code() == "AccessDenied"
    assert b"for A only" not in response.body


def test_create_bucket_taken_by_other_user_is_bucket_already_exists(
    s3_b: Any, bucket_a: str
) -> None:
    with pytest.raises(ClientError) as caught:
        s3_b.create_bucket(Bucket=bucket_a)
    assert error_of(caught) == (409, "BucketAlreadyExists")


def test_missing_bucket_is_no_such_bucket_for_everyone(s3_b: Any) -> None:
    with pytest.raises(ClientError) as caught:
        s3_b.list_objects_v2(Bucket="nobody-owns-this-bucket")
    assert error_of(caught) == (404, "NoSuchBucket")


def test_copy_within_own_buckets_still_works(s3_b: Any, bucket_b: str) -> None:
    s3_b.copy_object(
        Bucket=bucket_b, Key="copy", CopySource={"Bucket": bucket_b, "Key": "mine.txt"}
    )
    assert read(s3_b, bucket_b, "copy") == b"B's own"


def test_unknown_user_is_invalid_access_key_id(shared: RunningServer) -> None:
    response = signed_request(shared, "GET", "/", access_key="nobody", secret_key="x")
    assert response.status == 403
    assert response.error_code() == "InvalidAccessKeyId"


def test_unsigned_request_without_no_auth_is_access_denied(shared: RunningServer) -> None:
    response = unsigned_request(shared, "GET", "/")
    assert response.status == 403
    assert response.error_code() == "AccessDenied"


# -- --no-auth ------------------------------------------------------------------------------


def test_no_auth_unsigned_request_acts_as_default_user(open_server: RunningServer) -> None:
    name = "made-without-signature"
    assert unsigned_request(open_server, "PUT", path(name)).status == 200
    try:
        put = unsigned_request(open_server, "PUT", path(name, "k"), body=b"anonymous body")
        assert put.status == 200
        listing = unsigned_request(open_server, "GET", "/")
        assert listing.status == 200
        names = [e.text for e in listing.xml().iter(f"{NS}Name")]
        assert name in names
        assert listing.xml().findtext(f"{NS}Owner/{NS}DisplayName") == (
            open_server.config.access_key
        )
        # The default user's signed client sees the same bucket and object as its own.
        s3 = open_server.boto3_client()
        assert read(s3, name, "k") == b"anonymous body"
        # ... and another user does not get in.
        with pytest.raises(ClientError) as caught:
            open_server.boto3_client(user=USER_B).list_objects_v2(Bucket=name)
        assert error_of(caught) == (403, "AccessDenied")
    finally:
        assert unsigned_request(open_server, "DELETE", path(name, "k")).status == 204
        assert unsigned_request(open_server, "DELETE", path(name)).status == 204


def test_no_auth_wrong_signature_is_still_refused(open_server: RunningServer) -> None:
    response = signed_request(open_server, "GET", "/", secret_key="not-the-secret")
    assert response.status == 403
    assert response.error_code() == "SignatureDoesNotMatch"


def test_no_auth_unknown_access_key_is_still_refused(open_server: RunningServer) -> None:
    response = signed_request(open_server, "GET", "/", access_key="nobody", secret_key="x")
    assert response.status == 403
    assert response.error_code() == "InvalidAccessKeyId"


def test_no_auth_signed_request_acts_as_its_signer(open_server: RunningServer) -> None:
    s3_b = open_server.boto3_client(user=USER_B)
    with temporary_bucket(s3_b, "b-under-no-auth") as name:
        assert name in _names(s3_b)
        assert name not in _names(open_server.boto3_client())
        response = unsigned_request(open_server, "GET", path(name))
        assert response.status == 403
        assert response.error_code() == "AccessDenied"


# -- users from the command line ---------------------------------------------------------


def test_users_file_users_each_own_their_buckets(tmp_path: Path) -> None:
    users_file = tmp_path / "users"
    users_file.write_text("# team\nalice:alice-secret\n\nbob : bob:secret:with:colons\n")
    argv = ["--root", str(tmp_path / "data"), "--port", "0", "--no-fsync"]
    config = parse_config([*argv, "--users-file", str(users_file)], env={})
    assert config.access_key == "alice"
    with run_server(config) as running:
        alice = running.boto3_client()
        bob = running.boto3_client(user=("bob", "bob:secret:with:colons"))
        with temporary_bucket(alice, "alice") as name:
            with pytest.raises(ClientError) as caught:
                bob.list_objects_v2(Bucket=name)
            assert error_of(caught) == (403, "AccessDenied")
            assert _names(bob) == set()
        # The built-in key pair is not a user once users are named.
        builtin = running.boto3_client(user=("aios3", "aios3-secret-key"))
        with pytest.raises(ClientError) as caught:
            builtin.list_buckets()
        assert error_of(caught) == (403, "InvalidAccessKeyId")
