#!/usr/bin/env bash
# Runs the decoder fuzz targets for longer than `cargo test` does (the same code: see
# crate/src/image/fuzz/mod.rs). A failing input is saved under <target dir>/fuzz-failures/;
# once fixed, commit it to crate/src/image/fuzz/regressions/ as <target>-<what>.bin.
#
#   scripts/fuzz.sh [seconds per target, default 60] [target substring, default all]
#
# Targets: jpeg_markers jpeg_prune jpeg_dc jpeg_huffman jpeg_decode png_rows gif_header pipeline
# RESTTHUMBS_FUZZ_SEED picks the mutation sequence (default: the current time, printed).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ "${1:-}" == -h || "${1:-}" == --help ]]; then
  sed -n '2,9p' "$0" | sed 's/^# \{0,1\}//'
  exit 0
fi
seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+([.][0-9]+)?$ ]]; then
  echo "fuzz.sh: expected seconds per target but received '$seconds'" >&2
  exit 2
fi
export RESTTHUMBS_FUZZ_SECONDS="$seconds"
export RESTTHUMBS_FUZZ_SEED="${RESTTHUMBS_FUZZ_SEED:-$(date +%s)}"
if [[ -n "${2:-}" ]]; then export RESTTHUMBS_FUZZ_TARGET="$2"; fi
echo "fuzzing ${2:-every target} for ${seconds} s each, seed ${RESTTHUMBS_FUZZ_SEED}" >&2
# one test thread: the targets take turns, so each gets a whole core and the rate is comparable
exec cargo test --lib --quiet fuzz_ -- --nocapture --test-threads=1
