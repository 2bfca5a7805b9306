"""Fault injection through real requests: clients' retries recover from injected
errors and dropped connections, truncated bodies are detected, chance is seeded."""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import (
    ClientError,
    EndpointConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
)

from aios3.cli import parse_config
from tests.functional.admin_client import add_fault, admin, journal
from tests.support import RunningServer, error_of, run_server, test_config

BUCKET = "faulty"
BODY = bytes(range(256)) * 400  # 100 KiB

# Standard mode retries throttling and 5xx errors, with a short, jittered backoff.
RETRIES = {"mode": "standard", "total_max_attempts": 3}
NO_RETRIES = {"total_max_attempts": 1}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[RunningServer]:
    """A server of its own (faults act on every request), with a bucket and an object."""
    with run_server(test_config(tmp_path)) as running:
        s3 = running.boto3_client()
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="object", Body=BODY)
        admin(running, "DELETE", "requests")
        yield running


def _statuses(server: RunningServer, op: str) -> list[int | None]:
    return [record["status"] for record in journal(server, op=op)]


@pytest.mark.parametrize(("error", "status"), [("SlowDown", 503), ("InternalError", 500)])
def test_faults_boto3_retries_recover_from_injected_errors(
    server: RunningServer, error: str, status: int
) -> None:
    add_fault(server, op="PutObject", error=error, times=2)
    s3 = server.boto3_client(retries=RETRIES)

    s3.put_object(Bucket=BUCKET, Key="retried", Body=b"payload")

    assert _statuses(server, "PutObject") == [status, status, 200]
    assert [r["error_code"] for r in journal(server, op="PutObject")] == [error, error, None]
    assert s3.get_object(Bucket=BUCKET, Key="retried")["Body"].read() == b"payload"


@pytest.mark.parametrize(("error", "status"), [("SlowDown", 503), ("InternalError", 500)])
async def test_faults_aiobotocore_retries_recover_from_injected_errors(
    server: RunningServer, error: str, status: int
) -> None:
    add_fault(server, op="GetObject", bucket=BUCKET, key_prefix="obj", error=error, times=2)

    async with server.aio_client(retries=RETRIES) as s3:
        response = await s3.get_object(Bucket=BUCKET, Key="object")
        assert await response["Body"].read() == BODY

    assert _statuses(server, "GetObject") == [status, status, 200]


def test_faults_error_answers_as_s3_with_the_status_given(server: RunningServer) -> None:
    fault = add_fault(server, op="HeadObject", error="Throttling", status=429)
    s3 = server.boto3_client(retries=NO_RETRIES)

    for _ in range(2):
        with pytest.raises(ClientError) as caught:
            s3.head_object(Bucket=BUCKET, Key="object")
        assert error_of(caught)[0] == 429
    s3.list_objects_v2(Bucket=BUCKET)  # another operation: untouched

    records = journal(server, op="HeadObject")
    assert [(r["status"], r["error_code"], r["fault"]) for r in records] == [
        (429, "Throttling", fault["id"]),
        (429, "Throttling", fault["id"]),
    ]
    assert journal(server, op="ListObjectsV2")[0]["fault"] is None


def test_faults_match_bucket_and_key_prefix(server: RunningServer) -> None:
    add_fault(server, bucket=BUCKET, key_prefix="broken/", error="InternalError")
    s3 = server.boto3_client(retries=NO_RETRIES)

    s3.put_object(Bucket=BUCKET, Key="fine/a", Body=b"1")
    with pytest.raises(ClientError) as caught:
        s3.put_object(Bucket=BUCKET, Key="broken/a", Body=b"1")
    assert error_of(caught) == (500, "InternalError")
    s3.list_objects_v2(Bucket=BUCKET)  # no key, so no key prefix matches


def test_faults_truncated_get_is_detected_by_boto3(server: RunningServer) -> None:
    add_fault(server, op="GetObject", truncate_body_after=1000, times=1)
    s3 = server.boto3_client()

    response = s3.get_object(Bucket=BUCKET, Key="object")
    assert response["ContentLength"] == len(BODY)  # the headers announce the whole body
    with pytest.raises((IncompleteReadError, ResponseStreamingError)):
        response["Body"].read()

    assert s3.get_object(Bucket=BUCKET, Key="object")["Body"].read() == BODY
    truncated, whole = journal(server, op="GetObject")
    assert (truncated["status"], truncated["bytes_out"]) == (200, 1000)
    assert truncated["fault"] is not None
    assert (whole["bytes_out"], whole["fault"]) == (len(BODY), None)


async def test_faults_truncated_get_is_detected_by_aiobotocore(server: RunningServer) -> None:
    add_fault(server, op="GetObject", truncate_body_after=0, times=1)

    async with server.aio_client() as s3:
        response = await s3.get_object(Bucket=BUCKET, Key="object")
        try:
            with pytest.raises((aiohttp.ClientPayloadError, IncompleteReadError)):
                await response["Body"].read()
        finally:
            response["Body"].close()
        again = await s3.get_object(Bucket=BUCKET, Key="object")
        assert await again["Body"].read() == BODY


def test_faults_truncation_beyond_the_body_sends_it_whole(server: RunningServer) -> None:
    add_fault(server, op="GetObject", truncate_body_after=len(BODY))
    s3 = server.boto3_client()

    assert s3.get_object(Bucket=BUCKET, Key="object")["Body"].read() == BODY


def test_faults_reset_connection_is_a_connection_error(server: RunningServer) -> None:
    add_fault(server, op="HeadObject", reset_connection=True, times=1)
    s3 = server.boto3_client(retries=NO_RETRIES)

    with pytest.raises(HTTPClientError):
        s3.head_object(Bucket=BUCKET, Key="object")

    record = journal(server, op="HeadObject")[0]
    assert record["status"] is None
    assert record["fault"] is not None


@pytest.mark.parametrize("op", ["HeadObject", "PutObject"])
def test_faults_boto3_retries_a_reset_connection(server: RunningServer, op: str) -> None:
    add_fault(server, op=op, reset_connection=True, times=1)
    s3 = server.boto3_client(retries=RETRIES)

    s3.put_object(Bucket=BUCKET, Key="object", Body=BODY)
    assert s3.head_object(Bucket=BUCKET, Key="object")["ContentLength"] == len(BODY)

    assert _statuses(server, op) == [None, 200]


async def test_faults_aiobotocore_sees_a_reset_connection(server: RunningServer) -> None:
    # aiohttp itself retries an idempotent request once when the connection drops, so
    # the client sees an error only from the second reset on.
    add_fault(server, op="ListObjectsV2", reset_connection=True, times=2)

    async with server.aio_client(retries=NO_RETRIES) as s3:
        with pytest.raises((HTTPClientError, EndpointConnectionError)):
            await s3.list_objects_v2(Bucket=BUCKET)
        listed = await s3.list_objects_v2(Bucket=BUCKET)
    assert [item["Key"] for item in listed["Contents"]] == ["object"]
    assert _statuses(server, "ListObjectsV2") == [None, None, 200]


def test_faults_latency_delays_the_request(server: RunningServer) -> None:
    add_fault(server, op="HeadObject", latency=0.3, times=1)
    s3 = server.boto3_client()

    started = time.monotonic()
    s3.head_object(Bucket=BUCKET, Key="object")
    assert time.monotonic() - started >= 0.3
    started = time.monotonic()
    s3.head_object(Bucket=BUCKET, Key="object")  # times used up

    delayed, plain = journal(server, op="HeadObject")
    assert delayed["duration"] >= 0.3
    assert (delayed["status"], plain["fault"]) == (200, None)


def _pattern(root: Path, seed: int) -> list[int | None]:
    """HeadObject statuses under a 50% fault, on a fresh server seeded with ``seed``."""
    with run_server(test_config(root, seed=seed)) as running:
        s3 = running.boto3_client(retries=NO_RETRIES)
        s3.create_bucket(Bucket=BUCKET)
        s3.put_object(Bucket=BUCKET, Key="object", Body=b"1")
        add_fault(running, op="HeadObject", error="InternalError", probability=0.5)
        for _ in range(24):
            with contextlib.suppress(ClientError):
                s3.head_object(Bucket=BUCKET, Key="object")
        return _statuses(running, "HeadObject")


def test_faults_probability_is_reproducible_with_a_seed(tmp_path: Path) -> None:
    first = _pattern(tmp_path / "one", seed=1234)
    second = _pattern(tmp_path / "two", seed=1234)

    assert first == second
    assert set(first) == {200, 500}  # both outcomes happen, in the same order


def test_faults_admin_endpoint_lists_and_removes_faults(server: RunningServer) -> None:
    first = add_fault(server, op="GetObject", error="SlowDown", times=2)
    second = add_fault(server, latency=0.01, probability=0.5)
    assert first["times"] == 2
    assert first["id"] != second["id"]

    listed = json.loads(admin(server, "GET", "faults").body)
    assert [fault["id"] for fault in listed] == [first["id"], second["id"]]
    one = admin(server, "GET", f"faults/{first['id']}")
    assert json.loads(one.body) == first

    assert admin(server, "DELETE", f"faults/{first['id']}").status == 204
    assert admin(server, "DELETE", f"faults/{first['id']}").status == 404
    assert [f["id"] for f in json.loads(admin(server, "GET", "faults").body)] == [second["id"]]
    assert admin(server, "DELETE", "faults").status == 204
    assert json.loads(admin(server, "GET", "faults").body) == []


def test_faults_admin_endpoint_counts_down_times(server: RunningServer) -> None:
    fault = add_fault(server, op="HeadObject", error="SlowDown", times=2)
    s3 = server.boto3_client(retries=NO_RETRIES)
    with pytest.raises(ClientError):
        s3.head_object(Bucket=BUCKET, Key="object")

    current = json.loads(admin(server, "GET", f"faults/{fault['id']}").body)
    assert (current["times"], current["fired"]) == (1, 1)


@pytest.mark.parametrize(
    "spec",
    [
        {"op": "GetObject"},  # does nothing
        {"error": "SlowDown", "reset_connection": True},
        {"status": 503},
        {"error": "SlowDown", "times": 0},
        {"error": "SlowDown", "probability": 1.5},
        {"op": "PutObject", "truncate_body_after": 10},
        {"error": "SlowDown", "colour": "red"},
        {"error": 503},
        ["SlowDown"],
    ],
)
def test_faults_admin_endpoint_refuses_a_meaningless_fault(
    server: RunningServer, spec: Any
) -> None:
    response = admin(server, "POST", "faults", spec)
    assert (response.status, response.error_code()) == (400, "InvalidArgument")


def test_faults_from_the_config_act_from_start_up(tmp_path: Path) -> None:
    config = test_config(tmp_path, faults=({"op": "ListBuckets", "error": "SlowDown"},))
    with run_server(config) as running:
        with pytest.raises(ClientError) as caught:
            running.boto3_client(retries=NO_RETRIES).list_buckets()
        assert error_of(caught) == (503, "SlowDown")


def test_faults_cli_option_and_environment(tmp_path: Path) -> None:
    spec = {"op": "GetObject", "error": "SlowDown", "times": 2}
    config = parse_config(["--fault", json.dumps(spec), "--seed", "7"], env={})
    assert (config.faults, config.seed) == ((spec,), 7)

    env = {"AIOS3_FAULTS": json.dumps([spec, {"latency": 0.5}]), "AIOS3_SEED": "9"}
    config = parse_config([], env=env)
    assert (config.faults, config.seed) == ((spec, {"latency": 0.5}), 9)
    # The command line replaces the environment's faults.
    config = parse_config(["--fault", '{"reset_connection": true}'], env=env)
    assert config.faults == ({"reset_connection": True},)


@pytest.mark.parametrize(
    "argv", [["--fault", "{nope"], ["--fault", '{"op": "GetObject"}'], ["--seed", "x"]]
)
def test_faults_cli_refuses_bad_values(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        parse_config(argv, env={})
    assert caught.value.code == 2
    assert "error" in capsys.readouterr().err
