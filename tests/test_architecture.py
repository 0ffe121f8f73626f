"""The layering of docs/architecture.md, read from the code's imports (nothing is imported or run).

- The science (every module but the Dagster wiring) imports neither Dagster nor Gradio.
- Stages are siblings: a stage's modules import another stage only where the data contract says so
  (decay, frames and forecast read the box-office schema); trailer and frame columns reach the
  forecaster through ``contracts``, video decoding reaches trailers and frames through ``media``.
- Stages refer to each other's assets by key: no module imports another stage's ``assets``.
- No import cycle between modules at import time.
- One owner for each shared mechanism: only it makes the calls named in ``OWNERS``.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "cineseq_assets"
STAGES = {"boxoffice", "decay", "trailers", "frames", "forecast"}
# stage -> the other stages its modules may import
ALLOWED_STAGE_IMPORTS = {"boxoffice": set(), "decay": {"boxoffice"}, "trailers": set(), "frames": {"boxoffice"},
                         "forecast": {"boxoffice"}}
# The Dagster wiring: the only modules that may import dagster.
WIRING_NAMES = {"assets", "checks", "resources", "definitions", "jobs", "sensors", "partitions", "io_manager",
                "runner", "dagster_storage", "dagster_postgres_storage", "run_config", "staleness"}
# A call that only one module may make -> that module (a suffix of the call's dotted name matches).
OWNERS = {"onnx.export": "cineseq_assets.onnx_graphs",  # every ONNX export is checked against PyTorch
          "InferenceSession": "cineseq_assets.processes",  # sessions keep to the process's thread budget
          "os.replace": "cineseq_assets.storage"}  # one way of replacing a file atomically


def _modules() -> dict[str, Path]:
    files = sorted((ROOT / PACKAGE).rglob("*.py")) + sorted((ROOT / "demo").rglob("*.py"))
    modules = {}
    for path in files:
        parts = list(path.relative_to(ROOT).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        modules[".".join(parts)] = path
    return modules


MODULES = _modules()


def _imports(name: str, path: Path, top_level_only: bool = False) -> set[str]:
    """Absolute names of the modules ``name`` imports (relative imports resolved)."""
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else ast.walk(tree)
    package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
    found = set()
    for node in nodes:
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            module = ".".join(base + ([node.module] if node.module else []))
            found.add(module)
            # `from . import x` and `from .pkg import module` name modules too
            found |= {f"{module}.{alias.name}" for alias in node.names if f"{module}.{alias.name}" in MODULES}
    return found


def _stage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == PACKAGE and len(parts) > 1 and parts[1] in STAGES else None


def _is_wiring(module: str) -> bool:
    return module.split(".")[-1] in WIRING_NAMES or module == "demo.app"


@pytest.mark.parametrize("module", [m for m in MODULES if not _is_wiring(m)])
def test_science_imports_neither_dagster_nor_gradio(module):
    frameworks = {name for name in _imports(module, MODULES[module]) if name.split(".")[0] in {"dagster", "gradio"}}
    assert not frameworks, f"{module} imports {sorted(frameworks)}: keep Dagster and Gradio in the wiring"


def test_stages_import_only_the_stages_their_data_contract_names():
    crossings = []
    for module, path in MODULES.items():
        stage = _stage(module)
        if stage is None:
            continue
        for target in _imports(module, path):
            other = _stage(target)
            if other and other != stage and other not in ALLOWED_STAGE_IMPORTS[stage]:
                crossings.append(f"{module} -> {target}")
    assert not crossings, "stages are siblings; move what they share to a neutral module:\n" + "\n".join(crossings)


def test_no_module_imports_another_stages_assets():
    crossings = [f"{module} -> {target}" for module, path in MODULES.items() for target in _imports(module, path)
                 if target.split(".")[-1] == "assets" and _stage(target) and _stage(target) != _stage(module)
                 and not module.endswith("definitions")]
    assert not crossings, "refer to other stages' assets by key (dg.AssetKey):\n" + "\n".join(crossings)


def test_no_import_cycles():
    graph = {m: {t for t in _imports(m, p, top_level_only=True) if t in MODULES and t != m} for m, p in MODULES.items()}
    # A package's __init__ importing its own submodules is not a cycle: drop edges from a module to its parents.
    graph = {m: {t for t in targets if not m.startswith(t + ".")} for m, targets in graph.items()}
    state: dict[str, int] = {}
    cycles = []

    def visit(module: str, trail: list[str]) -> None:
        state[module] = 1
        for target in sorted(graph[module]):
            if state.get(target) == 1:
                cycles.append(" -> ".join(trail[trail.index(target):] + [target]) if target in trail else target)
            elif target not in state:
                visit(target, trail + [target])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def _calls(path: Path) -> set[str]:
    """Dotted names of what ``path`` calls (``torch.onnx.export``, ``ort.InferenceSession``, ...)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Call):
            parts, func = [], node.func
            while isinstance(func, ast.Attribute):
                parts.append(func.attr)
                func = func.value
            if isinstance(func, ast.Name):
                names.add(".".join([func.id, *reversed(parts)]))
    return names


def test_each_shared_mechanism_has_one_owner():
    strays = [f"{module} calls {name} (use {owner})" for module, path in MODULES.items() for name in _calls(path)
              for call, owner in OWNERS.items() if module != owner and (name == call or name.endswith("." + call))]
    assert not strays, "\n".join(strays)
