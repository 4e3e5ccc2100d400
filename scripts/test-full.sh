#!/usr/bin/env bash
# The full test tier: everything scripts/test.sh runs, plus the tests marked
# `#[ignore = "full tier: …"]`: parity on Qwen2.5-Coder (and later Gemma 3).
#
# usage: scripts/test-full.sh
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test.sh
echo "==> test models (all)"
scripts/fetch-test-models.sh all >/dev/null
echo "==> full-tier tests"
HEARTH_REQUIRE_TEST_MODELS=1 cargo test --workspace --locked -- --ignored
