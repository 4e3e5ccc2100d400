#!/usr/bin/env bash
# The full test tier: everything scripts/test.sh runs, plus the tests marked
# `#[ignore = "full tier: …"]` (parity on Qwen2.5-Coder and the full Gemma 3 runs),
# the command assistant's evaluation with Qwen2.5-Coder in process (report in
# target/eval-qwen.md),
# then the benchmarks against llama.cpp (scripts/bench.py, scripts/bench-serve.py),
# which rewrite their tables in docs/benchmarks.md. `--no-bench` skips those.
#
# usage: scripts/test-full.sh [--no-bench]
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/test.sh
echo "==> test models (all)"
scripts/fetch-test-models.sh all >/dev/null
echo "==> full-tier tests"
HEARTH_REQUIRE_TEST_MODELS=1 cargo test --workspace --locked -- --ignored
echo "==> command assistant evaluation (Qwen2.5-Coder-0.5B in process)"
HEARTH_CONFIG=/dev/null cargo run --quiet --locked -p hearth -- eval \
    crates/hearth-shell/fixtures/eval.yaml -m "$(scripts/fetch-test-models.sh qwen2)" \
    --report target/eval-qwen.md 2>/dev/null | grep -E '^(pass_rate|everyday|safety|latency_ms):'
if [[ "${1:-}" != "--no-bench" ]]; then
    echo "==> benchmarks against llama.cpp"
    scripts/bench.py
    scripts/bench-serve.py
fi
