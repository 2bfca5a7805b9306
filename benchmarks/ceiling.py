"""The "ceiling": the least an aiohttp server can do for the benchmark's requests.

It answers the same request shapes as an S3 server, with no storage, no index and no
signature check: GET a fixed 4 KiB body (listings too), HEAD the same headers, PUT reads
and discards the body then answers 200, the multipart POSTs answer the minimal XML a
client needs, and a GET of a key starting with ``big`` is a ``web.FileResponse`` of a
file of ``--big-mib`` MiB (the technique a fast GET path uses: stat+open, then
``sendfile``). Nothing built on aiohttp should beat it, so it tells how close aios3 is.
It runs on uvloop when installed, like ``python -m aios3``.

With ``--view`` the same answers go through an aiohttp ``web.View`` class on the three
routes aios3 has (root, bucket, object), as the stack aios3 is built on prescribes: the
least any server of that shape can do, however little its views do ("ceiling-view").
``--sigv4`` adds one thing to that: the view verifies each request's signature with
aios3's own verifier (``aios3.auth.authenticate``) before answering ("ceiling-sigv4"),
which is the floor of a server of aios3's shape that checks signatures.

    python benchmarks/ceiling.py --port 0     # prints "endpoint: http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from aiohttp import web

from aios3.auth import RequestParts, authenticate
from aios3.errors import S3Error

SMALL_BODY = b"x" * 4096
_ETAG = '"d41d8cd98f00b204e9800998ecf8427e"'
_XML = "application/xml"
_INITIATE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<InitiateMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key>"
    "<UploadId>ceiling-upload</UploadId></InitiateMultipartUploadResult>"
)
_COMPLETE = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    "<CompleteMultipartUploadResult><Bucket>{bucket}</Bucket><Key>{key}</Key>"
    f"<ETag>{_ETAG}</ETag></CompleteMultipartUploadResult>"
)
_BIG_FILE = web.AppKey("big_file", Path)
_SIGV4 = web.AppKey("sigv4", bool)
# The key pair the benchmark signs with for the servers that take any ("bench", "bench").
_CREDENTIALS = {"bench": "bench"}


def _bucket_and_key(request: web.Request) -> tuple[str, str]:
    bucket, _, key = request.path.lstrip("/").partition("/")
    return bucket, key


async def _drain(request: web.Request) -> None:
    """Read and discard the request body, as a server that stores it must read it."""
    while await request.content.readany():
        pass


async def handle(request: web.Request) -> web.StreamResponse:
    """Answer any request with the cheapest response of the right shape."""
    method = request.method
    if method in ("GET", "HEAD"):
        _, key = _bucket_and_key(request)
        if key.startswith("big"):
            return web.FileResponse(request.app[_BIG_FILE])
        return web.Response(body=SMALL_BODY, content_type="application/octet-stream")
    await _drain(request)
    if method == "PUT":
        return web.Response(headers={"ETag": _ETAG})
    if method == "POST":
        bucket, key = _bucket_and_key(request)
        template = _INITIATE if "uploads" in request.query else _COMPLETE
        return web.Response(text=template.format(bucket=bucket, key=key), content_type=_XML)
    return web.Response(status=204)


def _verify_sigv4(request: web.Request) -> bool:
    """Whether the request's signature holds, by aios3's verifier."""
    raw_path, _, raw_query = request.raw_path.partition("?")
    parts = RequestParts(request.method, raw_path, raw_query, tuple(request.headers.items()))
    try:
        authenticate(parts, _CREDENTIALS, datetime.now(UTC))
    except S3Error:
        return False
    return True


class CeilingView(web.View):
    """``handle`` behind a view class: aiohttp's View dispatch on aios3's routes."""

    async def get(self) -> web.StreamResponse:
        if self.request.app[_SIGV4] and not _verify_sigv4(self.request):
            return web.Response(status=403)
        return await handle(self.request)

    head = put = post = delete = get


def create_app(big_file: Path, *, view: bool = False, sigv4: bool = False) -> web.Application:
    """The ceiling application, serving big_file for ``big*`` keys; with ``view``, every
    request goes through CeilingView on a root, a bucket and an object route, and with
    ``sigv4`` too, after its signature is verified."""
    app = web.Application(client_max_size=0)
    app[_BIG_FILE] = big_file
    app[_SIGV4] = sigv4
    if view or sigv4:
        for path in ("/", "/{bucket}", "/{bucket}/{key:[\\s\\S]*}"):
            app.router.add_view(path, CeilingView)
    else:
        app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _write_big_file(directory: str, mib: int) -> Path:
    path = Path(directory) / "big"
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(block)
    return path


async def _serve(host: str, port: int, big_mib: int, view: bool, sigv4: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="aios3-ceiling-") as directory:
        app = create_app(_write_big_file(directory, big_mib), view=view, sigv4=sigv4)
        runner = web.AppRunner(app, access_log=None)
        await runner.setup()
        site = web.TCPSite(runner, host, port, backlog=1024, reuse_address=True)
        await site.start()
        bound = runner.addresses[0][1]
        print(f"ceiling server\n  endpoint:   http://{host}:{bound}", flush=True)
        stop = asyncio.Event()
        for signum in (signal.SIGINT, signal.SIGTERM):
            asyncio.get_running_loop().add_signal_handler(signum, stop.set)
        try:
            await stop.wait()
        finally:
            await runner.cleanup()


def main() -> None:
    """Serve until interrupted."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--big-mib", type=int, default=64, help="size of the big file, MiB")
    parser.add_argument("--view", action="store_true", help="route through a web.View class")
    parser.add_argument(
        "--sigv4", action="store_true", help="--view, verifying signatures with aios3's code"
    )
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        runner.run(_serve(args.host, args.port, args.big_mib, args.view, args.sigv4))


if __name__ == "__main__":
    main()
