"""S3 XML: pure render functions for responses and a guarded parser for request bodies.

Documents are built as dicts and serialised by xmltodict in the S3 namespace. Parsing
refuses DTDs outright (no entity expansion, no external entities) and maps every
syntax error to MalformedXML.
"""

from __future__ import annotations

import hashlib
import re
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote
from xml.parsers.expat import ExpatError

import xmltodict

from aios3.errors import S3Error

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def owner_id(access_key: str) -> str:
    """A stable, canonical-user-ID-shaped id (64 hex digits) for an access key."""
    return hashlib.sha256(access_key.encode("utf-8")).hexdigest()


def iso8601(seconds: float) -> str:
    """S3's timestamp form in XML: ``2009-10-12T17:50:30.000Z``."""
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


def render(root: str, body: Mapping[str, Any], *, namespace: bool = True) -> bytes:
    """Serialise ``{root: body}`` as a UTF-8 XML document."""
    content: dict[str, Any] = {}
    if namespace:
        content["@xmlns"] = NAMESPACE
    content.update(body)
    text: str = xmltodict.unparse({root: content}, full_document=True, encoding="utf-8")
    if _CONTROL.search(text):
        text = _CONTROL.sub(_char_reference, text)
    return text.encode("utf-8")


# Control characters (keys may hold any) written as character references, so that a
# carriage return survives parsing and no raw control byte breaks the document.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")


def _char_reference(match: re.Match[str]) -> str:
    return f"&#x{ord(match.group()):X};"


def render_error(
    code: str, message: str, *, resource: str, request_id: str, detail: Mapping[str, str]
) -> bytes:
    """The error document of "Error responses" in the S3 API reference."""
    body: dict[str, Any] = {"Code": code, "Message": message}
    body.update(detail)
    body["Resource"] = resource
    body["RequestId"] = request_id
    return render("Error", body, namespace=False)


def owner(access_key: str) -> dict[str, str]:
    return {"ID": owner_id(access_key), "DisplayName": access_key}


def checksum_elements(checksums: Mapping[str, str]) -> dict[str, str]:
    """``ChecksumCRC32`` etc. elements for a stored object's checksums."""
    return {f"Checksum{name}": value for name, value in sorted(checksums.items())}


def parse(body: bytes, root: str) -> dict[str, Any]:
    """Parse a request document whose root element must be ``root``; namespaces are
    ignored (clients differ in sending them). Anything else is MalformedXML."""
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise S3Error("MalformedXML")
    try:
        document = xmltodict.parse(
            body,
            process_namespaces=True,
            namespaces={NAMESPACE: None},
            disable_entities=True,
            force_list=None,
        )
    except (ExpatError, ValueError, UnicodeDecodeError):
        raise S3Error("MalformedXML") from None
    if not isinstance(document, dict) or set(document) != {root}:
        raise S3Error("MalformedXML")
    content = document[root]
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise S3Error("MalformedXML")
    return content


def as_list(value: Any) -> list[Any]:
    """xmltodict gives one child as a value and several as a list: always a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def url_encode(value: str) -> str:
    """``EncodingType=url`` form of a key: everything but unreserved characters and ``/``
    percent-encoded (as AWS does; ``/`` stays readable)."""
    return quote(value, safe="/-_.~")


def encoded(value: str, url: bool) -> str:
    return url_encode(value) if url else value


def list_items(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(item) for item in items]


def prefixes(values: Sequence[str], url: bool) -> list[dict[str, str]]:
    return [{"Prefix": encoded(value, url)} for value in values]
