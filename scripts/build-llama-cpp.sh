#!/usr/bin/env bash
# Builds llama.cpp's `llama-bench`, `llama-batched-bench` and `llama-server`, the
# yardstick for Hearth's benchmarks, from the llama.cpp sources vendored in the
# `llama-cpp-python` sdist on PyPI. Everything lives in a cache outside the
# repository (~/.cache/hearth/llama-cpp or $HEARTH_LLAMA_CPP); a rerun only prints the
# binaries' directory.
#
# usage: scripts/build-llama-cpp.sh    → prints the directory holding the binaries
set -euo pipefail

version="0.3.36"
cache="${HEARTH_LLAMA_CPP:-$HOME/.cache/hearth/llama-cpp}"
bin="$cache/build-$version/bin"
targets=(llama-bench llama-batched-bench llama-server)
if [[ -x "$bin/llama-bench" && -x "$bin/llama-batched-bench" && -x "$bin/llama-server" ]]; then
    echo "$bin"
    exit 0
fi
mkdir -p "$cache"

# cmake and ninja come from PyPI, so nothing needs installing system-wide.
venv="$cache/venv"
if [[ ! -x "$venv/bin/cmake" ]]; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet cmake ninja scikit-build-core >&2
fi
export PATH="$venv/bin:$PATH"

src="$cache/llama_cpp_python-$version"
if [[ ! -d "$src/vendor/llama.cpp" ]]; then
    echo "==> downloading the llama-cpp-python $version sdist" >&2
    dl="$(mktemp -d)"
    "$venv/bin/pip" download --quiet --no-deps --no-binary :all: --no-build-isolation \
        "llama-cpp-python==$version" -d "$dl" >&2
    tar -xzf "$dl"/llama_cpp_python-"$version".tar.gz -C "$cache"
    rm -rf "$dl"
fi

echo "==> building ${targets[*]} (several minutes)" >&2
cmake -S "$src/vendor/llama.cpp" -B "$cache/build-$version" -G Ninja \
    -DCMAKE_BUILD_TYPE=Release -DLLAMA_CURL=OFF -DLLAMA_BUILD_TESTS=OFF \
    -DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON \
    -DBUILD_SHARED_LIBS=OFF >&2
cmake --build "$cache/build-$version" --target "${targets[@]}" -j "$(nproc)" >&2
echo "$bin"
