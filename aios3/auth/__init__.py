"""Request authentication: pure SigV4 verification and body-hash checking, no web framework."""

from aios3.auth.payload import verify_sha256
from aios3.auth.request import RequestParts
from aios3.auth.sigv4 import AuthResult, authenticate, is_anonymous

__all__ = ["AuthResult", "RequestParts", "authenticate", "is_anonymous", "verify_sha256"]
