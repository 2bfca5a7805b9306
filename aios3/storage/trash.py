"""Emptying a directory of bodies at once: rename it aside, delete it in the background.

A reset must not make the test that asked for it wait while thousands of files are
unlinked. A rename inside the same file system is instant; the renamed tree is then
removed on a thread. Readers holding body files open keep reading them (unlinking a
file does not close it). A tree left behind by a crash is removed at the next start.
"""

from __future__ import annotations

import contextlib
import threading
import uuid
from pathlib import Path

from aios3.storage.fileops import FileOps

_PREFIX = "trash-"


def move_aside(directory: Path, files: FileOps) -> threading.Thread:
    """Replace ``directory`` by an empty one and delete its old contents on a thread,
    which is returned so the caller can wait for it when closing."""
    trash = directory.with_name(f"{_PREFIX}{uuid.uuid4().hex}")
    files.rename(directory, trash)
    with contextlib.suppress(FileExistsError):
        files.mkdir(directory)  # a writer may already have recreated it
    remover = threading.Thread(target=files.rmtree, args=(trash,), daemon=True)
    remover.start()
    return remover


def sweep(root: Path, files: FileOps) -> None:
    """Delete trees a previous process moved aside but did not finish deleting."""
    for leftover in root.glob(f"{_PREFIX}*"):
        files.rmtree(leftover)
