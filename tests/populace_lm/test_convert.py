"""Compute-type conversion of GGUF files (populace_lm.convert) and its configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from populace_lm.config import LLMConfig
from populace_lm.convert import check_compute_type, convert_gguf, converted_path, native_output, verbose_requested


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
def test_conversion_runs_once_and_is_reused(tmp_path, monkeypatch, capfd):
    from populace_lm import convert
    from populace_lm.local import default_model_path, file_identity

    monkeypatch.setenv("POPULACE_MODEL_CACHE", str(tmp_path))
    monkeypatch.delenv("POPULACE_VERBOSE", raising=False)
    bars, make_bar = [], convert.progress_bar

    def recording_bar(**kwargs):
        bars.append(make_bar(**kwargs))
        return bars[-1]

    monkeypatch.setattr(convert, "progress_bar", recording_bar)
    src = default_model_path()
    out = convert_gguf(src, file_identity(src), "f16")
    err = capfd.readouterr().err
    assert not [line for line in err.splitlines() if "llama_model_loader" in line or "MiB" in line], err[:500]
    assert bars[0].n == bars[0].total > 100  # one progress step per tensor, not a single jump
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


def test_failed_conversion_names_llama_cpps_reason_and_prints_its_log_only_when_verbose(tmp_path, monkeypatch, capfd):
    from populace_lm.errors import ModelNotFoundError

    monkeypatch.setenv("POPULACE_MODEL_CACHE", str(tmp_path / "models"))
    monkeypatch.delenv("POPULACE_VERBOSE", raising=False)
    bad = tmp_path / "broken.gguf"
    bad.write_bytes(b"not a gguf file")
    with pytest.raises(ModelNotFoundError, match="failed to load model from .*broken.gguf"):
        convert_gguf(bad, "dead", "f32")
    assert "invalid magic" not in capfd.readouterr().err
    with pytest.raises(ModelNotFoundError, match="compute-type native"):
        convert_gguf(bad, "dead", "f32", verbose=True)
    assert "invalid magic characters" in capfd.readouterr().err


def test_native_output_swallows_fd2_writes_but_keeps_python_stderr(capfd, monkeypatch):
    """C code writes to file descriptor 2; inside the block that is captured, while sys.stderr still shows."""
    import os
    import sys

    monkeypatch.delenv("POPULACE_VERBOSE", raising=False)
    with native_output() as out:
        os.write(2, b"ggml_native: direct write\n")
        print("python-level line", file=sys.stderr)
    err = capfd.readouterr().err
    assert "ggml_native" not in err and "python-level line" in err
    assert "ggml_native: direct write" in out.captured and out.last_line() == "ggml_native: direct write"
    with native_output(verbose=True) as out:
        os.write(2, b"ggml_native: shown\n")
    assert "ggml_native: shown" in capfd.readouterr().err and out.captured == ""
    os.write(2, b"after the block\n")
    assert "after the block" in capfd.readouterr().err  # file descriptor 2 is restored


def test_verbose_follows_the_flag_or_the_environment(monkeypatch):
    monkeypatch.delenv("POPULACE_VERBOSE", raising=False)
    assert not verbose_requested() and verbose_requested(True)
    monkeypatch.setenv("POPULACE_VERBOSE", "1")
    assert verbose_requested()
    monkeypatch.setenv("POPULACE_VERBOSE", "0")
    assert not verbose_requested()
