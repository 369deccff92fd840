"""The module map of ARCHITECTURE.md, checked by walking every module's imports with ``ast``."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGES = ("populace_lm", "alignment", "scenarios", "populations", "simulator", "experiments")
ALLOWED = {  # package → internal packages it may import
    "populace_lm": set(),
    "alignment": set(),
    "scenarios": {"populace_lm"},
    "populations": {"populace_lm", "alignment", "scenarios"},
    "simulator": {"populace_lm", "alignment", "scenarios", "populations"},
    "experiments": set(PACKAGES),
}
EXTERNAL_ONLY_IN = {
    "mesa": {"simulator"},
    "networkx": {"simulator"},
    "openai": {"populace_lm"},
    "llama_cpp": {"populace_lm"},
}
ALIGNMENT_THIRD_PARTY = {"numpy", "scipy", "ot", "ppi_py"}  # ppi_py: pure numerics too (issue 20: PPI estimators)


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _modules():
    for pkg in PACKAGES:
        for path in sorted((REPO / pkg).rglob("*.py")):
            yield pkg, path


@pytest.mark.parametrize(("pkg", "path"), list(_modules()), ids=lambda x: str(x).rsplit("/main/", 1)[-1])
def test_imports_follow_the_module_map(pkg, path):
    imported = _imports(path)
    internal = imported & set(PACKAGES) - {pkg}
    assert internal <= ALLOWED[pkg], f"{path} imports {sorted(internal - ALLOWED[pkg])} against the module map"
    for external, owners in EXTERNAL_ONLY_IN.items():
        assert external not in imported or pkg in owners, f"{path} imports {external}; only {owners} may"
    if pkg == "alignment":
        import sys

        third_party = {m for m in imported if m not in sys.stdlib_module_names and m != "alignment"}
        assert third_party <= ALIGNMENT_THIRD_PARTY, f"{path} imports {sorted(third_party)}"


def test_nothing_imports_experiments():
    for pkg, path in _modules():
        if pkg != "experiments":
            assert "experiments" not in _imports(path), path
