"""The command line: option/environment parsing in-process, and the real server as a process.

Process tests start `python -m aios3` exactly as a user would, read the banner from its
stdout pipe, talk to it with boto3 or a raw socket, and stop it with signals. Every wait
is bounded and every process is killed in a `finally`.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from aios3 import __version__
from aios3.cli import SHUTDOWN_TIMEOUT, endpoint_url, format_banner, parse_config
from aios3.config import DEFAULT_ACCESS_KEY, DEFAULT_SECRET_KEY, Config

BANNER_TIMEOUT = 30.0
EXIT_TIMEOUT = 10.0


# --- parsing, in-process ------------------------------------------------------------------


def test_parse_config_defaults() -> None:
    config = parse_config([], env={})
    assert config == Config(root=Path("aios3-data"))
    assert config.host == "127.0.0.1"
    assert config.port == 8888
    assert config.bucket_depth == 2
    assert config.region == "us-east-1"
    assert config.access_key == DEFAULT_ACCESS_KEY
    assert config.secret_key == DEFAULT_SECRET_KEY
    assert config.fsync is True
    assert config.log_level == "INFO"


def test_parse_config_options() -> None:
    argv = [
        "--root=/srv/s3",
        "--host=0.0.0.0",
        "--port=0",
        "--bucket-depth=0",
        "--region=eu-west-1",
        "--access-key=ak",
        "--secret-key=sk",
        "--no-fsync",
        "--log-level=debug",
    ]
    assert parse_config(argv, env={}) == Config(
        root=Path("/srv/s3"),
        host="0.0.0.0",
        port=0,
        bucket_depth=0,
        region="eu-west-1",
        access_key="ak",
        secret_key="sk",
        fsync=False,
        log_level="DEBUG",
    )


def test_parse_config_environment() -> None:
    env = {
        "AIOS3_ROOT": "/srv/env",
        "AIOS3_HOST": "::1",
        "AIOS3_PORT": "9000",
        "AIOS3_BUCKET_DEPTH": "4",
        "AIOS3_REGION": "ap-south-1",
        "AIOS3_ACCESS_KEY": "envak",
        "AIOS3_SECRET_KEY": "envsk",
        "AIOS3_FSYNC": "off",
        "AIOS3_LOG_LEVEL": "warning",
    }
    assert parse_config([], env=env) == Config(
        root=Path("/srv/env"),
        host="::1",
        port=9000,
        bucket_depth=4,
        region="ap-south-1",
        access_key="envak",
        secret_key="envsk",
        fsync=False,
        log_level="WARNING",
    )


def test_parse_config_command_line_overrides_environment() -> None:
    env = {"AIOS3_PORT": "9000", "AIOS3_REGION": "ap-south-1", "AIOS3_FSYNC": "no"}
    config = parse_config(["--port", "9001", "--region", "eu-west-1", "--fsync"], env=env)
    assert (config.port, config.region, config.fsync) == (9001, "eu-west-1", True)


def test_parse_config_empty_environment_value_is_ignored() -> None:
    assert parse_config([], env={"AIOS3_PORT": ""}).port == 8888


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("1", True),
        ("true", True),
        ("YES", True),
        ("on", True),
        ("0", False),
        ("False", False),
        ("no", False),
        ("off", False),
    ],
)
def test_parse_config_fsync_environment_words(word: str, expected: bool) -> None:
    assert parse_config([], env={"AIOS3_FSYNC": word}).fsync is expected


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--bucket-depth", "9"], "--bucket-depth"),
        (["--bucket-depth", "x"], "--bucket-depth"),
        (["--port", "65536"], "--port"),
        (["--port", "-1"], "--port"),
        (["--port", "http"], "--port"),
        (["--log-level", "TRACE"], "--log-level"),
        (["--region", ""], "--region"),
        (["--unknown"], "unrecognized arguments"),
    ],
)
def test_parse_config_invalid_option_exits_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        parse_config(argv, env={})
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("AIOS3_BUCKET_DEPTH", "5"),
        ("AIOS3_PORT", "eighty"),
        ("AIOS3_FSYNC", "maybe"),
        ("AIOS3_LOG_LEVEL", "LOUD"),
    ],
)
def test_parse_config_invalid_environment_exits_2(
    name: str, value: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        parse_config([], env={name: value})
    assert excinfo.value.code == 2
    assert name in capsys.readouterr().err


def test_parse_config_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as excinfo:
        parse_config(["--version"], env={})
    assert excinfo.value.code == 0
    assert capsys.readouterr().out.strip() == f"aios3 {__version__}"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://127.0.0.1:8888"),
        ("0.0.0.0", "http://127.0.0.1:8888"),
        ("::", "http://[::1]:8888"),
        ("::1", "http://[::1]:8888"),
        ("localhost", "http://localhost:8888"),
    ],
)
def test_endpoint_url(host: str, url: str) -> None:
    assert endpoint_url(host, 8888) == url


def test_format_banner_has_a_ready_to_paste_command() -> None:
    banner = format_banner(Config(access_key="ak", secret_key="s k"), 1234)
    assert "  endpoint:   http://127.0.0.1:1234" in banner
    assert (
        "AWS_ACCESS_KEY_ID=ak AWS_SECRET_ACCESS_KEY='s k' AWS_DEFAULT_REGION=us-east-1 "
        "aws --endpoint-url http://127.0.0.1:1234 s3 ls"
    ) in banner


def test_shutdown_timeout_is_generous() -> None:
    assert SHUTDOWN_TIMEOUT >= 10


# --- users, --no-auth, TLS ------------------------------------------------------------------


def test_parse_config_users_replace_the_built_in_pair() -> None:
    config = parse_config(["--user", "a:sa", "--user", "b:sb"], env={})
    assert (config.access_key, config.secret_key) == ("a", "sa")
    assert config.users == (("b", "sb"),)
    assert dict(config.credentials) == {"a": "sa", "b": "sb"}


def test_parse_config_explicit_access_key_stays_the_default_user() -> None:
    config = parse_config(["--access-key", "ak", "--user", "b:sb"], env={})
    assert (config.access_key, config.secret_key) == ("ak", DEFAULT_SECRET_KEY)
    assert dict(config.credentials) == {"ak": DEFAULT_SECRET_KEY, "b": "sb"}


def test_parse_config_without_users_has_only_the_built_in_pair() -> None:
    assert dict(parse_config([], env={}).credentials) == {DEFAULT_ACCESS_KEY: DEFAULT_SECRET_KEY}


def test_parse_config_users_from_environment() -> None:
    config = parse_config([], env={"AIOS3_USERS": "a:sa, b:s:b ,"})
    assert (config.access_key, config.users) == ("a", (("b", "s:b"),))


def test_parse_config_user_option_replaces_environment_users() -> None:
    config = parse_config(["--user", "c:sc"], env={"AIOS3_USERS": "a:sa,b:sb"})
    assert dict(config.credentials) == {"c": "sc"}


def test_parse_config_users_file(tmp_path: Path) -> None:
    users = tmp_path / "users"
    users.write_text("# who may sign\n\n  alice : alice-secret  \nbob:s3cr:et\n")
    config = parse_config(["--user", "cli:cs", "--users-file", str(users)], env={})
    assert (config.access_key, config.secret_key) == ("cli", "cs")
    assert config.users == (("alice", "alice-secret"), ("bob", "s3cr:et"))
    from_env = parse_config([], env={"AIOS3_USERS_FILE": str(users)})
    assert (from_env.access_key, from_env.users) == ("alice", (("bob", "s3cr:et"),))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("alice\n", "line 1: expected ACCESS_KEY:SECRET_KEY"),
        ("# c\nalice:a\n:secret\n", "line 3: access key must be non-empty"),
        ("al ice:secret\n", "line 1: access key must be non-empty, without spaces"),
        ("a/b:secret\n", "line 1: access key must be non-empty, without spaces"),
        ("alice:\n", "line 1: secret key of 'alice' is empty"),
        ("# nobody\n\n", "defines no users"),
        ("alice:a\nalice:b\n", "access key 'alice' is given more than once"),
    ],
)
def test_parse_config_bad_users_file_exits_2(
    tmp_path: Path, content: str, message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    users = tmp_path / "users"
    users.write_text(content)
    with pytest.raises(SystemExit) as excinfo:
        parse_config(["--users-file", str(users)], env={})
    assert excinfo.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert str(users) in err or "given more than once" in message


def test_parse_config_missing_users_file_exits_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        parse_config(["--users-file", str(tmp_path / "nope")], env={})
    assert excinfo.value.code == 2
    assert f"cannot read users file {tmp_path / 'nope'}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "env", "message"),
    [
        (["--user", "nocolon"], {}, "--user: expected ACCESS_KEY:SECRET_KEY"),
        (["--user", "a:"], {}, "--user: secret key of 'a' is empty"),
        (["--user", "a:x", "--user", "a:y"], {}, "access key 'a' is given more than once"),
        (["--access-key", "a", "--user", "a:y"], {}, "access key 'a' is given more than once"),
        ([], {"AIOS3_USERS": "a:x,broken"}, "AIOS3_USERS"),
        ([], {"AIOS3_NO_AUTH": "perhaps"}, "AIOS3_NO_AUTH"),
        (["--tls-cert", "c.pem"], {}, "--tls-cert and --tls-key go together"),
        ([], {"AIOS3_TLS_KEY": "k.pem"}, "--tls-cert and --tls-key go together"),
    ],
)
def test_parse_config_bad_users_or_tls_exits_2(
    argv: list[str], env: dict[str, str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as excinfo:
        parse_config(argv, env=env)
    assert excinfo.value.code == 2
    assert message in capsys.readouterr().err


def test_parse_config_no_auth_and_tls() -> None:
    assert parse_config([], env={}).no_auth is False
    assert parse_config(["--no-auth"], env={}).no_auth is True
    assert parse_config([], env={"AIOS3_NO_AUTH": "1"}).no_auth is True
    config = parse_config([], env={"AIOS3_TLS_CERT": "c.pem", "AIOS3_TLS_KEY": "k.pem"})
    assert (config.tls_cert, config.tls_key, config.tls) == (Path("c.pem"), Path("k.pem"), True)
    assert parse_config([], env={}).tls is False


def test_config_rejects_repeated_access_key_and_half_tls() -> None:
    with pytest.raises(ValueError, match="more than once"):
        Config(access_key="a", users=(("a", "x"),))
    with pytest.raises(ValueError, match="go together"):
        Config(tls_cert=Path("c.pem"))


def test_endpoint_url_tls() -> None:
    assert endpoint_url("0.0.0.0", 8443, tls=True) == "https://127.0.0.1:8443"


def test_format_banner_tls_users_and_no_auth() -> None:
    config = Config(
        access_key="ak",
        users=(("b", "secret-of-b"), ("c", "secret-of-c")),
        no_auth=True,
        tls_cert=Path("c.pem"),
        tls_key=Path("k.pem"),
    )
    banner = format_banner(config, 8443)
    assert "  endpoint:   https://127.0.0.1:8443" in banner
    assert "aws --endpoint-url https://127.0.0.1:8443 s3 ls" in banner
    assert "  more users: b, c" in banner
    assert "secret-of-b" not in banner
    assert "  no auth:    unsigned requests act as ak" in banner


# --- the real server as a subprocess -----------------------------------------------------


@dataclass
class Server:
    """A running `python -m aios3` and what its banner said."""

    proc: subprocess.Popen[str]
    banner: dict[str, str]
    stderr_path: Path
    lines: list[str] = field(default_factory=list)

    @property
    def endpoint(self) -> str:
        return self.banner["endpoint"]

    @property
    def port(self) -> int:
        match = re.fullmatch(r"http://[^/]+:(\d+)", self.endpoint)
        assert match, self.endpoint
        return int(match.group(1))

    def client(self) -> Any:
        """A boto3 S3 client with the credentials the banner printed."""
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name=self.banner["region"],
            aws_access_key_id=self.banner["access key"],
            aws_secret_access_key=self.banner["secret key"],
            config=botocore.config.Config(
                connect_timeout=5, read_timeout=10, retries={"max_attempts": 1}
            ),
        )

    def stop(self, signum: int = signal.SIGTERM) -> int:
        """Send signum and wait for the exit status."""
        self.proc.send_signal(signum)
        return self.proc.wait(timeout=EXIT_TIMEOUT)

    def stderr(self) -> str:
        return self.stderr_path.read_text()


def _server_env(extra: Mapping[str, str]) -> dict[str, str]:
    """The test's environment minus anything that would change what we test."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("AIOS3_") and k not in ("PYTHONUNBUFFERED", "AWS_ENDPOINT_URL")
    }
    env.update(extra)
    return env


def _read_banner(proc: subprocess.Popen[str], timeout: float) -> list[str]:
    """Banner lines from stdout; a reader thread keeps the wait bounded."""
    assert proc.stdout is not None
    stdout = proc.stdout
    lines: queue.Queue[str | None] = queue.Queue()

    def pump() -> None:
        for line in stdout:
            lines.put(line.rstrip("\n"))
        lines.put(None)

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.monotonic() + timeout
    seen: list[str] = []
    while True:
        try:
            line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
        except queue.Empty:
            raise AssertionError(f"no banner within {timeout} s: {seen}") from None
        if line is None:
            raise AssertionError(f"server exited before its banner: {seen}")
        seen.append(line)
        if line.startswith("Press Ctrl-C"):
            return seen


@contextlib.contextmanager
def running_server(
    tmp_path: Path, *args: str, env: Mapping[str, str] | None = None, name: str = "server"
) -> Iterator[Server]:
    """Start `python -m aios3 *args` in tmp_path, yield it once its banner is out."""
    stderr_path = tmp_path / f"{name}.stderr"
    with stderr_path.open("w") as stderr:
        proc = subprocess.Popen(
            [sys.executable, "-m", "aios3", *args],
            cwd=tmp_path,
            env=_server_env(env or {}),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=stderr,
            text=True,
        )
    try:
        try:
            lines = _read_banner(proc, BANNER_TIMEOUT)
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nstderr:\n{stderr_path.read_text()}") from None
        banner = {}
        for line in lines:
            key, sep, value = line.strip().partition(": ")
            if sep:
                banner[key] = value.strip()
        yield Server(proc, banner, stderr_path, lines)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=EXIT_TIMEOUT)
        if proc.stdout is not None:
            proc.stdout.close()


def _run_aios3(
    tmp_path: Path, *args: str, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run `python -m aios3` expecting it to exit on its own."""
    return subprocess.run(
        [sys.executable, "-m", "aios3", *args],
        cwd=tmp_path,
        env=_server_env(env or {}),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=BANNER_TIMEOUT,
        check=False,
    )


def test_server_serves_and_exits_0_on_sigterm(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with running_server(tmp_path, "--root", str(root), "--port", "0") as server:
        assert server.lines[0] == f"aios3 {__version__} serving {root}"
        assert server.banner["region"] == "us-east-1"
        assert server.banner["access key"] == DEFAULT_ACCESS_KEY
        assert server.banner["secret key"] == DEFAULT_SECRET_KEY
        assert server.port != 0
        assert f"aws --endpoint-url {server.endpoint} s3 ls" in server.banner["try"]
        assert server.client().list_buckets()["Buckets"] == []
        assert server.stop(signal.SIGTERM) == 0
    assert "Traceback" not in server.stderr()


def test_server_exits_0_on_sigint(tmp_path: Path) -> None:
    with running_server(tmp_path, "--root", str(tmp_path / "data"), "--port", "0") as server:
        server.client().create_bucket(Bucket="sigint-bucket")
        assert server.stop(signal.SIGINT) == 0
    assert "Traceback" not in server.stderr()


def test_server_default_root_is_aios3_data_in_working_directory(tmp_path: Path) -> None:
    with running_server(tmp_path, "--port", "0") as server:
        assert server.lines[0].endswith(f"serving {tmp_path / 'aios3-data'}")
        assert (tmp_path / "aios3-data").is_dir()
        assert server.stop() == 0


def test_server_honours_environment(tmp_path: Path) -> None:
    root = tmp_path / "envroot"
    env = {
        "AIOS3_ROOT": str(root),
        "AIOS3_PORT": "0",
        "AIOS3_REGION": "eu-west-1",
        "AIOS3_ACCESS_KEY": "envkey",
        "AIOS3_SECRET_KEY": "envsecret",
    }
    with running_server(tmp_path, env=env) as server:
        assert server.banner["region"] == "eu-west-1"
        assert server.banner["access key"] == "envkey"
        assert server.banner["secret key"] == "envsecret"
        assert server.lines[0].endswith(f"serving {root}")
        assert server.client().list_buckets()["Buckets"] == []
        assert server.stop() == 0


def test_server_command_line_overrides_environment(tmp_path: Path) -> None:
    env = {"AIOS3_PORT": "1", "AIOS3_REGION": "eu-west-1", "AIOS3_ACCESS_KEY": "envkey"}
    args = ("--root", str(tmp_path / "data"), "--port", "0", "--region", "ap-south-1")
    with running_server(tmp_path, *args, "--access-key", "clikey", env=env) as server:
        assert server.port != 1
        assert server.banner["region"] == "ap-south-1"
        assert server.banner["access key"] == "clikey"
        assert server.stop() == 0


def test_server_invalid_bucket_depth_exits_2(tmp_path: Path) -> None:
    result = _run_aios3(tmp_path, "--root", str(tmp_path / "data"), "--bucket-depth", "9")
    assert result.returncode == 2
    assert "--bucket-depth" in result.stderr
    assert "must be 0..4, got 9" in result.stderr
    assert result.stdout == ""


def test_server_second_server_on_same_root_exits_1(tmp_path: Path) -> None:
    root = tmp_path / "data"
    with running_server(tmp_path, "--root", str(root), "--port", "0") as first:
        first.client().create_bucket(Bucket="still-here")
        second = _run_aios3(tmp_path, "--root", str(root), "--port", "0")
        assert second.returncode == 1
        assert f"another aios3 server is already using {root}" in second.stderr
        assert "Traceback" not in second.stderr
        assert "endpoint" not in second.stdout
        # The first one neither noticed nor lost its lock.
        names = [b["Name"] for b in first.client().list_buckets()["Buckets"]]
        assert names == ["still-here"]
        assert first.stop() == 0


def test_server_port_in_use_exits_1(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = _run_aios3(tmp_path, "--root", str(tmp_path / "data"), "--port", str(port))
    assert result.returncode == 1
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert "Traceback" not in result.stderr


def _signed_put_head(server: Server, bucket: str, key: str, body: bytes) -> bytes:
    """Request line and SigV4-signed headers of a PutObject, ready for a raw socket."""
    url = f"{server.endpoint}/{bucket}/{key}"
    request = AWSRequest(method="PUT", url=url, data=body)
    request.headers["Content-Length"] = str(len(body))
    credentials = Credentials(server.banner["access key"], server.banner["secret key"])
    S3SigV4Auth(credentials, "s3", server.banner["region"]).add_auth(request)
    lines = [f"PUT /{bucket}/{key} HTTP/1.1", f"Host: 127.0.0.1:{server.port}"]
    lines += [f"{name}: {value}" for name, value in request.headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def test_server_sigterm_lets_in_flight_upload_finish(tmp_path: Path) -> None:
    root = tmp_path / "data"
    body = bytes(range(256)) * 40  # 10 KiB in 10 pieces, ~1 s in total
    pieces = [body[i : i + 1024] for i in range(0, len(body), 1024)]
    with running_server(tmp_path, "--root", str(root), "--port", "0") as server:
        server.client().create_bucket(Bucket="bucket")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(_signed_put_head(server, "bucket", "slow", body))
            for piece in pieces[:3]:
                conn.sendall(piece)
                time.sleep(0.1)
            server.proc.send_signal(signal.SIGTERM)
            for piece in pieces[3:8]:
                conn.sendall(piece)
                time.sleep(0.1)
            # Shutting down: no longer listening, but still reading our body.
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", server.port), timeout=5).close()
            assert server.proc.poll() is None
            for piece in pieces[8:]:
                conn.sendall(piece)
                time.sleep(0.1)
            response = b""
            while b"\r\n\r\n" not in response:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                response += chunk
        assert response.startswith(b"HTTP/1.1 200"), response
        assert server.proc.wait(timeout=EXIT_TIMEOUT) == 0
    # The upload really landed: a fresh server on the same root returns it.
    with running_server(tmp_path, "--root", str(root), "--port", "0", name="again") as again:
        assert again.client().get_object(Bucket="bucket", Key="slow")["Body"].read() == body
        assert again.stop() == 0


def test_server_second_signal_cuts_off_in_flight_upload(tmp_path: Path) -> None:
    root = tmp_path / "data"
    body = b"x" * 4096
    with running_server(tmp_path, "--root", str(root), "--port", "0") as server:
        server.client().create_bucket(Bucket="bucket")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(_signed_put_head(server, "bucket", "never", body))
            conn.sendall(body[:1024])
            time.sleep(0.2)
            server.proc.send_signal(signal.SIGTERM)
            time.sleep(0.3)
            assert server.proc.poll() is None  # still waiting for our body
            server.proc.send_signal(signal.SIGTERM)
            assert server.proc.wait(timeout=EXIT_TIMEOUT) == 1
        assert "stopped without waiting for in-flight requests" in server.stderr()
    with running_server(tmp_path, "--root", str(root), "--port", "0", name="again") as again:
        keys = again.client().list_objects_v2(Bucket="bucket").get("Contents", [])
        assert keys == []
        assert again.stop() == 0


def test_server_with_users_and_no_auth(tmp_path: Path) -> None:
    args = ("--root", str(tmp_path / "data"), "--port", "0", "--user", "a:sa", "--user", "b:sb")
    with running_server(tmp_path, *args, "--no-auth") as server:
        assert (server.banner["access key"], server.banner["secret key"]) == ("a", "sa")
        assert server.banner["more users"] == "b"
        assert server.banner["no auth"] == "unsigned requests act as a"
        server.client().create_bucket(Bucket="owned-by-a")
        with socket.create_connection(("127.0.0.1", server.port), timeout=10) as conn:
            conn.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n\r\n".encode())
            response = b""
            while b"</ListAllMyBucketsResult>" not in response:
                chunk = conn.recv(65536)
                if not chunk:
                    break
                response += chunk
        assert response.startswith(b"HTTP/1.1 200"), response
        assert b"<Name>owned-by-a</Name>" in response
        assert server.stop() == 0
    assert "Traceback" not in server.stderr()
