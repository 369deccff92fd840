"""Compute-type conversion of GGUF files (populace_lm.convert) and its configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from populace_lm.config import LLMConfig
from populace_lm.convert import check_compute_type, convert_gguf, converted_path


def test_native_returns_the_source_and_unknown_types_are_rejected(tmp_path):
    src = tmp_path / "m.gguf"
    src.write_bytes(b"GGUF")
    assert convert_gguf(src, "abc", "native") == src
    assert check_compute_type("f32") == "f32"
    with pytest.raises(ValueError, match="POPULACE_COMPUTE_TYPE"):
        check_compute_type("int3")


def test_converted_file_name_carries_source_identity_and_type(tmp_path, monkeypatch):
    monkeypatch.setenv("POPULACE_MODEL_CACHE", str(tmp_path))
    p = converted_path(Path("/x/SmolLM2.Q4_1.gguf"), "0123abcd", "f16")
    assert p == tmp_path / "SmolLM2.Q4_1.0123abcd.f16.gguf"


def test_config_reads_compute_type_from_env_and_validates_it():
    assert LLMConfig.from_env({"POPULACE_COMPUTE_TYPE": "native"}).compute_type == "native"
    assert LLMConfig.from_env({}).compute_type is None
    with pytest.raises(ValueError, match="unknown compute type"):
        LLMConfig(compute_type="bf8")


@pytest.mark.model
def test_conversion_runs_once_and_is_reused(tmp_path, monkeypatch):
    from populace_lm.local import default_model_path, file_identity

    monkeypatch.setenv("POPULACE_MODEL_CACHE", str(tmp_path))
    src = default_model_path()
    out = convert_gguf(src, file_identity(src), "f16")
    assert out.parent == tmp_path and out.stat().st_size > src.stat().st_size
    stamp = out.stat().st_mtime_ns
    assert convert_gguf(src, file_identity(src), "f16") == out and out.stat().st_mtime_ns == stamp
    assert not list(tmp_path.glob("*.tmp"))


def test_failed_conversion_is_a_clear_error_and_leaves_no_file(tmp_path, monkeypatch):
    from populace_lm.errors import ModelNotFoundError

    monkeypatch.setenv("POPULACE_MODEL_CACHE", str(tmp_path / "models"))
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(ModelNotFoundError, match="compute-type native"):
        convert_gguf(bad, "dead", "f32")
    assert not list((tmp_path / "models").iterdir())
