"""The pytest plugin, run the way users run it: pytest in a subprocess on a test file that
uses the ``aios3_`` fixtures, with the plugin loaded from its ``pytest11`` entry point."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from aios3.testing import Server

pytest_plugins = ["pytester"]

SYNC_TESTS = """
import sys

import boto3


def test_plugin_not_started_when_unused():
    assert "aios3.testing" not in sys.modules


def test_fixtures(aios3_server, aios3_endpoint_url, aios3_credentials, aios3_boto3_client,
                  aios3_bucket):
    assert aios3_endpoint_url == aios3_server.endpoint_url
    assert aios3_credentials == aios3_server.credentials
    assert aios3_server.config.fsync is False
    aios3_boto3_client.put_object(Bucket=aios3_bucket, Key="k", Body=b"sync")
    assert aios3_boto3_client.get_object(Bucket=aios3_bucket, Key="k")["Body"].read() == b"sync"


def test_env(aios3_env, aios3_bucket):
    client = boto3.client("s3")
    client.put_object(Bucket=aios3_bucket, Key="from-env", Body=b"env")
    assert aios3_env["AWS_ENDPOINT_URL"].startswith("http://127.0.0.1:")
    assert [o["Key"] for o in client.list_objects_v2(Bucket=aios3_bucket)["Contents"]] == [
        "from-env"
    ]
"""

ASYNC_TESTS = """
import pytest

{mark}
async def test_aiobotocore(aios3_aiobotocore_client, aios3_bucket):
    client = aios3_aiobotocore_client
    await client.put_object(Bucket=aios3_bucket, Key="k", Body=b"async")
    got = await client.get_object(Bucket=aios3_bucket, Key="k")
    async with got["Body"] as body:
        assert await body.read() == b"async"


def test_sync_next_to_async(aios3_boto3_client, aios3_bucket):
    aios3_boto3_client.head_bucket(Bucket=aios3_bucket)
"""

BUCKET_TESTS = """
import pytest
from botocore.exceptions import ClientError

seen = []


def test_first(aios3_boto3_client, aios3_bucket):
    client = aios3_boto3_client
    assert client.list_objects_v2(Bucket=aios3_bucket)["KeyCount"] == 0
    assert "Uploads" not in client.list_multipart_uploads(Bucket=aios3_bucket)
    for index in range(3):
        client.put_object(Bucket=aios3_bucket, Key=f"object-{{index}}", Body=b"x")
    client.create_multipart_upload(Bucket=aios3_bucket, Key="unfinished")
    seen.append(aios3_bucket)


def test_second(aios3_boto3_client, aios3_bucket):
    assert aios3_bucket != seen[0]
    assert aios3_boto3_client.list_objects_v2(Bucket=aios3_bucket)["KeyCount"] == 0
    with pytest.raises(ClientError) as caught:
        aios3_boto3_client.head_bucket(Bucket=seen[0])
    assert caught.value.response["Error"]["Code"] == "404"
    seen.append(aios3_bucket)


def test_third(aios3_boto3_client):
    assert aios3_boto3_client.list_buckets()["Buckets"] == []
""".replace("{{", "{").replace("}}", "}")

ISOLATION_TESTS = """
def test_leaves_a_fault_behind(aios3_server, aios3_bucket):
    # A fault on every operation: the bucket's clean-up must still work.
    aios3_server.faults.add(error="InternalError")


def test_starts_clean(aios3_server, aios3_boto3_client):
    assert aios3_server.faults.list() == []
    assert aios3_server.requests() == []
    assert aios3_boto3_client.list_buckets()["Buckets"] == []
    assert [r.op for r in aios3_server.requests()] == ["ListBuckets"]
"""

XDIST_TESTS = """
import os

import pytest


@pytest.mark.parametrize("n", range(20))
def test_record(n, aios3_endpoint_url, aios3_bucket):
    with open({out!r}, "a") as out:
        out.write(f"{{os.environ['PYTEST_XDIST_WORKER']}} {{aios3_endpoint_url}}\\n")
"""

FAILING_TESTS = """
def test_fails(aios3_boto3_client, aios3_bucket):
    aios3_boto3_client.put_object(Bucket=aios3_bucket, Key="evidence.txt", Body=b"look here")
    assert False, "on purpose"


def test_passes(aios3_boto3_client, aios3_bucket):
    aios3_boto3_client.put_object(Bucket=aios3_bucket, Key="fine.txt", Body=b"fine")
"""


def test_plugin_sync_fixtures(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sync=SYNC_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=3)


def test_plugin_sync_fixtures_without_pytest_asyncio(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_sync=SYNC_TESTS)
    result = pytester.runpytest_subprocess("-p", "no:asyncio", "-p", "no:aiohttp")
    result.assert_outcomes(passed=3)


@pytest.mark.parametrize(
    ("mode", "mark"), [("strict", "@pytest.mark.asyncio"), ("auto", "")], ids=["strict", "auto"]
)
def test_plugin_async_fixture(pytester: pytest.Pytester, mode: str, mark: str) -> None:
    pytester.makepyfile(test_async=ASYNC_TESTS.format(mark=mark))
    result = pytester.runpytest_subprocess(
        f"--asyncio-mode={mode}", "-o", "asyncio_default_fixture_loop_scope=function"
    )
    result.assert_outcomes(passed=2)


def test_plugin_bucket_empty_at_start_and_gone_after(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_buckets=BUCKET_TESTS)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=3)


def test_plugin_faults_and_journal_cleared_after_each_test(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_isolation=ISOLATION_TESTS)
    pytester.runpytest_subprocess().assert_outcomes(passed=2)


def test_plugin_fsync_option(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(
        test_fsync="def test_on(aios3_server):\n    assert aios3_server.config.fsync is True\n"
    )
    pytester.runpytest_subprocess("--aios3-fsync").assert_outcomes(passed=1)
    pytester.makeini("[pytest]\naios3_fsync = true\n")
    pytester.runpytest_subprocess().assert_outcomes(passed=1)


def test_plugin_xdist_workers_get_their_own_server(pytester: pytest.Pytester) -> None:
    out = pytester.path / "endpoints.txt"
    pytester.makepyfile(test_xdist=XDIST_TESTS.format(out=str(out)))
    result = pytester.runpytest_subprocess("-n", "2")
    result.assert_outcomes(passed=20)
    endpoints: dict[str, set[str]] = {}
    for line in out.read_text().splitlines():
        worker, endpoint = line.split()
        endpoints.setdefault(worker, set()).add(endpoint)
    assert set(endpoints) == {"gw0", "gw1"}
    assert all(len(urls) == 1 for urls in endpoints.values())  # one server per worker
    assert endpoints["gw0"] != endpoints["gw1"]


@pytest.mark.parametrize("how", ["option", "ini"])
def test_plugin_keep_data_keeps_a_failed_tests_bucket(pytester: pytest.Pytester, how: str) -> None:
    pytester.makepyfile(test_failing=FAILING_TESTS)
    if how == "ini":
        pytester.makeini("[pytest]\naios3_keep_data = true\n")
        result = pytester.runpytest_subprocess()
    else:
        result = pytester.runpytest_subprocess("--aios3-keep-data")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*aios3 data kept*", "data directory: *", "bucket: *test-fails-*"])
    found = re.search(r"^data directory: (\S+)$", result.stdout.str(), re.MULTILINE)
    assert found is not None
    root = Path(found.group(1))
    try:
        assert root.is_dir()
        result.stdout.fnmatch_lines([f"*kept in {root}*"])  # the session summary
        with Server(root) as s3:
            client = s3.boto3_client()
            (bucket,) = [b["Name"] for b in client.list_buckets()["Buckets"]]
            assert bucket.startswith("test-fails-")
            got = client.get_object(Bucket=bucket, Key="evidence.txt")
            assert got["Body"].read() == b"look here"
    finally:
        shutil.rmtree(root, ignore_errors=True)


def test_plugin_without_keep_data_reports_nothing_kept(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_failing=FAILING_TESTS)
    result = pytester.runpytest_subprocess()
    result.assert_outcomes(passed=1, failed=1)
    assert "aios3 data kept" not in result.stdout.str()


def test_plugin_readme_example_is_the_tested_file() -> None:
    """README.md shows tests/test_example_usage.py verbatim, so the example always runs."""
    repo = Path(__file__).resolve().parent.parent
    readme = (repo / "README.md").read_text(encoding="utf-8")
    marker = "<!-- example: tests/test_example_usage.py -->\n```python\n"
    assert marker in readme
    shown = readme.split(marker, 1)[1].split("\n```\n", 1)[0]
    assert shown + "\n" == (repo / "tests" / "test_example_usage.py").read_text(encoding="utf-8")
