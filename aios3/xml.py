"""S3 XML: pure render functions for responses and a guarded parser for request bodies.

Documents are built as dicts and serialised in the S3 namespace, exactly as xmltodict
would (by a small writer for the common shapes, by xmltodict for any other). Parsing
refuses DTDs outright (no entity expansion, no external entities) and maps every
syntax error to MalformedXML.
"""

from __future__ import annotations

import hashlib
import re
import string
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any
from urllib.parse import quote
from xml.parsers import expat
from xml.parsers.expat import ExpatError
from xml.sax.saxutils import quoteattr

import xmltodict

from aios3.errors import S3Error

NAMESPACE = "http://s3.amazonaws.com/doc/2006-03-01/"


def owner_id(access_key: str) -> str:
    """A stable, canonical-user-ID-shaped id (64 hex digits) for an access key."""
    return hashlib.sha256(access_key.encode("utf-8")).hexdigest()


def iso8601(seconds: float) -> str:
    """S3's timestamp form in XML: ``2009-10-12T17:50:30.000Z``.

    A listing formats one per key, so the usual case is two lookups: the second (keys
    written together share it) and the milliseconds. For seconds >= 0, ``// 1`` is the
    truncation ``int()`` does, and an integral float finds the same entry as the int.
    """
    whole = seconds // 1
    try:
        return _STAMPS[whole] + _MILLIS[(seconds - whole) * 1000 // 1]
    except KeyError:  # a second not seen yet, or one before 1970
        whole = int(seconds)
        millis = int((seconds - whole) * 1000)
        stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole))
        if whole >= 0:
            if len(_STAMPS) >= 4096:
                _STAMPS.clear()
            _STAMPS[whole] = stamp + "."
        return f"{stamp}.{millis:03d}Z"


_STAMPS: dict[float, str] = {}
# Up to 1000: not reached, but no float edge case may raise KeyError in a listing.
_MILLIS = {float(millis): f"{millis:03d}Z" for millis in range(1001)}


def render(root: str, body: Mapping[str, Any], *, namespace: bool = True) -> bytes:
    """Serialise ``{root: body}`` as a UTF-8 XML document."""
    content: dict[str, Any] = {}
    if namespace:
        content["@xmlns"] = NAMESPACE
    content.update(body)
    out: list[str] = [_HEADER]
    try:
        _emit(out, root, content)
    except _Unsupported:
        if _has_fragment(content):
            raise
        out = [xmltodict.unparse({root: content}, full_document=True, encoding="utf-8")]
    text = "".join(out)
    if _has_control(text, out, body):
        text = "".join(
            piece if isinstance(piece, Fragment) else _CONTROL.sub(_char_reference, piece)
            for piece in out
        )
    return text.encode("utf-8")


def _has_control(text: str, pieces: list[str], body: Mapping[str, Any]) -> bool:
    """Whether ``text`` holds control characters to write as character references.
    Fragments have theirs written so already (see ``text``), so a listing's, most of
    its document, are not searched."""
    for value in body.values():
        if isinstance(value, Fragment):
            plain = [piece for piece in pieces if not isinstance(piece, Fragment)]
            return _CONTROL.search("".join(plain)) is not None
    return _CONTROL.search(text) is not None


# What xmltodict.unparse writes, byte for byte, for the shapes our documents use (a
# listing of 1,000 keys renders ~10x faster this way); anything else falls back to it.
_HEADER = '<?xml version="1.0" encoding="utf-8"?>\n'


class _Unsupported(Exception):
    """A value shape the fast path does not write exactly as xmltodict would."""


class Fragment(str):
    """Markup already rendered (its character data by ``text``), written as is: for
    the thousand ``Contents`` of a listing, built directly instead of as dicts."""


def _text(value: Any) -> str:
    if isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = str(value)
    else:
        raise _Unsupported
    return escape(text)


def escape(text: str) -> str:
    """Character data as xmltodict writes it (saxutils.escape: ``&``, ``<``, ``>``)."""
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def text(value: str) -> str:
    """Character data as ``render`` writes it: ``escape``d, and control characters as
    character references. Most keys need neither: one C call tells."""
    if is_plain_text(value):
        return value
    return _CONTROL.sub(_char_reference, escape(value))


# Whether ``text`` leaves a value as it is: it holds no character XML must escape or
# write as a reference (one C call, half a regex search's cost; listings call it per key).
is_plain_text = frozenset("&<>" + "".join(map(chr, [*range(0x09), *range(0x0B, 0x20)]))).isdisjoint


def _emit(out: list[str], name: str, value: Any) -> None:
    """Append ``value`` as element(s) ``name``: a list repeats it, a dict nests (with
    ``@`` attributes and ``#text``), None is empty, a Fragment is the element(s)
    already written, anything else is text."""
    if isinstance(value, Fragment):
        out.append(value)
        return
    if isinstance(value, list | tuple):
        for item in value:
            if isinstance(item, list | tuple):
                raise _Unsupported  # xmltodict writes a nested list as its repr
            _emit(out, name, item)
        return
    if value is None:
        out.append(f"<{name}></{name}>")
        return
    if not isinstance(value, dict):
        out.append(f"<{name}>{_text(value)}</{name}>")
        return
    start = len(out)
    out.append("")
    attributes = ""
    text = ""
    for child, item in value.items():
        if not isinstance(child, str) or (child.startswith("#") and child != "#text"):
            raise _Unsupported
        if child == "#text":
            text = "" if item is None else _text(item)
        elif child.startswith("@"):
            if not isinstance(item, str):
                raise _Unsupported
            attributes += f" {child[1:]}={quoteattr(item)}"
        else:
            _emit(out, child, item)
    out[start] = f"<{name}{attributes}>"
    out.append(f"{text}</{name}>")


def _has_fragment(value: Any) -> bool:
    if isinstance(value, Fragment):
        return True
    if isinstance(value, dict):
        return any(_has_fragment(item) for item in value.values())
    if isinstance(value, list | tuple):
        return any(_has_fragment(item) for item in value)
    return False


# Control characters (keys may hold any) written as character references, so that a
# carriage return survives parsing and no raw control byte breaks the document.
_CONTROL = re.compile("[\x00-\x08\x0b-\x1f]")


def _char_reference(match: re.Match[str]) -> str:
    return f"&#x{ord(match.group()):X};"


def render_error(
    code: str, message: str, *, resource: str, request_id: str, detail: Mapping[str, str]
) -> bytes:
    """The error document of "Error responses" in the S3 API reference.

    Unlike a listing, it must parse wherever it lands: a name echoed in it (a bad
    bucket name, say) has its control characters percent-encoded, since XML 1.0 has
    no way to carry them, not even as character references.
    """
    body: dict[str, Any] = {"Code": code, "Message": _printable(message)}
    body.update((name, _printable(value)) for name, value in detail.items())
    body["Resource"] = _printable(resource)
    body["RequestId"] = request_id
    return render("Error", body, namespace=False)


# Characters XML 1.0 cannot hold in any form (tab, newline and carriage return it can),
# and lone surrogates: header bytes that were not UTF-8, surrogate-escaped by aiohttp.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def _percent(match: re.Match[str]) -> str:
    char = match.group()
    errors = "surrogateescape" if "\udc80" <= char <= "\udcff" else "surrogatepass"
    return "".join(f"%{byte:02X}" for byte in char.encode("utf-8", errors))


def _printable(value: str) -> str:
    if _NOT_XML.search(value) is None:
        return value
    return _NOT_XML.sub(_percent, value)


def owner(access_key: str) -> dict[str, str]:
    return {"ID": owner_id(access_key), "DisplayName": access_key}


def checksum_elements(checksums: Mapping[str, str]) -> dict[str, str]:
    """``ChecksumCRC32`` etc. elements for a stored object's checksums."""
    return {f"Checksum{name}": value for name, value in sorted(checksums.items())}


def parse(body: bytes, root: str) -> dict[str, Any]:
    """Parse a request document whose root element must be ``root``; namespaces are
    ignored (clients differ in sending them). Anything else is MalformedXML.

    Hostile documents are refused before any tree is built: bytes that are not UTF-8
    (or a declaration naming another encoding), any DTD (so no entity, internal or
    external, is ever defined or expanded), and nesting deeper than any S3 document
    needs, so a 100,000-deep body costs one quick scan, not 100,000 dicts.
    """
    data = _checked_text(body).encode("utf-8")
    try:
        _check_structure(data)
        document = xmltodict.parse(
            data,
            encoding="utf-8",  # what the bytes are; any declaration was checked above
            process_namespaces=True,
            namespaces={NAMESPACE: None},
            disable_entities=True,
            force_list=None,
        )
    except (ExpatError, ValueError, UnicodeError, _Refused):
        raise S3Error("MalformedXML") from None
    if not isinstance(document, dict) or set(document) != {root}:
        raise S3Error("MalformedXML")
    content = document[root]
    if content is None:
        return {}
    if not isinstance(content, dict):
        raise S3Error("MalformedXML")
    return content


# S3 request documents nest at most four levels (CompleteMultipartUpload/Part/ETag);
# this leaves room for namespaced or decorated variants while keeping the parse flat.
MAX_DEPTH = 32

_DECLARED_ENCODING = re.compile(r"""^\s*<\?xml[^>]*?\bencoding\s*=\s*["']([^"']*)["']""")


class _Refused(Exception):
    """Raised inside the structure scan to stop at the first offence."""


def _checked_text(body: bytes) -> str:
    """The document as text: strict UTF-8 (an optional BOM dropped), and if it declares
    an encoding, UTF-8 must be it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise S3Error("MalformedXML") from None
    text = text.removeprefix("\ufeff")
    declared = _DECLARED_ENCODING.match(text[:200])
    if declared is not None and declared.group(1).strip().lower() not in ("utf-8", "utf8"):
        raise S3Error("MalformedXML")
    return text


def _check_structure(data: bytes) -> None:
    """Scan with expat, no tree: raise _Refused on a DTD or an entity declaration, or
    on nesting deeper than MAX_DEPTH; ExpatError on bad syntax."""
    parser = expat.ParserCreate("utf-8")
    depth = 0

    def start(_name: str, _attributes: Any) -> None:
        nonlocal depth
        depth += 1
        if depth > MAX_DEPTH:
            raise _Refused

    def end(_name: str) -> None:
        nonlocal depth
        depth -= 1

    def refuse(*_args: Any) -> Any:
        raise _Refused

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.StartDoctypeDeclHandler = refuse
    parser.EntityDeclHandler = refuse
    parser.ExternalEntityRefHandler = refuse
    parser.Parse(data, True)


def as_list(value: Any) -> list[Any]:
    """xmltodict gives one child as a value and several as a list: always a list."""
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def url_encode(value: str) -> str:
    """``EncodingType=url`` form of a key: everything but unreserved characters and ``/``
    percent-encoded (as AWS does; ``/`` stays readable)."""
    if is_plain_url(value):  # nothing to encode (most keys): skip quote()
        return value
    return quote(value, safe="/-_.~")


# Whether ``url_encode`` leaves a value as it is: unreserved characters and ``/`` only.
is_plain_url = frozenset(string.ascii_letters + string.digits + "/-_.~").issuperset


def encoded(value: str, url: bool) -> str:
    return url_encode(value) if url else value


def list_items(items: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    return [dict(item) for item in items]


def prefixes(values: Sequence[str], url: bool) -> list[dict[str, str]]:
    return [{"Prefix": encoded(value, url)} for value in values]
