"""DeleteObjects: up to 1,000 keys in one request, with per-key results.

Content-MD5 is checked when present but not required: current SDKs send a CRC32
checksum instead, which is checked like any other body checksum.
"""

from __future__ import annotations

import base64
import hashlib
from typing import Any

from aiohttp import web

from aios3 import checksums, xml
from aios3.errors import S3Error
from aios3.handlers.context import S3Request
from aios3.handlers.headers import body_checks

_XML = "application/xml"
_MAX_KEYS = 1000
_MAX_BODY = 2 * 1024 * 1024  # 1,000 keys of 1,024 bytes, escaped, fit well within this
_MAX_KEY_BYTES = 1024


async def delete_objects(s3: S3Request) -> web.StreamResponse:
    body = await s3.small_body(_MAX_BODY)
    _check_digests(s3, body)
    document = xml.parse(body, "Delete")
    quiet = str(document.get("Quiet", "false")).strip().lower() == "true"
    entries = xml.as_list(document.get("Object"))
    if not entries or len(entries) > _MAX_KEYS:
        raise S3Error("MalformedXML")
    keys: list[str] = []
    errors: list[dict[str, str]] = []
    for entry in entries:
        key = entry.get("Key") if isinstance(entry, dict) else None
        if not isinstance(key, str) or not key:
            raise S3Error("MalformedXML")
        if len(key.encode("utf-8")) > _MAX_KEY_BYTES:
            errors.append(
                {"Key": key, "Code": "KeyTooLongError", "Message": "Your key is too long"}
            )
        else:
            keys.append(key)
    await s3.storage.delete_objects(s3.bucket, keys)
    result: dict[str, Any] = {}
    if not quiet and keys:
        result["Deleted"] = [{"Key": xml.encoded(key, False)} for key in keys]
    if errors:
        result["Error"] = errors
    return web.Response(body=xml.render("DeleteResult", result), content_type=_XML)


def _check_digests(s3: S3Request, body: bytes) -> None:
    checks = body_checks(s3.headers)
    if checks.content_md5 is not None and checks.content_md5 != hashlib.md5(body).digest():
        raise S3Error("BadDigest")
    for algorithm, expected in checks.checksums.items():
        if expected is None:
            continue
        hasher = checksums.new_hasher(algorithm)
        hasher.update(body)
        if base64.b64encode(hasher.digest()).decode() != expected:
            raise S3Error(
                "BadDigest", f"The {algorithm} you specified did not match the calculated checksum."
            )
