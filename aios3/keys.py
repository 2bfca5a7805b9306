"""Typed keys for what the application holds: its settings and its storage."""

from __future__ import annotations

from aiohttp import web

from aios3.config import Config
from aios3.storage import Storage

CONFIG = web.AppKey("config", Config)
STORAGE = web.AppKey("storage", Storage)
