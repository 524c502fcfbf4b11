#!/usr/bin/env bash
# Inspects built .node files: the ELF header (`file`, `readelf -h`), the shared libraries they
# need (only libc-level ones: mozjpeg, libwebp and lcms2 are linked in), and for glibc builds the
# highest GLIBC_ symbol version they import (`objdump -T`), which must be at most 2.17.
#   usage: scripts/check-binary.sh file.node ...
set -euo pipefail
status=0
for bin in "$@"; do
  echo "== $bin ($(du -h "$bin" | cut -f1))"
  file -b "$bin"
  readelf -h "$bin" | grep -E 'Class|Machine|Type:'
  needed=$(readelf -d "$bin" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | tr '\n' ' ')
  echo "  needs: $needed"
  for lib in $needed; do
    case "$lib" in
      libc.so*|libm.so*|libdl.so*|libpthread.so*|librt.so*|libgcc_s.so*|ld-linux*|libc.musl*|ld-musl*) ;;
      *) echo "  FAIL: links a library that is not part of libc: $lib"; status=1 ;;
    esac
  done
  objdump=objdump
  if readelf -h "$bin" | grep -q AArch64 && command -v aarch64-linux-gnu-objdump >/dev/null; then objdump=aarch64-linux-gnu-objdump; fi
  glibc=$("$objdump" -T "$bin" 2>/dev/null | grep -o 'GLIBC_[0-9][0-9.]*' | sort -uV | tail -1 || true)
  if [ -n "$glibc" ]; then
    echo "  highest glibc symbol: $glibc"
    if [ "$(printf '%s\n' "$glibc" GLIBC_2.17 | sort -V | tail -1)" != GLIBC_2.17 ]; then
      echo "  FAIL: needs $glibc, newer than the 2.17 target"; status=1
    fi
  else
    echo "  no glibc symbols (musl or non-Linux)"
  fi
done
exit $status
