"""Compute-type conversion of GGUF weights, so small quantized models run on llama.cpp's fast matmul kernels.

The embedded SmolLM2-135M ships as Q4_1. On AVX2 CPUs llama.cpp has no repacked or llamafile-sgemm kernel for
Q4_1, so prompt evaluation takes its generic dot-product path (measured here: ~60 tokens/s per thread on
20-token batches, 1 thread). The same weights dequantised to F32 (or F16) run through the sgemm kernels faster
(``benchmarks/bench_llm.py`` prints the ratio). The conversion is llama.cpp's own ``llama_model_quantize``
with ``allow_requantize`` (Q4_1 → F32 stores each block's ``d*q + m`` exactly), run once per (source file,
compute type) and kept in ``$POPULACE_MODEL_CACHE`` (default ``~/.cache/populace/models``).

F32 is the default for the embedded model: F16 is as fast on short batches, but its rounding depends more on
how tokens are batched. Answer distributions differ slightly from the Q4_1 path (which quantises activations
to 8 bits); the model id carries the compute type, so responses of the two are never mixed in the cache.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from populace_lm.errors import ModelNotFoundError

MODEL_CACHE_ENV = "POPULACE_MODEL_CACHE"
DEFAULT_MODEL_CACHE = "~/.cache/populace/models"
COMPUTE_TYPES = ("native", "f16", "f32")


def check_compute_type(compute_type: str) -> str:
    """Return ``compute_type`` when known.

    Raises:
        ValueError: naming the valid choices.
    """
    if compute_type not in COMPUTE_TYPES:
        raise ValueError(f"unknown compute type {compute_type!r}: use one of {COMPUTE_TYPES} (POPULACE_COMPUTE_TYPE)")
    return compute_type


def model_cache_dir() -> Path:
    """Folder of converted model files (``$POPULACE_MODEL_CACHE`` wins)."""
    return Path(os.environ.get(MODEL_CACHE_ENV) or DEFAULT_MODEL_CACHE).expanduser()


def converted_path(source: Path, identity: str, compute_type: str) -> Path:
    """Where the ``compute_type`` copy of ``source`` (content id ``identity``) lives."""
    return model_cache_dir() / f"{source.stem}.{identity}.{compute_type}.gguf"


def convert_gguf(source: Path, identity: str, compute_type: str, *, n_threads: int = 1) -> Path:
    """The ``compute_type`` copy of a GGUF file, converted by llama.cpp on first use.

    Args:
        source: the GGUF file.
        identity: its content id (:func:`populace_lm.local.file_identity`), part of the cached file's name.
        compute_type: ``"f16"`` or ``"f32"`` (``"native"`` returns ``source``).
        n_threads: threads for the conversion.

    Returns:
        Path of the converted file (written atomically, so concurrent processes may convert at once).

    Raises:
        ModelNotFoundError: llama.cpp could not convert the file (naming it and the fix).
    """
    if check_compute_type(compute_type) == "native":
        return source
    target = converted_path(source, identity, compute_type)
    if target.is_file():
        return target
    import llama_cpp  # the conversion is llama.cpp's own quantize tool

    target.parent.mkdir(parents=True, exist_ok=True)
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = {"f16": llama_cpp.LLAMA_FTYPE_MOSTLY_F16, "f32": llama_cpp.LLAMA_FTYPE_ALL_F32}[compute_type]
    params.allow_requantize = True
    params.nthread = n_threads
    fd, tmp_name = tempfile.mkstemp(prefix=target.name, suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        rc = llama_cpp.llama_model_quantize(str(source).encode(), str(tmp).encode(), params)
        if rc != 0:
            raise ModelNotFoundError(
                f"llama.cpp could not convert {source} to {compute_type} (code {rc}); "
                "use --compute-type native to run the file as it is"
            )
        tmp.replace(target)
    finally:
        tmp.unlink(missing_ok=True)
    return target
