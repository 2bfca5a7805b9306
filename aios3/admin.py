"""Admin endpoints under ``/_aios3/``: reset the server, read the request journal,
manage injected faults.

They exist for tests of S3 clients, and answer only the admin user (``Config.admin``),
signed as any S3 request is (SigV4 or SigV2; under ``no_auth`` an unsigned request acts
as the default user, as it does for S3). Everyone else gets S3's AccessDenied. No
bucket name may start with ``_``, so these paths never shadow an S3 operation; they
are routed before the S3 views and never reach S3 operation routing.

``POST /_aios3/reset``                empty everything: buckets, objects, uploads,
                                      journal, faults
``GET|DELETE /_aios3/requests``       the journal as a JSON list (filters: op, bucket,
                                      key, status, error_code) / clear it
``GET|POST|DELETE /_aios3/faults``    list faults / add one (a JSON object of
                                      ``Faults.add`` arguments; answers the fault) /
                                      remove all
``GET|DELETE /_aios3/faults/{id}``    one fault / remove it
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from aiohttp import web

from aios3.auth import AuthResult, RequestParts, verified_body
from aios3.errors import S3Error
from aios3.keys import CONFIG, FAULTS, JOURNAL, STORAGE
from aios3.views import authenticate_request, expect_continue

PREFIX = "/_aios3"
_MAX_BODY = 64 * 1024
_FILTERS = ("op", "bucket", "key", "error_code")

AdminHandler = Callable[[web.Request, AuthResult], Awaitable[web.StreamResponse]]


def is_admin_path(path: str) -> bool:
    """Whether a (decoded) request path is an admin endpoint's."""
    return path == PREFIX or path.startswith(PREFIX + "/")


async def reset(app: web.Application) -> None:
    """Empty the server: storage, journal and faults (``s3.reset()`` and the endpoint)."""
    await app[STORAGE].reset()
    app[JOURNAL].clear()
    app[FAULTS].clear()


def add_routes(router: web.UrlDispatcher) -> None:
    """Register the admin endpoints; call before the S3 routes.

    Each path takes every method, so a wrong one is answered here (MethodNotAllowed)
    instead of falling through to the S3 views.
    """
    router.add_route(
        "*", "/_aios3/reset", _endpoint({"POST": _reset}), expect_handler=expect_continue
    )
    router.add_route(
        "*",
        "/_aios3/requests",
        _endpoint({"GET": _list_requests, "DELETE": _clear_requests}),
        expect_handler=expect_continue,
    )
    router.add_route(
        "*",
        "/_aios3/faults",
        _endpoint({"GET": _list_faults, "POST": _add_fault, "DELETE": _clear_faults}),
        expect_handler=expect_continue,
    )
    router.add_route(
        "*",
        "/_aios3/faults/{id}",
        _endpoint({"GET": _get_fault, "DELETE": _remove_fault}),
        expect_handler=expect_continue,
    )
    # Any other admin path: not found, and never a bucket named _aios3.
    router.add_route("*", "/_aios3{tail:(/.*)?}", _endpoint({}), expect_handler=expect_continue)


def _endpoint(
    methods: Mapping[str, AdminHandler],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """One admin path: the caller must be the admin, whatever the method."""

    async def handle(request: web.Request) -> web.StreamResponse:
        auth = _authorize(request)
        if not methods:
            raise _not_found("No such admin endpoint.")
        method = methods.get(request.method)
        if method is None:
            raise S3Error("MethodNotAllowed", Method=request.method, ResourceType="ADMIN")
        return await method(request, auth)

    return handle


def _authorize(request: web.Request) -> AuthResult:
    raw_path, _, raw_query = request.raw_path.partition("?")
    parts = RequestParts(
        method=request.method,
        raw_path=raw_path,
        raw_query=raw_query,
        headers=tuple(request.headers.items()),
    )
    config = request.app[CONFIG]
    auth = authenticate_request(parts, config)
    if auth.access_key != config.admin:
        raise S3Error("AccessDenied")
    return auth


async def _json_body(request: web.Request, auth: AuthResult) -> Any:
    """The request's JSON body, checked against its signed payload hash."""
    body = verified_body(request.content.iter_chunked(_MAX_BODY), auth, request.headers.get)
    data = bytearray()
    async for chunk in body:
        data += chunk
        if len(data) > _MAX_BODY:
            raise S3Error("MaxMessageLengthExceeded")
    try:
        return json.loads(data or b"{}")
    except ValueError:
        raise S3Error("InvalidArgument", "The body is not valid JSON.") from None


async def _reset(request: web.Request, auth: AuthResult) -> web.StreamResponse:
    await reset(request.app)
    return web.Response(status=204)


async def _list_requests(request: web.Request, auth: AuthResult) -> web.StreamResponse:
    query = request.query
    filters: dict[str, Any] = {name: query[name] for name in _FILTERS if name in query}
    if "status" in query:
        if not query["status"].isdigit():
            raise S3Error("InvalidArgument", "status must be an integer.")
        filters["status"] = int(query["status"])
    records = request.app[JOURNAL].query(**filters)
    return web.json_response([record.to_json() for record in records])


async def _clear_requests(request: web.Request, auth: AuthResult) -> web.StreamResponse:
    request.app[JOURNAL].clear()
    return web.Response(status=204)


async def _list_faults(request: web.Request, auth: AuthResult) -> web.StreamResponse:
    return web.json_response([fault.to_json() for fault in request.app[FAULTS].list()])


async def _add_fault(request: web.Request, auth: AuthResult) -> web.StreamResponse:
    spec = await _json_body(request, auth)
    if not isinstance(spec, dict):
        raise S3Error("InvalidArgument", "A fault is a JSON object.")
    try:
        fault = request.app[FAULTS].add_from(spec)
    except ValueError as exc:
        raise S3Error("InvalidArgument", str(exc)) from None
    return web.json_response(fault.to_json())


async def _clear_faults(request: web.Request, auth: AuthResult) -> web.StreamResponse:
    request.app[FAULTS].clear()
    return web.Response(status=204)


async def _get_fault(request: web.Request, auth: AuthResult) -> web.StreamResponse:
    fault_id = request.match_info["id"]
    for fault in request.app[FAULTS].list():
        if fault.id == fault_id:
            return web.json_response(fault.to_json())
    raise _not_found("No fault has that id.")


async def _remove_fault(request: web.Request, auth: AuthResult) -> web.StreamResponse:
    if not request.app[FAULTS].remove(request.match_info["id"]):
        raise _not_found("No fault has that id.")
    return web.Response(status=204)


def _not_found(message: str) -> S3Error:
    # Not an S3 error code: admin paths are not S3 resources.
    error = S3Error("NotFound", message)
    error.status = 404
    return error
