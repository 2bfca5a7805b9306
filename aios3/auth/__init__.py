"""Request authentication: pure SigV4/SigV2 verification and body checking, no web framework."""

from aios3.auth.chunked import decoded_length, is_aws_chunked, verified_body
from aios3.auth.dispatch import authenticate, is_anonymous
from aios3.auth.payload import check_sha256, verify_sha256
from aios3.auth.request import AuthResult, ChunkChain, RequestParts

__all__ = [
    "AuthResult",
    "ChunkChain",
    "RequestParts",
    "authenticate",
    "check_sha256",
    "decoded_length",
    "is_anonymous",
    "is_aws_chunked",
    "verified_body",
    "verify_sha256",
]
