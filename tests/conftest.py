"""Fixtures: a real aios3 server on loopback and real clients pointed at it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from tests.support import RunningServer, run_server, test_config


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RunningServer]:
    """One server shared by the session; tests isolate themselves by bucket."""
    with run_server(test_config(tmp_path_factory.mktemp("aios3"))) as running:
        yield running


@pytest.fixture
def s3(server: RunningServer) -> Any:
    """A boto3 client with default settings."""
    return server.boto3_client()


@pytest.fixture
async def aio_s3(server: RunningServer) -> AsyncIterator[Any]:
    """An aiobotocore client with default settings."""
    session = get_session()
    async with session.create_client(
        "s3",
        endpoint_url=server.endpoint_url,
        region_name=server.config.region,
        aws_access_key_id=server.config.access_key,
        aws_secret_access_key=server.config.secret_key,
    ) as client:
        yield client


@pytest.fixture
def bucket(s3: Any) -> Iterator[str]:
    """A fresh, empty bucket, removed with its objects afterwards."""
    name = f"test-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    yield name
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return tmp_path / "data"
