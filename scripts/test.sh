#!/usr/bin/env bash
# The whole test suite: set up, lint (rustfmt, clippy, tsc on sources and specs, eslint), cargo
# test, ava, then the clean install from the packed tarballs.
# Redis and nginx are started by the tests themselves on free loopback ports.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/restthumbs-target}
echo "test: cargo fmt --check"
cargo fmt --check
echo "test: cargo clippy -D warnings"
cargo clippy --quiet --all-targets -- -D warnings
echo "test: tsc (sources, then specs) and eslint"
npx tsc -p tsconfig.json --noEmit
npx tsc -p tsconfig.test.json
npx eslint .
echo "test: cargo test"
cargo test --quiet
echo "test: ava"
npx ava
# The install a user gets: packed tarballs into a fresh project, no Rust/nasm/C compiler on PATH.
echo "test: clean install from the packed tarballs"
node scripts/install-test.mjs
