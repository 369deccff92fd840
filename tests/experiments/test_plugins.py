"""``POPULACE_PLUGINS``: a backend added from outside the package, with no edit inside it, runs ``probe``.

The toy plugin is written into ``tmp_path`` at test time; the CLI runs in a subprocess, so the plugin's import and
registration happen exactly as for a user (before the parser is built, its option becomes a flag).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.errors import PluginError
from experiments.plugins import load_plugins

ROOT = Path(__file__).resolve().parents[2]

TOY = '''
"""A toy backend: answer v of a scale gets weight 2 ** -|v - peak|; the peak is its own option."""

import numpy as np

from populace_lm.backends import BackendOption, register_backend
from populace_lm.types import AnswerDistribution, Generation, Usage


class ToyModel:
    def __init__(self, peak):
        self.peak = peak
        self.model_id = f"toy/peak{peak}"

    def generate(self, request):
        return Generation(text=str(self.peak), usage=Usage(backend_calls=1))

    def answer_distribution(self, request):
        values = np.asarray(request.answers.values, dtype=float)
        weights = 2.0 ** -np.abs(values - self.peak)
        return AnswerDistribution(
            values=request.answers.values, probs=weights / weights.sum(), valid_mass=0.75, usage=Usage(backend_calls=1)
        )


register_backend(
    "toy",
    lambda options: ToyModel(options["peak"]),
    [BackendOption("peak", int, default=3, env="TOY_PEAK", flag="--toy-peak", minimum=1, help="the likeliest answer")],
    help="a deterministic toy model (test plugin)",
)
'''


def _toy_probs(peak: int, values: range) -> np.ndarray:
    weights = 2.0 ** -np.abs(np.asarray(values, dtype=float) - peak)
    return weights / weights.sum()


def _cli(tmp_path: Path, plugins: str, *argv: str, **env: str) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("POPULACE_")}
    environ.update(
        POPULACE_PLUGINS=plugins,
        POPULACE_CACHE_DIR=str(tmp_path / "populace-cache"),
        PYTHONPATH=os.pathsep.join([str(ROOT), str(tmp_path)]),
        **env,
    )
    return subprocess.run(
        [sys.executable, "-m", "experiments.cli", *argv], cwd=ROOT, env=environ, capture_output=True, text=True
    )


def _probe_argv(tmp_path: Path, *extra: str) -> list[str]:
    return [
        "probe", "--backend", "toy", "--question", "How much do you like tea?", "--scale", "likert5",
        "--cache", str(tmp_path / "c.sqlite"), "--out", str(tmp_path / "out"), "--quiet", *extra,
    ]  # fmt: skip


def _printed(stdout: str) -> dict[str, str]:
    return dict(line.split("\t", 1) for line in stdout.splitlines() if "\t" in line)


@pytest.mark.parametrize("route", ["module", "file"])
def test_a_plugin_backend_runs_probe_with_its_own_option(tmp_path, route):
    (tmp_path / "toy_backend.py").write_text(TOY)
    plugin = "toy_backend" if route == "module" else str(tmp_path / "toy_backend.py")
    done = _cli(tmp_path, plugin, *_probe_argv(tmp_path, "--toy-peak", "4"))
    assert done.returncode == 0, done.stderr
    printed = _printed(done.stdout)
    expected = _toy_probs(4, range(1, 6))
    assert [float(printed[str(v)]) for v in range(1, 6)] == pytest.approx(expected, abs=1e-6)
    assert float(printed["valid_mass"]) == pytest.approx(0.75)
    probe = json.loads((tmp_path / "out" / "probe.json").read_text())
    assert probe["model_id"] == "toy/peak4" and probe["probs"] == pytest.approx(expected)
    manifest = json.loads((tmp_path / "out" / "run.json").read_text())
    assert manifest["exit_status"] == "ok" and list(manifest["llm_accounting"]) == ["toy/peak4"]
    assert manifest["llm_accounting"]["toy/peak4"]["total"]["backend_calls"] == 1


def test_the_option_reads_its_environment_variable_and_the_backend_its_help(tmp_path):
    (tmp_path / "toy_backend.py").write_text(TOY)
    done = _cli(tmp_path, "toy_backend", *_probe_argv(tmp_path), TOY_PEAK="2")  # no flag: the variable, then 3
    assert done.returncode == 0, done.stderr
    assert float(_printed(done.stdout)["2"]) == pytest.approx(_toy_probs(2, range(1, 6))[1], abs=1e-6)
    helped = _cli(tmp_path, "toy_backend", "probe", "--help")
    assert "backend toy" in helped.stdout and "--toy-peak" in helped.stdout and "TOY_PEAK" in helped.stdout
    bad = _cli(tmp_path, "toy_backend", *_probe_argv(tmp_path, "--toy-peak", "0"))
    assert bad.returncode == 2 and bad.stderr.strip() == (
        "populace: error: peak must be an integer >= 1, got 0: fix --toy-peak or TOY_PEAK"
    )


def test_without_the_plugin_the_backend_is_unknown_in_one_line(tmp_path):
    done = _cli(tmp_path, "", "probe", "--backend", "toy", "--question", "Q?", "--scale", "likert5")
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "populace: error: unknown backend 'toy': registered backends are local, openai (--backend or "
        "POPULACE_BACKEND; a plugin registers more through POPULACE_PLUGINS)"
    )


def test_a_plugin_that_fails_to_import_is_one_line_naming_it_and_the_variable(tmp_path):
    (tmp_path / "broken_plugin.py").write_text("raise RuntimeError('half-written')\n")
    done = _cli(tmp_path, "broken_plugin", "probe", "--question", "Q?", "--scale", "likert5")
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "populace: error: POPULACE_PLUGINS: cannot import plugin module 'broken_plugin' (RuntimeError: "
        "half-written); put it on PYTHONPATH or fix the plugin"
    )
    with pytest.raises(PluginError, match=r"cannot import plugin file '.*nowhere\.py' \(FileNotFoundError"):
        load_plugins(str(tmp_path / "nowhere.py"))


def test_load_plugins_imports_names_and_files_once_in_order(tmp_path, monkeypatch):
    (tmp_path / "first_plugin.py").write_text("import sys\nsys.modules['first_plugin'].order = len(sys.modules)\n")
    (tmp_path / "second.py").write_text("LOADS = globals().get('LOADS', 0) + 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    names = load_plugins(f" first_plugin , ,{tmp_path / 'second.py'}")
    assert names == ["first_plugin", "populace_plugin_second"]
    assert load_plugins(str(tmp_path / "second.py")) == ["populace_plugin_second"]
    assert sys.modules["populace_plugin_second"].LOADS == 1  # imported once per process
    assert load_plugins("") == []
    for name in names:
        monkeypatch.delitem(sys.modules, name)
