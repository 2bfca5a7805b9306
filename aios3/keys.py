"""Typed keys for what the application holds (settings, storage, the testing tools) and
for what one request carries between the view and the middlewares."""

from __future__ import annotations

from aiohttp import web

from aios3.config import Config
from aios3.faults import Faults
from aios3.journal import Journal, Trace
from aios3.storage import Storage

CONFIG = web.AppKey("config", Config)
STORAGE = web.AppKey("storage", Storage)
JOURNAL = web.AppKey("journal", Journal)
FAULTS = web.AppKey("faults", Faults)

TRACE = web.RequestKey("trace", Trace)
"""What the view learns about a request, for its journal record."""
