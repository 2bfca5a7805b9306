"""Deterministic mode: with a seed and a fixed clock, two servers answer the same
request sequence byte for byte (request ids, timestamps, listings)."""

from __future__ import annotations

import time
from email.utils import formatdate
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.functional.admin_client import add_fault, journal
from tests.functional.raw import path, query, signed_request, unsigned_request
from tests.support import error_of, run_server, test_config

# Near the real time, so that clients' signatures (made with the real time) pass the
# server's time check; whole seconds, as HTTP dates are.
FIXED = float(int(time.time()))


def _fixed() -> float:
    return FIXED


REQUESTS: list[tuple[str, str, bytes]] = [
    ("PUT", path("golden"), b""),
    ("PUT", path("golden", "a.txt"), b"hello"),
    ("PUT", path("golden", "dir/b.txt"), b"world"),
    ("GET", path("golden") + query(**{"list-type": "2"}), b""),
    ("GET", path("golden") + query(delimiter="/"), b""),
    ("GET", "/", b""),
    ("HEAD", path("golden", "a.txt"), b""),
    ("GET", path("golden", "a.txt"), b""),
    ("GET", path("golden", "missing"), b""),
    ("GET", path("golden") + query("tagging"), b""),
    ("POST", path("golden", "mp.bin") + query("uploads"), b""),
]


def _answers(root: Path, **overrides: Any) -> list[tuple[int, str, str | None, bytes]]:
    """Status, request id, Last-Modified and body of each of REQUESTS on a new server."""
    with run_server(test_config(root, **overrides)) as running:
        answers = []
        for method, target, body in REQUESTS:
            response = signed_request(running, method, target, body=body)
            answers.append(
                (
                    response.status,
                    response.headers["x-amz-request-id"],
                    response.headers.get("Last-Modified"),
                    response.body,
                )
            )
        return answers


def test_deterministic_servers_answer_identically(tmp_path: Path) -> None:
    first = _answers(tmp_path / "one", seed=42, clock=_fixed)
    second = _answers(tmp_path / "two", seed=42, clock=_fixed)

    assert first == second
    statuses = [status for status, _, _, _ in first]
    assert statuses == [200, 200, 200, 200, 200, 200, 200, 200, 404, 501, 200]
    assert b"<UploadId>" in first[10][3]  # a seeded upload id, the same on both servers
    request_ids = [request_id for _, request_id, _, _ in first]
    assert len(set(request_ids)) == len(request_ids)
    assert first[6][2] == formatdate(FIXED, usegmt=True)  # HEAD's Last-Modified
    listing = first[3][3].decode()
    assert "<LastModified>" in listing
    assert time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(FIXED)) in listing
    assert first[8][1].encode() in first[8][3]  # the error document names the request id


def test_deterministic_seeds_differ(tmp_path: Path) -> None:
    first = _answers(tmp_path / "one", seed=1, clock=_fixed)
    second = _answers(tmp_path / "two", seed=2, clock=_fixed)
    assert [a[1] for a in first] != [b[1] for b in second]
    assert [a[3] for a in first[:8]] == [b[3] for b in second[:8]]  # only ids changed


def test_deterministic_without_a_seed_ids_are_unpredictable(tmp_path: Path) -> None:
    first = _answers(tmp_path / "one")
    second = _answers(tmp_path / "two")
    assert [a[1] for a in first] != [b[1] for b in second]


def test_deterministic_clock_dates_buckets_and_the_journal(tmp_path: Path) -> None:
    with run_server(test_config(tmp_path, clock=_fixed)) as running:
        s3 = running.boto3_client()
        s3.create_bucket(Bucket="dated")
        s3.put_object(Bucket="dated", Key="k", Body=b"1")

        (bucket,) = s3.list_buckets()["Buckets"]
        assert bucket["CreationDate"].timestamp() == FIXED
        assert s3.head_object(Bucket="dated", Key="k")["LastModified"].timestamp() == FIXED
        assert {record["time"] for record in journal(running)} == {FIXED}


def test_deterministic_clock_decides_signature_time(tmp_path: Path) -> None:
    hour_ahead = FIXED + 3600
    with run_server(test_config(tmp_path, clock=lambda: hour_ahead)) as running:
        with pytest.raises(ClientError) as caught:
            running.boto3_client(retries={"total_max_attempts": 1}).list_buckets()
        assert error_of(caught) == (403, "RequestTimeTooSkewed")


def test_deterministic_clock_decides_presigned_expiry(tmp_path: Path) -> None:
    # Two minutes ahead of the client's clock, read now: FIXED was read at import, and
    # a slow suite may reach this test more than a minute later.
    ahead = time.time() + 120
    with run_server(test_config(tmp_path, clock=lambda: ahead)) as running:
        s3 = running.boto3_client(signature_version="s3v4")
        url = s3.generate_presigned_url("list_buckets", ExpiresIn=60)
        response = unsigned_request(running, "GET", url.removeprefix(running.endpoint_url))
        assert (response.status, response.error_code()) == (403, "AccessDenied")
        assert "expired" in (response.error_field("Message") or "")


def _fault_ids(root: Path) -> list[str]:
    with run_server(test_config(root, seed=5)) as running:
        return [add_fault(running, latency=0.0)["id"] for _ in range(3)]


def test_deterministic_fault_ids_repeat(tmp_path: Path) -> None:
    assert _fault_ids(tmp_path / "one") == _fault_ids(tmp_path / "two")
