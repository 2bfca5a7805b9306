"""The pieces of aios3.xml a listing page is written with, against their plain forms.

A listing writes up to 1,000 keys straight into markup, so these shortcuts must give
exactly what the general path gives: ``text`` (escaping plus character references),
``url_encode`` (quote() skipped when nothing needs encoding), ``iso8601`` (a table in
place of number formatting) and ``render`` (Fragments not searched again).
"""

from __future__ import annotations

import time
from urllib.parse import quote

from hypothesis import given
from hypothesis import strategies as st

from aios3 import xml

ODD = st.text(
    st.sampled_from(["a", "Z", "0", "/", "-", "_", ".", "~", "&", "<", ">", "\x01", "\t", "\r"])
    | st.characters(),
    max_size=12,
)


def plain_iso8601(seconds: float) -> str:
    whole = int(seconds)
    millis = int((seconds - whole) * 1000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(whole)) + f".{millis:03d}Z"


@given(ODD)
def test_text_is_escape_then_character_references(value: str) -> None:
    expected = xml.escape(value)
    for code in [*range(0x09), *range(0x0B, 0x20)]:
        expected = expected.replace(chr(code), f"&#x{code:X};")
    assert xml.text(value) == expected


def test_text_returns_plain_keys_as_they_are() -> None:
    key = "photos/2006/jan/sample.jpg"
    assert xml.text(key) is key


@given(ODD)
def test_url_encode_matches_quote(value: str) -> None:
    try:
        expected = quote(value, safe="/-_.~")
    except UnicodeEncodeError:  # lone surrogates: quote() refuses them, and so must we
        return
    assert xml.url_encode(value) == expected


@given(
    st.floats(min_value=-1e9, max_value=2e10, allow_nan=False)
    | st.sampled_from([0.0, 0.9995, 0.9999999999999999, 1.001, 1700000000.9995, -0.5])
)
def test_iso8601_matches_plain_formatting(seconds: float) -> None:
    assert xml.iso8601(seconds) == plain_iso8601(seconds)


def test_render_leaves_fragments_alone_and_references_the_rest() -> None:
    fragment = xml.Fragment("<Contents><Key>a&#x1;b</Key></Contents>")
    document = xml.render("ListBucketResult", {"Prefix": "p\x01", "Contents": fragment})
    assert document.endswith(
        b"<Prefix>p&#x1;</Prefix><Contents><Key>a&#x1;b</Key></Contents></ListBucketResult>"
    )
