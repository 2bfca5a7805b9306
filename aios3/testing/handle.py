"""What a test reaches a running aios3 server with: its address and keys, configured SDK
clients, ``AWS_*`` variables, and the tools for testing clients (request journal, fault
injection). Shared by the in-loop and the threaded server of :mod:`aios3.testing.servers`.
"""

from __future__ import annotations

import threading
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from aiohttp import web

from aios3.config import Config
from aios3.faults import Faults
from aios3.journal import Journal, RequestRecord
from aios3.keys import FAULTS, JOURNAL

# Variables that, left over from the developer's shell, would change what an SDK client
# built from the environment does: add a session token to its signature, pick another
# profile, or ignore AWS_ENDPOINT_URL. ``env()`` users should remove them.
CONFLICTING_ENV = (
    "AWS_SESSION_TOKEN",
    "AWS_SECURITY_TOKEN",
    "AWS_PROFILE",
    "AWS_DEFAULT_PROFILE",
    "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS",
)


class Credentials(NamedTuple):
    """The default user's keys; unpacks as ``access_key, secret_key``."""

    access_key: str
    secret_key: str


@dataclass(frozen=True)
class Running:
    """What a started server knows about itself."""

    config: Config
    endpoint_url: str


# SDK sessions are shared: loading the S3 service model costs ~60 ms per session, and
# every client of one session reuses it (~3 ms a client). Credentials are always passed
# explicitly, so nothing a session resolves on its own leaks into our clients. boto3
# sessions are not thread-safe, hence the lock.
_sdk_lock = threading.Lock()
_sdk_sessions: dict[str, Any] = {}


def _sdk_session(kind: str) -> Any:
    with _sdk_lock:
        session = _sdk_sessions.get(kind)
        if session is None:
            if kind == "boto3":
                import boto3.session

                session = boto3.session.Session()
            else:
                from aiobotocore.session import get_session

                session = get_session()
            _sdk_sessions[kind] = session
        return session


class Handle:
    """The client-facing API shared by the in-loop and the threaded server."""

    _ca_bundle: Path | None

    def _running(self) -> Running:
        raise NotImplementedError

    @property
    def app(self) -> web.Application:
        """The running aiohttp application, for what the handle does not expose."""
        raise NotImplementedError

    # -- tools for testing clients ------------------------------------------------------
    # The journal and the faults guard themselves with locks, so both are used directly
    # from any thread; only reset, which touches storage, has to run on the server loop.

    def requests(
        self,
        *,
        op: str | None = None,
        bucket: str | None = None,
        key: str | None = None,
        status: int | None = None,
        error_code: str | None = None,
    ) -> list[RequestRecord]:
        """The S3 requests the server has answered, oldest first, filtered by every
        argument given (``op`` is the operation name, e.g. ``"PutObject"``).

        A request is recorded before its response is sent, so a client call that has
        returned is always in here.
        """
        return self.journal.query(
            op=op, bucket=bucket, key=key, status=status, error_code=error_code
        )

    @property
    def journal(self) -> Journal:
        """The request journal itself (``clear()`` it to start counting afresh)."""
        return self.app[JOURNAL]

    @property
    def faults(self) -> Faults:
        """Injected faults: ``s3.faults.add(op="PutObject", error="SlowDown", times=2)``,
        ``remove(id)``, ``clear()``, ``list()``."""
        return self.app[FAULTS]

    @property
    def config(self) -> Config:
        """The server's settings, with the port it actually listens on."""
        return self._running().config

    @property
    def endpoint_url(self) -> str:
        """``http://127.0.0.1:<port>`` (``https`` with ``tls_cert``/``tls_key``)."""
        return self._running().endpoint_url

    @property
    def region(self) -> str:
        return self.config.region

    @property
    def credentials(self) -> Credentials:
        """The default user's access key and secret key."""
        config = self.config
        return Credentials(config.access_key, config.secret_key)

    @property
    def root(self) -> Path:
        """The data directory (a temporary one unless ``root`` was given)."""
        return self.config.root

    @property
    def ca_bundle(self) -> Path | None:
        """The CA file clients are told to trust, when one was given."""
        return self._ca_bundle

    def client_kwargs(self, *, credentials: tuple[str, str] | None = None) -> dict[str, Any]:
        """Keyword arguments of ``boto3.client("s3", ...)`` and aiobotocore's
        ``create_client`` that reach this server, signing as ``credentials`` (by default
        the default user); for SDK wrappers that take the same arguments."""
        access_key, secret_key = credentials or self.credentials
        return {
            "endpoint_url": self.endpoint_url,
            "region_name": self.region,
            "aws_access_key_id": access_key,
            "aws_secret_access_key": secret_key,
            "verify": None if self._ca_bundle is None else str(self._ca_bundle),
        }

    def boto3_client(
        self, *, credentials: tuple[str, str] | None = None, **botocore_config: Any
    ) -> Any:
        """A boto3 S3 client of this server; ``botocore_config`` goes to
        ``botocore.config.Config`` (``retries=...``, ``s3={"addressing_style": ...}``)."""
        from botocore.config import Config as BotoConfig

        session = _sdk_session("boto3")
        with _sdk_lock:
            return session.client(
                "s3",
                config=BotoConfig(**botocore_config),
                **self.client_kwargs(credentials=credentials),
            )

    def aiobotocore_client(
        self, *, credentials: tuple[str, str] | None = None, **botocore_config: Any
    ) -> AbstractAsyncContextManager[Any]:
        """``async with s3.aiobotocore_client() as client``: an aiobotocore S3 client,
        configured as :meth:`boto3_client` configures a boto3 one."""
        from botocore.config import Config as BotoConfig

        creator: AbstractAsyncContextManager[Any] = _sdk_session("aiobotocore").create_client(
            "s3",
            config=BotoConfig(**botocore_config),
            **self.client_kwargs(credentials=credentials),
        )
        return creator

    def env(self) -> dict[str, str]:
        """``AWS_*`` variables that point SDK clients built without arguments (boto3,
        aiobotocore, the AWS CLI) at this server; remove :data:`CONFLICTING_ENV` too.

        ``AWS_EC2_METADATA_DISABLED`` keeps a client from probing the instance metadata
        service, which stalls for seconds off EC2.
        """
        access_key, secret_key = self.credentials
        env = {
            "AWS_ENDPOINT_URL": self.endpoint_url,
            # The S3-specific variable wins over the general one; set it so a value left
            # in the developer's shell does not.
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "AWS_ACCESS_KEY_ID": access_key,
            "AWS_SECRET_ACCESS_KEY": secret_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_REGION": self.region,
            "AWS_EC2_METADATA_DISABLED": "true",
        }
        if self._ca_bundle is not None:
            env["AWS_CA_BUNDLE"] = str(self._ca_bundle)
        return env
