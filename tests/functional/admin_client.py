"""The admin endpoints (``/_aios3/...``) from tests: signed JSON requests and the few
calls the tool tests repeat (read the journal, add a fault, reset)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from tests.functional.raw import RawResponse, query_pairs, signed_request
from tests.support import RunningServer


def admin(
    server: RunningServer,
    method: str,
    endpoint: str,
    body: Any = None,
    *,
    user: tuple[str, str] | None = None,
    params: Mapping[str, str] | None = None,
) -> RawResponse:
    """``method /_aios3/<endpoint>?<params>``, signed by ``user`` (default: the default
    user, who is the admin unless the config names another); ``body`` goes as JSON."""
    data = b"" if body is None else json.dumps(body).encode()
    access_key, secret_key = user if user is not None else (None, None)
    headers = {"Content-Type": "application/json"} if body is not None else {}
    return signed_request(
        server,
        method,
        f"/_aios3/{endpoint}{query_pairs(list((params or {}).items()))}",
        headers,
        data,
        access_key=access_key,
        secret_key=secret_key,
    )


def journal(server: RunningServer, **filters: str) -> list[dict[str, Any]]:
    """The journal's records matching ``filters``, oldest first."""
    response = admin(server, "GET", "requests", params=filters)
    assert response.status == 200, response.body
    records: list[dict[str, Any]] = json.loads(response.body)
    return records


def add_fault(server: RunningServer, **spec: Any) -> dict[str, Any]:
    """Inject a fault; the fault as the server describes it (with its id)."""
    response = admin(server, "POST", "faults", spec)
    assert response.status == 200, response.body
    fault: dict[str, Any] = json.loads(response.body)
    return fault


def reset(server: RunningServer) -> None:
    response = admin(server, "POST", "reset")
    assert response.status == 204, response.body
