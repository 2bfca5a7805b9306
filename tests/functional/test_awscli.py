"""The AWS CLI's `s3` and `s3api` commands against a real server."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support import RunningServer

AWS = shutil.which("aws", path=str(Path(sys.executable).parent)) or shutil.which("aws")

pytestmark = pytest.mark.skipif(AWS is None, reason="the AWS CLI is part of the test extra")


def _aws(server: RunningServer, home: Path, *args: str) -> str:
    """Run one CLI command the way a user would: endpoint and keys from the environment."""
    assert AWS is not None
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(home),
        "AWS_ENDPOINT_URL": server.endpoint_url,
        "AWS_ACCESS_KEY_ID": server.config.access_key,
        "AWS_SECRET_ACCESS_KEY": server.config.secret_key,
        "AWS_DEFAULT_REGION": server.config.region,
        "AWS_CONFIG_FILE": str(home / "config"),
        "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
    }
    done = subprocess.run(
        [AWS, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, f"aws {' '.join(args)} failed:\n{done.stderr}"
    return done.stdout


def test_awscli_s3_mb_cp_ls_sync_rm_rb(server: RunningServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    source = tmp_path / "src"
    (source / "nested" / "deeper").mkdir(parents=True)
    files = {
        "a.txt": b"alpha",
        "nested/b.bin": os.urandom(300_000),
        "nested/deeper/c with space.txt": b"gamma",
    }
    for name, data in files.items():
        (source / name).write_bytes(data)

    _aws(server, home, "s3", "mb", "s3://cli-bucket")
    assert "cli-bucket" in _aws(server, home, "s3", "ls")

    _aws(server, home, "s3", "cp", str(source / "a.txt"), "s3://cli-bucket/single/a.txt")
    _aws(server, home, "s3", "cp", "s3://cli-bucket/single/a.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_bytes() == b"alpha"

    _aws(server, home, "s3", "sync", str(source), "s3://cli-bucket/tree")
    listing = _aws(server, home, "s3", "ls", "--recursive", "s3://cli-bucket/tree/")
    for name in files:
        assert f"tree/{name}" in listing
    # A second sync finds nothing to do; a sync back reproduces the tree byte for byte.
    assert _aws(server, home, "s3", "sync", str(source), "s3://cli-bucket/tree") == ""
    target = tmp_path / "dst"
    _aws(server, home, "s3", "sync", "s3://cli-bucket/tree", str(target))
    for name, data in files.items():
        assert (target / name).read_bytes() == data

    _aws(server, home, "s3", "rm", "s3://cli-bucket/single/a.txt")
    _aws(server, home, "s3", "rm", "--recursive", "s3://cli-bucket/tree")
    assert _aws(server, home, "s3", "ls", "--recursive", "s3://cli-bucket") == ""
    _aws(server, home, "s3", "rb", "s3://cli-bucket")
    assert "cli-bucket" not in _aws(server, home, "s3", "ls")


def test_awscli_s3api_put_head_get_object(server: RunningServer, tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    body = tmp_path / "body.json"
    body.write_bytes(b'{"hello": "world"}')
    _aws(server, home, "s3api", "create-bucket", "--bucket", "cli-api")
    put = json.loads(
        _aws(
            server,
            home,
            "s3api",
            "put-object",
            "--bucket",
            "cli-api",
            "--key",
            "doc.json",
            "--body",
            str(body),
            "--content-type",
            "application/json",
            "--metadata",
            "origin=cli",
        )
    )
    head = json.loads(
        _aws(server, home, "s3api", "head-object", "--bucket", "cli-api", "--key", "doc.json")
    )
    assert head["ETag"] == put["ETag"]
    assert head["ContentType"] == "application/json"
    assert head["Metadata"] == {"origin": "cli"}
    out = tmp_path / "out.json"
    _aws(server, home, "s3api", "get-object", "--bucket", "cli-api", "--key", "doc.json", str(out))
    assert out.read_bytes() == body.read_bytes()
    _aws(server, home, "s3api", "delete-object", "--bucket", "cli-api", "--key", "doc.json")
    _aws(server, home, "s3api", "delete-bucket", "--bucket", "cli-api")
