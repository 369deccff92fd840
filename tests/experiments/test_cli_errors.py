"""The CLI boundary: every README command, given bad input, exits non-zero with one line and no traceback.

Also: ``--quiet``/``--verbose`` on every sub-command, ``--out`` checked before any work, the crash log of the
catch-all, and the manifest (LLM accounting, exit status) plus a closed cache on every kind of exit.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
from types import SimpleNamespace

import numpy as np
import pytest

import experiments.cli as cli
import experiments.cmd_align  # these two bind model_from_args at import: import them before any patching
import experiments.cmd_fit
import experiments.common
from experiments.cli import build_parser, check_out, main
from experiments.run_context import context_of
from populace_lm.budget import AccountingModel, find_layer
from populace_lm.cache import CachedModel
from populace_lm.errors import BudgetExceededError
from populace_lm.fakes import KnownDistributionModel
from populations.persona import Persona, Population


class _Fake(KnownDistributionModel):
    """A known-distribution model that can fail on its n-th call (n counts from 1)."""

    def __init__(self, fail_on: int | None = None, exc: BaseException | None = None):
        super().__init__(lambda m, a: np.linspace(1.0, 2.0, a.size), valid_mass=0.95)
        self.fail_on, self.exc = fail_on, exc

    def answer_distribution(self, request):
        if self.fail_on is not None and self.calls + 1 >= self.fail_on:
            self.calls += 1
            if isinstance(self.exc, int):
                os.kill(os.getpid(), self.exc)  # a signal, delivered to this (main) thread
            raise self.exc
        return super().answer_distribution(request)


@pytest.fixture
def models(monkeypatch, tmp_path):
    """Patch ``model_from_args`` to build ``CachedModel(AccountingModel(fake))`` and register it, as the CLI expects.

    ``models.state["fake"]`` is the fake the next model wraps; ``models.list`` holds the models built.
    """
    built = SimpleNamespace(state={"fake": _Fake()}, list=[])

    def model_from_args(args):
        model = CachedModel(AccountingModel(built.state["fake"]), tmp_path / f"cache{len(built.list)}.sqlite")
        context_of(args).add_model(model)  # what experiments.common.model_from_args does after the build
        built.list.append(model)
        return model

    for module in (experiments.common, experiments.cmd_fit, experiments.cmd_align):
        monkeypatch.setattr(module, "model_from_args", model_from_args)
    return built


@pytest.fixture(autouse=True)
def _clean_flags(monkeypatch, tmp_path):
    """Global flags change process state: restore it; crash logs go to a temporary folder."""
    from populace_lm.progress import set_progress

    monkeypatch.setenv("POPULACE_VERBOSE", "")  # recorded, so what main() sets is undone after the test
    monkeypatch.delenv("POPULACE_QUIET", raising=False)
    monkeypatch.setenv("POPULACE_CACHE_DIR", str(tmp_path / "populace-cache"))
    yield
    set_progress(True)
    import populace_lm.progress as progress

    progress._enabled = None


def _population(tmp_path, **changes):
    doc = Population(
        personas=(Persona(id="a", text="You are kind."), Persona(id="b", text="You are shy.")),
        weights=np.array([0.3, 0.7]),
        construction="test",
    ).to_dict()
    doc.update(changes)
    return {k: v for k, v in doc.items() if v is not ...}


def _one_line_error(capsys, *expected: str) -> str:
    err = capsys.readouterr().err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("populace: error: "), err
    for text in expected:
        assert text in lines[0], (text, lines[0])
    return lines[0]


# ------------------------------------------------------------------------------------------------ bad input


def _bad_population_files(tmp_path):
    """Population files with the structural problems of issue 13, and the text each error must name."""
    files = {}
    cases = {
        "not_a_list.json": (_population(tmp_path, personas={"a": "You are kind."}), "'personas' is an object"),
        "strings.json": (_population(tmp_path, personas=["You are kind.", "You are shy."]), "a persona is a string"),
        "no_weights.json": (_population(tmp_path, weights=...), "missing key 'weights'"),
        "short_weights.json": (_population(tmp_path, weights=[1.0]), "1 weights for 2 personas"),
    }
    for name, (doc, message) in cases.items():
        (tmp_path / name).write_text(json.dumps(doc, indent=2))
        files[name] = (tmp_path / name, message)
    text = json.dumps(_population(tmp_path), indent=2)
    (tmp_path / "truncated.json").write_text(text[: len(text) // 2])
    files["truncated.json"] = (tmp_path / "truncated.json", "is truncated JSON")
    (tmp_path / "dup.jsonl").write_text(
        '{"id": "a", "text": "A", "weight": 0.5}\n{"id": "a", "text": "B", "weight": 0.5}\n'
    )
    files["dup.jsonl"] = (tmp_path / "dup.jsonl", "dup.jsonl:2: duplicate persona id 'a'")
    (tmp_path / "null.jsonl").write_text('{"id": "a", "text": null, "weight": 1.0}\n')
    files["null.jsonl"] = (tmp_path / "null.jsonl", "null.jsonl:1: persona 'a' has text null")
    (tmp_path / "pops").mkdir()
    files["folder"] = (tmp_path / "pops", "is a folder")
    return files


@pytest.mark.parametrize("command", ["run", "whatif"])
def test_run_and_whatif_name_every_structural_problem_of_a_population_file(tmp_path, models, capsys, command):
    extra = ["--intervention", "multiplier=2.4"] if command == "whatif" else []
    for name, (path, message) in _bad_population_files(tmp_path).items():
        argv = [command, "--population", str(path), "--scenario", "public_goods", *extra]
        assert main([*argv, "--out", str(tmp_path / "o")]) == 2, name
        _one_line_error(capsys, message, path.name if path.is_file() else str(path))
    assert models.state["fake"].calls == 0 and not models.list  # nothing built, nothing asked


def test_compare_names_a_bad_population_file_in_its_config(tmp_path, models, capsys):
    (tmp_path / "pop.json").write_text(json.dumps(_population(tmp_path, weights=...)))
    cfg = tmp_path / "c.toml"
    cfg.write_text('scenarios = ["dictator"]\n[[constructions]]\nname = "x"\nkind = "file"\npath = "pop.json"\n')
    assert main(["compare", str(cfg), "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "missing key 'weights'", "pop.json")
    cfg.write_text('scenarios = ["dictator"\n')
    assert main(["compare", str(cfg), "--out", str(tmp_path / "o")]) == 2
    _one_line_error(capsys, "invalid TOML", "c.toml")
    assert not models.list


def _readme_commands(tmp_path, out):
    """One invocation per README command, writing to ``out`` (a folder or a file name as the command expects)."""
    cfg = tmp_path / "c.toml"
    cfg.write_text('scenarios = ["dictator"]\n[[constructions]]\nname = "x"\nkind = "fixed"\n')
    pop = tmp_path / "aligned.jsonl"
    pop.write_text('{"id": "a", "text": "A", "weight": 1.0}\n')
    return {
        "demo": ["demo", "--constructions", "fixed", "--out", str(out)],
        "fit": ["fit", "--builder", "em", "--scenario", "dictator", "--out", str(out)],
        "align": ["align", "--pool", "personahub", "--scenario", "bigfive", "--limit", "3", "--out", str(out)],
        "select": ["select", "--population", str(pop), "--query", "students", "--k", "1", "--out", str(out)],
        "run": ["run", "--population", "fixed", "--scenario", "dictator", "--out", str(out)],
        "whatif": [
            "whatif",
            "--population",
            "fixed",
            "--scenario",
            "public_goods",
            "--intervention",
            "multiplier=2.4",
            "--out",
            str(out),
        ],
        "compare": ["compare", str(cfg), "--out", str(out)],
        "experiment": ["experiment", "seed000", "--scenarios", "dictator", "--out", str(out)],
    }


def test_out_naming_a_file_fails_before_any_model_work_for_every_folder_command(tmp_path, models, capsys):
    existing = tmp_path / "taken.txt"
    existing.write_text("mine")
    for name, argv in _readme_commands(tmp_path, existing).items():
        if name in cli.OUT_IS_FILE:
            continue
        assert main(argv) == 2, name
        _one_line_error(capsys, f"--out {existing} is a file; pass a folder")
    assert existing.read_text() == "mine" and not models.list


def test_out_naming_a_folder_or_a_path_under_a_file_fails_for_every_file_command(tmp_path, models, capsys):
    folder = tmp_path / "results"
    folder.mkdir()
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    for name, argv in _readme_commands(tmp_path, folder).items():
        if name not in cli.OUT_IS_FILE:
            continue
        assert main(argv) == 2, name
        _one_line_error(capsys, f"--out {folder} is a folder; pass a file path")
        argv[argv.index("--out") + 1] = str(blocker / "x.json")
        assert main(argv) == 2, name
        _one_line_error(capsys, f"{blocker} is a file, not a folder")
    assert not models.list


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["run", "--population", "fixed", "--scenario", "nope"], "nope"),
        (["whatif", "--population", "fixed", "--scenario", "nope", "--intervention", "x=1"], "nope"),
        (["fit", "--builder", "em", "--scenario", "nope"], "nope"),
        (["fit", "--builder", "em", "--scenario", "bigfive"], "pick one as bigfive:DIMENSION, or fit them together"),
        (["demo", "--scenarios", "bigfive:Z"], "bigfive:Z"),
        (["experiment", "nope"], "unknown experiment 'nope'"),
    ],
)
def test_an_unknown_scenario_or_experiment_is_one_line(tmp_path, models, capsys, argv, message, data_dir):
    out = tmp_path / ("o.json" if argv[0] in cli.OUT_IS_FILE else "o")
    assert main([*argv, "--out", str(out)] if argv[0] != "experiment" else argv) == 2
    _one_line_error(capsys, message)
    assert not models.list


@pytest.mark.parametrize("command", ["probe", "run", "fit", "demo"])
def test_model_path_naming_a_folder_says_so(tmp_path, capsys, command):
    argv = {
        "probe": ["probe", "--question", "Q?", "--scale", "likert5"],
        "run": ["run", "--population", "fixed", "--scenario", "dictator", "--out", str(tmp_path / "o")],
        "fit": ["fit", "--builder", "em", "--scenario", "dictator", "--out", str(tmp_path / "f.json")],
        "demo": ["demo", "--constructions", "fixed", "--out", str(tmp_path / "d")],
    }[command]
    assert main([*argv, "--model-path", str(tmp_path), "--cache", str(tmp_path / "c.sqlite")]) == 2
    _one_line_error(capsys, f"--model-path {tmp_path} is a folder; pass a GGUF file")


@pytest.mark.parametrize("problem", ["folder", "not_sqlite"])
def test_cache_naming_a_folder_or_a_non_sqlite_file_is_a_user_error(tmp_path, capsys, problem, monkeypatch):
    cache = tmp_path / "cache"
    if problem == "folder":
        cache.mkdir()
    else:
        cache.write_text("these are my notes, not a database\n" * 50)
    monkeypatch.setenv("POPULACE_COMPUTE_TYPE", "native")
    argv = ["run", "--population", "fixed", "--scenario", "dictator", "--out", str(tmp_path / "o")]
    assert main([*argv, "--cache", str(cache)]) == 2
    _one_line_error(capsys, str(cache))


# ------------------------------------------------------------------------------------------------ boundary


def test_an_unexpected_exception_is_one_line_with_a_crash_log(tmp_path, monkeypatch, capsys):
    import experiments.cmd_probe

    def broken(args):
        raise RuntimeError("boom\nsecond line")

    monkeypatch.setattr(experiments.cmd_probe, "run", broken)
    assert main(["probe", "--question", "Q?", "--scale", "likert5"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err
    assert err.startswith("populace: internal error: RuntimeError: boom second line (traceback in ")
    log = tmp_path / "populace-cache" / "crash"
    (path,) = log.iterdir()
    assert str(path) in err
    text = path.read_text()
    assert "Traceback (most recent call last)" in text and "RuntimeError: boom" in text and "probe" in text


@pytest.mark.parametrize("command", ["run", "compare"])
def test_a_bare_value_error_inside_a_builder_is_a_crash_with_a_log(tmp_path, models, capsys, monkeypatch, command):
    """A bug that raises ``ValueError`` is no user error: one line naming the crash log, which holds the traceback."""
    import populations.baselines

    def broken_fit(self, *args, **kwargs):
        raise ValueError("weights are off by one")

    monkeypatch.setattr(populations.baselines.FixedPromptBuilder, "fit", broken_fit)
    cfg = tmp_path / "c.toml"
    cfg.write_text('scenarios = ["dictator"]\n[[constructions]]\nname = "x"\nkind = "fixed"\n')
    argv = {
        "run": ["run", "--population", "fixed", "--scenario", "dictator", "--agents", "3"],
        "compare": ["compare", str(cfg)],
    }[command]
    out = tmp_path / "o"
    assert main([*argv, "--out", str(out), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith("populace: internal error: ValueError: weights are off by one (traceback in "), err
    (log,) = (tmp_path / "populace-cache" / "crash").iterdir()
    assert f"(traceback in {log})" in err
    text = log.read_text()
    assert "Traceback (most recent call last)" in text and "in broken_fit" in text and command in text.splitlines()[0]
    if (out / "run.json").exists():  # the manifest of a command that had begun records the crash
        assert json.loads((out / "run.json").read_text())["exit_status"] == "crashed"


def test_the_same_fault_as_a_project_error_is_one_line_without_a_log(tmp_path, models, capsys, monkeypatch):
    import populations.baselines
    from populations.persona import PopulationError

    def refusing_fit(self, *args, **kwargs):
        raise PopulationError("pop.json: weights[1] = -1: weights must be finite and non-negative")

    monkeypatch.setattr(populations.baselines.FixedPromptBuilder, "fit", refusing_fit)
    argv = ["run", "--population", "fixed", "--scenario", "dictator", "--out", str(tmp_path / "o")]
    assert main(argv) == 2
    _one_line_error(capsys, "pop.json: weights[1] = -1")
    assert not (tmp_path / "populace-cache" / "crash").exists()


def test_only_project_errors_and_documented_input_errors_are_user_errors():
    from experiments.cli import is_user_error
    from experiments.errors import UsageError
    from populace_lm.errors import ConfigError, LLMError
    from populations.persona import PopulationError
    from scenarios.errors import ScenarioFileError

    class PluginFault(LLMError):  # defined outside the project, deriving from a project error
        pass

    for exc in (UsageError("x"), ConfigError("x"), PopulationError("x"), ScenarioFileError("x"), PluginFault("x")):
        assert is_user_error(exc), exc
    assert is_user_error(json.JSONDecodeError("Expecting value", "{", 1))
    assert is_user_error(FileNotFoundError(2, "No such file", "/x"))
    for exc in (ValueError("x"), KeyError("path"), TypeError("x"), RuntimeError("x"), ZeroDivisionError("x")):
        assert not is_user_error(exc), exc
    from simulator.checker import ReproducibilityError

    assert not is_user_error(ReproducibilityError("same seed, different records"))  # a project fault, not input


def test_user_error_types_never_reach_the_catch_all(capsys, monkeypatch):
    import tomllib

    import experiments.cmd_probe
    from scenarios.errors import DataError

    errors = [
        json.JSONDecodeError("Expecting value", "{", 1),
        tomllib.TOMLDecodeError("Invalid value (at line 2, column 9)"),
        IsADirectoryError(21, "Is a directory", "/x/y"),
        NotADirectoryError(20, "Not a directory", "/x/y/z"),
        PermissionError(13, "Permission denied", "/root/f"),
        DataError("data folder /d has no big5.csv"),
        BudgetExceededError("call budget of 3 exhausted"),
    ]
    for exc in errors:
        monkeypatch.setattr(experiments.cmd_probe, "run", lambda args, exc=exc: (_ for _ in ()).throw(exc))
        assert main(["probe", "--question", "Q?", "--scale", "likert5"]) == 2, exc
        line = _one_line_error(capsys)
        if isinstance(exc, OSError):
            assert exc.filename in line


def test_every_sub_command_takes_quiet_and_verbose():
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, type(parser._subparsers._group_actions[0])))
    assert set(sub.choices) >= {"demo", "probe", "fit", "align", "select", "run", "whatif", "compare", "experiment"}
    for name, subparser in sub.choices.items():
        flags = {s for a in subparser._actions for s in a.option_strings}
        assert {"--quiet", "--verbose"} <= flags, name


def test_quiet_turns_bars_off_and_verbose_turns_library_logs_on(monkeypatch, capsys):
    import experiments.cmd_experiment
    import experiments.cmd_probe
    from populace_lm.progress import progress_enabled

    seen = {}

    def record(args):
        seen.update(
            bars=progress_enabled(), verbose=os.environ.get("POPULACE_VERBOSE"), rest=getattr(args, "rest", None)
        )
        return 0

    monkeypatch.setattr(experiments.cmd_probe, "run", record)
    assert main(["probe", "--question", "Q", "--scale", "likert5", "--quiet", "--verbose"]) == 0
    assert seen["bars"] is False and seen["verbose"] == "1"
    monkeypatch.setenv("POPULACE_VERBOSE", "")
    assert main(["probe", "--question", "Q", "--scale", "likert5"]) == 0
    assert seen["bars"] is True and seen["verbose"] == ""
    monkeypatch.setenv("POPULACE_QUIET", "1")  # the environment twin of --quiet still holds without the flag
    assert main(["probe", "--question", "Q", "--scale", "likert5"]) == 0
    assert seen["bars"] is False
    monkeypatch.delenv("POPULACE_QUIET")
    monkeypatch.setattr(experiments.cmd_experiment, "run", record)
    assert main(["experiment", "seed000", "--out", "x", "--quiet"]) == 0  # given after the experiment's name
    assert seen["bars"] is False and seen["rest"] == ["--out", "x"]


def test_check_out_accepts_a_new_or_existing_folder_and_a_new_file(tmp_path):
    (tmp_path / "runs").mkdir()
    (tmp_path / "runs" / "old.txt").write_text("rerun reuses the folder")
    check_out(str(tmp_path / "runs"), is_file=False)
    check_out(str(tmp_path / "new" / "deeper"), is_file=False)
    check_out(str(tmp_path / "new" / "fit.json"), is_file=True)
    check_out(str(tmp_path / "runs" / "old.txt"), is_file=True)  # overwriting a result file is fine
    with pytest.raises(ValueError, match=r"is a file; pass a folder"):
        check_out(str(tmp_path / "runs" / "old.txt"), is_file=False)
    with pytest.raises(ValueError, match=r"old\.txt is a file, not a folder"):
        check_out(str(tmp_path / "runs" / "old.txt" / "sub"), is_file=False)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_check_out_names_a_folder_that_cannot_be_written(tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    with pytest.raises(ValueError, match="is not writable"):
        check_out(str(locked / "out"), is_file=False)


# ------------------------------------------------------------------------------------------------ manifest


def _run_argv(tmp_path, out):
    """A run with two personas, so it asks two distinct questions (the fake fails on the second)."""
    pop = Population.from_dict(_population(tmp_path)).save(tmp_path / "two.json")
    return ["run", "--population", str(pop), "--scenario", "dictator", "--agents", "5", "--out", str(out), "--quiet"]


def _assert_closed_and_checkpointed(model):
    cache = model  # CachedModel is the outer layer
    assert cache._conn is None, "the cache connection must be closed on exit"
    wal = cache.path.with_name(cache.path.name + "-wal")
    assert not wal.exists() or wal.stat().st_size == 0
    with sqlite3.connect(cache.path) as conn:  # every stored answer is in the main file
        assert conn.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == cache.stats()["stores"]


def test_a_finished_command_merges_accounting_into_run_json_and_closes_the_cache(tmp_path, models, capsys):
    out = tmp_path / "o"
    out.mkdir()
    (out / "run.json").write_text(json.dumps({"written_by": "the command"}))
    assert main(_run_argv(tmp_path, out)) == 0
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["written_by"] == "the command" and manifest["exit_status"] == "ok" and "error" not in manifest
    (model,) = models.list
    record = manifest["llm_accounting"][model.model_id]
    assert record["total"]["calls"] == models.state["fake"].calls > 0
    assert record["cache"]["stores"] == models.state["fake"].calls
    assert "latencies_s" not in record["total"] and record["total"]["latency_median_s"] >= 0
    _assert_closed_and_checkpointed(model)


@pytest.mark.parametrize(
    ("exc", "status", "code", "stderr"),
    [
        (KeyboardInterrupt(), "interrupted", 130, "populace: interrupted"),
        (signal.SIGTERM, "interrupted", 130, "populace: interrupted"),
        (BudgetExceededError("call budget of 2 exhausted"), "error", 2, "populace: error: call budget of 2"),
        (ZeroDivisionError("bug"), "crashed", 1, "populace: internal error: ZeroDivisionError: bug"),
    ],
)
def test_a_failed_or_interrupted_command_still_writes_its_manifest(tmp_path, models, capsys, exc, status, code, stderr):
    models.state["fake"] = _Fake(fail_on=2, exc=exc)
    out = tmp_path / "o"
    assert main(_run_argv(tmp_path, out)) == code
    err = capsys.readouterr().err
    assert err.startswith(stderr) and len(err.strip().splitlines()) == 1 and "Traceback" not in err
    manifest = json.loads((out / "run.json").read_text())
    assert manifest["exit_status"] == status
    (model,) = models.list
    total = manifest["llm_accounting"][model.model_id]["total"]
    expected = find_layer(model, AccountingModel).summary()["total"]
    assert total["backend_calls"] == 1 and total["calls"] == expected["calls"] >= 1  # the answer before the fault
    assert total["errors"] == expected["errors"]
    if status != "interrupted":  # how an interrupted attempt is counted is the accounting layer's business
        assert total["errors"] == 1
    _assert_closed_and_checkpointed(model)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL or not callable(signal.getsignal(signal.SIGTERM))


def test_a_command_with_a_file_out_writes_its_manifest_beside_the_file(tmp_path, models, capsys, monkeypatch):
    import experiments.cmd_fit

    def fit(args):
        model = experiments.common.model_from_args(args)
        from populace_lm.types import DistributionRequest, IntegerAnswers, Message

        model.answer_distribution(
            DistributionRequest(messages=(Message(role="user", content="Q"),), answers=IntegerAnswers(low=1, high=3))
        )
        raise BudgetExceededError("call budget of 1 exhausted")

    monkeypatch.setattr(experiments.cmd_fit, "run", fit)
    out = tmp_path / "runs" / "em.json"
    assert main(["fit", "--builder", "em", "--scenario", "dictator", "--out", str(out)]) == 2
    manifest = json.loads((tmp_path / "runs" / "em.json.run.json").read_text())
    assert manifest["exit_status"] == "error" and manifest["error"] == "call budget of 1 exhausted"
    assert not out.exists()


def test_a_model_built_under_an_experiments_own_parser_reaches_the_commands_manifest(tmp_path, monkeypatch):
    """``experiment`` parses its own options: the model still reaches run.json through the current run context."""
    import argparse

    import experiments.cmd_experiment
    import populace_lm.backends as backends
    from experiments.run_context import current_run_context
    from populace_lm.backends import BackendOption, register_backend
    from populace_lm.types import DistributionRequest, IntegerAnswers, Message

    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    register_backend("known", lambda o: _Fake(), [BackendOption("known_flag", int, default=1)])
    built = []

    def experiment(args):
        ns = argparse.Namespace(backend="known", cache=str(tmp_path / "c.sqlite"))  # no run_context on it
        model = experiments.common.model_from_args(ns)
        model.answer_distribution(
            DistributionRequest(messages=(Message(role="user", content="Q"),), answers=IntegerAnswers(low=1, high=3))
        )
        built.append(model)
        return 0

    monkeypatch.setattr(experiments.cmd_experiment, "run", experiment)
    out = tmp_path / "o"
    assert main(["experiment", "seed000", "--out", str(out)]) == 0
    manifest = json.loads((out / "run.json").read_text())
    (model,) = built
    assert manifest["exit_status"] == "ok" and manifest["llm_accounting"][model.model_id]["total"]["calls"] == 1
    _assert_closed_and_checkpointed(model)
    assert current_run_context() is None  # the context ends with the command
