"""A real aios3 server on a loopback port, run on its own thread and event loop, so
that blocking clients (boto3, the AWS CLI) and async ones can both talk to it.

With ``tls_cert``/``tls_key`` in its config the server speaks HTTPS, with the same TLS
context the CLI builds; :func:`make_certificates` makes a throwaway CA and server
certificate, and the server's clients trust that CA.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import Future
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
import trustme
from aiobotocore.session import get_session
from aiohttp import web
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from aios3.app import create_app
from aios3.config import Config
from aios3.tls import server_context

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"


@dataclass(frozen=True)
class RunningServer:
    """Where a test server listens and how to sign for it."""

    config: Config
    endpoint_url: str
    ca_file: Path | None = None
    """PEM of the CA that signed the server's certificate, when it speaks HTTPS."""

    @property
    def root(self) -> Path:
        return self.config.root

    @property
    def verify(self) -> str | None:
        """What an SDK client's ``verify`` should be: the test CA when there is one."""
        return None if self.ca_file is None else str(self.ca_file)

    def _keys(self, user: tuple[str, str] | None) -> tuple[str, str]:
        return (self.config.access_key, self.config.secret_key) if user is None else user

    def boto3_client(self, *, user: tuple[str, str] | None = None, **config: Any) -> Any:
        """A boto3 client signing as ``user`` (access key, secret key), by default the
        config's default user; ``config`` goes to botocore's Config."""
        access_key, secret_key = self._keys(user)
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.config.region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            verify=self.verify,
            config=BotoConfig(**config),
        )

    @asynccontextmanager
    async def aio_client(
        self, *, user: tuple[str, str] | None = None, **config: Any
    ) -> AsyncIterator[Any]:
        """An aiobotocore client, as :meth:`boto3_client` makes a boto3 one."""
        access_key, secret_key = self._keys(user)
        async with get_session().create_client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.config.region,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            verify=self.verify,
            config=BotoConfig(**config),
        ) as client:
            yield client


@dataclass(frozen=True)
class Certificates:
    """PEM files of a throwaway CA and a server certificate it signed for loopback."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(directory: Path) -> Certificates:
    """A fresh trustme CA and a certificate for 127.0.0.1, ::1 and localhost, in
    ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    authority = trustme.CA()
    issued = authority.issue_cert("127.0.0.1", "::1", "localhost")
    files = Certificates(
        ca=directory / "ca.pem", cert=directory / "server.pem", key=directory / "server.key"
    )
    authority.cert_pem.write_to_path(str(files.ca))
    issued.private_key_pem.write_to_path(str(files.key))
    # The server's chain: its own certificate first, then any intermediates.
    with files.cert.open("wb") as chain:
        for blob in issued.cert_chain_pems:
            chain.write(blob.bytes())
    return files


def test_config(root: Path, **overrides: Any) -> Config:
    """Settings for a test server on a free port; HTTPS with ``tls_cert``/``tls_key``
    overrides (the files of :func:`make_certificates`)."""
    base = Config(root=root, port=0, access_key=ACCESS_KEY, secret_key=SECRET_KEY, fsync=False)
    return replace(base, **overrides)


@contextmanager
def run_server(config: Config, *, ca_file: Path | None = None) -> Iterator[RunningServer]:
    """Serve ``config`` on a background thread until the block ends.

    ``ca_file`` is the CA the server's clients should trust (see :func:`make_certificates`).
    """
    ssl_context = None
    if config.tls_cert is not None and config.tls_key is not None:
        ssl_context = server_context(config.tls_cert, config.tls_key)
    loop = asyncio.new_event_loop()
    started: Future[int] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        runner = web.AppRunner(create_app(config))
        try:
            await runner.setup()
            site = web.TCPSite(
                runner, config.host, config.port, backlog=1024, ssl_context=ssl_context
            )
            await site.start()
        except BaseException as exc:
            started.set_exception(exc)
            await runner.cleanup()
            return
        server = site._server
        assert isinstance(server, asyncio.Server)
        started.set_result(server.sockets[0].getsockname()[1])
        await stop.wait()
        await runner.cleanup()

    thread = threading.Thread(target=loop.run_until_complete, args=(serve(),), daemon=True)
    thread.start()
    try:
        port = started.result(timeout=30)
        scheme = "https" if config.tls else "http"
        yield RunningServer(config, f"{scheme}://{config.host}:{port}", ca_file)
    finally:
        loop.call_soon_threadsafe(stop.set)
        thread.join(timeout=30)
        loop.close()


test_config.__test__ = False  # type: ignore[attr-defined]  # a helper, not a test


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[int, str]:
    """HTTP status and S3 error code of a boto3 ``ClientError``."""
    response: Any = caught.value.response
    return response["ResponseMetadata"]["HTTPStatusCode"], response["Error"]["Code"]


def read(s3: Any, bucket: str, key: str) -> bytes:
    """The whole body of an object, through a boto3 client."""
    body: bytes = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    return body


@contextmanager
def temporary_bucket(s3: Any, prefix: str = "test") -> Iterator[str]:
    """A fresh, empty bucket for the block, removed with its objects afterwards."""
    name = f"{prefix}-{uuid.uuid4().hex[:20]}"
    s3.create_bucket(Bucket=name)
    yield name
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=name):
        keys = [{"Key": item["Key"]} for item in page.get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=name, Delete={"Objects": keys})
    s3.delete_bucket(Bucket=name)
