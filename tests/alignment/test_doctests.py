import doctest
import importlib

import pytest

MODULES = [
    "alignment.histogram",
    "alignment.metrics",
    "alignment.floor",
    "alignment.mixture",
    "alignment.importance",
    "alignment.transport",
]


@pytest.mark.parametrize("name", MODULES)
def test_module_doctests(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0, f"{name} has no doctests"
    assert result.failed == 0


def test_public_api_is_exported():
    import alignment

    for name in alignment.__all__:
        assert hasattr(alignment, name)
        assert getattr(alignment, name).__doc__, f"{name} lacks a docstring"


def test_imports_stay_within_numpy_scipy_pot_ppi_stdlib():
    import ast
    import pathlib
    import sys

    allowed = {"numpy", "scipy", "ot", "ppi_py", "alignment", "__future__"} | set(sys.stdlib_module_names)
    root = pathlib.Path(importlib.import_module("alignment").__file__).parent
    for path in root.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                names = [node.module or ""]
            else:
                continue
            for n in names:
                assert n.split(".")[0] in allowed, f"{path.name} imports {n}"
