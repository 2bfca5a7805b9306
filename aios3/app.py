"""Composition root: ``create_app(config)`` wires storage, routes and middlewares.

The error middleware is the one place where an ``S3Error`` becomes the S3 XML error
document; anything unexpected is logged with its traceback and answered with a bare
InternalError, so no path or traceback ever reaches a client. Around it, the journal
middleware records every S3 request (admin requests are not S3 traffic, so not).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import random
import secrets
import time
import warnings
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.typedefs import Handler

from aios3 import admin, xml
from aios3.config import Config
from aios3.errors import S3Error
from aios3.faults import Faults
from aios3.journal import Journal, RequestRecord, Trace
from aios3.keys import CONFIG, FAULTS, JOURNAL, STORAGE, TRACE
from aios3.storage import Storage
from aios3.views import BucketView, ObjectView, RootView, S3Router, expect_continue

log = logging.getLogger("aios3")

# Bounds on the request head's size; its time is bounded by Config.header_timeout and a
# body's stalls by Config.body_timeout (FIELD-NOTES: aiohttp has no header-read timeout
# by default).
_MAX_LINE = 16 * 1024
_MAX_HEADERS = 64 * 1024


_OUT_OF_FILES = frozenset({errno.EMFILE, errno.ENFILE})
_out_of_files_logged = [-60.0]  # monotonic time of the last such warning

# aiohttp's own refusals, in S3's words.
_HTTP_ERRORS = {405: "MethodNotAllowed", 413: "EntityTooLarge"}


class RequestIds:
    """Request ids: unpredictable, or with a seed the same sequence on every run (so
    golden files of responses stay stable)."""

    def __init__(self, seed: int | None) -> None:
        self._random = random.Random(seed) if seed is not None else None
        # Unseeded ids come from a buffer of os.urandom bytes, one system call per 128
        # requests instead of one each (the loop thread alone takes ids).
        self._buffer = ""
        self._at = 0

    def __call__(self) -> str:
        if self._random is None:
            if self._at + 16 > len(self._buffer):
                self._buffer, self._at = secrets.token_hex(1024).upper(), 0
            start = self._at
            self._at += 16
            return self._buffer[start : self._at]
        return f"{self._random.getrandbits(64):016X}"


class InFlight:
    """Requests whose handlers are still running, so a shutdown can wait for them.

    aiohttp's own graceful shutdown (runner.cleanup) first marks every connection
    closing, and a closing connection discards the bytes it receives
    (RequestHandler.data_received returns early). An upload whose body is still
    arriving would then stall until the shutdown timeout and be cut off. So the CLI
    stops listening, calls ``drain`` and waits for ``idle`` before letting aiohttp close
    the connections.
    """

    def __init__(self) -> None:
        self.tasks: set[asyncio.Task[Any]] = set()
        self.draining = False
        self.idle = asyncio.Event()

    def drain(self) -> None:
        """From now on, answers close their connections, and ``idle`` is set once no
        handler runs."""
        self.draining = True
        if not self.tasks:
            self.idle.set()

    def cancel_all(self) -> int:
        """Cut off every running handler; how many there were."""
        for task in self.tasks:
            task.cancel()
        return len(self.tasks)

    def _finished(self, task: asyncio.Task[Any]) -> None:
        self.tasks.discard(task)
        if self.draining and not self.tasks:
            self.idle.set()


class ConnectionLog(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's connection-level log (its ``logger`` handler argument), with a request
    that cannot even be parsed logged as what it is: the client's error, one INFO line.
    aiohttp logs those at ERROR with a traceback, so a port scanner or a fuzzer would
    bury the server's real errors. Everything else is logged as aiohttp logs it."""

    def exception(self, msg: object, *args: object, **kwargs: Any) -> None:
        exc = kwargs.get("exc_info")
        if isinstance(exc, HttpProcessingError) and 400 <= exc.code < 500:
            reason = exc.message.strip().partition("\n")[0]
            self.info(f"{msg}: %s %s", *args, exc.code, reason)
            return
        super().exception(msg, *args, **kwargs)


REQUEST_ID = web.RequestKey("request_id", str)
REQUEST_IDS = web.AppKey("request_ids", RequestIds)
IN_FLIGHT = web.AppKey("in_flight", InFlight)


@web.middleware
async def frame(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Every request's frame, in one middleware (each layer costs every request): its
    id, the in-flight count, S3 errors as XML documents, and the journal record of each
    S3 request once its handler is done (a streamed body is sent by then; a plain
    one's size is known). Admin requests are not S3 traffic, so not journalled."""
    app = request.app
    request[REQUEST_ID] = app[REQUEST_IDS]()
    in_flight = app[IN_FLIGHT]
    # The handler's own task (request.task is the connection's, which outlives it).
    task = asyncio.current_task()
    assert task is not None
    in_flight.tasks.add(task)
    trace = None if admin.is_admin_path(request.path) else Trace()
    when = app[CONFIG].now()
    started = time.monotonic()
    response: web.StreamResponse | None = None
    try:
        if trace is not None:
            request[TRACE] = trace
        try:
            response = await handler(request)
        except S3Error as error:
            response = _error_response(request, error)
        except web.HTTPException as exc:
            # aiohttp's own refusals (e.g. a body over client_max_size) in S3 form.
            refusal = S3Error(_HTTP_ERRORS.get(exc.status, "InvalidRequest"))
            response = _error_response(request, refusal)
        except (asyncio.CancelledError, ConnectionResetError):
            raise
        except Exception as exc:
            response = _error_response(request, _unexpected(request, exc))
        if in_flight.draining:
            # Keep-alive clients should reconnect elsewhere, not queue more work here.
            response.force_close()
        return response
    finally:
        in_flight._finished(task)
        if trace is not None:
            _record(app[JOURNAL], request, trace, response, when, started)


def _unexpected(request: web.Request, exc: Exception) -> S3Error:
    """InternalError, logged with its traceback; or, out of file descriptors, SlowDown."""
    if isinstance(exc, OSError) and exc.errno in _OUT_OF_FILES:
        # Thousands of connections each holding one: an overload the client should
        # back off from and retry, as SDKs do on SlowDown, not a server fault. Logged
        # once a minute, not once per request.
        now = time.monotonic()
        if now - _out_of_files_logged[0] >= 60:
            _out_of_files_logged[0] = now
            log.warning("out of file descriptors (%s): answering 503 SlowDown", exc.strerror)
        return S3Error("SlowDown")
    log.exception("unexpected error in %s %s", request.method, request.path)
    return S3Error("InternalError")


def _record(
    journal: Journal,
    request: web.Request,
    trace: Trace,
    response: web.StreamResponse | None,
    when: float,
    started: float,
) -> None:
    journal.record(
        RequestRecord(
            request_id=request[REQUEST_ID],
            time=when,
            method=request.method,
            path=request.raw_path,
            op=trace.op,
            bucket=trace.bucket,
            key=trace.key,
            status=None if response is None or trace.dropped else response.status,
            error_code=trace.error_code,
            bytes_in=request.content.total_bytes,
            bytes_out=_bytes_out(request, response, trace),
            checksum_algorithm=trace.checksum_algorithm,
            signing=trace.signing,
            user_agent=request.headers.get("User-Agent"),
            duration=time.monotonic() - started,
            fault=trace.fault,
        )
    )


def _bytes_out(request: web.Request, response: web.StreamResponse | None, trace: Trace) -> int:
    """Body bytes sent: as counted by a handler that streamed them, else the size of
    the response's body (none for HEAD or a dropped connection)."""
    if trace.bytes_out is not None:
        return trace.bytes_out
    if response is None or trace.dropped or request.method == "HEAD":
        return 0
    if isinstance(response, web.Response) and isinstance(response.body, bytes):
        return len(response.body)
    return response.content_length or 0


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every response, streamed ones included, names its request id."""
    request_id = request.get(REQUEST_ID) or request.app[REQUEST_IDS]()
    response.headers["x-amz-request-id"] = request_id
    response.headers["x-amz-id-2"] = request_id
    response.headers["Server"] = "aios3"


def _error_response(request: web.Request, error: S3Error) -> web.Response:
    trace = request.get(TRACE)
    if trace is not None:
        trace.error_code = error.code
    headers = dict(error.headers)
    if error.status == 304 or request.method == "HEAD":
        # HEAD answers and 304s carry no body (S3 sends the status alone).
        return web.Response(status=error.status, headers=headers)
    resource = error.resource or request.raw_path.split("?", 1)[0]
    body = xml.render_error(
        error.code,
        error.message,
        resource=resource,
        request_id=request[REQUEST_ID],
        detail=error.detail,
    )
    return web.Response(
        status=error.status, body=body, headers=headers, content_type="application/xml"
    )


def create_app(config: Config) -> web.Application:
    """The aiohttp application for ``config``; storage opens on start-up."""
    with warnings.catch_warnings():
        # A router of our own is deprecated in aiohttp 3 (still supported): see S3Router.
        warnings.simplefilter("ignore", DeprecationWarning)
        app = web.Application(
            router=S3Router(),
            middlewares=[frame],
            client_max_size=6 * 1024**3,
            handler_args={
                "max_line_size": _MAX_LINE,
                "max_field_size": _MAX_HEADERS,
                # Bodies are stored byte for byte: Content-Encoding describes the object, it
                # is not an instruction to inflate it on arrival.
                "auto_decompress": False,
                # aiohttp closes a connection still waiting for a whole request head this
                # long after it opened or answered its last request: with no header-read
                # timeout of its own (FIELD-NOTES), this one is the header timeout, and
                # it also ends idle keep-alive connections.
                "keepalive_timeout": config.header_timeout,
                "logger": ConnectionLog(logging.getLogger("aiohttp.server")),
            },
        )
    app[CONFIG] = config
    app[REQUEST_IDS] = RequestIds(config.seed)
    app[IN_FLIGHT] = InFlight()
    app[JOURNAL] = Journal()
    app[FAULTS] = faults = Faults(config.seed)
    for spec in config.faults:
        faults.add_from(spec)
    app.on_response_prepare.append(_common_headers)
    app.cleanup_ctx.append(_storage_context)
    # Before the S3 routes, which would otherwise take /_aios3/... for a bucket.
    admin.add_routes(app.router)
    app.router.add_view("/", RootView, expect_handler=expect_continue)
    app.router.add_view("/{bucket}", BucketView, expect_handler=expect_continue)
    # Keys may hold newlines.
    app.router.add_view("/{bucket}/{key:[\\s\\S]*}", ObjectView, expect_handler=expect_continue)
    return app


async def _storage_context(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    storage = await asyncio.to_thread(
        Storage,
        config.root,
        bucket_depth=config.bucket_depth,
        fsync=config.fsync,
        clock=config.now,
        seed=config.seed,
    )
    app[STORAGE] = storage
    try:
        yield
    finally:
        await asyncio.to_thread(storage.close)
