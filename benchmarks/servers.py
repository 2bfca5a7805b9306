"""Start and stop the servers under test, each on loopback and pinned to CPU 0.

Every server is a child process on a port picked here, in a fresh temporary data
directory; `start` waits until it answers HTTP. A server that cannot run on this machine
(moto not installed, no npm for s3rver) is reported with the reason instead.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SERVER_CPU = 0
LOAD_CPU = 1
BENCH_DIR = Path(__file__).resolve().parent
S3RVER_VERSION = "3.7.1"
S3RVER_PREFIX = Path.home() / ".cache" / "aios3-bench" / f"s3rver-{S3RVER_VERSION}"
AIOS3_KEYS = ("bench", "bench-secret")


# Read once at import, before this process pins itself to the load CPU.
_CPUS = frozenset(os.sched_getaffinity(0))


def pinning_possible() -> bool:
    """True when the server CPU and the load CPU both exist for this process."""
    return {SERVER_CPU, LOAD_CPU} <= _CPUS


def pin_to(cpu: int) -> Callable[[], None]:
    """A preexec_fn (or a plain call) pinning a process to one CPU; a no-op without two."""

    def pin() -> None:
        if pinning_possible():
            os.sched_setaffinity(0, {cpu})

    return pin


def free_port() -> int:
    """A loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Spec:
    """How to run one server: its command, keys and whether it checks signatures."""

    name: str
    command: Callable[[Path, int], list[str]]
    access_key: str
    secret_key: str
    verifies_signatures: bool
    note: str


@dataclass
class Running:
    """A started server."""

    spec: Spec
    endpoint: str
    process: subprocess.Popen[bytes]
    root: Path
    _tmp: tempfile.TemporaryDirectory[str] = field(repr=False)

    @property
    def name(self) -> str:
        """The server's name in the tables."""
        return self.spec.name

    @property
    def pid(self) -> int:
        """The process whose memory is measured."""
        return self.process.pid

    def stop(self) -> None:
        """Terminate the server and remove its data."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self._tmp.cleanup()


def _aios3(fsync: bool) -> Callable[[Path, int], list[str]]:
    def command(root: Path, port: int) -> list[str]:
        access, secret = AIOS3_KEYS
        return [
            sys.executable, "-m", "aios3", "--root", str(root), "--port", str(port),
            "--access-key", access, "--secret-key", secret, "--log-level", "WARNING",
            "--fsync" if fsync else "--no-fsync",
        ]  # fmt: skip

    return command


def _moto(root: Path, port: int) -> list[str]:
    return [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)]


def _s3rver_script() -> Path:
    return S3RVER_PREFIX / "node_modules" / "s3rver" / "bin" / "s3rver.js"


def _s3rver(root: Path, port: int) -> list[str]:
    node = shutil.which("node") or "node"
    script = str(_s3rver_script())
    return [node, script, "-d", str(root), "-a", "127.0.0.1", "-p", str(port), "--silent"]


def _ceiling(root: Path, port: int) -> list[str]:
    return [sys.executable, str(BENCH_DIR / "ceiling.py"), "--port", str(port)]


def _ceiling_view(root: Path, port: int) -> list[str]:
    return [*_ceiling(root, port), "--view"]


def _ceiling_sigv4(root: Path, port: int) -> list[str]:
    return [*_ceiling(root, port), "--sigv4"]


def _moto_missing() -> str | None:
    if importlib.util.find_spec("moto") is None or importlib.util.find_spec("flask") is None:
        return "moto[server] is not installed: pip install -e '.[bench]'"
    return None


def _s3rver_missing() -> str | None:
    """None once s3rver is installed in the cache, else why it cannot be."""
    if _s3rver_script().exists():
        return None
    npm = shutil.which("npm")
    if npm is None or shutil.which("node") is None:
        return "Node.js/npm not found"
    print(f"installing s3rver {S3RVER_VERSION} with npm into {S3RVER_PREFIX} ...", flush=True)
    command = [npm, "install", "--silent", "--prefix", str(S3RVER_PREFIX)]
    try:
        subprocess.run(
            [*command, f"s3rver@{S3RVER_VERSION}"], check=True, timeout=300, capture_output=True
        )
    except (subprocess.SubprocessError, OSError) as exc:
        return f"npm could not install s3rver: {exc}"
    return None if _s3rver_script().exists() else "npm installed no s3rver script"


SPECS: dict[str, tuple[Spec, Callable[[], str | None]]] = {
    "aios3": (
        Spec("aios3", _aios3(False), *AIOS3_KEYS, True, "python -m aios3 --no-fsync"),
        lambda: None,
    ),
    "moto": (
        Spec("moto", _moto, "bench", "bench", False, "python -m moto.server"),
        _moto_missing,
    ),
    "s3rver": (
        Spec("s3rver", _s3rver, "S3RVER", "S3RVER", True, f"s3rver {S3RVER_VERSION} (Node.js)"),
        _s3rver_missing,
    ),
    "ceiling": (
        Spec("ceiling", _ceiling, "bench", "bench", False, "benchmarks/ceiling.py (aiohttp)"),
        lambda: None,
    ),
    "ceiling-view": (
        Spec(
            "ceiling-view",
            _ceiling_view,
            "bench",
            "bench",
            False,
            "benchmarks/ceiling.py --view (aiohttp web.View)",
        ),
        lambda: None,
    ),
    "ceiling-sigv4": (
        Spec(
            "ceiling-sigv4",
            _ceiling_sigv4,
            "bench",
            "bench",
            True,
            "benchmarks/ceiling.py --sigv4 (web.View + aios3's SigV4 check)",
        ),
        lambda: None,
    ),
}
FSYNC_SPEC = Spec("aios3+fsync", _aios3(True), *AIOS3_KEYS, True, "python -m aios3 --fsync")


def resolve(names: list[str]) -> tuple[list[Spec], dict[str, str]]:
    """The runnable specs among names, and the reason for each one skipped."""
    specs: list[Spec] = []
    skipped: dict[str, str] = {}
    for name in names:
        spec, missing = SPECS[name]
        reason = missing()
        if reason is None:
            specs.append(spec)
        else:
            skipped[name] = reason
    return specs, skipped


def _wait_ready(endpoint: str, process: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with status {process.returncode}")
        try:
            with urllib.request.urlopen(endpoint + "/", timeout=2):
                return
        except urllib.error.HTTPError:
            return  # any HTTP answer (403 to an unsigned request) means it is up
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"no answer from {endpoint} within {timeout:.0f} s")


def start(spec: Spec, timeout: float = 60.0) -> Running:
    """Start spec's server pinned to the server CPU; return once it answers."""
    tmp = tempfile.TemporaryDirectory(prefix=f"aios3-bench-{spec.name}-")
    root = Path(tmp.name) / "data"
    root.mkdir()
    port = free_port()
    process = subprocess.Popen(
        spec.command(root, port),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=pin_to(SERVER_CPU),
        cwd=tmp.name,
    )
    endpoint = f"http://127.0.0.1:{port}"
    try:
        _wait_ready(endpoint, process, timeout)
    except BaseException:
        process.kill()
        process.wait()
        tmp.cleanup()
        raise
    return Running(spec, endpoint, process, root, tmp)


def cpu_seconds(pid: int) -> float:
    """CPU time (user + system, all threads) the process has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def settle(servers: list[Running], limit: float = 60.0, window: float = 0.3) -> float:
    """Wait until no server uses more than 5% of a CPU; seconds waited.

    A slow server keeps working through the requests queued when the load generator
    stopped, on the CPU the next server is measured on; this waits that out.
    """
    started = time.monotonic()
    while time.monotonic() - started < limit:
        before = [cpu_seconds(s.pid) for s in servers if s.process.poll() is None]
        time.sleep(window)
        after = [cpu_seconds(s.pid) for s in servers if s.process.poll() is None]
        if len(before) != len(after) or all(
            b - a < 0.05 * window for a, b in zip(before, after, strict=True)
        ):
            break
    return time.monotonic() - started
