"""aios3: an asyncio-native, S3-compatible object store that keeps objects on local disk."""

__version__ = "0.1.0"
