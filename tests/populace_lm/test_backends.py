"""The backend registry: typed option sections, registration checks, and ``build_model`` through a factory."""

from __future__ import annotations

import argparse

import pytest

import populace_lm.backends as backends
from populace_lm.backends import BackendOption, backend_names, get_backend, register_backend
from populace_lm.budget import AccountingModel, BudgetedModel, find_layer
from populace_lm.cache import CachedModel
from populace_lm.config import LLMConfig, build_model, close_model
from populace_lm.errors import ConfigError
from populace_lm.fakes import ScriptedModel


@pytest.fixture
def registry(monkeypatch):
    """Registrations made by a test are undone after it."""
    monkeypatch.setattr(backends, "_REGISTRY", dict(backends._REGISTRY))
    return backends._REGISTRY


def _scripted(options):
    return ScriptedModel([str(options["answer"])], model_id=f"scripted/{options['answer']}/{options['verbose']}")


def test_the_built_ins_register_through_the_same_call():
    assert backend_names()[:2] == ("local", "openai")
    local, remote = get_backend("local"), get_backend("openai")
    assert [o.flag for o in local.options] == ["--model-path", "--compute-type", "--threads"]
    assert remote.option("model").required and remote.option("base_url").selects
    assert remote.option("timeout").env == "POPULACE_TIMEOUT" and remote.option("timeout").default == 60.0
    with pytest.raises(ConfigError, match=r"backend 'openai' has no option 'colour'; its options: base_url, model"):
        remote.option("colour")


def test_a_registered_backend_is_built_with_its_resolved_section(registry, tmp_path):
    register_backend("scripted", _scripted, [BackendOption("answer", int, default=2, env="SCRIPTED_ANSWER")])
    config = LLMConfig.from_env({"SCRIPTED_ANSWER": "4"}, backend="scripted", cache_path=str(tmp_path / "c.sqlite"))
    assert config.options == {"answer": 4} and config.answer == 4
    model = build_model(config)
    assert isinstance(model, CachedModel) and isinstance(model.inner, AccountingModel)
    assert find_layer(model, BudgetedModel).inner.model_id == "scripted/4/False"  # verbose is passed along
    close_model(model)
    assert LLMConfig.from_dict(config.to_dict()) == config


def test_option_values_are_typed_and_checked(registry):
    register_backend(
        "typed",
        _scripted,
        [
            BackendOption("answer", int, default=1, minimum=1, env="T_ANSWER"),
            BackendOption("scale", float, minimum=0, exclusive=True),
            BackendOption("mode", str, default="a", choices=("a", "b")),
            BackendOption("fast", bool, default=False, env="T_FAST"),
            BackendOption("name", str, required=True, label="a name", check=lambda v: v.isalpha() or 1 / 0),
        ],
    )
    ok = LLMConfig(backend="typed", name="x", scale=2)
    assert ok.options == {"answer": 1, "scale": 2, "mode": "a", "fast": False, "name": "x"}
    cases = {
        "answer must be an integer >= 1, got 0: fix --answer or T_ANSWER": {"answer": 0},
        "answer must be an integer >= 1, got True": {"answer": True},
        "scale must be a number > 0 or unset, got 0": {"scale": 0},
        "unknown mode 'c': use one of ('a', 'b') (--mode)": {"mode": "c"},
        "fast must be true or false, got 1": {"fast": 1},
        "backend 'typed' needs a name: pass --name": {"name": ""},
        "name must be a string, got 3": {"name": 3},
    }
    for message, change in cases.items():
        with pytest.raises(ConfigError) as info:
            LLMConfig(backend="typed", **{"name": "x", **change})
        assert str(info.value).startswith(message), (message, str(info.value))
    assert LLMConfig.from_env({"T_FAST": "yes", "T_ANSWER": " 3 "}, backend="typed", name="x").options["fast"] is True
    with pytest.raises(ConfigError, match="T_ANSWER='three' is not an integer"):
        LLMConfig.from_env({"T_ANSWER": "three"}, backend="typed", name="x")


def test_a_check_that_raises_value_error_becomes_a_config_error(registry):
    def positive_even(value):
        if value % 2:
            raise ValueError(f"peak {value} is odd; pass an even peak")

    register_backend("even", _scripted, [BackendOption("answer", int, default=2, check=positive_even)])
    with pytest.raises(ConfigError, match="^peak 3 is odd; pass an even peak$"):
        LLMConfig(backend="even", answer=3)


def test_registration_refuses_clashes(registry):
    register_backend("one", _scripted, [BackendOption("answer", int, default=1)])
    with pytest.raises(ConfigError, match="backend 'one' is registered already"):
        register_backend("one", _scripted)
    register_backend("one", _scripted, [BackendOption("answer", int, default=2)], replace=True)
    assert get_backend("one").option("answer").default == 2
    with pytest.raises(ConfigError, match="option 'cache_path' is a common knob"):
        register_backend("two", _scripted, [BackendOption("cache_path")])
    with pytest.raises(ConfigError, match="flag --seed is a common option"):
        register_backend("two", _scripted, [BackendOption("seed_value", int, flag="--seed")])
    with pytest.raises(ConfigError, match="declared twice"):
        register_backend("two", _scripted, [BackendOption("a", flag="--x"), BackendOption("b", flag="--x")])
    with pytest.raises(ConfigError, match="flag --answer is backend 'one'.s with another type"):
        register_backend("two", _scripted, [BackendOption("answer", str)])
    with pytest.raises(ConfigError, match="not a Python identifier"):
        BackendOption("my-option")
    with pytest.raises(ConfigError, match="use letters, digits"):
        register_backend("bad name", _scripted)
    assert "two" not in backend_names()


def test_a_factory_that_returns_no_language_model_is_refused(registry, tmp_path):
    register_backend("broken", lambda options: object())
    with pytest.raises(ConfigError, match="backend 'broken' built a object, which is no LanguageModel"):
        build_model(LLMConfig(backend="broken", cache_path=str(tmp_path / "c.sqlite")))


def test_cli_flags_come_from_each_section_and_only_the_chosen_one_is_read(registry, tmp_path, monkeypatch):
    from experiments.common import add_model_args, config_from_args

    register_backend(
        "scripted", _scripted, [BackendOption("answer", int, default=2, flag="--answer", selects=True)], help="test"
    )
    parser = argparse.ArgumentParser()
    add_model_args(parser)
    monkeypatch.delenv("POPULACE_BACKEND", raising=False)
    args = parser.parse_args(["--answer", "3", "--threads", "2", "--cache", str(tmp_path / "c.sqlite")])
    config = config_from_args(args)  # --answer selects its backend; --threads (local's) is not read
    assert (config.backend, config.options) == ("scripted", {"answer": 3})
    assert config_from_args(parser.parse_args(["--threads", "2"])).options["n_threads"] == 2
    monkeypatch.setenv("POPULACE_BACKEND", "scripted")
    assert config_from_args(parser.parse_args([])).options == {"answer": 2}
    with pytest.raises(ConfigError, match="unknown backend 'nope': registered backends are local, openai, scripted"):
        config_from_args(parser.parse_args(["--backend", "nope"]))
    clashing = argparse.ArgumentParser(prog="populace x")
    clashing.add_argument("--answer")
    with pytest.raises(ConfigError, match=r"backend 'scripted': flag --answer clashes with an option of 'populace x'"):
        add_model_args(clashing)
