"""The import arrows of DESIGN.md: each layer imports only layers below it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "aios3"

# Layer of each module (by dotted prefix) -> the aios3 layers it may import.
ALLOWED: dict[str, set[str]] = {
    "errors": set(),
    "config": set(),
    "users": set(),
    "tls": set(),
    "checksums": {"errors"},
    "journal": {"checksums"},
    "faults": set(),
    "routing": {"errors"},
    "xml": {"errors"},
    "auth": {"auth", "errors", "checksums"},
    "storage": {"storage", "errors", "checksums", "config"},
    "keys": {"config", "storage", "journal", "faults"},
    "handlers": {"handlers", "errors", "checksums", "xml", "auth", "storage", "config", "routing"},
    "views": {
        "handlers",
        "errors",
        "auth",
        "routing",
        "keys",
        "storage",
        "config",
        "journal",
        "faults",
    },
    "admin": {"views", "auth", "errors", "keys", "config", "journal", "faults", "storage"},
    "app": {"admin", "views", "keys", "errors", "xml", "storage", "config", "journal", "faults"},
    "fsck": {"checksums", "config"},
    "cli": {"app", "config", "storage", "errors", "tls", "users", "faults", "fsck"},
    "testing": {"testing", "app", "admin", "keys", "config", "tls", "journal", "faults"},
    "pytest_plugin": {"testing"},
    "__main__": {"cli"},
    "__init__": {"testing"},  # serve and Server, imported on first use
}
PURE = {
    "fsck",
    "errors",
    "config",
    "users",
    "tls",
    "checksums",
    "routing",
    "xml",
    "auth",
    "storage",
    "journal",
    "faults",
}
WEB_FRAMEWORK = {"aiohttp", "multidict", "yarl"}


def _layer(module: Path) -> str:
    relative = module.relative_to(PACKAGE).with_suffix("")
    return relative.parts[0]


def _imports(module: Path) -> set[str]:
    tree = ast.parse(module.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "aios3":
                names.update(f"aios3.{alias.name}" for alias in node.names)
    return names


MODULES = sorted(PACKAGE.rglob("*.py"))


def test_layering_every_module_has_a_layer() -> None:
    unknown = {_layer(module) for module in MODULES} - set(ALLOWED)
    assert not unknown, f"add these modules to the layer table: {unknown}"


@pytest.mark.parametrize("module", MODULES, ids=lambda m: str(m.relative_to(PACKAGE)))
def test_layering_imports_point_down(module: Path) -> None:
    layer = _layer(module)
    for name in _imports(module):
        if name == "aios3" or not name.startswith("aios3."):
            continue
        target = name.split(".")[1]
        if not (PACKAGE / target).is_dir() and not (PACKAGE / f"{target}.py").is_file():
            continue  # a name from aios3/__init__.py, such as __version__
        assert target in ALLOWED[layer], f"{layer} must not import {name}"


@pytest.mark.parametrize(
    "module",
    [m for m in MODULES if _layer(m) in PURE],
    ids=lambda m: str(m.relative_to(PACKAGE)),
)
def test_layering_pure_layers_stay_free_of_the_web_framework(module: Path) -> None:
    top_level = {name.split(".")[0] for name in _imports(module)}
    assert not top_level & WEB_FRAMEWORK, f"{module.name} imports {top_level & WEB_FRAMEWORK}"


def test_layering_table_catches_an_upward_import(tmp_path: Path) -> None:
    """The check itself must be able to fail: storage importing a handler is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text("from aios3.handlers import objects\n", encoding="utf-8")
    imported = {name.split(".")[1] for name in _imports(bad) if name.startswith("aios3.")}
    assert imported - ALLOWED["storage"] == {"handlers"}
