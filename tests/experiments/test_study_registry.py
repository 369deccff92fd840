"""The construction registry: every kind's plan matches its run, unknown kinds fail in one line, and a plugin adds a
kind from outside the package through ``POPULACE_PLUGINS`` (``compare --plan`` and a fake-model ``compare``)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from experiments.cli import main
from experiments.plugins import PluginError, load_plugins
from experiments.study import StudyError, load_study, plan_study, run_study
from populace_lm.cache import CachedModel
from populations.constructions import (
    BuildContext,
    ConstructionError,
    ConstructionKind,
    Estimate,
    construction_kinds,
    get_construction,
    register_construction,
)
from scenarios.schema import Param
from tests.experiments.test_study import ALL_KINDS, fake_model, write_pop, write_study_file

REPO = Path(__file__).resolve().parents[2]

#: A toy kind written by a user outside the package: two personas answering about ``low`` and ``high``, the
#: weight of ``high`` the share of fit-half humans above the midpoint.
PLUGIN = """
import numpy as np

from populations.constructions import BuiltConstruction, ConstructionKind, Estimate, register_construction
from populations.persona import Persona, Population
from scenarios.schema import Param, at_least


def build(ctx, p):
    mid = (p["low"] + p["high"]) / 2
    share = float(np.mean(np.asarray(ctx.fit, dtype=float) > mid))
    share = min(max(share, 0.01), 0.99)
    personas = tuple(
        Persona(id=f"toy{int(v)}", text=f"You are a person who would answer about {v:g}.") for v in (p["low"], p["high"])
    )
    pop = Population(personas=personas, weights=np.array([1 - share, share]), construction="two_point")
    return BuiltConstruction(pop, {"n_failed": None})


register_construction(
    ConstructionKind(
        name="two_point",
        help="two personas at low and high, weighted by the fit half",
        params={
            "low": Param("float", 20.0, None, "the low persona's answer"),
            "high": Param("float", 80.0, None, "the high persona's answer"),
            "unused": Param("int", 1, at_least(1), "a checked parameter"),
        },
        build=build,
        estimate=lambda p, q: Estimate(2, 2 * q, 2 * q * 100),
        ordered_only=True,
    )
)
"""


def _env(plugin: Path) -> dict[str, str]:
    env = {**os.environ, "POPULACE_PLUGINS": str(plugin), "PYTHONPATH": str(REPO)}
    env.pop("POPULACE_QUIET", None)
    return env


def _plugin_study(tmp_path: Path) -> tuple[Path, Path]:
    plugin = tmp_path / "lab_kinds.py"
    plugin.write_text(PLUGIN)
    study = tmp_path / "study.toml"
    study.write_text(
        'seed = 0\nscenarios = ["dictator"]\nagents = 30\nrepeats = 2\n'
        '[[constructions]]\nname = "toy"\nkind = "two_point"\nlow = 10\nhigh = 90\n'
        '[[constructions]]\nname = "fixed"\nkind = "fixed"\n'
    )
    return plugin, study


def test_a_plugin_adds_a_kind_that_plan_and_compare_use(tmp_path, data_dir, personas_dir):
    plugin, study = _plugin_study(tmp_path)
    env = _env(plugin)
    plan = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "compare", str(study), "--plan"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert plan.returncode == 0, plan.stderr
    toy = next(line for line in plan.stdout.splitlines() if line.startswith("toy "))
    assert toy.split()[1:3] == ["two_point", "dictator"] and toy.split()[-2:] == ["2", "200"]  # 2 × 1 question × 100
    out = tmp_path / "out"
    code = (
        "import sys, experiments.common as c\n"
        "from tests.experiments.test_study import fake_model\n"
        "c.model_from_args = lambda args: fake_model()\n"
        "from experiments.cli import main\n"
        f"sys.exit(main(['compare', {str(study)!r}, '--out', {str(out)!r}, '--quiet']))\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, env=env, capture_output=True, text=True, timeout=600
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    scores = {r["construction"]: r for r in json.loads((out / "scores.json").read_text())["scores"]}
    toy_row = scores["toy"]
    assert toy_row["kind"] == "two_point" and toy_row["components"] == 2 and toy_row["status"] == "ok"
    # the fake answers ~10 or ~90 for those personas: the exact mean is the fit half's share above 50 between them
    assert 10 < toy_row["mean_exact"] < 90 and toy_row["mean_exact"] != pytest.approx(scores["fixed"]["mean_exact"])


def test_a_plugin_kind_is_validated_and_documented_like_a_built_in(tmp_path):
    plugin, study = _plugin_study(tmp_path)
    study.write_text(study.read_text().replace("low = 10", "unused = 0"))
    bad = subprocess.run(
        [sys.executable, "-m", "experiments.cli", "compare", str(study), "--plan"],
        cwd=tmp_path, env=_env(plugin), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert bad.returncode == 2 and bad.stderr.strip().count("\n") == 0
    assert "constructions.toy.unused = 0 must be >= 1" in bad.stderr
    docs = subprocess.run(
        [sys.executable, "-c", "from experiments.plugins import load_plugins; load_plugins();"
         "from experiments.study_schema import schema_markdown; print(schema_markdown())"],
        cwd=REPO, env=_env(plugin), capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert '#### kind = "two_point"' in docs.stdout and "| `high` | float | `80.0` |" in docs.stdout


def test_a_broken_plugin_is_one_line_naming_it(tmp_path, capsys, monkeypatch):
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(
        PluginError, match=r"POPULACE_PLUGINS: cannot import plugin file '.*broken\.py' \(RuntimeError: boom\)"
    ):
        load_plugins(str(broken))
    with pytest.raises(PluginError, match=r"cannot import plugin file '.*nope\.py' \(FileNotFoundError"):
        load_plugins(str(tmp_path / "nope.py"))
    with pytest.raises(PluginError, match="cannot import plugin module 'no_such_module_xyz'"):
        load_plugins("no_such_module_xyz")
    monkeypatch.setenv("POPULACE_PLUGINS", str(broken))
    assert main(["compare", "x.toml", "--plan"]) == 2
    err = capsys.readouterr().err
    assert "broken.py" in err and "POPULACE_PLUGINS" in err and len(err.strip().splitlines()) == 1


def test_unknown_kinds_fail_in_one_line_everywhere(tmp_path, capsys):
    with pytest.raises(ConstructionError, match=r"unknown construction kind 'magic'; kinds: fixed, pool, "):
        get_construction("magic")
    study = write_study_file(tmp_path, '[[constructions]]\nname = "x"\nkind = "magic"\n')
    assert main(["compare", str(study), "--plan"]) == 2
    err = capsys.readouterr().err
    assert "constructions.x.kind: unknown kind 'magic'" in err and "KeyError" not in err
    assert len(err.strip().splitlines()) == 1
    with pytest.raises(SystemExit) as exit_info:  # fit offers the registry's fitted kinds as its choices
        main(["fit", "--builder", "magic", "--scenario", "dictator", "--out", str(tmp_path / "p.json")])
    assert exit_info.value.code == 2
    assert "invalid choice: 'magic' (choose from 'em', 'gb', 'mop', 'aligned')" in capsys.readouterr().err


def test_a_kind_spec_checks_itself():
    def build(ctx, p):  # pragma: no cover - never called
        raise AssertionError

    with pytest.raises(ConstructionError, match="'seed' is common to every kind"):
        ConstructionKind(name="k", help="h", params={"seed": Param("int", 0)}, build=build, estimate=lambda p, q: None)
    with pytest.raises(ConstructionError, match="needs_pool=True but no 'pool'"):
        ConstructionKind(name="k", help="h", params={}, build=build, estimate=lambda p, q: None, needs_pool=True)
    with pytest.raises(ConstructionError, match="already registered"):
        register_construction(
            ConstructionKind(name="fixed", help="h", params={}, build=build, estimate=lambda p, q: Estimate(1, 1))
        )
    assert get_construction("fixed").build is not build


def test_flags_of_the_built_in_kinds():
    kinds = {k.name: k for k in construction_kinds()}
    assert {n for n, k in kinds.items() if k.ordered_only} >= {"em", "gb", "mop", "aligned"}
    assert {n for n, k in kinds.items() if k.target_free} >= {"fixed", "pool", "demographic", "file"}
    assert {n for n, k in kinds.items() if k.per_dimension} >= {"em", "gb", "mop"}
    assert {n for n, k in kinds.items() if k.needs_pool} >= {"pool", "mop", "aligned"}
    assert not kinds["aligned"].per_dimension and kinds["file"].external


_ONE = {
    block.split('name = "')[1].split('"')[0]: "[[constructions]]" + block
    for block in ALL_KINDS.split("[[constructions]]")[1:]
}
#: Kinds whose estimate counts every distinct request exactly; crafting kinds count each draft, so the fake's repeated
#: drafts (cache hits) make their estimate an upper bound.
# mop is an upper bound: two exemplars with the same human answer give one prompt (dictator: many give 0 or 50).
_EXACT = {"fixed", "pool", "demo", "aligned", "file"}


@pytest.mark.parametrize("name", sorted(_ONE))
@pytest.mark.parametrize("scenario", ["dictator", "bigfive"])
def test_plan_matches_what_the_run_asks(tmp_path, personas_dir, data_dir, name, scenario):
    """``--plan``'s ``est_requests`` for every built-in kind alone against the distinct requests its run sends."""
    if scenario == "bigfive" and name in ("em", "gb", "mop"):
        pytest.skip("per-dimension kinds on five dimensions are slow; dictator covers their estimate")
    write_pop(tmp_path / "pop.json")
    head = f'seed = 0\nscenarios = ["{scenario}"]\nagents = 20\nrepeats = 2\n'
    study = load_study(write_study_file(tmp_path, _ONE[name], head=head))
    if scenario == "dictator" and name == "demo":  # a game declares no demographics: refused before any request
        with pytest.raises(StudyError, match="scenario dictator declares no data.demographics"):
            plan_study(study)
        return
    (row,) = plan_study(study)
    fake = fake_model()
    model = CachedModel(fake, tmp_path / "cache.sqlite")
    result = run_study(study, model, progress=False)
    model.close()
    (cost,) = result.cost
    assert row["components"] == result.scores[0]["components"] or name in ("em", "gb")
    if name in _EXACT:
        assert cost["backend_calls"] == row["est_requests"], (name, cost, row)
    else:
        assert 0 < cost["backend_calls"] <= row["est_requests"], (name, cost, row)
    assert row["est_tokens"] >= row["est_requests"]


def test_run_builds_every_kind_through_the_registry(tmp_path, personas_dir, data_dir, monkeypatch):
    """No kind is built around the registry: swapping a kind's ``build`` changes what ``compare`` builds."""
    import dataclasses

    import populations.constructions.registry as registry

    original = registry._KINDS["pool"]
    calls: list[BuildContext] = []

    def build(ctx, p):
        calls.append(ctx)
        return original.build(ctx, p)

    monkeypatch.setitem(registry._KINDS, "pool", dataclasses.replace(original, build=build))
    study = load_study(write_study_file(tmp_path, _ONE["pool"]))
    run_study(study, fake_model(), progress=False)
    assert len(calls) == 1 and calls[0].seed == 0 and calls[0].fit.ndim == 1 and calls[0].name == "pool"


def test_an_unordered_scenario_refuses_w1_kinds_naming_the_usable_ones(tmp_path):
    from experiments.study import prepare_study
    from tests.experiments.test_study_multidim import _vote

    _vote(tmp_path)
    (tmp_path / "study.toml").write_text('scenarios = ["vote.toml"]\n[[constructions]]\nname = "a"\nkind = "mop"\n')
    with pytest.raises(
        StudyError, match=r"'mop' fits W1.*; use fixed, pool, demographic, file, retrieve constructions on it"
    ):
        prepare_study(load_study(tmp_path / "study.toml"))


def test_aligned_features_are_expected_scores_with_weights():
    from populations.aligned import expected_scores

    pmfs = np.array([[0.5, 0.5, 0.0], [0.0, 0.0, 2.0]])  # unnormalised rows are renormalised
    np.testing.assert_allclose(expected_scores(pmfs, [1.0, 2.0, 3.0]), [1.5, 3.0])
