"""aios3: an asyncio-native, S3-compatible object store that keeps objects on local disk.

``aios3.serve`` and ``aios3.Server`` (embedded servers for tests, from
:mod:`aios3.testing`) load on first use, so ``import aios3`` stays cheap for the CLI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aios3.testing import Server, serve

__version__ = "0.1.0"
__all__ = ["Server", "__version__", "serve"]

_LAZY = frozenset({"serve", "Server"})


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from aios3 import testing

        return getattr(testing, name)
    raise AttributeError(f"module 'aios3' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
