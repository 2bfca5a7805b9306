"""The AWS SDK for JavaScript v3 against a real server (it sends aws-chunked bodies with
trailing checksums, and multipart uploads through lib-storage)."""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import uuid
from pathlib import Path

import pytest

from tests.support import RunningServer

JS_DIR = Path(__file__).resolve().parent.parent / "js"
NODE = shutil.which("node")

pytestmark = pytest.mark.skipif(
    NODE is None or not (JS_DIR / "node_modules" / "@aws-sdk" / "client-s3").is_dir(),
    reason="needs Node.js and `npm ci` in tests/js (.ci/run does both when npm is present)",
)


def test_js_sdk_v3_put_get_stream_multipart_list_delete(server: RunningServer) -> None:
    assert NODE is not None
    bucket = f"js-{uuid.uuid4().hex[:16]}"
    done = subprocess.run(
        [
            NODE,
            str(JS_DIR / "roundtrip.mjs"),
            server.endpoint_url,
            server.config.access_key,
            server.config.secret_key,
            bucket,
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["small_etag"] == f'"{hashlib.md5(b"hello from the JavaScript SDK").hexdigest()}"'
    assert result["streamed_ok"] is True
    assert result["streamed_crc32"] is not None
    assert result["streamed_encoding"] is None  # aws-chunked is framing, never stored
    assert result["streamed_length"] == 3 * 1024 * 1024 + 17
    assert result["large_ok"] is True
    assert sorted(result["keys"]) == ["large.bin", "small.txt", "streamed.bin"]
    assert result["done"] is True
