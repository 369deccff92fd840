"""Shared fixtures: the human data location and one embedded model per test session."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# Property tests draw their examples from one fixed seed, so a run on CI is the run on this machine: a failing
# example is found by widening max_examples locally (HYPOTHESIS_PROFILE=explore), never by luck on CI.
settings.register_profile("fixed", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "fixed"))

REPO = Path(__file__).resolve().parents[1]
SHARED_DATA = Path(os.environ.get("POPULACE_DATA", REPO.parent / "shared" / "data"))
SHARED_PERSONAS = Path(os.environ.get("POPULACE_PERSONAS", REPO.parent / "shared" / "personas"))


@pytest.fixture(scope="session")
def data_dir() -> Path:
    """The shared human data folder (tests and CI point the loaders at ../shared/data)."""
    if not SHARED_DATA.is_dir():
        pytest.fail(f"human data not found at {SHARED_DATA}; set POPULACE_DATA")
    return SHARED_DATA


@pytest.fixture(scope="session")
def personas_dir() -> Path:
    """The shared persona pools folder."""
    if not SHARED_PERSONAS.is_dir():
        pytest.fail(f"persona pools not found at {SHARED_PERSONAS}; set POPULACE_PERSONAS")
    return SHARED_PERSONAS


@pytest.fixture(scope="session")
def embedded_model():
    """The real embedded SmolLM2 model (llama-cpp-python), loaded once per session, uncached."""
    from populace_lm.local import LocalLlama

    return LocalLlama()


@pytest.fixture(autouse=True, scope="session")
def _isolated_response_cache(tmp_path_factory):
    """Commands run in tests write their response cache to a temporary folder, never to ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("POPULACE_CACHE", str(tmp_path_factory.mktemp("cache") / "responses.sqlite"))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _progress_switch_reset():
    """``--quiet`` sets a process-wide switch (populace_lm.progress.set_progress); undo it after each test."""
    import populace_lm.progress as progress

    saved = progress._enabled
    yield
    progress._enabled = saved
