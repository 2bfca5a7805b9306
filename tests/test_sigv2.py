"""SigV2 verification, checked against botocore's own v2 signers and AWS's published examples."""

from __future__ import annotations

import base64
import hashlib
import hmac
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any
from urllib.parse import quote, urlsplit

import boto3
import pytest
from botocore.auth import HmacV1Auth, HmacV1QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from aios3.auth import AuthResult, RequestParts, authenticate, is_anonymous
from aios3.errors import S3Error
from tests.test_sigv4 import (
    AK,
    CREDS,
    ENDPOINT,
    KEYS,
    SK,
    captured_requests,
    expect_error,
    now,
    presigned,
    to_parts,
)

HEADER = AuthResult(AK, "sigv2-header", None)
QUERY = AuthResult(AK, "sigv2-query", None)


# --- helpers ------------------------------------------------------------------------


def header_signed(
    method: str,
    path: str,
    query: str = "",
    headers: Iterable[tuple[str, str]] = (),
    secret: str = SK,
    access_key: str = AK,
) -> RequestParts:
    """Sign with botocore's HmacV1Auth (header form); ``path``/``query`` as sent on the wire."""
    url = f"{ENDPOINT}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url)
    for name, value in headers:
        request.headers[name] = value  # HTTPHeaders appends, so repeats are kept
    HmacV1Auth(Credentials(access_key, secret)).add_auth(request)
    return to_parts(request)


def query_signed(
    method: str,
    path: str,
    query: str = "",
    headers: Iterable[tuple[str, str]] = (),
    expires: int = 3600,
    secret: str = SK,
) -> RequestParts:
    """Presign with botocore's HmacV1QueryAuth; signed headers move into the query."""
    url = f"{ENDPOINT}{path}" + (f"?{query}" if query else "")
    request = AWSRequest(method=method, url=url)
    for name, value in headers:
        request.headers[name] = value
    HmacV1QueryAuth(Credentials(AK, secret), expires=expires).add_auth(request)
    split = urlsplit(request.url)
    return RequestParts(method, split.path, split.query, (("Host", split.netloc),))


def hand_signed(
    method: str,
    path: str,
    string_to_sign: str,
    headers: Iterable[tuple[str, str]] = (),
    query: str = "",
) -> RequestParts:
    """A request whose signature we compute from a StringToSign written out by hand."""
    digest = hmac.digest(SK.encode(), string_to_sign.encode(), "sha1")
    signature = base64.b64encode(digest).decode()
    all_headers = (("Host", "localhost:9000"), *headers, ("Authorization", f"AWS {AK}:{signature}"))
    return RequestParts(method, path, query, all_headers)


def header(parts: RequestParts, name: str) -> str:
    return next(v for k, v in parts.headers if k.lower() == name)


def replace_header(parts: RequestParts, name: str, value: str | None) -> RequestParts:
    """Change (or with None drop) every header called ``name``, as a tampering client would."""
    headers = tuple(
        (k, v if value is None or k.lower() != name else value)
        for k, v in parts.headers
        if value is not None or k.lower() != name
    )
    return RequestParts(parts.method, parts.raw_path, parts.raw_query, headers)


def http_date(when: datetime) -> str:
    return format_datetime(when, usegmt=True)


@pytest.fixture
def sdk_requests() -> Iterator[Callable[[Callable[[Any], object]], RequestParts]]:
    """Run a boto3 S3 call signed with SigV2 (``signature_version="s3"``), capture the request."""
    with captured_requests("us-east-1", signature_version="s3") as run:
        yield run


# --- AWS's published examples -------------------------------------------------------
# "Signing and authenticating REST requests", Authentication examples. The current page
# names the bucket awsexamplebucket1, but its signatures were computed (and still verify)
# with the bucket's original name, johnsmith. Those examples are virtual-hosted; aios3 is
# path-style only, and the CanonicalizedResource is the same either way.

AWS_AK = "AKIAIOSFODNN7EXAMPLE"
AWS_CREDS = {AWS_AK: "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"}


def _aws(
    method: str, path: str, date: str, signature: str, *headers: tuple[str, str], query: str = ""
) -> RequestParts:
    return RequestParts(
        method,
        path,
        query,
        (
            ("Host", "s3.us-west-1.amazonaws.com"),
            ("Date", date),
            *headers,
            ("Authorization", f"AWS {AWS_AK}:{signature}"),
        ),
    )


AWS_EXAMPLES = [
    pytest.param(
        _aws(
            "GET",
            "/johnsmith/photos/puppy.jpg",
            "Tue, 27 Mar 2007 19:36:42 +0000",
            "bWq2s1WEIj+Ydj0vQ697zp+IXMU=",
        ),
        id="object-get",
    ),
    pytest.param(
        _aws(
            "PUT",
            "/johnsmith/photos/puppy.jpg",
            "Tue, 27 Mar 2007 21:15:45 +0000",
            "MyyxeRY7whkBe+bq8fHCL/2kKUg=",
            ("Content-Type", "image/jpeg"),
            ("Content-Length", "94328"),
        ),
        id="object-put",
    ),
    pytest.param(
        _aws(
            "GET",
            "/johnsmith/",
            "Tue, 27 Mar 2007 19:42:41 +0000",
            "htDYFYduRNen8P9ZfE/s9SuKy0U=",
            ("User-Agent", "Mozilla/5.0"),
            query="prefix=photos&max-keys=50&marker=puppy",
        ),
        id="list",
    ),
    pytest.param(
        _aws(
            "GET",
            "/johnsmith/",
            "Tue, 27 Mar 2007 19:44:46 +0000",
            "c2WLPFtWHVgbEmeEG93a4cG37dM=",
            query="acl",
        ),
        id="fetch-acl",
    ),
    pytest.param(
        _aws(
            "PUT",
            "/static.johnsmith.net/db-backup.dat.gz",
            "Tue, 27 Mar 2007 21:06:08 +0000",
            "ilyl83RwaSoYIEdixDQcA4OnAnc=",
            ("x-amz-acl", "public-read"),
            ("content-type", "application/x-download"),
            ("Content-MD5", "4gJE4saaMU4BqNR0kLY+lw=="),
            ("X-Amz-Meta-ReviewedBy", "joe@johnsmith.net"),
            ("X-Amz-Meta-ReviewedBy", "jane@johnsmith.net"),
            ("X-Amz-Meta-FileChecksum", "0x02661779"),
            ("X-Amz-Meta-ChecksumAlgorithm", "crc32"),
            ("Content-Disposition", "attachment; filename=database.dat"),
            ("Content-Encoding", "gzip"),
            ("Content-Length", "5913339"),
        ),
        id="upload-with-metadata",
    ),
    pytest.param(
        _aws("GET", "/", "Wed, 28 Mar 2007 01:29:59 +0000", "qGdzdERIC03wnaRNKh6OqZehG9s="),
        id="list-buckets",
    ),
    pytest.param(
        _aws(
            "GET",
            "/dictionary/fran%C3%A7ais/pr%c3%a9f%c3%a8re",
            "Wed, 28 Mar 2007 01:49:49 +0000",
            "DNEZGsoieTZ92F3bUfSPQcbGmlM=",
        ),
        id="unicode-keys",
    ),
]


@pytest.mark.parametrize("parts", AWS_EXAMPLES)
def test_aws_example_accepted(parts: RequestParts) -> None:
    when = datetime.strptime(header(parts, "date"), "%a, %d %b %Y %H:%M:%S %z")
    assert authenticate(parts, AWS_CREDS, when + timedelta(minutes=1)).access_key == AWS_AK


def test_aws_example_upload_string_to_sign() -> None:
    parts = AWS_EXAMPLES[4].values[0]
    assert isinstance(parts, RequestParts)
    tampered = replace_header(parts, "authorization", f"AWS {AWS_AK}:AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    with pytest.raises(S3Error) as info:
        authenticate(tampered, AWS_CREDS, datetime(2007, 3, 27, 21, 6, 8, tzinfo=UTC))
    assert info.value.code == "SignatureDoesNotMatch"
    sts = (
        "PUT\n4gJE4saaMU4BqNR0kLY+lw==\napplication/x-download\nTue, 27 Mar 2007 21:06:08 +0000\n"
        "x-amz-acl:public-read\nx-amz-meta-checksumalgorithm:crc32\n"
        "x-amz-meta-filechecksum:0x02661779\n"
        "x-amz-meta-reviewedby:joe@johnsmith.net,jane@johnsmith.net\n"
        "/static.johnsmith.net/db-backup.dat.gz"
    )
    assert info.value.detail == {
        "AWSAccessKeyId": AWS_AK,
        "StringToSign": sts,
        "SignatureProvided": "AAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "StringToSignBytes": sts.encode().hex(" "),
    }


def test_aws_example_query_string_accepted() -> None:
    query = f"AWSAccessKeyId={AWS_AK}&Signature=NpgCjnDzrM%2BWFzoENXmpNDUsSn8%3D&Expires=1175139620"
    parts = RequestParts("GET", "/johnsmith/photos/puppy.jpg", query, (("Host", "s3"),))
    when = datetime.fromtimestamp(1175139620 - 60, UTC)
    assert authenticate(parts, AWS_CREDS, when) == AuthResult(AWS_AK, "sigv2-query", None)


# --- header form accepted -----------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_header_signed_keys_accepted(key: str) -> None:
    parts = header_signed("GET", "/bucket/" + quote(key, safe="/~"))
    assert authenticate(parts, CREDS, now()) == HEADER


@pytest.mark.parametrize(
    "query",
    [
        "acl",
        "uploads",
        "uploads=",
        "versionId=x",
        "versionId=a%20b%2Bc",
        "uploadId=u%2F1&partNumber=3",
        "tagging&versionId=3",
        "delete",
        "location",
        "list-type=2&prefix=a%2Fb&delimiter=%2F",
        "response-content-type=text%2Fplain&response-content-disposition=attachment%3B%20f%3Da",
        "response-cache-control=no-cache&response-expires=Thu%2C%2001%20Dec%201994&acl",
    ],
)
def test_header_signed_subresources_accepted(query: str) -> None:
    parts = header_signed("GET", "/bucket/key", query)
    assert authenticate(parts, CREDS, now()) == HEADER


def test_subresource_string_to_sign_sorted_and_decoded() -> None:
    parts = header_signed("GET", "/b/k", "versionId=a%20b&prefix=p&acl&response-expires=x%2Fy")
    bad = replace_header(parts, "authorization", f"AWS {AK}:AAAAAAAAAAAAAAAAAAAAAAAAAAA=")
    error = expect_error("SignatureDoesNotMatch", bad)
    assert error.detail["StringToSign"].endswith("\n/b/k?acl&response-expires=x/y&versionId=a b")


def test_content_md5_content_type_and_metadata_accepted() -> None:
    body_md5 = base64.b64encode(hashlib.md5(b"hello").digest()).decode()
    parts = header_signed(
        "PUT",
        "/bucket/key",
        headers=[
            ("Content-MD5", body_md5),
            ("Content-Type", "text/plain; charset=utf-8"),
            ("x-amz-meta-tags", "one"),
            ("X-Amz-Meta-Tags", "  two   words  "),
            ("X-Amz-Acl", "private"),
        ],
    )
    assert authenticate(parts, CREDS, now()) == HEADER
    for name in ("content-md5", "content-type", "x-amz-acl"):
        expect_error("SignatureDoesNotMatch", replace_header(parts, name, "x"))
    expect_error("SignatureDoesNotMatch", replace_header(parts, "content-type", None))


def test_inner_whitespace_folded_form_accepted() -> None:
    date = http_date(now())
    sts = f"PUT\n\n\n{date}\nx-amz-meta-a:b c\n/b/k"
    parts = hand_signed("PUT", "/b/k", sts, [("Date", date), ("x-amz-meta-a", "b   c")])
    assert authenticate(parts, CREDS, now()) == HEADER


def test_x_amz_date_signs_an_empty_date_line() -> None:
    # As boto 2 and the docs do it; the Date header is ignored (and may be anything).
    stamp = http_date(now())
    sts = f"GET\n\n\n\nx-amz-date:{stamp}\n/b/k"
    parts = hand_signed("GET", "/b/k", sts, [("x-amz-date", stamp), ("Date", "whatever")])
    assert authenticate(parts, CREDS, now()) == HEADER
    error = expect_error("RequestTimeTooSkewed", parts, now() + timedelta(minutes=20))
    assert error.detail["RequestTime"] == stamp


def test_x_amz_date_with_botocore_signed_date_accepted() -> None:
    # botocore signs its Date header even when the caller added an x-amz-date.
    parts = header_signed("GET", "/b/k", headers=[("x-amz-date", http_date(now()))])
    assert authenticate(parts, CREDS, now()) == HEADER


def test_path_encoded_differently_than_signed_accepted() -> None:
    parts = header_signed("GET", "/bucket/a%2Cb%3Dc%20d")
    sent = RequestParts("GET", "/bucket/a,b=c%20d", "", parts.headers)
    assert authenticate(sent, CREDS, now()) == HEADER


def test_unsigned_query_parameters_may_change() -> None:
    # SigV2 signs only sub-resources: list parameters are not covered (a SigV2 weakness).
    parts = header_signed("GET", "/bucket", "prefix=a&acl")
    sent = RequestParts("GET", "/bucket", "prefix=b&acl", parts.headers)
    assert authenticate(sent, CREDS, now()) == HEADER


def test_other_access_key_selects_its_secret() -> None:
    parts = header_signed("GET", "/b", access_key="OTHER", secret="other-secret")
    assert authenticate(parts, CREDS, now()).access_key == "OTHER"


@pytest.mark.parametrize(
    "call",
    [
        pytest.param(
            lambda s3: s3.put_object(Bucket="b", Key="a b+c%/ü/../x//y", Body=b"hi"), id="put"
        ),
        pytest.param(
            lambda s3: s3.put_object(
                Bucket="b", Key="k", Body=b"x", Metadata={"m": "a   b  "}, ContentType="a/b"
            ),
            id="metadata",
        ),
        pytest.param(
            lambda s3: s3.list_objects(Bucket="b", Prefix="a/b", Delimiter="/"), id="list"
        ),
        pytest.param(lambda s3: s3.get_object_acl(Bucket="b", Key="k"), id="acl"),
        pytest.param(lambda s3: s3.get_object(Bucket="b", Key="k", VersionId="v 1"), id="version"),
        pytest.param(lambda s3: s3.list_buckets(), id="buckets"),
        pytest.param(
            lambda s3: s3.delete_objects(Bucket="b", Delete={"Objects": [{"Key": "a"}]}),
            id="delete-objects",
        ),
        pytest.param(lambda s3: s3.create_multipart_upload(Bucket="b", Key="k"), id="uploads"),
        pytest.param(
            lambda s3: s3.upload_part(Bucket="b", Key="k", UploadId="u/1", PartNumber=2, Body=b"x"),
            id="upload-part",
        ),
    ],
)
def test_boto3_sigv2_requests_accepted(
    sdk_requests: Callable[[Callable[[Any], object]], RequestParts],
    call: Callable[[Any], object],
) -> None:
    parts = sdk_requests(call)
    assert header(parts, "authorization").startswith(f"AWS {AK}:")
    assert authenticate(parts, CREDS, now()) == HEADER


# --- header form rejected -----------------------------------------------------------


def test_wrong_secret_signature_does_not_match() -> None:
    parts = header_signed("GET", "/b/k", "acl", secret="nope")
    error = expect_error("SignatureDoesNotMatch", parts)
    assert error.status == 403
    sts = f"GET\n\n\n{header(parts, 'date')}\n/b/k?acl"
    assert error.detail["StringToSign"] == sts
    assert error.detail["StringToSignBytes"] == sts.encode().hex(" ")
    assert error.detail["AWSAccessKeyId"] == AK
    assert error.detail["SignatureProvided"] == header(parts, "authorization").split(":")[1]


def test_unknown_access_key_rejected() -> None:
    error = expect_error("InvalidAccessKeyId", header_signed("GET", "/b/k", access_key="NOPE"))
    assert error.detail["AWSAccessKeyId"] == "NOPE"
    assert error.status == 403


@pytest.mark.parametrize(
    ("method", "path", "query"),
    [
        ("PUT", "/bucket/key", "versionId=1"),
        ("GET", "/bucket/kez", "versionId=1"),
        ("GET", "/bucket/key/", "versionId=1"),
        ("GET", "/bucket/key", "versionId=2"),
        ("GET", "/bucket/key", "versionId=1&acl"),
        ("GET", "/bucket/key", ""),
    ],
)
def test_tampered_request_rejected(method: str, path: str, query: str) -> None:
    parts = header_signed("GET", "/bucket/key", "versionId=1")
    expect_error("SignatureDoesNotMatch", RequestParts(method, path, query, parts.headers))


def test_tampered_or_added_amz_header_rejected() -> None:
    parts = header_signed("PUT", "/b/k", headers=[("x-amz-meta-a", "1")])
    expect_error("SignatureDoesNotMatch", replace_header(parts, "x-amz-meta-a", "2"))
    added = RequestParts("PUT", "/b/k", "", (*parts.headers, ("x-amz-acl", "public-read")))
    expect_error("SignatureDoesNotMatch", added)


def test_non_ascii_signature_rejected() -> None:
    parts = header_signed("GET", "/b/k")
    expect_error("SignatureDoesNotMatch", replace_header(parts, "authorization", f"AWS {AK}:ä="))


@pytest.mark.parametrize("minutes", [16, -16])
def test_skewed_clock_rejected(minutes: int) -> None:
    parts = header_signed("GET", "/b/k")
    error = expect_error("RequestTimeTooSkewed", parts, now() + timedelta(minutes=minutes))
    assert error.detail["MaxAllowedSkewMilliseconds"] == "900000"
    assert error.detail["RequestTime"] == header(parts, "date")
    assert "ServerTime" in error.detail


def test_skew_within_fifteen_minutes_accepted() -> None:
    assert authenticate(header_signed("GET", "/b/k"), CREDS, now() + timedelta(minutes=14))


@pytest.mark.parametrize("date", [None, "yesterday", ""])
def test_missing_or_invalid_date_rejected(date: str | None) -> None:
    parts = replace_header(header_signed("GET", "/b/k"), "date", date)
    error = expect_error("AccessDenied", parts)
    assert "Date or x-amz-date" in error.message


@pytest.mark.parametrize(
    "authorization",
    ["AWS", "AWS AKIDTEST", "AWS AKIDTEST:", "AWS :c2ln", "AWS AKID TEST:c2ln", "AWS  "],
)
def test_malformed_authorization_header_rejected(authorization: str) -> None:
    parts = replace_header(header_signed("GET", "/b/k"), "authorization", authorization)
    error = expect_error("InvalidArgument", parts)
    assert error.status == 400
    assert error.detail == {"ArgumentName": "Authorization", "ArgumentValue": authorization}


def test_header_and_sigv2_query_together_rejected() -> None:
    header_form = header_signed("GET", "/b/k")
    query_form = query_signed("GET", "/b/k")
    both = RequestParts("GET", "/b/k", query_form.raw_query, header_form.headers)
    error = expect_error("InvalidRequest", both)
    assert "Only one auth mechanism" in error.message


def test_sigv2_and_sigv4_query_together_rejected() -> None:
    v2 = query_signed("GET", "/b/k")
    v4 = presigned("GET", "/b/k")
    both = RequestParts("GET", "/b/k", f"{v4.raw_query}&{v2.raw_query}", v4.headers)
    expect_error("InvalidRequest", both)


# --- query form ---------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_presigned_keys_accepted(key: str) -> None:
    parts = query_signed("GET", "/bucket/" + quote(key, safe="/~"))
    assert not is_anonymous(parts)
    assert authenticate(parts, CREDS, now()) == QUERY


def test_presigned_subresources_and_overrides_accepted() -> None:
    query = "versionId=v%201&response-content-disposition=attachment%3B%20filename%3D%22a%20b%22"
    parts = query_signed("GET", "/bucket/key", query)
    assert authenticate(parts, CREDS, now()) == QUERY
    changed = parts.raw_query.replace("versionId=v%201", "versionId=v%202")
    expect_error(
        "SignatureDoesNotMatch", RequestParts("GET", "/bucket/key", changed, parts.headers)
    )


def test_presigned_amz_parameters_are_signed() -> None:
    # botocore moves signed x-amz-* headers into the URL; they are signed from there.
    parts = query_signed("PUT", "/bucket/key", headers=[("x-amz-meta-a", "b c")])
    assert "x-amz-meta-a=b%20c" in parts.raw_query
    assert authenticate(parts, CREDS, now()) == QUERY
    changed = parts.raw_query.replace("x-amz-meta-a=b%20c", "x-amz-meta-a=evil")
    expect_error("SignatureDoesNotMatch", RequestParts("PUT", "/bucket/key", changed, ()))


def test_presigned_content_type_must_be_sent() -> None:
    parts = query_signed("PUT", "/bucket/key", headers=[("Content-Type", "text/plain")])
    expect_error("SignatureDoesNotMatch", parts)
    sent = RequestParts("PUT", "/bucket/key", parts.raw_query, (("Content-Type", "text/plain"),))
    assert authenticate(sent, CREDS, now()) == QUERY


def test_presigned_wrong_secret_rejected() -> None:
    error = expect_error("SignatureDoesNotMatch", query_signed("GET", "/b/k", secret="nope"))
    assert error.detail["StringToSign"].startswith("GET\n\n\n")


def test_presigned_unknown_key_rejected() -> None:
    parts = query_signed("GET", "/b/k")
    query = parts.raw_query.replace(f"AWSAccessKeyId={AK}", "AWSAccessKeyId=NOPE")
    expect_error("InvalidAccessKeyId", RequestParts("GET", "/b/k", query, parts.headers))


def test_presigned_expired_rejected() -> None:
    parts = query_signed("GET", "/b/k", expires=60)
    assert authenticate(parts, CREDS, now() + timedelta(seconds=50))
    error = expect_error("AccessDenied", parts, now() + timedelta(seconds=70))
    assert error.message == "Request has expired"
    assert set(error.detail) == {"Expires", "ServerTime"}


def test_presigned_ignores_the_date_header() -> None:
    parts = query_signed("GET", "/b/k", expires=3 * 3600)
    dated = RequestParts(
        "GET", "/b/k", parts.raw_query, (("Date", "Mon, 01 Jan 2001 00:00:00 GMT"),)
    )
    assert authenticate(dated, CREDS, now() + timedelta(hours=2)) == QUERY


@pytest.mark.parametrize("dropped", ["AWSAccessKeyId", "Signature", "Expires"])
def test_presigned_missing_param_rejected(dropped: str) -> None:
    parts = query_signed("GET", "/b/k")
    query = "&".join(p for p in parts.raw_query.split("&") if not p.startswith(dropped + "="))
    assert not is_anonymous(RequestParts("GET", "/b/k", query, ()))
    error = expect_error("AccessDenied", RequestParts("GET", "/b/k", query, parts.headers))
    assert "requires the Signature, Expires and AWSAccessKeyId" in error.message


@pytest.mark.parametrize("expires", ["soon", "-5", "1e9", "9" * 40])
def test_presigned_bad_expires_rejected(expires: str) -> None:
    parts = query_signed("GET", "/b/k")
    query = "&".join(
        f"Expires={expires}" if p.startswith("Expires=") else p for p in parts.raw_query.split("&")
    )
    error = expect_error("AccessDenied", RequestParts("GET", "/b/k", query, parts.headers))
    assert error.message.startswith("Invalid date")


def test_boto3_default_presigned_urls_accepted() -> None:
    client = boto3.client(
        "s3",
        endpoint_url=ENDPOINT,
        region_name="us-east-1",
        aws_access_key_id=AK,
        aws_secret_access_key=SK,
    )
    get_url = client.generate_presigned_url(
        "get_object",
        Params={"Bucket": "b", "Key": "dir/ä b+c", "ResponseContentType": "text/plain"},
        ExpiresIn=600,
    )
    put_url = client.generate_presigned_url(
        "put_object", Params={"Bucket": "b", "Key": "k"}, ExpiresIn=600
    )
    client.close()
    for method, url in (("GET", get_url), ("PUT", put_url)):
        split = urlsplit(url)
        assert "AWSAccessKeyId=" in split.query  # the default presigner is still SigV2
        parts = RequestParts(method, split.path, split.query, (("Host", split.netloc),))
        assert authenticate(parts, CREDS, now()) == QUERY
