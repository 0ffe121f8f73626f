"""Code versions follow the source a module runs (its package imports included); data versions a table's content."""

import shutil
import subprocess
import sys
from pathlib import Path

import pandas as pd

from cineseq_assets import versions
from cineseq_assets.versions import code_version, import_closure, table_version

PACKAGE = Path(versions.__file__).parent


def test_the_closure_holds_what_a_module_imports_and_nothing_else():
    closure = import_closure("cineseq_assets.decay.assets")
    assert {"cineseq_assets.decay.assets", "cineseq_assets.decay.fits", "cineseq_assets.decay.diagnostics"} <= closure
    assert not any(name.startswith("cineseq_assets.forecast") for name in closure)
    assert "cineseq_assets.definitions" not in closure


def _version_in_copy(package: Path, module: str) -> str:
    code = f"from cineseq_assets.versions import code_version; print(code_version({module!r}))"
    done = subprocess.run([sys.executable, "-c", code], cwd=package.parent, env={"PYTHONPATH": str(package.parent)},
                          capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_editing_an_imported_module_changes_the_version_and_touching_it_does_not(tmp_path):
    copy = tmp_path / "cineseq_assets"
    shutil.copytree(PACKAGE, copy, ignore=shutil.ignore_patterns("__pycache__"))
    before = {m: _version_in_copy(copy, f"cineseq_assets.{m}.assets") for m in ("decay", "boxoffice")}
    assert before["decay"] == code_version("cineseq_assets.decay.assets")
    fits = copy / "decay" / "fits.py"
    fits.write_text(fits.read_text())  # a new modification time, the same text
    assert _version_in_copy(copy, "cineseq_assets.decay.assets") == before["decay"]
    fits.write_text(fits.read_text() + "\n# changed\n")
    assert _version_in_copy(copy, "cineseq_assets.decay.assets") != before["decay"]
    assert _version_in_copy(copy, "cineseq_assets.boxoffice.assets") == before["boxoffice"]


def test_table_version_follows_the_content():
    table = pd.DataFrame({"film_id": ["a", "b"], "gross": [1.0, 2.0]})
    assert table_version(table) == table_version(table.copy())
    assert table_version(table) != table_version(table.assign(gross=[1.0, 2.5]))
    assert table_version(table) != table_version(table.rename(columns={"gross": "total"}))


def test_the_panel_schema_is_part_of_the_panel_assets_code_version():
    """A new ``schema.PANEL_SCHEMA_VERSION`` (or a changed feature function) gives the panel assets a new
    code version, so stored panels of the older schema are stale and rebuilt by `cineseq run`, never read as new."""
    closure = import_closure("cineseq_assets.boxoffice.assets")
    assert {"cineseq_assets.boxoffice.schema", "cineseq_assets.boxoffice.features", "cineseq_assets.boxoffice.weekly"} <= closure
