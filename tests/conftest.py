"""Fixtures: a real aios3 server on loopback and real clients pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from tests.support import (
    Certificates,
    RunningServer,
    make_certificates,
    run_server,
    temporary_bucket,
    test_config,
)


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
    with temporary_bucket(s3) as name:
        yield name


@pytest.fixture
def data_root(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """A throwaway CA and a loopback server certificate, shared by the session."""
    return make_certificates(tmp_path_factory.mktemp("tls"))


@pytest.fixture(scope="session")
def tls_server(
    tmp_path_factory: pytest.TempPathFactory, certificates: Certificates
) -> Iterator[RunningServer]:
    """A second shared server that speaks HTTPS; its clients trust the test CA."""
    config = test_config(
        tmp_path_factory.mktemp("aios3-tls"), tls_cert=certificates.cert, tls_key=certificates.key
    )
    with run_server(config, ca_file=certificates.ca) as running:
        yield running


@pytest.fixture
def tls_s3(tls_server: RunningServer) -> Any:
    """A boto3 client of the HTTPS server, with default settings."""
    return tls_server.boto3_client()
