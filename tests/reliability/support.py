"""A real `python -m aios3` process for reliability tests: started (optionally under a
wrapper such as strace), its banner read with a bounded wait, killed or stopped."""

from __future__ import annotations

import contextlib
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiobotocore.session import get_session
from botocore.config import Config as BotoConfig

ACCESS_KEY = "reliability-key"
SECRET_KEY = "reliability-secret"
REGION = "us-east-1"
BANNER_TIMEOUT = 30.0
EXIT_TIMEOUT = 30.0


@dataclass
class ServerProcess:
    """A running server and where it listens."""

    proc: subprocess.Popen[str]
    endpoint: str
    stderr_path: Path
    started_in: float  # seconds from spawning to the banner

    def kill(self) -> None:
        """SIGKILL: no shutdown code runs, exactly like a crash."""
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=EXIT_TIMEOUT)

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=EXIT_TIMEOUT)

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    @contextlib.asynccontextmanager
    async def client(self, *, pool: int = 10) -> AsyncIterator[Any]:
        """An aiobotocore client that never retries (every answer counts once)."""
        config = BotoConfig(
            max_pool_connections=pool,
            retries={"total_max_attempts": 1, "mode": "standard"},
            connect_timeout=10,
            read_timeout=60,
        )
        async with get_session().create_client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=REGION,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            config=config,
        ) as s3:
            yield s3


def server_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIOS3_")}
    env.pop("AWS_ENDPOINT_URL", None)
    return env


def start_server(
    root: Path,
    *,
    fsync: bool,
    wrapper: Sequence[str] = (),
    log: Path | None = None,
) -> ServerProcess:
    """Start `python -m aios3` on ``root`` and wait for its banner."""
    stderr_path = log or root.parent / f"{root.name}-server.log"
    command = [
        *wrapper,
        sys.executable,
        "-m",
        "aios3",
        "--root",
        str(root),
        "--port",
        "0",
        "--access-key",
        ACCESS_KEY,
        "--secret-key",
        SECRET_KEY,
        "--fsync" if fsync else "--no-fsync",
        "--log-level",
        "WARNING",
    ]
    started = time.monotonic()
    with stderr_path.open("a") as stderr:
        proc = subprocess.Popen(
            command,
            env=server_env(),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        endpoint = _endpoint_from_banner(proc)
    except BaseException:
        if proc.poll() is None:
            proc.kill()
        proc.wait(timeout=EXIT_TIMEOUT)
        raise AssertionError(f"server did not start:\n{stderr_path.read_text()}") from None
    return ServerProcess(proc, endpoint, stderr_path, time.monotonic() - started)


def _endpoint_from_banner(proc: subprocess.Popen[str]) -> str:
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        with stdout:  # closed by its reader once the server exits
            for line in stdout:
                lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + BANNER_TIMEOUT
    endpoint = None
    while True:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        if line is None:
            raise AssertionError("server exited before its banner")
        key, _, value = line.strip().partition(": ")
        if key == "endpoint":
            endpoint = value.strip()
        if line.startswith("Press Ctrl-C"):
            assert endpoint is not None
            return endpoint


@contextlib.contextmanager
def server(root: Path, *, fsync: bool, wrapper: Sequence[str] = ()) -> Iterator[ServerProcess]:
    """A server for the block, killed at its end if still running."""
    running = start_server(root, fsync=fsync, wrapper=wrapper)
    try:
        yield running
    finally:
        running.kill()


def files_in(directory: Path) -> list[str]:
    """Names in ``directory`` (none when it does not exist)."""
    return sorted(os.listdir(directory)) if directory.is_dir() else []
