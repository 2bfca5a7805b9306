"""Users from the command line and from a users file, as ``(access_key, secret_key)`` pairs.

The users file holds one ``ACCESS_KEY:SECRET_KEY`` per line; blank lines and lines
starting with ``#`` are ignored, and spaces around either half are dropped. The line is
split at its first colon, so a secret may contain colons; an access key may not (nor
whitespace or ``/``, which would break SigV4's credential scope).

Errors are ``UsersError`` with a message that names the file and line, so the CLI can
print it as a usage error.
"""

from __future__ import annotations

import re
from pathlib import Path

# What AWS access key ids look like, loosened: anything a SigV4 Credential
# (``key/date/region/s3/aws4_request``) or a SigV2 ``AWS key:signature`` header can carry.
_ACCESS_KEY = re.compile(r"[^\s:/]+")

Users = tuple[tuple[str, str], ...]


class UsersError(ValueError):
    """A user definition that cannot be used; the message says where and why."""


def parse_user(text: str) -> tuple[str, str]:
    """One ``ACCESS_KEY:SECRET_KEY``, as given to ``--user``."""
    access_key, colon, secret_key = text.partition(":")
    access_key, secret_key = access_key.strip(), secret_key.strip()
    if not colon:
        raise UsersError(f"expected ACCESS_KEY:SECRET_KEY, got {text!r}")
    if not _ACCESS_KEY.fullmatch(access_key):
        raise UsersError(
            f"access key must be non-empty, without spaces, ':' or '/', got {access_key!r}"
        )
    if not secret_key:
        raise UsersError(f"secret key of {access_key!r} is empty")
    return access_key, secret_key


def parse_user_list(text: str) -> Users:
    """Comma-separated ``KEY:SECRET`` pairs, as in ``AIOS3_USERS`` (empty items skipped)."""
    return tuple(parse_user(item) for item in text.split(",") if item.strip())


def parse_users_file(text: str, name: str = "users file") -> Users:
    """Every user of a users file's ``text``; ``name`` says which file in errors.

    A file without a single user is an error: it is far more likely a wrong path or
    an unfinished file than a wish to run without users.
    """
    users: list[tuple[str, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        try:
            users.append(parse_user(stripped))
        except UsersError as exc:
            raise UsersError(f"{name}, line {number}: {exc}") from None
    if not users:
        raise UsersError(f"{name} defines no users")
    return tuple(users)


def load_users_file(path: Path) -> Users:
    """Read and parse the users file at ``path``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsersError(f"cannot read users file {path}: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise UsersError(f"users file {path} is not UTF-8 text") from None
    return parse_users_file(text, str(path))


def merge_users(*groups: Users) -> Users:
    """All groups in order; an access key given twice is an error, even with the same
    secret, because which definition wins would otherwise be a guess."""
    seen: set[str] = set()
    merged: list[tuple[str, str]] = []
    for group in groups:
        for access_key, secret_key in group:
            if access_key in seen:
                raise UsersError(f"access key {access_key!r} is given more than once")
            seen.add(access_key)
            merged.append((access_key, secret_key))
    return tuple(merged)
