#!/usr/bin/env bash
# Client tests: the real `openai` Python package against `hearth serve` on a real
# socket, serving SmolLM2. Installs pinned client packages into a venv cached at
# ~/.cache/hearth/client-venv (or $HEARTH_CLIENT_VENV).
#
# usage: scripts/test-clients.sh [PYTEST_ARGS...]
set -euo pipefail
cd "$(dirname "$0")/.."

venv="${HEARTH_CLIENT_VENV:-$HOME/.cache/hearth/client-venv}"
requirements="tests/clients/requirements.txt"
marker="$venv/.hearth-requirements"
if ! cmp -s "$requirements" "$marker" 2>/dev/null; then
    echo "==> client venv ($venv)"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$requirements"
    cp "$requirements" "$marker"
fi

echo "==> hearth binary"
cargo build --locked -p hearth
HEARTH_BIN="$(pwd)/target/debug/hearth"
HEARTH_TEST_MODEL="$(scripts/fetch-test-models.sh smollm2)"
export HEARTH_BIN HEARTH_TEST_MODEL

echo "==> client tests"
cd tests/clients
"$venv/bin/python" -m pytest -q -p no:cacheprovider "$@"
