"""Embed a real aios3 server in tests: on the running event loop, or on a thread.

``async with serve() as s3`` starts the application on the caller's loop;
``with Server() as s3`` runs the same thing on a background thread with its own loop, for
synchronous code. Both bind a free loopback port and are accepting connections when the
block is entered, and both hand out what a test needs to reach them: the endpoint, the
credentials, configured boto3 and aiobotocore clients, and ``AWS_*`` variables for code
that builds its own clients; plus the request journal, fault injection and reset.

Unlike the command line, an embedded server does not fsync by default: test data is
thrown away, and durability costs milliseconds per write. Pass ``fsync=True`` to test it.
"""

from aios3.testing.handle import CONFLICTING_ENV, Credentials, Handle
from aios3.testing.servers import AsyncServer, Server, serve

__all__ = ["CONFLICTING_ENV", "AsyncServer", "Credentials", "Handle", "Server", "serve"]
