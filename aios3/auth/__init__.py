"""Request authentication: pure SigV4/SigV2 verification and body-hash checking, no web framework."""

from aios3.auth.dispatch import authenticate, is_anonymous
from aios3.auth.payload import verify_sha256
from aios3.auth.request import AuthResult, RequestParts

__all__ = ["AuthResult", "RequestParts", "authenticate", "is_anonymous", "verify_sha256"]
