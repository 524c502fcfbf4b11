#!/usr/bin/env bash
# Builds the Rust core into restthumbs.<platform>.node plus the generated loader (binding.cjs)
# and typings (binding.d.cts). Cargo output is cached outside the clone so fresh clones reuse it.
#   usage: scripts/build-native.sh [--dev]
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/restthumbs-target}
profile=(--release)
[ "${1:-}" = "--dev" ] && profile=()
# --no-const-enum: `#[napi(string_enum)]`s become string unions in the typings, not const enums.
exec npx napi build --platform --no-const-enum "${profile[@]}" --js binding.cjs --dts binding.d.cts
