"""Code and data versions: hashes that let Dagster tell which assets changed.

The code version of a module is the hash of its own source and of every package module it imports,
directly or not (function-level imports included). A change anywhere in that closure gives the
assets defined there a new code version: Dagster then marks their materializations stale, and
`cineseq run` recomputes them. Only the text of the files counts, not their modification time.

The data version of a table is a hash of its content: an asset that reads sources Dagster cannot
see (the film catalog) returns it, so that its consumers are stale only when its content changed.
"""

from __future__ import annotations

import ast
import hashlib
import importlib.util
from functools import cache
from pathlib import Path

import pandas as pd

PACKAGE = __name__.rpartition(".")[0]
PACKAGE_DIR = Path(__file__).resolve().parent
VERSION_LENGTH = 12


def code_version(module: str) -> str:
    """A short hash of the sources of ``module`` and of the package modules it imports."""
    digest = hashlib.sha256()
    for name in sorted(import_closure(module)):
        digest.update(name.encode())
        digest.update(_source_path(name).read_bytes())
    return digest.hexdigest()[:VERSION_LENGTH]


def table_version(frame: pd.DataFrame) -> str:
    """A hash of a table's content (values, column names and order; not the index)."""
    digest = hashlib.sha256(",".join(map(str, frame.columns)).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:VERSION_LENGTH]


def import_closure(module: str) -> set[str]:
    """``module`` and every module of this package it imports, transitively."""
    seen, pending = set(), [module]
    while pending:
        name = pending.pop()
        if name not in seen:
            seen.add(name)
            pending.extend(_package_imports(name))
    return seen


@cache
def _package_imports(module: str) -> frozenset[str]:
    """The modules of this package that ``module``'s source imports (anywhere in the file)."""
    path = _source_path(module)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = importlib.util.resolve_name("." * node.level + (node.module or ""), package) if node.level else node.module
            # `from . import x` and `from .pkg import name` name either a module or an attribute
            found.add(base)
            found.update(f"{base}.{alias.name}" for alias in node.names)
    return frozenset(name for name in found if _is_package_module(name))


def _is_package_module(name: str) -> bool:
    return (name == PACKAGE or name.startswith(PACKAGE + ".")) and _source_path(name).exists()


def _source_path(module: str) -> Path:
    parts = module.split(".")[1:]
    folder = PACKAGE_DIR.joinpath(*parts)
    return folder / "__init__.py" if folder.is_dir() else folder.with_suffix(".py")
