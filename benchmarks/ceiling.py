"""The "ceiling": the least an aiohttp server can do for the benchmark's requests.

It answers the same request shapes as an S3 server, with no storage, no index and no
signature check: GET a fixed 4 KiB body (listings too), HEAD the same headers, PUT reads
and discards the body then answers 200, the multipart POSTs answer the minimal XML a
client needs, and a GET of a key starting with ``big`` is a ``web.FileResponse`` of a
file of ``--big-mib`` MiB (the technique a fast GET path uses: stat+open, then
``sendfile``). Nothing built on aiohttp should beat it, so it tells how close aios3 is.
It runs on uvloop when installed, like ``python -m aios3``.

    python benchmarks/ceiling.py --port 0     # prints "endpoint: http://127.0.0.1:PORT"
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import tempfile
from pathlib import Path

from aiohttp import web

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


def create_app(big_file: Path) -> web.Application:
    """The ceiling application, serving big_file for ``big*`` keys."""
    app = web.Application(client_max_size=0)
    app[_BIG_FILE] = big_file
    app.router.add_route("*", "/{tail:.*}", handle)
    return app


def _write_big_file(directory: str, mib: int) -> Path:
    path = Path(directory) / "big"
    block = os.urandom(1 << 20)
    with path.open("wb") as out:
        for _ in range(mib):
            out.write(block)
    return path


async def _serve(host: str, port: int, big_mib: int) -> None:
    with tempfile.TemporaryDirectory(prefix="aios3-ceiling-") as directory:
        app = create_app(_write_big_file(directory, big_mib))
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
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:
        runner = asyncio.Runner()
    else:
        runner = asyncio.Runner(loop_factory=uvloop.new_event_loop)
    with runner:
        runner.run(_serve(args.host, args.port, args.big_mib))


if __name__ == "__main__":
    main()
