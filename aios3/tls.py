"""The server's TLS context, built one way for the CLI and for embedded test servers.

Keeping this in one place means the HTTPS the tests exercise is the HTTPS users get.
"""

from __future__ import annotations

import ssl
from pathlib import Path


class TLSError(Exception):
    """The certificate or key cannot be loaded; the message says which and why."""


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side context serving ``cert`` (a PEM chain: certificate first, then any
    intermediates) with its private ``key`` (PEM, unencrypted).

    ``create_default_context(CLIENT_AUTH)`` gives the standard library's vetted protocol
    and cipher defaults (TLS 1.2 and newer); clients are not asked for certificates.
    """
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    for label, path in (("certificate", cert), ("key", key)):
        if not path.is_file():
            raise TLSError(f"TLS {label} file {path} does not exist or is not a file")
    try:
        # A password callback that answers nothing: an encrypted key fails at once
        # instead of prompting on a terminal nobody watches.
        context.load_cert_chain(cert, key, password=lambda: b"")
    except ssl.SSLError as exc:
        raise TLSError(
            f"cannot load TLS certificate {cert} with key {key}: {exc.reason or exc}"
        ) from None
    except OSError as exc:
        raise TLSError(f"cannot read TLS certificate or key: {exc.strerror or exc}") from None
    return context
