"""Settings of one aios3 server, as a frozen dataclass shared by every layer."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

DEFAULT_ACCESS_KEY = "aios3"
DEFAULT_SECRET_KEY = "aios3-secret-key"


@dataclass(frozen=True)
class Config:
    """What the server needs to know; built by the CLI or by an embedding test."""

    root: Path = Path("aios3-data")
    host: str = "127.0.0.1"
    port: int = 8888
    bucket_depth: int = 2
    region: str = "us-east-1"
    access_key: str = DEFAULT_ACCESS_KEY
    secret_key: str = DEFAULT_SECRET_KEY
    fsync: bool = True
    log_level: str = "INFO"

    @property
    def credentials(self) -> dict[str, str]:
        """Access key -> secret key of every user the server accepts."""
        return {self.access_key: self.secret_key}
