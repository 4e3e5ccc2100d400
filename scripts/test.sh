#!/usr/bin/env bash
# The test suite (the CI tier): formatting, lints, unit tests, the real-model
# tests on SmolLM2 and Gemma 3, and the OpenAI client tests against `hearth serve`.
# Fetches the test models it needs into the cache first.
#
# usage: scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."

echo "==> test models"
scripts/fetch-test-models.sh smollm2 gemma3 >/dev/null

echo "==> cargo fmt --check"
cargo fmt --all --check

echo "==> cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

echo "==> cargo test"
HEARTH_REQUIRE_TEST_MODELS=1 cargo test --workspace --locked

echo "==> client tests (openai package against hearth serve)"
scripts/test-clients.sh
