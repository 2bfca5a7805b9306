"""Emptying a directory of bodies at once: rename it aside, delete it in the background.

A reset must not make the test that asked for it wait while thousands of files are
unlinked. A rename inside the same file system is instant; the renamed tree is then
removed on a thread. Readers holding body files open keep reading them (unlinking a
file does not close it). A tree left behind by a crash is removed at the next start.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path

_PREFIX = "trash-"


def move_aside(directory: Path) -> threading.Thread:
    """Replace ``directory`` by an empty one and delete its old contents on a thread,
    which is returned so the caller can wait for it when closing."""
    trash = directory.with_name(f"{_PREFIX}{uuid.uuid4().hex}")
    directory.rename(trash)
    directory.mkdir(exist_ok=True)  # a writer may already have recreated it
    remover = threading.Thread(
        target=shutil.rmtree, args=(trash,), kwargs={"ignore_errors": True}, daemon=True
    )
    remover.start()
    return remover


def sweep(root: Path) -> None:
    """Delete trees a previous process moved aside but did not finish deleting."""
    for leftover in root.glob(f"{_PREFIX}*"):
        shutil.rmtree(leftover, ignore_errors=True)
