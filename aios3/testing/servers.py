"""The embedded servers: :class:`AsyncServer` on the running event loop (made by
:func:`serve`) and :class:`Server` on a background thread, both started the way the CLI
starts one (``web.AppRunner`` + ``TCPSite``), minus signals, banner and logging.
"""

from __future__ import annotations

import asyncio
import contextlib
import ipaddress
import shutil
import tempfile
import threading
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path
from types import TracebackType
from typing import Any

from aiohttp import web

from aios3 import admin
from aios3.app import create_app
from aios3.config import Config
from aios3.testing.handle import Handle, Running
from aios3.tls import server_context

__all__ = ["AsyncServer", "Server", "serve"]

# A test server is stopped at the end of a block or session, when nothing should still be
# running; a request still in flight (a stalled client) is cut off after this long instead
# of holding the test run up for aiohttp's default minute.
SHUTDOWN_TIMEOUT = 2.0

# How long Server.start waits for its thread to report; a start never takes this long
# unless something is badly wrong, and a clear error beats a hung test run.
START_TIMEOUT = 60.0


def _embedded_config(root: Path, options: dict[str, Any]) -> Config:
    """Config for an embedded server: loopback, a free port, no fsync, unless overridden."""
    return Config(**{"host": "127.0.0.1", "port": 0, "fsync": False, **options, "root": root})


def _url(host: str, port: int, *, tls: bool) -> str:
    """The URL a client on this machine uses for a server bound to host:port."""
    if host in ("", "0.0.0.0"):
        host = "127.0.0.1"
    elif host == "::":
        host = "::1"
    with contextlib.suppress(ValueError):
        if ipaddress.ip_address(host).version == 6:
            host = f"[{host}]"
    return f"{'https' if tls else 'http'}://{host}:{port}"


class AsyncServer(Handle):
    """An aios3 server on the running event loop; made by :func:`serve`."""

    def __init__(
        self, root: str | Path | None = None, *, ca_bundle: str | Path | None = None, **options: Any
    ) -> None:
        self._root = None if root is None else Path(root)
        self._ca_bundle = None if ca_bundle is None else Path(ca_bundle)
        self._options = options
        self._runner: web.AppRunner | None = None
        self._app: web.Application | None = None
        self._temporary: Path | None = None
        self._state: Running | None = None

    def _running(self) -> Running:
        if self._state is None:
            raise RuntimeError("the aios3 server is not running")
        return self._state

    @property
    def app(self) -> web.Application:
        """The running aiohttp application, for what the handle does not expose."""
        if self._app is None:
            raise RuntimeError("the aios3 server is not running")
        return self._app

    async def reset(self) -> None:
        """Empty the server: buckets, objects, uploads, the journal and the faults."""
        await admin.reset(self.app)

    async def start(self) -> AsyncServer:
        """Open storage and start listening; when this returns, connections are accepted.

        Start-up errors (another server holds the data directory, a bad certificate, an
        unknown option) are raised here, with nothing left open.
        """
        if self._runner is not None:
            raise RuntimeError("the aios3 server is already running")
        root = self._root
        if root is None:
            root = self._temporary = Path(tempfile.mkdtemp(prefix="aios3-"))
        try:
            config = _embedded_config(root, self._options)
            ssl_context = None
            if config.tls_cert is not None and config.tls_key is not None:
                ssl_context = server_context(config.tls_cert, config.tls_key)
            app = create_app(config)
            runner = web.AppRunner(
                app, handle_signals=False, access_log=None, shutdown_timeout=SHUTDOWN_TIMEOUT
            )
            try:
                await runner.setup()  # opens storage
                site = web.TCPSite(
                    runner, config.host, config.port, backlog=1024, ssl_context=ssl_context
                )
                await site.start()  # listening from here on: no polling needed
            except BaseException:
                await runner.cleanup()
                raise
        except BaseException:
            await self._remove_temporary()
            raise
        port = int(runner.addresses[0][1])
        self._runner, self._app = runner, app
        self._state = Running(replace(config, port=port), _url(config.host, port, tls=config.tls))
        return self

    async def stop(self) -> None:
        """Stop listening, let requests finish (briefly), close storage, and remove a
        temporary data directory. Stopping a stopped server does nothing."""
        runner, self._runner = self._runner, None
        self._state = self._app = None
        try:
            if runner is not None:
                await runner.cleanup()
        finally:
            await self._remove_temporary()

    async def _remove_temporary(self) -> None:
        # On a thread: the loop may be the caller's, and it must not block on disk.
        temporary, self._temporary = self._temporary, None
        if temporary is not None:
            await asyncio.to_thread(shutil.rmtree, temporary, ignore_errors=True)

    async def __aenter__(self) -> AsyncServer:
        return await self.start()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.stop()


def serve(
    root: str | Path | None = None, *, ca_bundle: str | Path | None = None, **options: Any
) -> AsyncServer:
    """``async with serve() as s3``: an aios3 server on the running event loop.

    ``root`` is the data directory; ``None`` makes a temporary one, removed on exit (a
    given one is kept). ``options`` are :class:`aios3.config.Config` fields; unlike the
    command line, ``fsync`` defaults to False and ``port`` to 0 (a free port).
    ``ca_bundle`` is the CA file the handle's clients trust, for a server given
    ``tls_cert``/``tls_key``.
    """
    return AsyncServer(root, ca_bundle=ca_bundle, **options)


class Server(Handle):
    """``with Server() as s3``: the API of :func:`serve` for synchronous code.

    The server runs on a background thread with its own event loop, so blocking clients
    in the test's thread and async clients on any other loop can all reach it.
    """

    def __init__(
        self, root: str | Path | None = None, *, ca_bundle: str | Path | None = None, **options: Any
    ) -> None:
        self._server = AsyncServer(root, ca_bundle=ca_bundle, **options)
        self._ca_bundle = self._server.ca_bundle
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop_event: asyncio.Event | None = None

    def _running(self) -> Running:
        return self._server._running()

    @property
    def app(self) -> web.Application:
        """The running aiohttp application (it lives on the server thread's loop)."""
        return self._server.app

    def reset(self) -> None:
        """Empty the server: buckets, objects, uploads, the journal and the faults."""
        asyncio.run_coroutine_threadsafe(admin.reset(self.app), self.loop).result()

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        """The server thread's event loop."""
        if self._loop is None:
            raise RuntimeError("the aios3 server is not running")
        return self._loop

    def start(self) -> Server:
        """Start the thread and wait until the server accepts connections; start-up
        errors are raised here, in the caller's thread."""
        if self._thread is not None:
            raise RuntimeError("the aios3 server is already running")
        started: Future[None] = Future()
        thread = threading.Thread(
            target=asyncio.run, args=(self._main(started),), name="aios3-server", daemon=True
        )
        thread.start()
        try:
            started.result(timeout=START_TIMEOUT)
        except BaseException:
            # A start-up error ends the thread by itself; an interrupted or timed-out
            # wait asks a server that may still come up to stop again.
            self._request_stop()
            thread.join(timeout=START_TIMEOUT)
            self._loop = self._stop_event = None
            raise
        self._thread = thread
        return self

    async def _main(self, started: Future[None]) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop_event = stop = asyncio.Event()
        try:
            await self._server.start()
        except BaseException as exc:
            started.set_exception(exc)
            return
        started.set_result(None)
        try:
            await stop.wait()
        finally:
            await self._server.stop()

    def stop(self) -> None:
        """Shut the server down and wait for its thread; idempotent."""
        thread, self._thread = self._thread, None
        if thread is None:
            return
        self._request_stop()
        thread.join()
        self._loop = self._stop_event = None

    def _request_stop(self) -> None:
        loop, stop = self._loop, self._stop_event
        if loop is not None and stop is not None:
            with contextlib.suppress(RuntimeError):  # the loop already ended
                loop.call_soon_threadsafe(stop.set)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()
