"""Settings of one aios3 server, as a frozen dataclass shared by every layer."""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from types import MappingProxyType
from typing import Any

DEFAULT_ACCESS_KEY = "aios3"
DEFAULT_SECRET_KEY = "aios3-secret-key"


@dataclass(frozen=True)
class Config:
    """What the server needs to know; built by the CLI or by an embedding test.

    ``access_key``/``secret_key`` is the default user: always accepted, named in the
    banner, and the user unsigned requests act as under ``no_auth``. ``users`` are the
    other users, as ``(access_key, secret_key)`` pairs; a tuple rather than a dict so
    the settings stay immutable and hashable.

    ``admin_access_key`` names the user allowed to call the ``/_aios3/...`` admin
    endpoints (reset, journal, faults); None means the default user. ``faults`` are
    ``Faults.add`` keyword arguments applied at start-up. ``clock`` (seconds since the
    epoch; None: the system clock) and ``seed`` (None: unpredictable) make a server
    deterministic: timestamps, signature time checks, request ids and fault draws.

    ``header_timeout`` is how long a connection may take to deliver a whole request
    head, counted from when it opens or its previous response ends (so it is also how
    long an idle keep-alive connection stays open); then it is closed. ``body_timeout``
    is how long a request body may stall (no byte arriving) before the request fails
    with RequestTimeout. Both in seconds.
    """

    root: Path = Path("aios3-data")
    host: str = "127.0.0.1"
    port: int = 8888
    bucket_depth: int = 2
    region: str = "us-east-1"
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    users: tuple[tuple[str, str], ...] = ()
    no_auth: bool = False
    tls_cert: Path | None = None
    tls_key: Path | None = None
    fsync: bool = True
    log_level: str = "INFO"
    admin_access_key: str | None = None
    faults: tuple[Mapping[str, Any], ...] = ()
    clock: Callable[[], float] | None = None
    seed: int | None = None
    header_timeout: float = 30.0
    body_timeout: float = 60.0

    def __post_init__(self) -> None:
        # Mistakes an embedding caller can make; the CLI reports the same ones as usage
        # errors before it gets here.
        seen = {self.access_key}
        for access_key, _ in self.users:
            if access_key in seen:
                raise ValueError(f"access key {access_key!r} is given more than once")
            seen.add(access_key)
        if (self.tls_cert is None) != (self.tls_key is None):
            raise ValueError("tls_cert and tls_key go together: give both or neither")
        if not (self.header_timeout > 0 and self.body_timeout > 0):
            raise ValueError("header_timeout and body_timeout must be positive")
        if self.admin_access_key is not None and self.admin_access_key not in seen:
            raise ValueError(f"admin access key {self.admin_access_key!r} is not a user")

    @cached_property
    def credentials(self) -> Mapping[str, str]:
        """Access key -> secret key of every user the server accepts.

        Cached because every request reads it; read-only because it is shared.
        """
        return MappingProxyType({self.access_key: self.secret_key, **dict(self.users)})

    def now(self) -> float:
        """Seconds since the epoch by the server's clock (the injected one, if any)."""
        return self.clock() if self.clock is not None else time.time()

    @property
    def admin(self) -> str:
        """Access key of the user who may call the admin endpoints."""
        return self.access_key if self.admin_access_key is None else self.admin_access_key

    @property
    def tls(self) -> bool:
        """Whether the server speaks HTTPS."""
        return self.tls_cert is not None
