"""A real aios3 server on a loopback port, run on its own thread and event loop, so
that blocking clients (boto3, the AWS CLI) and async ones can both talk to it."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiohttp import web
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError

from aios3.app import create_app
from aios3.config import Config

ACCESS_KEY = "test-access-key"
SECRET_KEY = "test-secret-key"


@dataclass(frozen=True)
class RunningServer:
    """Where a test server listens and how to sign for it."""

    config: Config
    endpoint_url: str

    @property
    def root(self) -> Path:
        return self.config.root

    def boto3_client(self, **config: Any) -> Any:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint_url,
            region_name=self.config.region,
            aws_access_key_id=self.config.access_key,
            aws_secret_access_key=self.config.secret_key,
            config=BotoConfig(**config),
        )


def test_config(root: Path, **overrides: Any) -> Config:
    base = Config(root=root, port=0, access_key=ACCESS_KEY, secret_key=SECRET_KEY, fsync=False)
    return replace(base, **overrides)


@contextmanager
def run_server(config: Config) -> Iterator[RunningServer]:
    """Serve ``config`` on a background thread until the block ends."""
    loop = asyncio.new_event_loop()
    started: Future[int] = Future()
    stop = asyncio.Event()

    async def serve() -> None:
        runner = web.AppRunner(create_app(config))
        try:
            await runner.setup()
            site = web.TCPSite(runner, config.host, config.port, backlog=1024)
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
        yield RunningServer(config, f"http://{config.host}:{port}")
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
