"""Composition root: ``create_app(config)`` wires storage, routes and middlewares.

The error middleware is the one place where an ``S3Error`` becomes the S3 XML error
document; anything unexpected is logged with its traceback and answered with a bare
InternalError, so no path or traceback ever reaches a client.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import AsyncIterator

from aiohttp import web
from aiohttp.typedefs import Handler

from aios3 import xml
from aios3.config import Config
from aios3.errors import S3Error
from aios3.keys import CONFIG, STORAGE
from aios3.storage import Storage
from aios3.views import BucketView, ObjectView, RootView

log = logging.getLogger("aios3")

# S3 does not bound header or body reads; these keep stalled clients from holding
# connections forever (FIELD-NOTES: aiohttp has no header-read timeout by default).
_MAX_LINE = 16 * 1024
_MAX_HEADERS = 64 * 1024


# aiohttp's own refusals, in S3's words.
_HTTP_ERRORS = {405: "MethodNotAllowed", 413: "EntityTooLarge"}


def _request_id() -> str:
    return secrets.token_hex(8).upper()


REQUEST_ID = web.RequestKey("request_id", str)


@web.middleware
async def s3_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Turn errors into S3 XML documents."""
    request[REQUEST_ID] = _request_id()
    try:
        return await handler(request)
    except S3Error as error:
        return _error_response(request, error)
    except web.HTTPException as exc:
        # aiohttp's own refusals (e.g. a body over client_max_size) in S3 form.
        return _error_response(request, S3Error(_HTTP_ERRORS.get(exc.status, "InvalidRequest")))
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("unexpected error in %s %s", request.method, request.path)
        return _error_response(request, S3Error("InternalError"))


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every response, streamed ones included, names its request id."""
    request_id = request.get(REQUEST_ID) or _request_id()
    response.headers["x-amz-request-id"] = request_id
    response.headers["x-amz-id-2"] = request_id
    response.headers["Server"] = "aios3"


def _error_response(request: web.Request, error: S3Error) -> web.Response:
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
    app = web.Application(
        middlewares=[s3_errors],
        client_max_size=6 * 1024**3,
        handler_args={
            "max_line_size": _MAX_LINE,
            "max_field_size": _MAX_HEADERS,
            # Bodies are stored byte for byte: Content-Encoding describes the object, it
            # is not an instruction to inflate it on arrival.
            "auto_decompress": False,
        },
    )
    app[CONFIG] = config
    app.on_response_prepare.append(_common_headers)
    app.cleanup_ctx.append(_storage_context)
    app.router.add_view("/", RootView)
    app.router.add_view("/{bucket}", BucketView)
    app.router.add_view("/{bucket}/{key:[\\s\\S]*}", ObjectView)  # keys may hold newlines
    return app


async def _storage_context(app: web.Application) -> AsyncIterator[None]:
    config = app[CONFIG]
    storage = await asyncio.to_thread(
        Storage, config.root, bucket_depth=config.bucket_depth, fsync=config.fsync
    )
    app[STORAGE] = storage
    try:
        yield
    finally:
        await asyncio.to_thread(storage.close)
