"""requirements.txt agrees with pyproject.toml, and scripts/check_lock.py catches each kind of disagreement."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
_spec = importlib.util.spec_from_file_location("check_lock", REPO / "scripts" / "check_lock.py")
check_lock = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(check_lock)


@pytest.fixture
def project(tmp_path: Path) -> Path:
    shutil.copy(REPO / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copy(REPO / "requirements.txt", tmp_path / "requirements.txt")
    shutil.copy(REPO / "pylock.toml", tmp_path / "pylock.toml")
    return tmp_path


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))


def test_the_checked_in_lock_agrees_with_pyproject():
    assert check_lock.lock_problems(REPO / "pyproject.toml", REPO / "requirements.txt") == []
    assert check_lock.main(["--root", str(REPO)]) == 0


def test_the_lock_pins_every_package_exactly_including_torch_and_llama():
    pins, direct = check_lock.read_lock(REPO / "requirements.txt")
    assert str(pins["torch"]).startswith("2.13.0") and "llama-cpp-python" in pins
    assert {"mesa", "numpy", "scipy", "pot", "openai", "networkx", "sentence-transformers", "faiss-cpu"} <= direct
    assert "transformers" in pins and "transformers" not in direct  # transitive dependencies are pinned too


def test_a_new_dependency_missing_from_the_lock_fails(project):
    edit(project / "pyproject.toml", '"pytest>=8",\n    "gt-all', '"pytest>=8",\n    "polars>=1.0",\n    "gt-all')
    problems = check_lock.lock_problems(project / "pyproject.toml", project / "requirements.txt")
    assert len(problems) == 1 and "polars (required in pyproject.toml as polars>=1.0) is not locked" in problems[0]
    assert "scripts/lock.sh" in problems[0]
    assert check_lock.main(["--root", str(project)]) == 1


def test_a_bound_the_pin_does_not_meet_fails(project):
    edit(project / "pyproject.toml", '"scipy>=1.11"', '"scipy<1.12"')
    problems = check_lock.lock_problems(project / "pyproject.toml", project / "requirements.txt")
    assert len(problems) == 1 and problems[0].count("scipy==") == 1 and "does not satisfy scipy<1.12" in problems[0]


def test_a_dependency_dropped_from_pyproject_but_still_locked_as_direct_fails(project):
    edit(project / "pyproject.toml", '    "faiss-cpu>=1.8",\n', "")
    problems = check_lock.lock_problems(project / "pyproject.toml", project / "requirements.txt")
    assert problems == [
        f"{project / 'requirements.txt'}: faiss-cpu is locked as a requirement of the project but pyproject.toml "
        "no longer lists it; run scripts/lock.sh and commit requirements.txt and pylock.toml"
    ]


def test_a_loose_line_in_the_lock_is_refused(project):
    edit(project / "requirements.txt", "scipy==", "scipy>=")
    with pytest.raises(SystemExit, match=r"requirements.txt:\d+: not an exact 'name==version' pin"):
        check_lock.read_lock(project / "requirements.txt")


def test_an_installed_version_that_differs_from_its_pin_is_reported(project):
    edit(project / "requirements.txt", "\nnumpy==", "\nnumpy==0.0.1\n# was numpy==")
    problems = check_lock.installed_problems(project / "requirements.txt")
    assert any(p.startswith("numpy ") and "pins 0.0.1; run scripts/setup.sh" in p for p in problems)


def test_the_installed_lock_pylock_toml_holds_exactly_the_pins(project):
    assert check_lock.pylock_problems(REPO / "requirements.txt", REPO / "pylock.toml") == []
    edit(project / "pylock.toml", 'name = "scipy"\nversion = "', 'name = "scipy"\nversion = "0.0.1" # "')
    problems = check_lock.pylock_problems(project / "requirements.txt", project / "pylock.toml")
    assert len(problems) == 1 and "pylock.toml locks scipy 0.0.1 but requirements.txt pins" in problems[0]
    assert check_lock.main(["--root", str(project)]) == 1
    (project / "pylock.toml").unlink()
    assert "cannot be read" in check_lock.pylock_problems(project / "requirements.txt", project / "pylock.toml")[0]
