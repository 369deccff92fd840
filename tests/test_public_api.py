"""Every package re-exports its public names with ``__all__`` (a notebook imports from the package, not its modules)."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = ("populace_lm", "alignment", "scenarios", "populations", "simulator")


@pytest.mark.parametrize("package", PACKAGES)
def test_every_exported_name_resolves_and_is_documented(package):
    module = importlib.import_module(package)
    assert module.__all__, f"{package} exports nothing"
    assert len(module.__all__) == len(set(module.__all__))
    for name in module.__all__:
        obj = getattr(module, name)
        if callable(obj):
            assert obj.__doc__, f"{package}.{name} lacks a docstring"


def test_an_unknown_name_is_an_attribute_error():
    import populations

    with pytest.raises(AttributeError, match="no attribute 'NoSuchBuilder'"):
        populations.NoSuchBuilder  # noqa: B018


def test_the_names_a_notebook_uses_import():
    from populace_lm import CachedModel, LocalLlama, OpenAICompatible
    from populations import AlignedPersonaBuilder, Population, PromptMixtureBuilder
    from scenarios import get_scenario, load_scenario
    from simulator import GameModel, SurveyModel, run_whatif

    assert PromptMixtureBuilder.__module__ == "populations.mixture"
    assert AlignedPersonaBuilder.__module__ == "populations.aligned"
    assert Population.__module__ == "populations.persona"
    assert LocalLlama.__module__ == "populace_lm.local" and OpenAICompatible.__module__ == "populace_lm.openai_compat"
    assert CachedModel.__module__ == "populace_lm.cache"
    assert callable(get_scenario) and callable(load_scenario) and callable(run_whatif)
    assert GameModel.__module__.startswith("simulator.") and SurveyModel.__module__.startswith("simulator.")
