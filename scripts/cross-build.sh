#!/usr/bin/env bash
# Builds the release binary of each Linux target with cargo-zigbuild (zig as C compiler and
# linker, so mozjpeg, libwebp and lcms2 are cross-compiled and linked in statically) and puts it
# into its platform package: npm/<platform>/restthumbs.<platform>.node. The gnu targets are
# linked against glibc 2.17, so the binaries load on any distribution from CentOS 7 on; each
# binary's ELF header and highest glibc symbol version are printed at the end.
#   usage: scripts/cross-build.sh [rust-target ...]   (default: the four Linux targets)
#   needs: rustup targets, `pip install ziglang cargo-zigbuild`, nasm (x86_64 SIMD of mozjpeg)
# The macOS and Windows binaries are built by .github/workflows/release.yml.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/restthumbs-cross}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && targets=(x86_64-unknown-linux-gnu aarch64-unknown-linux-gnu x86_64-unknown-linux-musl aarch64-unknown-linux-musl)

# Rust target -> napi platform suffix (the npm/<suffix> folder and the .node file name).
platform_of() {
  case "$1" in
    x86_64-unknown-linux-gnu) echo linux-x64-gnu ;;
    aarch64-unknown-linux-gnu) echo linux-arm64-gnu ;;
    x86_64-unknown-linux-musl) echo linux-x64-musl ;;
    aarch64-unknown-linux-musl) echo linux-arm64-musl ;;
    *) echo "cross-build: unsupported target $1 (Linux targets only; the workflow builds the others)" >&2; return 1 ;;
  esac
}

command -v cargo-zigbuild >/dev/null || { echo "cross-build: cargo-zigbuild missing: pip install ziglang cargo-zigbuild" >&2; exit 1; }

for target in "${targets[@]}"; do
  platform=$(platform_of "$target")
  zig_target=$target
  rustflags=${RUSTFLAGS:-}
  case "$target" in
    # zig links against the glibc 2.17 symbol set: the binary then needs nothing newer.
    *-linux-gnu) zig_target=$target.2.17 ;;
    # A Node addon is a shared object, which Rust's static musl default (crt-static) forbids.
    *-linux-musl) rustflags="$rustflags -C target-feature=-crt-static" ;;
  esac
  rustup target list --installed | grep -qx "$target" || rustup target add "$target"
  echo "cross-build: $target ($zig_target) -> npm/$platform/restthumbs.$platform.node"
  RUSTFLAGS="$rustflags" cargo zigbuild --release --lib --quiet --target "$zig_target"
  mkdir -p "npm/$platform"
  cp "$CARGO_TARGET_DIR/$target/release/librestthumbs.so" "npm/$platform/restthumbs.$platform.node"
done

for target in "${targets[@]}"; do
  platform=$(platform_of "$target")
  bash scripts/check-binary.sh "npm/$platform/restthumbs.$platform.node"
done
