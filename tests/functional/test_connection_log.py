"""Requests that cannot be parsed are logged as the client's error, not the server's.

aiohttp logs them at ERROR with a traceback; a fuzzer or a port scanner sending a few
thousand would bury every real error. aios3 logs one INFO line each instead.
"""

from __future__ import annotations

import logging

import pytest
from aiohttp.http_exceptions import BadHttpMessage

from aios3.app import ConnectionLog
from tests.functional.raw import connect
from tests.support import RunningServer

# A header line without a colon: aiohttp's parser refuses it with 400.
_MALFORMED = b"GET / HTTP/1.1\r\nHost: x\r\nthis line has no colon\r\n\r\n"


def _answer(server: RunningServer, request: bytes) -> bytes:
    with connect(server) as sock:
        sock.sendall(request)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
        return received


def test_unparseable_request_is_one_info_line(
    server: RunningServer, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="aiohttp.server"):
        answer = _answer(server, _MALFORMED)
    assert answer.split(b"\r\n", 1)[0].endswith(b" 400 Bad Request")
    records = [r for r in caplog.records if r.name == "aiohttp.server"]
    assert [r.levelno for r in records] == [logging.INFO], [r.getMessage() for r in records]
    (record,) = records
    assert record.exc_info is None
    assert "Error handling request from" in record.getMessage()
    assert "400" in record.getMessage()
    assert "\n" not in record.getMessage()


def test_other_errors_keep_their_traceback(caplog: pytest.LogCaptureFixture) -> None:
    log = ConnectionLog(logging.getLogger("aiohttp.server"))
    with caplog.at_level(logging.INFO, logger="aiohttp.server"):
        try:
            raise RuntimeError("a server fault")
        except RuntimeError as exc:
            log.exception("Error handling request from %s", "127.0.0.1", exc_info=exc)
        log.exception("Error handling request from %s", "127.0.0.1", exc_info=BadHttpMessage("x"))
    fault, client = caplog.records
    assert fault.levelno == logging.ERROR
    assert fault.exc_info is not None
    assert client.levelno == logging.INFO
    assert client.getMessage() == "Error handling request from 127.0.0.1: 400 x"
