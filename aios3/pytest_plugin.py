"""pytest plugin: a real aios3 server for the test session, and fixtures around it.

Registered through the ``pytest11`` entry point, so installing aios3 is enough; disable
it with ``-p no:aios3``. Every fixture is prefixed ``aios3_``. The session server starts
only when a test first asks for one of them, and this module imports nothing heavy at
load time, so a suite that never uses the fixtures pays nothing.

The server runs on a thread (:class:`aios3.testing.Server`), so sync and async tests
share it. Under pytest-xdist each worker is its own process and so gets its own server.
"""

from __future__ import annotations

import re
import shutil
import sys
import tempfile
import uuid
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from aios3.testing import Credentials, Server

# Per test: whether its setup or call failed, and its aios3_bucket. Per session: the
# data directory and what was kept for the summary. Stashes rather than module globals,
# so runs inside one process (pytester) do not see each other's state.
_FAILED = pytest.StashKey[bool]()
_BUCKET = pytest.StashKey[str]()
_ROOT = pytest.StashKey[Path]()
_SERVER = pytest.StashKey["Server"]()
_KEPT = pytest.StashKey[list[str]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aios3", "aios3 S3 server")
    group.addoption(
        "--aios3-fsync",
        action="store_true",
        default=None,
        help="fsync object bodies in the aios3 test server (off by default: faster tests)",
    )
    group.addoption(
        "--aios3-keep-data",
        action="store_true",
        default=None,
        help="keep the aios3 data of failed tests (their aios3_bucket and the data "
        "directory) and print where it is",
    )
    parser.addini("aios3_fsync", "fsync object bodies in the aios3 test server", type="bool")
    parser.addini(
        "aios3_keep_data", "keep the aios3 data of failed tests for inspection", type="bool"
    )


def _flag(config: pytest.Config, name: str) -> bool:
    """The command-line option if given, else the ini value (default False)."""
    option = config.getoption(f"--{name.replace('_', '-')}")
    if option is not None:
        return bool(option)
    return bool(config.getini(name))


def pytest_configure(config: pytest.Config) -> None:
    config.stash[_KEPT] = []


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(
    item: pytest.Item, call: pytest.CallInfo[None]
) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Remember a failed setup or call, so teardown knows to keep the test's data, and
    say in the failure report where that data is."""
    report = yield
    if report.when != "teardown" and report.failed:
        item.stash[_FAILED] = True
        if _keeping(item):
            report.sections.append(("aios3 data kept", _kept_message(item)))
    return report


def _keeping(item: pytest.Item) -> bool:
    """Whether a failure of this test keeps aios3 data: the option is on and the test
    used the session server (every aios3_ fixture depends on it)."""
    uses_server = "aios3_server" in getattr(item, "fixturenames", ())
    return uses_server and _flag(item.config, "aios3_keep_data")


def _kept_message(item: pytest.Item) -> str:
    root = item.config.stash.get(_ROOT, "(not started)")
    lines = [f"data directory: {root}"]
    bucket = item.stash.get(_BUCKET, None)
    if bucket is not None:
        lines.append(f"bucket:         {bucket} (left as the test left it)")
    lines.append(f"inspect with:   python -m aios3 --root {root} --port 0")
    return "\n".join(lines)


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    kept = config.stash.get(_KEPT, [])
    if kept:
        terminalreporter.section("aios3")
        for line in kept:
            terminalreporter.write_line(line)


@pytest.fixture(scope="session")
def aios3_server(pytestconfig: pytest.Config) -> Iterator[Server]:
    """One aios3 server for the session (per xdist worker), on a background thread.

    Tests share it and isolate themselves by bucket (see ``aios3_bucket``). fsync is off
    unless ``--aios3-fsync``; the data directory is removed at the end unless a failed
    test's data is kept (``--aios3-keep-data``).
    """
    from aios3.testing import Server

    root = Path(tempfile.mkdtemp(prefix="aios3-pytest-"))
    pytestconfig.stash[_ROOT] = root
    server = Server(root, fsync=_flag(pytestconfig, "aios3_fsync"))
    try:
        with server:
            pytestconfig.stash[_SERVER] = server
            yield server
            del pytestconfig.stash[_SERVER]
    finally:
        if pytestconfig.stash.get(_KEPT, []):
            pytestconfig.stash[_KEPT].append(f"data of failed tests kept in {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(autouse=True)
def _aios3_clean_slate(request: pytest.FixtureRequest) -> Iterator[None]:
    """After each test that used the session server: remove the faults it injected and
    clear the journal, so the next test starts from a clean slate. Tests that never
    touch aios3 pay one dictionary lookup."""
    yield
    server = request.config.stash.get(_SERVER, None)
    if server is not None and "aios3_server" in request.fixturenames:
        server.faults.clear()
        server.journal.clear()


@pytest.fixture(scope="session")
def aios3_endpoint_url(aios3_server: Server) -> str:
    """The session server's URL, ``http://127.0.0.1:<port>``."""
    return aios3_server.endpoint_url


@pytest.fixture(scope="session")
def aios3_credentials(aios3_server: Server) -> Credentials:
    """``(access_key, secret_key)`` of the session server's user."""
    return aios3_server.credentials


@pytest.fixture
def aios3_boto3_client(aios3_server: Server) -> Any:
    """A boto3 S3 client of the session server."""
    return aios3_server.boto3_client()


_NOT_A_BUCKET_CHAR = re.compile(r"[^a-z0-9]+")
# Bucket names may not start with these (AWS's bucket naming rules).
_RESERVED_PREFIXES = ("xn--", "sthree-", "amzn-s3-demo-")


def _bucket_name(test_name: str) -> str:
    """A unique, valid bucket name that still says which test made it."""
    slug = _NOT_A_BUCKET_CHAR.sub("-", test_name.lower()).strip("-")[:40].strip("-")
    if not slug or slug.startswith(_RESERVED_PREFIXES):
        slug = f"t-{slug}".strip("-")
    return f"{slug}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def aios3_bucket(request: pytest.FixtureRequest, aios3_server: Server) -> Iterator[str]:
    """The name of a fresh, empty bucket, removed afterwards with everything in it
    (objects and unfinished multipart uploads). With ``--aios3-keep-data`` a failed
    test's bucket is left as it was."""
    client = aios3_server.boto3_client()
    name = _bucket_name(request.node.name)
    client.create_bucket(Bucket=name)
    request.node.stash[_BUCKET] = name
    yield name
    aios3_server.faults.clear()  # an injected fault must not break the clean-up
    if request.node.stash.get(_FAILED, False) and _keeping(request.node):
        request.config.stash[_KEPT].append(f"{request.node.nodeid}: bucket {name}")
        return
    _empty_and_delete(client, name)


def _empty_and_delete(client: Any, bucket: str) -> None:
    for page in client.get_paginator("list_multipart_uploads").paginate(Bucket=bucket):
        for upload in page.get("Uploads", []):
            client.abort_multipart_upload(
                Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"]
            )
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            client.delete_objects(Bucket=bucket, Delete={"Objects": keys, "Quiet": True})
    client.delete_bucket(Bucket=bucket)


@pytest.fixture
def aios3_env(monkeypatch: pytest.MonkeyPatch, aios3_server: Server) -> dict[str, str]:
    """Points SDK clients built from the environment (``boto3.client("s3")``, the AWS
    CLI, subprocesses) at the session server; the ``AWS_*`` values set are returned."""
    from aios3.testing import CONFLICTING_ENV

    env = aios3_server.env()
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in CONFLICTING_ENV:
        monkeypatch.delenv(name, raising=False)
    boto3 = sys.modules.get("boto3")
    if boto3 is not None:
        # boto3's default session caches the credentials it resolved first; a fresh one
        # reads the variables just set.
        monkeypatch.setattr(boto3, "DEFAULT_SESSION", None)
    return env


try:
    import pytest_asyncio
except ImportError:  # sync fixtures work without it
    pass
else:

    @pytest_asyncio.fixture
    async def aios3_aiobotocore_client(aios3_server: Server) -> AsyncIterator[Any]:
        """An aiobotocore S3 client of the session server, on the test's event loop
        (works in pytest-asyncio's strict and auto modes)."""
        async with aios3_server.aiobotocore_client() as client:
            yield client
